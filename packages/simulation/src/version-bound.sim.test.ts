// Goal: one record whose version is far beyond the clocks (forged near 2^53, or written by a
// coordinator years ahead) can neither make a coordinator that reads it fail every later write
// nor drag the cluster's versions years ahead; replicas refuse such a version with
// VERSION_TOO_FAR_AHEAD, and coordinators count what they refuse (issue 10, finding 5).
// Method: seeded simulations of 3 storage nodes and 2 coordinators on virtual clocks; a poisoned
// record is planted on a key's replicas directly, and the second coordinator's clock is set three
// years ahead. Each test prints its seed; DKV_SEED=<n> replays it.
import { DEFAULT_MAX_CLOCK_OFFSET_MS, physicalMsOfVersion, type VersionedValue } from '@dkv/core';
import { seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim-cluster.js';

const YEAR_MS = 365 * 86_400_000;

function poisoned(version: number): VersionedValue {
  return { value: Buffer.from('poison'), version, writerId: 'forged', createdAt: 1, updatedAt: 1, expiresAt: null, tombstone: false };
}

describe('versions beyond the tolerated clock offset', () => {
  it('a record with a version near 2^53 does not make a coordinator that read it fail its later writes', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({ seed, storageNodes: 3, coordinators: 2 });
    for (const s of sim.storage) s.engine.apply('poison', poisoned(Number.MAX_SAFE_INTEGER - 10));
    const c1 = sim.service(0);
    await sim.run(c1.get('poison'));
    // Every other key stays writable through the coordinator that read it, near its own clock.
    for (let i = 0; i < 5; i += 1) {
      const written = await sim.run(c1.put(`ok:${i}`, Buffer.from('fine')));
      expect(physicalMsOfVersion(written.version) - sim.coordinators[0]!.clock.now()).toBeLessThanOrEqual(DEFAULT_MAX_CLOCK_OFFSET_MS);
    }
    // The poisoned key itself stays writable: each replica drops the record it met (it was never
    // acceptable) and counts it, instead of leaving the key unwritable.
    await sim.run(c1.put('poison', Buffer.from('new')));
    expect(Buffer.from((await sim.run(sim.service(1).get('poison')))!.value).toString()).toBe('new');
    for (const { record } of sim.replicasOf('poison')) expect(record?.version ?? 0).toBeLessThan(Number.MAX_SAFE_INTEGER - 10);
    expect(sim.storage.reduce((sum, s) => sum + (s.service?.versionsRefused ?? 0), 0)).toBeGreaterThan(0);
    sim.stop();
  });

  it('a record near 2^53 held by one replica is not spread by anti-entropy nor by range sync, and its key stays writable', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({
      seed,
      storageNodes: 3,
      coordinators: 1,
      elastic: {
        vnodes: 16,
        antiEntropy: { intervalMs: 2000, checkIntervalMs: 200, requestTimeoutMs: 500, retryDelayMs: 1000 },
        sync: { settleDelayMs: 200, cleanupDelayMs: 1000 },
      },
    });
    await sim.runUntil(() => sim.settled() && sim.service().isReady());
    const keys = Array.from({ length: 30 }, (_, i) => `key:${i}`);
    for (const key of keys) await sim.run(sim.service().put(key, Buffer.from('good')));
    // Held by n1 alone, as if written there before the check (or by a replica years ahead).
    const n1 = sim.storageNode('n1');
    for (const key of keys) n1.engine.apply(key, poisoned(Number.MAX_SAFE_INTEGER - 10));
    n1.engine.apply('only-poison', poisoned(Number.MAX_SAFE_INTEGER - 10));
    // Several anti-entropy intervals, then a node joins and streams its ranges.
    await sim.runFor(10_000);
    sim.addNode('n4');
    await sim.runUntil(() => sim.settled(), { maxVirtualMs: 120_000 });
    await sim.runFor(5000);
    const tooFar = (s: { engine: { get(key: string): VersionedValue | null } }) =>
      [...keys, 'only-poison'].filter((key) => (s.engine.get(key)?.version ?? 0) > Number.MAX_SAFE_INTEGER - 100);
    for (const s of sim.storage) expect(tooFar(s), s.node.id).toEqual([]);
    const refused = sim.storage.reduce(
      (sum, s) =>
        sum + (s.antiEntropy?.stats.versionsRefused ?? 0) + (s.sync?.stats.versionsRefused ?? 0) + (s.service?.versionsRefused ?? 0),
      0,
    );
    expect(refused).toBeGreaterThan(0);
    for (const key of keys) {
      await sim.run(sim.service().put(key, Buffer.from('after')));
      expect(Buffer.from((await sim.run(sim.service().get(key)))!.value).toString()).toBe('after');
    }
    console.log(`poisoned records (seed ${seed}): ${refused} refused or dropped, none held anywhere after anti-entropy and a join`);
    sim.stop();
  });

  it('a record near 2^53 held by the replica a joining node streams from does not reach the new node', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({
      seed,
      storageNodes: 1,
      coordinators: 1,
      coordinator: { n: 1, r: 1, w: 1 },
      elastic: { vnodes: 16, antiEntropy: false, sync: { settleDelayMs: 200, cleanupDelayMs: 1000 } },
    });
    await sim.runUntil(() => sim.settled() && sim.service().isReady());
    const keys = Array.from({ length: 30 }, (_, i) => `key:${i}`);
    for (const key of keys) sim.storageNode('n1').engine.apply(key, poisoned(Number.MAX_SAFE_INTEGER - 10));
    const n2 = sim.addNode('n2');
    await sim.runUntil(() => sim.settled(), { maxVirtualMs: 120_000 });
    expect(keys.filter((key) => n2.engine.get(key) !== null)).toEqual([]);
    expect((sim.storageNode('n1').service?.versionsRefused ?? 0) + (n2.sync?.stats.versionsRefused ?? 0)).toBeGreaterThan(0);
    // Every key is writable and readable on the grown ring.
    for (const key of keys) {
      await sim.run(sim.service().put(key, Buffer.from('after')));
      expect(Buffer.from((await sim.run(sim.service().get(key)))!.value).toString()).toBe('after');
    }
    sim.stop();
  });

  it('a coordinator three years ahead cannot write a version the replicas refuse, nor drag the others ahead', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({ seed, storageNodes: 3, coordinators: 2, coordinatorSkewMs: [0, 3 * YEAR_MS] });
    const [c1, c2] = [sim.service(0), sim.service(1)];
    await sim.run(c1.put('shared', Buffer.from('from-c1')));
    // Refused by the replicas (VERSION_TOO_FAR_AHEAD), or by c2 itself once its heartbeats have
    // measured its clock against the replicas' (CLOCK_OFFSET_TOO_LARGE).
    await expect(sim.run(c2.put('shared', Buffer.from('from-the-future')))).rejects.toMatchObject({
      code: expect.stringMatching(/^(VERSION_TOO_FAR_AHEAD|CLOCK_OFFSET_TOO_LARGE)$/),
    });
    // c1's write was acknowledged by W=2 replicas; the third may still be waiting for its copy
    // (the seed decides), but no replica holds c2's.
    const held = sim.replicasOf('shared').map(({ record }) => (record === null ? null : Buffer.from(record.value).toString()));
    expect(held.filter((value) => value !== null && value !== 'from-c1')).toEqual([]);
    expect(held.filter((value) => value === 'from-c1').length).toBeGreaterThanOrEqual(2);
    // c1 keeps issuing versions at its own clock, and the key stays writable by it.
    await sim.run(c1.get('shared'));
    const next = await sim.run(c1.put('shared', Buffer.from('again-c1')));
    expect(physicalMsOfVersion(next.version) - sim.coordinators[0]!.clock.now()).toBeLessThanOrEqual(DEFAULT_MAX_CLOCK_OFFSET_MS);
    sim.stop();
  });
});
