// Goal: with no stand-alone coordinator, every storage node coordinating (`dkv node --coordinate`:
// the node's gossip as membership, its own replica read in-process), concurrent clients that use
// any live node see no lost write, no stale read, no resurrected delete, while nodes crash and
// come back (taking their coordinator with them); and the replicas converge afterwards by
// anti-entropy alone, with no read pass.
// Method: seeded elastic simulation, 5 coordinating nodes, 1% message loss; each client starts at
// its own node and moves to the next live one when its node is down (as a load balancer's health
// check would). Judged by the testkit's checkHistory and checkConvergence. Seeds are printed;
// DKV_SEED=<n> replays one.
import { DkvError, type KVStore } from '@dkv/core';
import { checkConvergence, checkHistory, HistoryRecorder, recordingStore, seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { runSessionClient, sessionReplicas } from './session-clients.js';
import { SimCluster } from './sim-cluster.js';

const SEEDS = 6;
const CLIENTS = 4;
const OPS_PER_CLIENT = 80;
const KEYS = 12;

/** A client's view of the cluster: the first live node from `start` on, as a health-checked load balancer gives. */
function anyLiveNode(sim: SimCluster, ids: readonly string[], start: number): KVStore {
  const pick = () => {
    for (let i = 0; i < ids.length; i += 1) {
      const node = sim.nodeService(ids[(start + i) % ids.length]!);
      if (node.reachable()) return node.service;
    }
    throw new DkvError('UNAVAILABLE', 'no node answers');
  };
  return {
    get: (key, options) => pick().get(key, options),
    put: (key, value, ttl, options) => pick().put(key, value, ttl, options),
    delete: (key, options) => pick().delete(key, options),
  };
}

async function runSeed(seed: number) {
  const sim = new SimCluster({
    seed,
    storageNodes: 5,
    coordinators: 0,
    topology: 'nodes',
    lossRate: 0.01,
    latencyMs: { min: 1, max: 8 },
    elastic: { vnodes: 16, antiEntropy: { intervalMs: 5000, checkIntervalMs: 200, requestTimeoutMs: 500 } },
  });
  const ids = sim.storage.map((s) => s.node.id);
  await sim.runUntil(() => sim.settled() && ids.every((id) => sim.nodeService(id).service.isReady()));
  const recorder = new HistoryRecorder({ maxOperations: CLIENTS * OPS_PER_CLIENT + 10 });
  const now = () => sim.scheduler.now();
  const sleep = (ms: number) => new Promise<void>((resolve) => sim.scheduler.after(ms, resolve));
  let done = 0;
  const client = async (index: number) => {
    const store = recordingStore(anyLiveNode(sim, ids, index), recorder, `c${index}`, now);
    await runSessionClient(sim, store, sim.rng.fork(`client-${index}`), index, { ops: OPS_PER_CLIENT, keys: KEYS });
    done += 1;
  };
  const nemesis = async () => {
    const rng = sim.rng.fork('nemesis');
    let crashed: string | null = null;
    while (done < CLIENTS) {
      await sleep(300 + rng.int(500));
      if (crashed) {
        sim.recover(crashed);
        crashed = null;
      } else {
        crashed = ids[rng.int(ids.length)]!;
        sim.crash(crashed);
      }
    }
    if (crashed) sim.recover(crashed);
  };
  await sim.run(Promise.all([...Array.from({ length: CLIENTS }, (_, i) => client(i)), nemesis()]), { maxVirtualMs: 600_000 });
  const history = recorder.history(now());
  const verdict = checkHistory(history, { expiryToleranceMs: 1000 });
  sim.network.setLoss(0);
  await sim.runFor(60_000);
  const converged = checkConvergence(sessionReplicas(sim, KEYS), { n: 3 });
  sim.stop();
  return { verdict, converged, history };
}

describe('every node coordinates (no stand-alone coordinator), judged by the history checker', () => {
  it(`finds no anomaly while nodes crash and recover, and converges, over ${SEEDS} seeds`, async () => {
    const base = seedForTest();
    let ok = 0;
    for (let round = 0; round < SEEDS; round += 1) {
      const seed = base + round;
      const { verdict, converged, history } = await runSeed(seed);
      expect(history).toHaveLength(CLIENTS * OPS_PER_CLIENT);
      expect(
        verdict.anomalies.map((a) => a.message),
        `seed ${seed}`,
      ).toEqual([]);
      expect(
        converged.anomalies.map((a) => a.message),
        `seed ${seed}`,
      ).toEqual([]);
      ok += verdict.stats.reads.ok + verdict.stats.writes.ok;
      console.log(
        `nodes topology (seed ${seed}): reads ${JSON.stringify(verdict.stats.reads)}, writes ${JSON.stringify(verdict.stats.writes)}`,
      );
    }
    expect(ok).toBeGreaterThan(SEEDS * CLIENTS * OPS_PER_CLIENT * 0.8);
  });
});
