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
    // The poisoned key itself answers a clear error, not an internal one.
    await expect(sim.run(c1.put('poison', Buffer.from('new')))).rejects.toMatchObject({ code: 'VERSION_TOO_FAR_AHEAD' });
    expect(c1.metrics().versionsRefused).toBeGreaterThan(0);
    sim.stop();
  });

  it('a coordinator three years ahead cannot write a version the replicas refuse, nor drag the others ahead', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({ seed, storageNodes: 3, coordinators: 2, coordinatorSkewMs: [0, 3 * YEAR_MS] });
    const [c1, c2] = [sim.service(0), sim.service(1)];
    await sim.run(c1.put('shared', Buffer.from('from-c1')));
    // Refused by the replicas (VERSION_TOO_FAR_AHEAD), or by c2 itself once its heartbeats have
    // measured its clock against the replicas' (CLOCK_OFFSET_TOO_LARGE).
    await expect(sim.run(c2.put('shared', Buffer.from('from-the-future')))).rejects.toMatchObject({ code: expect.stringMatching(/^(VERSION_TOO_FAR_AHEAD|CLOCK_OFFSET_TOO_LARGE)$/) });
    for (const { record } of sim.replicasOf('shared')) expect(Buffer.from(record!.value).toString()).toBe('from-c1');
    // c1 keeps issuing versions at its own clock, and the key stays writable by it.
    await sim.run(c1.get('shared'));
    const next = await sim.run(c1.put('shared', Buffer.from('again-c1')));
    expect(physicalMsOfVersion(next.version) - sim.coordinators[0]!.clock.now()).toBeLessThanOrEqual(DEFAULT_MAX_CLOCK_OFFSET_MS);
    sim.stop();
  });
});
