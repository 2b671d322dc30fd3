// Goal: with anti-entropy running, every tombstone (delete or expired value) is gone from every
// replica within the grace period plus a bound, and the engines' memory returns to its baseline:
// replicas that learnt a delete at different times, or whose clocks differ, must not re-seed a
// purged tombstone into each other with a fresh grace (issue 10, finding 2).
// Method: a seeded elastic simulation (3 nodes, short grace, anti-entropy every 4 s) whose
// coordinator drops its hints at once, so a replica that was down learns the deletes only from
// anti-entropy, later than the others; one replica's clock runs 3 s ahead. Keys are deleted and
// others expire; after grace + 3 anti-entropy intervals no engine may hold a tombstone or a byte.
// Each test prints its seed; DKV_SEED=<n> replays it.
import { DEFAULT_COORDINATOR_CONFIG } from '@dkv/coordination';
import { seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim-cluster.js';

const GRACE_MS = 20_000;
const ANTI_ENTROPY_INTERVAL_MS = 4000;

/** Runs a write until it is acknowledged (a quorum can be missed while a replica is down). */
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

describe('tombstone purge with anti-entropy (time of death carried in the record)', () => {
  it('purges every tombstone and expired value on every replica within grace plus a bound, back to baseline memory', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({
      seed,
      storageNodes: 3,
      tombstoneGraceMs: GRACE_MS,
      coordinator: { replication: { ...DEFAULT_COORDINATOR_CONFIG.replication, maxTaskAgeMs: 1 } },
      elastic: {
        vnodes: 16,
        antiEntropy: { intervalMs: ANTI_ENTROPY_INTERVAL_MS, checkIntervalMs: 200, requestTimeoutMs: 500, retryDelayMs: 1000 },
      },
    });
    sim.storageNode('n2').clock.setOffset(3000);
    const service = sim.service();
    await sim.runUntil(() => sim.settled() && service.isReady());
    const baseline = sim.storage.map((s) => s.engine.stats());
    const deleted = Array.from({ length: 40 }, (_, i) => `gone:${i}`);
    const expiring = Array.from({ length: 40 }, (_, i) => `ttl:${i}`);
    for (const key of deleted) await retried(sim, () => service.put(key, Buffer.from(`value-${key}`)));
    for (const key of expiring) await retried(sim, () => service.put(key, Buffer.from(`value-${key}`), 5));
    // n3 misses the deletes; with hints dropped, only anti-entropy brings them to it, later.
    sim.crash('n3');
    await sim.runFor(8000);
    for (const key of deleted) await retried(sim, () => service.delete(key));
    const lastDeathMs = sim.scheduler.now();
    sim.recover('n3');
    await sim.runFor(GRACE_MS + 3 * ANTI_ENTROPY_INTERVAL_MS + 5000);
    const held = sim.storage.flatMap((s) =>
      [...deleted, ...expiring].filter((key) => s.engine.get(key) !== null).map((key) => `${key}@${s.node.id}`),
    );
    const stats = sim.storage.map((s) => ({ id: s.node.id, ...s.engine.stats() }));
    console.log(
      `tombstone purge (seed ${seed}): ${sim.scheduler.now() - lastDeathMs} ms after the last delete, records left ${held.length}, stats ${JSON.stringify(stats)}`,
    );
    expect(held).toEqual([]);
    sim.storage.forEach((s, i) => {
      const now = s.engine.stats();
      expect({ id: s.node.id, keys: now.keys, tombstones: now.tombstones, bytes: now.bytes }).toEqual({
        id: s.node.id,
        keys: baseline[i]!.keys,
        tombstones: baseline[i]!.tombstones,
        bytes: baseline[i]!.bytes,
      });
    });
    // And they stay purged: further rounds bring nothing back.
    await sim.runFor(4 * ANTI_ENTROPY_INTERVAL_MS);
    for (const s of sim.storage) expect(s.engine.stats().tombstones, s.node.id).toBe(0);
    sim.stop();
  });
});
