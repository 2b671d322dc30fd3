// Goal: the cluster grows from 5 to 10 nodes (all five joining at once) and shrinks from 10 to 7
// (two decommissioned, one dead node removed by force) while it keeps serving a steady read and
// write load, with 1% message loss and one node crashing while data streams. Afterwards every
// acknowledged write is readable, every key is held by exactly N nodes (its read replicas), and
// no read during the change returned something older than a write acknowledged before it began.
// Method: an elastic SimCluster (gossip + range sync, coordinators that learn the ring from one
// seed) driven by concurrent seeded clients; a history of acknowledged writes checks every read
// as it returns; the engines are inspected directly at the end. Each test prints its seed.
import { compareVersionedValues, DkvError, type VersionedValue } from '@dkv/core';
import { seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { SimCluster, type SimClusterOptions } from './sim-cluster.js';

const N = 3;
/** Real time a test may take: a few seconds alone, more on a loaded machine running every suite. */
const TEST_TIMEOUT_MS = 120_000;
const KEYS = 400;

interface Acked {
  readonly version: number;
  readonly deleted: boolean;
  readonly ackedAtMs: number;
}

/** The acknowledged writes per key, and the reads that contradict them. */
class History {
  readonly acked = new Map<string, Acked[]>();
  readonly violations: string[] = [];
  /**
   * Start times of every delete attempted: one in flight or failed has an unknown outcome, and
   * may already have applied on the replicas a read contacts.
   */
  readonly deleteAttempts = new Map<string, number[]>();
  reads = 0;
  writes = 0;
  failures = 0;

  ack(key: string, write: Acked): void {
    const list = this.acked.get(key) ?? [];
    list.push(write);
    this.acked.set(key, list);
    this.writes += 1;
  }

  /** The newest write of `key` acknowledged strictly before `atMs`. */
  latestBefore(key: string, atMs: number): Acked | undefined {
    let latest: Acked | undefined;
    for (const write of this.acked.get(key) ?? []) {
      if (write.ackedAtMs < atMs && (!latest || write.version > latest.version)) latest = write;
    }
    return latest;
  }

  /**
   * Checks a read of `key` that began at `startedAtMs` and returned `version` (null: missing or
   * deleted). It may not be older than the newest write acknowledged before it began; a missing
   * key is also fine when a delete was attempted since (in flight or failed: it may have applied).
   */
  checkRead(key: string, startedAtMs: number, version: number | null, what: string): void {
    this.reads += 1;
    const latest = this.latestBefore(key, startedAtMs);
    if (!latest) return;
    // A delete may carry a higher version than `latest` if it began no earlier than a request
    // deadline (1 s) before `latest` was acknowledged.
    const maybeDeleted = (this.deleteAttempts.get(key) ?? []).some((at) => at > latest.ackedAtMs - 1000);
    // Equal versions can come from two coordinators at once; the higher writer id wins the tie
    // (a read does not show writer ids), so a value at a delete's version may be the winner.
    const ok =
      latest.deleted || (version === null && maybeDeleted)
        ? version === null || version >= latest.version
        : version !== null && version >= latest.version;
    if (!ok)
      this.violations.push(
        `${what}: read of ${key} at ${startedAtMs} ms saw ${version}, but ${latest.deleted ? 'delete' : 'write'} v${latest.version} was acknowledged at ${latest.ackedAtMs} ms`,
      );
  }
}

const elastic: SimClusterOptions['elastic'] = {
  vnodes: 64,
  sync: {
    settleDelayMs: 1500,
    batchRecords: 32,
    batchBytes: 8 * 1024,
    bytesPerSecond: 16 * 1024,
    requestTimeoutMs: 1000,
    cleanupDelayMs: 3000,
    cleanupIntervalMs: 2000,
  },
};

function cluster(storageNodes: number): SimCluster {
  return new SimCluster({ seed: seedForTest(), storageNodes, coordinators: 2, lossRate: 0.01, latencyMs: { min: 1, max: 5 }, elastic });
}

/** Steady load: `clients` concurrent loops of get (50%), put (40%) and delete (10%) until stopped. */
function startLoad(sim: SimCluster, history: History, clients: number) {
  const rng = sim.rng.fork('workload');
  let stopped = false;
  let seq = 0;
  const sleep = (ms: number) => new Promise<void>((resolve) => sim.scheduler.after(ms, resolve));
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const key = `session:${rng.int(KEYS)}`;
      const svc = sim.service(rng.int(sim.coordinators.length));
      const kind = rng.next();
      const startedAtMs = sim.scheduler.now();
      try {
        if (kind < 0.5) {
          const read = await svc.get(key);
          history.checkRead(key, startedAtMs, read?.version ?? null, 'during the change');
        } else if (kind < 0.9) {
          const written = await svc.put(key, Buffer.from(`${key}=${(seq += 1)}`));
          history.ack(key, { version: written.version, deleted: false, ackedAtMs: sim.scheduler.now() });
        } else {
          history.deleteAttempts.set(key, [...(history.deleteAttempts.get(key) ?? []), startedAtMs]);
          const deleted = await svc.delete(key);
          history.ack(key, { version: deleted.version, deleted: true, ackedAtMs: sim.scheduler.now() });
        }
      } catch (error) {
        if (!(error instanceof DkvError)) throw error;
        history.failures += 1;
      }
      await sleep(5 + rng.int(20));
    }
  };
  const loops = Array.from({ length: clients }, loop);
  return {
    stop: async () => {
      stopped = true;
      await sim.run(Promise.all(loops));
    },
  };
}

