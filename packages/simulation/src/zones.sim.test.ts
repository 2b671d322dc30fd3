// Goal: with six nodes in three zones (N=3, W=2, R=2), a whole zone crashed or partitioned away
// under concurrent clients costs no quorum: every key has one replica per zone, so no request that
// starts after the failure detector has marked the zone down fails, the history checker finds
// nothing lost or stale, and once the zone is back every key's replicas converge. The same outage
// on the same six nodes without zones does fail requests (keys with two replicas in the lost
// pair), which shows the nemesis bites. And a sloppy quorum picks its stand-ins in zones that hold
// no live replica yet, rather than beside the live one.
// Method: seeded elastic simulation (gossip, range sync, anti-entropy) with two coordinators;
// clients record through the testkit's HistoryRecorder, judged by checkHistory and
// checkConvergence. Each seed is printed; DKV_SEED=<n> replays it.
import { DEFAULT_COORDINATOR_CONFIG } from '@dkv/coordination';
import { checkConvergence, checkHistory, HistoryRecorder, recordingStore, seedForTest, type HistoryOperation } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { runSessionClient, sessionReplicas } from './session-clients.js';
import { SimCluster } from './sim-cluster.js';

const CLIENTS = 4;
const OPS_PER_CLIENT = 700;
const KEYS = 24;
/** The zone z2 of `zones: 3` (n2 and n5); without zones, the same two nodes. */
const LOST = ['n2', 'n5'];

type Fault = 'crash' | 'partition';

async function runZoneOutage(seed: number, fault: Fault, zones: 3 | undefined) {
  const sim = new SimCluster({
    seed,
    storageNodes: 6,
    coordinators: 2,
    latencyMs: { min: 1, max: 5 },
    ...(zones === undefined ? {} : { zones }),
    elastic: { vnodes: 16, antiEntropy: { intervalMs: 5000, checkIntervalMs: 200, requestTimeoutMs: 500 } },
  });
  await sim.runUntil(() => sim.settled() && sim.service(0).isReady() && sim.service(1).isReady());
  const recorder = new HistoryRecorder({ maxOperations: CLIENTS * OPS_PER_CLIENT + 10 });
  const now = () => sim.scheduler.now();
  const sleep = (ms: number) => new Promise<void>((resolve) => sim.scheduler.after(ms, resolve));
  const span = { faultAt: Number.POSITIVE_INFINITY, detectedAt: Number.POSITIVE_INFINITY, healedAt: Number.POSITIVE_INFINITY };

  const clients = Array.from({ length: CLIENTS }, (_, index) =>
    runSessionClient(sim, recordingStore(sim.service(index % 2), recorder, `c${index}`, now), sim.rng.fork(`client-${index}`), index, {
      ops: OPS_PER_CLIENT,
      keys: KEYS,
    }),
  );
  const nemesis = async () => {
    await sleep(1000);
    span.faultAt = now();
    if (fault === 'crash') for (const id of LOST) sim.crash(id);
    else sim.network.partition(LOST, [...sim.storage.map((s) => s.node.id).filter((id) => !LOST.includes(id)), 'c1', 'c2']);
    const downEverywhere = () =>
      [0, 1].every((i) =>
        sim
          .service(i)
          .cluster()
          .nodes.filter((node) => LOST.includes(node.id))
          .every((node) => node.status === 'down'),
      );
    while (!downEverywhere()) await sleep(50);
    span.detectedAt = now();
    await sleep(3000);
    if (fault === 'crash') for (const id of LOST) sim.recover(id);
    else sim.network.heal();
    span.healedAt = now();
  };
  await sim.run(Promise.all([...clients, nemesis()]), { maxVirtualMs: 600_000 });
  const history = recorder.history(now());
  const verdict = checkHistory(history);
  // The zone is back: hints, anti-entropy and read repair bring its replicas up to date.
  await sim.runUntil(() => sim.settled(), { maxVirtualMs: 120_000 });
  await sim.runFor(30_000);
  const converged = checkConvergence(sessionReplicas(sim, KEYS), { n: 3 });
  const placements = Array.from({ length: KEYS }, (_, k) =>
    sim.preferenceList(`session:${k}`).map((id) => sim.storageNode(id).node.zone ?? 'default'),
  );
  const zoneLoss = sim.service(0).cluster();
  sim.stop();
  const failedAfterDetection = history.filter((op: HistoryOperation) => op.startMs >= span.detectedAt && op.outcome !== 'ok');
  const duringOutage = history.filter((op: HistoryOperation) => op.startMs >= span.detectedAt && op.endMs <= span.healedAt);
  return { verdict, converged, span, failedAfterDetection, duringOutage, placements, zoneLoss, ops: history.length };
}

