// Goal: a cluster-wide key scan (scanKeys, behind Redis SCAN and GET /v1/kv) returns every key
// that held a live value throughout it and no key whose delete was acknowledged before it, across
// all nodes, while other keys are written, a coordinating node crashes mid-scan and messages are lost.
// Method: seeded elastic simulation, 5 coordinating nodes, 1% message loss. Keys are written and
// deleted (each retried until acknowledged; the deletes while one node is down, which comes back
// before the scan still holding the old values), short-TTL keys left to expire; then one scan walks the
// ring, each call sent to the next live node with the cursor the previous node returned (a failed
// call is retried with the same cursor on the next node), while writers churn other keys and either
// one node crashes or a sixth node joins (the read ring changes under the cursor). Seeds are
// printed; DKV_SEED=<n> replays one.
import { DkvError } from '@dkv/core';
import { seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim-cluster.js';

const SEEDS = 3;
const STABLE_KEYS = 300;
const DELETED_KEYS = 80;
const EXPIRING_KEYS = 30;
const MAX_ATTEMPTS = 20;

async function untilAcknowledged(
  sim: SimCluster,
  ids: readonly string[],
  op: (service: ReturnType<SimCluster['nodeService']>['service']) => Promise<unknown>,
) {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    const id = ids[attempt % ids.length]!;
    if (!sim.nodeService(id).reachable()) continue;
    try {
      await op(sim.nodeService(id).service);
      return;
    } catch (error) {
      if (!(error instanceof DkvError)) throw error;
    }
  }
  throw new Error(`not acknowledged after ${MAX_ATTEMPTS} attempts`);
}

/** The fault during the scan: a node crashes, or a sixth node joins and ranges move to it. */
type Fault = 'crash' | 'grow';

async function runSeed(seed: number, fault: Fault) {
  const sim = new SimCluster({
    seed,
    storageNodes: 5,
    coordinators: 0,
    topology: 'nodes',
    lossRate: 0.01,
    latencyMs: { min: 1, max: 6 },
    elastic: { vnodes: 16, antiEntropy: false },
  });
  const ids = sim.storage.map((s) => s.node.id);
  await sim.runUntil(() => sim.settled() && ids.every((id) => sim.nodeService(id).service.isReady()));
  const rng = sim.rng.fork('keys');
  const stable = Array.from({ length: STABLE_KEYS }, (_, i) => `sess:${i}`);
  const deleted = Array.from({ length: DELETED_KEYS }, (_, i) => `gone:${i}`);
  const expiring = Array.from({ length: EXPIRING_KEYS }, (_, i) => `ttl:${i}`);
  const setup = async () => {
    const from = () => ids.slice(rng.int(ids.length)).concat(ids);
    for (const key of [...stable, ...deleted]) await untilAcknowledged(sim, from(), (s) => s.put(key, Buffer.from(key)));
    for (const key of expiring) await untilAcknowledged(sim, from(), (s) => s.put(key, Buffer.from(key), 1));
    sim.crash(absent);
    for (const key of deleted) await untilAcknowledged(sim, from(), (s) => s.delete(key));
  };
  // One node is down while the deletes are acknowledged and comes back just before the scan, so
  // its replicas still hold the deleted keys' old values when the scan reaches them.
  const absent = ids[rng.int(ids.length)]!;
  await sim.run(setup(), { maxVirtualMs: 600_000 });
  await sim.runFor(2000);
  sim.recover(absent);

  let scanning = true;
  const churn = async (index: number) => {
    const churnRng = sim.rng.fork(`churn-${index}`);
    while (scanning) {
      const id = ids[churnRng.int(ids.length)]!;
      const key = `churn:${churnRng.int(40)}`;
      if (sim.nodeService(id).reachable()) {
        const service = sim.nodeService(id).service;
        await (churnRng.chance(1 / 3) ? service.delete(key) : service.put(key, Buffer.from('x'))).catch(() => undefined);
      }
      await new Promise<void>((resolve) => sim.scheduler.after(churnRng.range(5, 40), resolve));
    }
  };
  const victim = ids[(ids.indexOf(absent) + 1 + rng.int(ids.length - 1)) % ids.length]!;
  const scan = async () => {
    const seen = new Set<string>();
    let cursor: string | null = null;
    // The scan is over when a call answers a null cursor, not while the cursor is still the
    // starting one: a first call that fails leaves it null too (it did, and the scan "ended" empty).
    let complete = false;
    let call = 0;
    let failures = 0;
    let ringChanged = false;
    const firstRing = sim.nodeService(ids[0]!).service.ringViews().readId;
    // The join switches the ring about 10 s (virtual) after it starts: with calls a second apart,
    // pages of 10 keys make the scan last some 30 calls, so the switch lands well inside it.
    const pageSize = fault === 'grow' ? 10 : 25;
    do {
      if (call === 3 && fault === 'crash') sim.crash(victim);
      if (call === 3 && fault === 'grow') sim.addNode('n6', ids[0]!);
      if (fault === 'grow') {
        // Calls spaced out in virtual time, so that the ranges move while the scan is under way.
        await new Promise<void>((resolve) => sim.scheduler.after(1000, resolve));
        if (sim.nodeService(ids[0]!).service.ringViews().readId !== firstRing) ringChanged = true;
      }
      const id = ids[call % ids.length]!;
      call += 1;
      if (!sim.nodeService(id).reachable()) continue;
      try {
        const page: { keys: string[]; cursor: string | null } = await sim.nodeService(id).service.scanKeys(cursor, { count: pageSize });
        page.keys.forEach((key) => seen.add(key));
        cursor = page.cursor;
        complete = cursor === null;
      } catch (error) {
        if (!(error instanceof DkvError)) throw error;
        failures += 1;
        expect(failures).toBeLessThan(50);
      }
    } while (!complete);
    scanning = false;
    return { seen, calls: call, ringChanged };
  };
  const [{ seen, calls, ringChanged }] = await sim.run(Promise.all([scan(), churn(0), churn(1)]), { maxVirtualMs: 600_000 });
  sim.stop();
  return { seen, calls, ringChanged, stable, deleted, expiring };
}

describe('cluster-wide key scan in a simulated cluster with faults', () => {
  it.each<[Fault, string]>([
    ['crash', 'a node crashes mid-scan'],
    ['grow', 'a node joins and ranges move mid-scan'],
  ])(
    `returns every key live throughout and no deleted or expired key when %s (${SEEDS} seeds): %s`,
    async (fault) => {
      const first = seedForTest();
      for (let i = 0; i < SEEDS; i += 1) {
        const seed = (first + i) >>> 0;
        const { seen, calls, ringChanged, stable, deleted, expiring } = await runSeed(seed, fault);
        const missing = stable.filter((key) => !seen.has(key));
        const resurrected = [...deleted, ...expiring].filter((key) => seen.has(key));
        expect({ seed, missing, resurrected }).toEqual({ seed, missing: [], resurrected: [] });
        expect(calls).toBeGreaterThan(STABLE_KEYS / 25);
        if (fault === 'grow') expect(ringChanged).toBe(true);
        expect([...seen].every((key) => key.startsWith('sess:') || key.startsWith('churn:'))).toBe(true);
      }
    },
    120_000,
  );
});