async function preload(sim: SimCluster, history: History): Promise<void> {
  for (let i = 0; i < KEYS; i += 20) {
    const batch = Array.from({ length: 20 }, async (_, j) => {
      const key = `session:${i + j}`;
      const written = await sim
        .service()
        .put(key, Buffer.from(`${key}=initial`))
        .catch(() => null);
      if (written) history.ack(key, { version: written.version, deleted: false, ackedAtMs: sim.scheduler.now() });
    });
    await sim.run(Promise.all(batch));
  }
}

/**
 * The end state: every acknowledged write readable, then (after read repair and cleanup ran)
 * every key's winning version on exactly its N read replicas and nowhere else.
 */
async function verify(sim: SimCluster, history: History): Promise<void> {
  // The faults stop, as they do when a cluster settles: the reads below then repair every key
  // deterministically, including one that a failed write reached on one replica only (a late
  // digest newer than the quorum's answer, whose value read repair fetches), long before
  // anti-entropy's next round would.
  sim.network.setLoss(0);
  const keys = Array.from({ length: KEYS }, (_, i) => `session:${i}`);
  for (const key of keys) {
    // A read may still miss its quorum (a replica marked down a moment ago): retry a few times.
    for (let attempt = 1; ; attempt += 1) {
      const read = await sim.run(sim.service().get(key)).catch((error: unknown) => error);
      if (read instanceof DkvError && attempt < 5) continue;
      if (read instanceof Error) throw read;
      history.checkRead(key, sim.scheduler.now(), (read as { version: number } | null)?.version ?? null, 'after the change');
      break;
    }
  }
  expect(history.violations.slice(0, 10)).toEqual([]);
  await sim.runUntil(() => sim.coordinators.every((c) => c.coordinator.replication.queueDepth === 0), { maxVirtualMs: 60_000 });
  await sim.runFor(5000);
  // A node removed from the cluster holds nothing that counts (a dead one's memory is gone).
  const members = new Set(
    sim
      .service()
      .cluster()
      .nodes.map((n) => n.id),
  );
  const live = sim.storage.filter((s) => members.has(s.node.id));
  const misplaced: string[] = [];
  for (const key of keys) {
    const held = live
      .map((s) => ({ id: s.node.id, record: s.engine.get(key) }))
      .filter((h): h is { id: string; record: VersionedValue } => h.record !== null);
    if (held.length === 0) continue;
    const winner = held.reduce((a, b) => (compareVersionedValues(a.record, b.record) >= 0 ? a : b)).record;
    const holders = held
      .filter((h) => compareVersionedValues(h.record, winner) === 0)
      .map((h) => h.id)
      .sort();
    const owners = sim.preferenceList(key).sort();
    if (holders.length !== N || JSON.stringify(holders) !== JSON.stringify(owners) || held.length !== N) {
      misplaced.push(
        `${key}: winner on [${holders.join(',')}], held by [${held.map((h) => h.id).join(',')}], owners [${owners.join(',')}]`,
      );
    }
  }
  expect(misplaced.slice(0, 10)).toEqual([]);
  expect(live.length).toBeGreaterThan(0);
}