describe('a whole zone lost under concurrent clients, six nodes in three zones', () => {
  it.each(['crash', 'partition'] as const)(
    '%s of zone z2: no request fails after detection, nothing lost or stale, converges after',
    async (fault) => {
      const seed = seedForTest();
      const run = await runZoneOutage(seed, fault, 3);
      console.log(
        `zone ${fault} (seed ${seed}): z2 down at ${run.span.faultAt} ms, detected at ${run.span.detectedAt} ms, back at ${run.span.healedAt} ms; ` +
          `${run.duringOutage.length} operations during the outage, ${run.failedAfterDetection.length} failed after detection`,
      );
      expect(run.ops).toBe(CLIENTS * OPS_PER_CLIENT);
      for (const zones of run.placements) expect(new Set(zones).size, zones.join(',')).toBe(3);
      expect(run.zoneLoss.zoneLossSafe).toBe(true);
      expect(run.span.healedAt, 'the outage ended').toBeLessThan(Number.POSITIVE_INFINITY);
      expect(run.duringOutage.length, 'clients ran through the outage').toBeGreaterThan(100);
      expect(run.failedAfterDetection.map((op) => `${op.kind} ${op.key}: ${op.error ?? op.outcome}`)).toEqual([]);
      expect(run.verdict.anomalies.map((a) => a.message)).toEqual([]);
      expect(run.converged.anomalies.map((a) => a.message)).toEqual([]);
    },
  );

  it('fails requests when the same two nodes hold two replicas of some keys (no zones): the outage bites', async () => {
    const seed = seedForTest();
    const run = await runZoneOutage(seed, 'crash', undefined);
    console.log(`no zones (seed ${seed}): ${run.failedAfterDetection.length} operations failed after detection`);
    expect(run.zoneLoss.zoneLossSafe).toBe(false);
    expect(run.failedAfterDetection.length).toBeGreaterThan(0);
    // Failing is all it does: no acknowledged write is lost, nothing stale is read.
    expect(run.verdict.anomalies.map((a) => a.message)).toEqual([]);
  });
});

describe('a node moved to another zone on the live cluster', () => {
  it('streams exactly the replicas whose preference lists change, then every key sits on its new owners in distinct zones', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({ seed, storageNodes: 6, zones: 3, elastic: { vnodes: 16, antiEntropy: false } });
    const service = sim.service();
    await sim.runUntil(() => sim.settled() && service.isReady());
    const keys = Array.from({ length: 200 }, (_, i) => `session:move-${i}`);
    for (const key of keys) await sim.run(service.put(key, Buffer.from(key)));
    const before = new Map(keys.map((key) => [key, new Set(sim.preferenceList(key))]));
    // n4 leaves z1 for z3: z1 keeps n1 alone, z3 has n3, n6 and n4.
    sim.admin('n1').setZone('n4', 'z3');
    await sim.runUntil(() => !sim.settled(), { maxVirtualMs: 10_000 });
    await sim.runUntil(() => sim.settled() && service.ringViews().read.nodes.find((node) => node.id === 'n4')?.zone === 'z3', {
      maxVirtualMs: 120_000,
    });
    const zoneOf = (id: string) => service.ringViews().read.nodes.find((node) => node.id === id)?.zone;
    let gained = 0;
    for (const key of keys) {
      const owners = sim.preferenceList(key);
      expect(new Set(owners.map(zoneOf)).size, key).toBe(3);
      for (const id of owners)
        expect(Buffer.from(sim.storageNode(id).engine.get(key)?.value ?? []).toString(), `${key} on ${id}`).toBe(key);
      gained += owners.filter((id) => !before.get(key)!.has(id)).length;
    }
    const received = sim.storage.reduce((sum, s) => sum + (s.sync?.stats.keysReceived ?? 0), 0);
    console.log(
      `zone move (seed ${seed}): ${gained} replicas of ${keys.length} keys changed owner; range sync received ${received} records`,
    );
    expect(gained).toBeGreaterThan(0);
    // Each new replica is pulled from two sources (range sync's rule); nothing else moves.
    expect(received).toBeLessThanOrEqual(2 * gained);
    expect(received).toBeGreaterThanOrEqual(gained);
    sim.stop();
  });
});

