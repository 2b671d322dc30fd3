// Goal: anti-entropy makes replicas converge without any read, both ways, tombstones included,
// when hinted handoff could not help (hints lost): a replica that was cut off catches up as soon
// as it is back (a recovery round, not the next periodic one), divergence planted on either side
// is repaired key by key to the newer record, keys move only between their own replicas, and
// replicas already in sync exchange digests but no records, and a failed round is tried again soon.
// Method: seeded elastic simulations (3 to 5 nodes, 1% message loss) whose coordinators drop
// their hints at once (maxTaskAgeMs 1), so only anti-entropy can repair; the replicas' engines
// are compared record by record. Each test prints its seed; DKV_SEED=<n> replays it.
import { DEFAULT_COORDINATOR_CONFIG } from '@dkv/coordination';
import { compareVersionedValues, type VersionedValue } from '@dkv/core';
import { seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim-cluster.js';

const record = (version: number, overrides: Partial<VersionedValue> = {}): VersionedValue => ({
  value: Buffer.from(`v${version}`),
  version,
  writerId: 'c-test',
  createdAt: 1,
  updatedAt: 1,
  expiresAt: null,
  tombstone: false,
  ...overrides,
});

/** What each of the key's N owners holds. */
function ownerCopies(sim: SimCluster, key: string) {
  const owners = new Set(sim.preferenceList(key));
  return sim.replicasOf(key).filter((copy) => owners.has(copy.nodeId));
}

/** Keys whose replicas do not all hold the same record, with what each holds. */
function divergent(sim: SimCluster, keys: readonly string[]): string[] {
  return keys.filter((key) => {
    const copies = ownerCopies(sim, key).map((copy) => copy.record);
    const first = copies[0] ?? null;
    return copies.some(
      (copy) => (copy === null) !== (first === null) || (copy !== null && first !== null && compareVersionedValues(copy, first) !== 0),
    );
  });
}

/** Runs a write until it is acknowledged: with 1% loss (and a replica down) a quorum can be missed. */
async function retried(sim: SimCluster, write: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await sim.run(write());
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
}

function elasticSim(seed: number, storageNodes: number, antiEntropy: { intervalMs: number }) {
  return new SimCluster({
    seed,
    storageNodes,
    lossRate: 0.01,
    coordinator: { replication: { ...DEFAULT_COORDINATOR_CONFIG.replication, maxTaskAgeMs: 1 } },
    elastic: { vnodes: 16, antiEntropy: { ...antiEntropy, checkIntervalMs: 200, requestTimeoutMs: 500 } },
  });
}

describe('anti-entropy (Merkle-style digests, both directions)', () => {
  it(`brings a replica that missed writes and deletes back in sync as soon as it returns, without reads`, async () => {
    const seed = seedForTest();
    // Periodic rounds every 10 minutes: only the recovery round can explain a quick repair.
    const sim = elasticSim(seed, 3, { intervalMs: 600_000 });
    const service = sim.service();
    await sim.runUntil(() => sim.settled() && service.isReady());
    const keys = Array.from({ length: 120 }, (_, i) => `session:${i}`);
    for (const key of keys.slice(0, 60)) await retried(sim, () => service.put(key, Buffer.from(`before-${key}`)));
    sim.crash('n3');
    await sim.runFor(8000); // long enough for the failure detector to hold n3 down
    for (const key of keys.slice(60)) await retried(sim, () => service.put(key, Buffer.from(`during-${key}`)));
    for (const key of keys.slice(0, 20)) await retried(sim, () => service.delete(key));
    expect(divergent(sim, keys).length).toBeGreaterThan(0);
    const recoveredAt = sim.scheduler.now();
    sim.recover('n3');
    await sim.runUntil(() => divergent(sim, keys).length === 0, { maxVirtualMs: 60_000 });
    const tookMs = sim.scheduler.now() - recoveredAt;
    const n3 = sim.storageNode('n3');
    for (const key of keys.slice(0, 20)) expect(n3.engine.get(key)?.tombstone, key).toBe(true);
    for (const key of keys.slice(60)) expect(Buffer.from(n3.engine.get(key)?.value ?? []).toString(), key).toBe(`during-${key}`);
    const stats = sim.storage.map((s) => s.antiEntropy!.stats);
    const recovery = stats.reduce((sum, s) => sum + s.recoveryRounds, 0);
    const moved = stats.reduce((sum, s) => sum + s.keysPulled + s.keysPushed, 0);
    console.log(
      `anti-entropy recovery (seed ${seed}): n3 in sync ${tookMs} ms after it came back; ${recovery} recovery rounds moved ${moved} records`,
    );
    expect(recovery).toBeGreaterThan(0);
    // n3 missed 60 writes and 20 deletes; a record whose acknowledgement was lost is applied but not counted.
    expect(moved).toBeGreaterThan(40);
    expect(tookMs).toBeLessThan(30_000);
    sim.stop();
  });

  it(`repairs divergence planted on either side, to the newer record, tombstones included, within a few intervals`, async () => {
    const seed = seedForTest();
    const sim = elasticSim(seed, 5, { intervalMs: 5000 });
    await sim.runUntil(() => sim.settled() && sim.service().isReady());
    const keys = Array.from({ length: 300 }, (_, i) => `user:${i}`);
    const expected = new Map<string, VersionedValue>();
    const rng = sim.rng.fork('plant');
    for (const key of keys) {
      const owners = sim.preferenceList(key);
      // A tombstone's updatedAt is its time of death: now, so that it lives its grace period.
      const newest = record(
        100 + rng.int(100),
        rng.chance(0.2) ? { tombstone: true, value: new Uint8Array(0), updatedAt: sim.storageNode(owners[0]!).clock.now() } : {},
      );
      expected.set(key, newest);
      // The newest on one owner only, an older version on another, nothing on the third.
      const [holder, stale] = rng.shuffle(owners.slice());
      sim.storageNode(holder!).engine.apply(key, newest);
      sim.storageNode(stale!).engine.apply(key, record(newest.version - 50));
    }
    expect(divergent(sim, keys)).toHaveLength(keys.length);
    const plantedAt = sim.scheduler.now();
    await sim.runUntil(() => divergent(sim, keys).length === 0, { maxVirtualMs: 120_000 });
    console.log(`anti-entropy planted divergence (seed ${seed}): ${keys.length} keys in sync after ${sim.scheduler.now() - plantedAt} ms`);
    for (const key of keys) {
      for (const copy of ownerCopies(sim, key))
        expect(compareVersionedValues(copy.record!, expected.get(key)!), `${key} on ${copy.nodeId}`).toBe(0);
      // Nothing reached a node that does not own the key.
      const owners = new Set(sim.preferenceList(key));
      for (const other of sim.storage.filter((s) => !owners.has(s.node.id)))
        expect(other.engine.get(key), `${key} on ${other.node.id}`).toBeNull();
    }
    sim.stop();
  });

  it(`exchanges digests but no records between replicas already in sync`, async () => {
    const seed = seedForTest();
    const sim = elasticSim(seed, 3, { intervalMs: 2000 });
    const service = sim.service();
    await sim.runUntil(() => sim.settled() && service.isReady());
    for (let i = 0; i < 50; i += 1) await retried(sim, () => service.put(`k${i}`, Buffer.from(`v${i}`)));
    await sim.runUntil(
      () =>
        divergent(
          sim,
          Array.from({ length: 50 }, (_, i) => `k${i}`),
        ).length === 0,
      { maxVirtualMs: 60_000 },
    );
    // A round that began before the replicas converged may still be pushing: wait for a fresh one.
    const startedRounds = sim.storage.map((s) => s.antiEntropy!.stats.rounds);
    await sim.runUntil(
      () =>
        sim.storage.every(
          (s, i) => s.antiEntropy!.current() === null && (s.node.id === 'n3' || s.antiEntropy!.stats.rounds > startedRounds[i]!),
        ),
      { maxVirtualMs: 30_000 },
    );
    const before = sim.storage.map((s) => ({ ...s.antiEntropy!.stats }));
    await sim.runFor(10_000);
    const after = sim.storage.map((s) => s.antiEntropy!.stats);
    const rounds = after.reduce((sum, s, i) => sum + s.rounds - before[i]!.rounds, 0);
    expect(rounds).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < after.length; i += 1) {
      expect(after[i]!.bytesStreamed).toBe(before[i]!.bytesStreamed);
      expect(after[i]!.rangesDiffering).toBe(before[i]!.rangesDiffering);
    }
    sim.stop();
  });

  it('tries a failed round again after retryDelayMs, not after the whole interval', async () => {
    const seed = seedForTest();
    // Every DIGEST times out (1 ms deadline, 2 ms each way), so every round fails.
    const sim = new SimCluster({
      seed,
      storageNodes: 3,
      latencyMs: { min: 2, max: 2 },
      elastic: { vnodes: 16, antiEntropy: { intervalMs: 600_000, checkIntervalMs: 100, requestTimeoutMs: 1, retryDelayMs: 1000 } },
    });
    await sim.runUntil(() => sim.settled() && sim.service().isReady());
    const manager = sim.storageNode('n1').antiEntropy!;
    manager.requestRound('n2');
    await sim.runFor(5500);
    // One failed round at once, then one per second: five or six, where the interval alone allows one.
    expect(manager.stats.roundsFailed).toBeGreaterThanOrEqual(5);
    expect(manager.stats.rounds).toBe(0);
    sim.stop();
  });
});