function report(sim: SimCluster, history: History, label: string): void {
  const moved = sim.storage.reduce((sum, s) => sum + (s.sync?.stats.keysReceived ?? 0), 0);
  const removed = sim.storage.reduce((sum, s) => sum + (s.sync?.stats.keysRemoved ?? 0), 0);
  const switches = sim.storage.reduce((sum, s) => sum + (s.sync?.stats.sourceSwitches ?? 0), 0);
  console.log(
    `${label}: ${history.writes} acknowledged writes, ${history.reads} reads checked, ${history.failures} failed requests, ${moved} records streamed, ${switches} source switches, ${removed} keys cleaned up, settled at ${sim.scheduler.now()} virtual ms`,
  );
}

describe('elastic cluster under load', () => {
  it(
    'grows from 5 to 10 nodes, all joining at once, with a joiner restarting empty mid-stream',
    async () => {
      const sim = cluster(5);
      const history = new History();
      await sim.runFor(2000);
      expect(sim.coordinators.map((c) => c.gossiper?.current().nodes.length)).toEqual([5, 5]);
      await preload(sim, history);
      const load = startLoad(sim, history, 4);
      await sim.runFor(1000);
      // Four are added by an admin action on different nodes; the fifth asks by itself (`--join`).
      for (let i = 6; i <= 9; i += 1) sim.addNode(`n${i}`, `n${1 + (i % 5)}`);
      sim.addNode('n10', null);
      await sim.runUntil(() => (sim.storageNode('n8').sync?.progress()?.rangesDone ?? 0) > 0, { maxVirtualMs: 30_000 });
      const during = sim.service().cluster();
      expect(during.rebalancing).toBe(true);
      expect(during.nodes.filter((n) => n.status === 'joining').length).toBeGreaterThan(0);
      await sim.runFor(500);
      expect(
        sim
          .service()
          .cluster()
          .nodes.some((n) => n.progress !== undefined && n.progress.rangesPlanned > 0),
      ).toBe(true);
      sim.crash('n8');
      await sim.runFor(1500);
      sim.restartEmpty('n8');
      await sim.runUntil(() => sim.settled(), { maxVirtualMs: 120_000 });
      expect(
        sim
          .service()
          .cluster()
          .nodes.map((n) => `${n.id}:${n.status}`)
          .sort(),
      ).toEqual(Array.from({ length: 10 }, (_, i) => `n${i + 1}:up`).sort());
      await sim.runFor(4000);
      await load.stop();
      report(sim, history, '5 -> 10');
      await verify(sim, history);
      const shares = [...sim.service().ringViews().read.ringShares().values()];
      expect(shares.length).toBe(10);
      sim.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shrinks from 10 to 7: two decommissioned and one dead node removed by force, with a source crashing mid-stream',
    async () => {
      const sim = cluster(10);
      const history = new History();
      await sim.runFor(2000);
      await preload(sim, history);
      const load = startLoad(sim, history, 4);
      sim.crash('n10');
      await sim.runFor(6000);
      expect(
        sim
          .service()
          .cluster()
          .nodes.find((n) => n.id === 'n10')?.status,
      ).toBe('down');
      sim.decommission('n8');
      sim.decommission('n9');
      sim.decommission('n10', { force: true });
      await sim.runUntil(() => sim.storage.some((s) => (s.sync?.progress()?.rangesDone ?? 0) > 0), { maxVirtualMs: 30_000 });
      sim.crash('n3');
      await sim.runFor(2000);
      sim.recover('n3');
      await sim.runUntil(() => sim.settled(), { maxVirtualMs: 120_000 });
      await sim.runFor(4000);
      await load.stop();
      report(sim, history, '10 -> 7');
      expect(
        sim
          .service()
          .cluster()
          .nodes.map((n) => n.id)
          .sort(),
      ).toEqual(['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']);
      await verify(sim, history);
      sim.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'takes back a node restarted empty with the same id: it rejoins as itself and catches up',
    async () => {
      const sim = cluster(5);
      const history = new History();
      await sim.runFor(2000);
      await preload(sim, history);
      const load = startLoad(sim, history, 4);
      await sim.runFor(1000);
      sim.crash('n2');
      await sim.runFor(1000);
      sim.restartEmpty('n2');
      await sim.runUntil(() => sim.storageNode('n2').gossiper?.entry('n2')?.rejoining === true, { maxVirtualMs: 10_000 });
      await sim.runUntil(() => sim.settled() && sim.storageNode('n2').sync?.hasCompleteData() === true, { maxVirtualMs: 60_000 });
      await sim.runFor(4000);
      await load.stop();
      report(sim, history, 'restart empty');
      expect(sim.storageNode('n2').engine.stats().keys).toBeGreaterThan(0);
      await verify(sim, history);
      sim.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "changes a node's vnodes on a live cluster with the same background movement",
    async () => {
      const sim = cluster(5);
      const history = new History();
      await sim.runFor(2000);
      await preload(sim, history);
      const load = startLoad(sim, history, 4);
      sim.admin('n1').setVnodes('n3', 128);
      await sim.runUntil(() => sim.settled() && sim.coordinators.every((c) => c.gossiper?.entry('n3')?.readVnodes === 128), {
        maxVirtualMs: 60_000,
      });
      await sim.runFor(4000);
      await load.stop();
      report(sim, history, 'vnodes 64 -> 128');
      const n3Share = sim.service().ringViews().read.ringShares().get('n3') ?? 0;
      expect(n3Share / ((1 - n3Share) / 4)).toBeGreaterThan(1.5);
      await verify(sim, history);
      sim.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'adds a node that was running as a cluster of its own (POST /v1/cluster/nodes of a running node)',
    async () => {
      const sim = cluster(5);
      const history = new History();
      await sim.runFor(2000);
      await preload(sim, history);
      const load = startLoad(sim, history, 4);
      // Until it is added it is up in a document of its own, at the same version as a fresh entry.
      const alone = sim.addNode('n6', null, { startedAlone: true });
      await sim.runFor(1000);
      sim.admin('n1').rebalanceForNode({ id: 'n6', address: alone.node.address, vnodes: alone.node.vnodes });
      await sim.runUntil(() => sim.settled() && sim.coordinators.every((c) => c.gossiper?.current().nodes.length === 6), {
        maxVirtualMs: 60_000,
      });
      await sim.runFor(4000);
      await load.stop();
      report(sim, history, 'add a lone node');
      expect(
        sim
          .service()
          .cluster()
          .nodes.map((n) => `${n.id}:${n.status}`),
      ).toContain('n6:up');
      await verify(sim, history);
      sim.stop();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'finishes a decommission by force when the leaving node dies while its data streams',
    async () => {
      const sim = cluster(6);
      const history = new History();
      await sim.runFor(2000);
      await preload(sim, history);
      const load = startLoad(sim, history, 4);
      sim.decommission('n6');
      await sim.runUntil(() => sim.storage.some((s) => (s.sync?.progress()?.rangesDone ?? 0) > 0), { maxVirtualMs: 30_000 });
      sim.crash('n6');
      await sim.runFor(6000);
      sim.decommission('n6', { force: true });
      await sim.runUntil(() => sim.settled(), { maxVirtualMs: 120_000 });
      await sim.runFor(4000);
      await load.stop();
      report(sim, history, 'decommission, then force');
      expect(
        sim
          .service()
          .cluster()
          .nodes.map((n) => n.id)
          .sort(),
      ).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
      await verify(sim, history);
      sim.stop();
    },
    TEST_TIMEOUT_MS,
  );
});