describe('a node restarted with another zone', () => {
  it('asks to move there once it hears from its peers, and the data follows', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({ seed, storageNodes: 6, zones: 3, elastic: { vnodes: 16, antiEntropy: false } });
    const service = sim.service();
    await sim.runUntil(() => sim.settled() && service.isReady());
    const keys = Array.from({ length: 100 }, (_, i) => `session:restart-${i}`);
    for (const key of keys) await sim.run(service.put(key, Buffer.from(key)));
    // As `dkv node --id n4 --zone z3` after a stop: the process comes back (empty) naming z3.
    const n4 = sim.storageNode('n4');
    Object.assign(n4, { node: { ...n4.node, zone: 'z3' } });
    sim.restartEmpty('n4');
    await sim.runUntil(() => sim.settled() && service.ringViews().read.nodes.find((node) => node.id === 'n4')?.zone === 'z3', {
      maxVirtualMs: 120_000,
    });
    const zoneOf = (id: string) => service.ringViews().read.nodes.find((node) => node.id === id)?.zone;
    for (const key of keys) {
      const owners = sim.preferenceList(key);
      expect(new Set(owners.map(zoneOf)).size, key).toBe(3);
      for (const id of owners)
        expect(Buffer.from(sim.storageNode(id).engine.get(key)?.value ?? []).toString(), `${key} on ${id}`).toBe(key);
    }
    sim.stop();
  });
});

describe('sloppy quorum stand-ins prefer another zone', () => {
  it('puts the hints for two lost replicas in their own zones, not beside the live replica', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({
      seed,
      storageNodes: 6,
      zones: 3,
      coordinator: { writeQuorum: 'sloppy', replication: { ...DEFAULT_COORDINATOR_CONFIG.replication, maxTaskAgeMs: 1 } },
      elastic: { vnodes: 16, antiEntropy: false },
    });
    const service = sim.service();
    await sim.runUntil(() => sim.settled() && service.isReady());
    const zoneOf = (id: string) => sim.storageNode(id).node.zone ?? 'default';
    const ring = service.ringViews().read;
    // A key whose whole-ring order puts the live replica's zone-mate first among the other nodes:
    // there, the ring's next available node is the one a zone-blind choice would take.
    const key = Array.from({ length: 2000 }, (_, i) => `session:zoned-${i}`).find((candidate) => {
      const order = ring.getNodesForKey(candidate, 6).map((node) => node.id);
      return zoneOf(order[3]!) === zoneOf(order[0]!);
    });
    expect(key, "a key whose fourth node shares the primary's zone").toBeDefined();
    const [live, second, third] = sim.preferenceList(key!);
    sim.crash(second!);
    sim.crash(third!);
    const manager = sim.coordinators[0]!.coordinator.nodeManager;
    await sim.runUntil(() => !manager.isAvailable(second!) && !manager.isAvailable(third!), { maxVirtualMs: 30_000 });
    await sim.run(service.put(key!, Buffer.from('kept in other zones')));
    const holders = sim.storage.filter((s) => (s.hints?.queueDepth ?? 0) > 0).map((s) => s.node.id);
    console.log(
      `sloppy stand-ins (seed ${seed}): live ${live} in ${zoneOf(live!)}, hints on ${holders.join(', ')} in ${holders.map(zoneOf).join(', ')}`,
    );
    expect(holders).toHaveLength(2);
    expect(holders.map(zoneOf)).not.toContain(zoneOf(live!));
    expect(new Set(holders.map(zoneOf)).size).toBe(2);
    sim.stop();
  });
});
