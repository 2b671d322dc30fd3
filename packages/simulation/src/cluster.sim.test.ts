// Goal: the production domain code (CoordinatorService, QuorumManager, ReplicationManager,
// NodeManager, storage) behaves as API.md promises when replicas fail, slow down, miss writes,
// and coordinator clocks disagree by minutes.
// Method: whole clusters in one process on a seeded simulated network and virtual clocks
// (SimCluster). Each test prints its seed; DKV_SEED=<n> replays it exactly.
import { describe, expect, it } from 'vitest';
import { QuorumNotMetError, type VersionedValue } from '@dkv/core';
import { seedForTest } from '@dkv/testkit';
import { SimCluster, type SimClusterOptions } from './sim-cluster.js';

const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString() : undefined);
const value = (s: string) => Buffer.from(s);
/** Retries off for tests that must see what read repair alone does. */
const NO_RETRIES = {
  replication: {
    maxQueuedTasks: 1000,
    retryIntervalMs: 3_600_000,
    baseBackoffMs: 3_600_000,
    maxBackoffMs: 3_600_000,
    maxTaskAgeMs: 7_200_000,
    batchSize: 10,
  },
};

function cluster(options: Partial<SimClusterOptions> = {}): SimCluster {
  return new SimCluster({ seed: options.seed ?? seedForTest(), ...options });
}

describe('quorum with replicas down', () => {
  it.each([0, 1, 2])('with %i of 3 replicas crashed', async (down) => {
    const sim = cluster();
    const svc = sim.service();
    for (const id of sim.preferenceList('user:1').slice(0, down)) sim.network.crash(id);
    if (down < 2) {
      const written = await sim.run(svc.put('user:1', value('hello')));
      const read = await sim.run(svc.get('user:1'));
      expect(text(read?.value)).toBe('hello');
      expect(read?.version).toBe(written.version);
    } else {
      const error = await sim.run(svc.put('user:1', value('hello'))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QuorumNotMetError);
      expect((error as Error).message).toMatch(/needed 2 replica answers, received 1 of 3 contacted/);
      const readError = await sim.run(svc.get('user:1')).catch((e: unknown) => e);
      expect(readError).toBeInstanceOf(QuorumNotMetError);
    }
    sim.stop();
  });

  it('fails fast once heartbeats mark two replicas down', async () => {
    const sim = cluster();
    const [a, b] = sim.preferenceList('k');
    sim.network.crash(a!);
    sim.network.crash(b!);
    await sim.runFor(5000);
    const started = sim.scheduler.now();
    const error = await sim.run(sim.service().put('k', value('x'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuorumNotMetError);
    expect(sim.scheduler.now() - started).toBeLessThan(50);
    expect(sim.service().isReady()).toBe(false);
    sim.stop();
  });
});

describe('latency', () => {
  it('a slow replica does not slow reads or writes', async () => {
    const sim = cluster({ latencyMs: { min: 1, max: 2 } });
    const svc = sim.service();
    const slow = sim.preferenceList('k')[0]!;
    sim.network.setLatency(slow, { min: 400, max: 400 });
    let started = sim.scheduler.now();
    await sim.run(svc.put('k', value('v')));
    const putMs = sim.scheduler.now() - started;
    started = sim.scheduler.now();
    const read = await sim.run(svc.get('k'));
    const getMs = sim.scheduler.now() - started;
    expect(text(read?.value)).toBe('v');
    expect(putMs).toBeLessThan(20);
    expect(getMs).toBeLessThan(20);
    sim.stop();
  });
});

describe('quorum-sized reads (readFanout: quorum)', () => {
  it('ask only R replicas, and hedge around a slow one at about the recent p99', async () => {
    const sim = cluster({ latencyMs: { min: 1, max: 2 }, coordinator: { readFanout: 'quorum', hedgeMinDelayMs: 5 } });
    const svc = sim.service();
    await sim.run(svc.put('k', value('v')));
    for (let i = 0; i < 20; i += 1) await sim.run(svc.get('k'));
    const quorumStats = sim.coordinators[0]!.coordinator.quorum.stats;
    expect(quorumStats.hedgedReads).toBe(0);
    const before = sim.network.stats().requests;
    await sim.run(svc.get('k'));
    expect(sim.network.stats().requests - before).toBe(2);
    sim.network.setLatency(sim.preferenceList('k')[0]!, { min: 400, max: 400 });
    const started = sim.scheduler.now();
    expect(text((await sim.run(svc.get('k')))?.value)).toBe('v');
    expect(sim.scheduler.now() - started).toBeLessThan(20);
    expect(quorumStats.hedgedReads).toBe(1);
    sim.stop();
  });
});

describe('read repair', () => {
  it('brings a replica that missed a write up to date', async () => {
    const sim = cluster({ coordinator: NO_RETRIES });
    const svc = sim.service();
    const lagging = sim.preferenceList('k')[2]!;
    sim.network.crash(lagging);
    const written = await sim.run(svc.put('k', value('v1')));
    sim.network.recover(lagging);
    await sim.runFor(2000);
    expect(sim.storageNode(lagging).engine.get('k')).toBeNull();
    await sim.run(svc.get('k', { r: 3 }));
    await sim.runFor(100);
    expect(sim.storageNode(lagging).engine.get('k')?.version).toBe(written.version);
    expect(svc.metrics().readRepairs).toBeGreaterThanOrEqual(1);
    sim.stop();
  });
});

describe('versions under clock skew', () => {
  it('keeps sequential writes ordered through coordinators 5 minutes apart', async () => {
    const sim = cluster({ coordinators: 2, coordinatorSkewMs: [5 * 60_000, -5 * 60_000] });
    const versions: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const result = await sim.run(sim.service(i % 2).put('session:42', value(`v${i}`)));
      versions.push(result.version);
    }
    for (let i = 1; i < versions.length; i += 1) expect(versions[i]).toBeGreaterThan(versions[i - 1]!);
    for (const index of [0, 1]) expect(text((await sim.run(sim.service(index).get('session:42')))?.value)).toBe('v19');
    sim.stop();
  });

  it('keeps them ordered with optimistic (one round trip) writes too', async () => {
    const sim = cluster({ coordinators: 2, coordinatorSkewMs: [5 * 60_000, -5 * 60_000], coordinator: { writeVersioning: 'optimistic' } });
    let last = 0;
    for (let i = 0; i < 10; i += 1) {
      const result = await sim.run(sim.service(i % 2).put('k', value(`v${i}`)));
      expect(result.version).toBeGreaterThan(last);
      last = result.version;
    }
    expect(text((await sim.run(sim.service(0).get('k')))?.value)).toBe('v9');
    sim.stop();
  });

  it('retries an optimistic write above the newer version a replica holds', async () => {
    // 9 minutes ahead: within the tolerated offset (10 minutes). Exactly 10 minutes was refused
    // by some seeds, whose message delays made the measured offset 600,001 ms (seed 2826095753).
    const sim = cluster({ coordinators: 2, coordinatorSkewMs: [9 * 60_000, 0], coordinator: { writeVersioning: 'optimistic' } });
    await sim.run(sim.service(0).put('k', value('from the future')));
    const later = await sim.run(sim.service(1).put('k', value('later')));
    expect(sim.service(1).metrics().versionConflicts).toBe(1);
    expect(text((await sim.run(sim.service(0).get('k')))?.value)).toBe('later');
    expect(later.version).toBeGreaterThan(0);
    sim.stop();
  });

  it('gives an optimistic write a higher version NUMBER than the one acknowledged before it, even when the clocks make them tie', async () => {
    // Every message takes exactly 2 ms, so c1's write is acknowledged 4 ms after it was issued;
    // c2's clock is 4 ms behind, so c2 then issues the very same number. c2 > c1 wins the tie on
    // every replica; a write that applied only by that tie must not count (API.md: a write's
    // version is higher than that of every write acknowledged before it).
    const sim = cluster({
      coordinators: 2,
      coordinatorSkewMs: [0, -4],
      latencyMs: { min: 2, max: 2 },
      coordinator: { writeVersioning: 'optimistic' },
    });
    await sim.runFor(1000);
    const first = await sim.run(sim.service(0).put('tie', value('first')));
    const second = await sim.run(sim.service(1).put('tie', value('second')));
    expect(second.version).toBeGreaterThan(first.version);
    expect(sim.service(1).metrics().versionConflicts).toBe(1);
    expect(text((await sim.run(sim.service(0).get('tie')))?.value)).toBe('second');
    sim.stop();
  });

  it('keeps a delete after a write from a coordinator whose clock is ahead', async () => {
    // 9 minutes: within the tolerated offset (10 minutes), which a coordinator now measures before its first write.
    const sim = cluster({ coordinators: 2, coordinatorSkewMs: [9 * 60_000, 0] });
    await sim.run(sim.service(0).put('k', value('from the future')));
    await sim.run(sim.service(1).delete('k'));
    expect(await sim.run(sim.service(0).get('k'))).toBeNull();
    sim.stop();
  });
});

describe('concurrent writers', () => {
  it('converge to one value on every replica, over 10 seeds', async () => {
    const base = seedForTest();
    for (let round = 0; round < 10; round += 1) {
      const sim = new SimCluster({
        seed: base + round,
        coordinators: 3,
        coordinatorSkewMs: [0, 30_000, -30_000],
        latencyMs: { min: 1, max: 10 },
      });
      const writes = [0, 1, 2].map((i) =>
        sim
          .service(i)
          .put('contended', value(`writer-${i}`))
          .catch((e: unknown) => e),
      );
      await sim.run(Promise.all(writes));
      await sim.run(sim.service(0).get('contended', { r: 3 }));
      await sim.runFor(2000);
      const records = sim.replicasOf('contended').map((r) => r.record);
      const first = records[0] as VersionedValue;
      for (const record of records) {
        expect(record, `seed ${base + round}`).not.toBeNull();
        expect(record!.version, `seed ${base + round}`).toBe(first.version);
        expect(text(record!.value), `seed ${base + round}`).toBe(text(first.value));
      }
      for (const i of [0, 1, 2]) expect(text((await sim.run(sim.service(i).get('contended')))?.value)).toBe(text(first.value));
      sim.stop();
    }
  });
});

describe('TTL', () => {
  it('hides an expired value everywhere and reclaims its memory', async () => {
    const sim = cluster();
    const svc = sim.service();
    const before = sim.coordinators[0]!.clock.now();
    const written = await sim.run(svc.put('s', value('session'), 10));
    expect(written.expiresAt! - before).toBeGreaterThanOrEqual(10_000);
    expect(written.expiresAt! - before).toBeLessThan(10_050);
    await sim.runFor(5000);
    expect(text((await sim.run(svc.get('s')))?.value)).toBe('session');
    await sim.runFor(6000);
    expect(await sim.run(svc.get('s'))).toBeNull();
    for (const s of sim.storage) {
      expect(s.engine.stats().keys).toBe(0);
      expect(s.engine.get('s')?.tombstone).toBe(true);
    }
    sim.stop();
  });

  it('never lets an older value come back after a newer one expired', async () => {
    const sim = cluster({ coordinator: NO_RETRIES });
    const svc = sim.service();
    await sim.run(svc.put('s', value('old, no ttl')));
    await sim.runFor(100);
    const lagging = sim.preferenceList('s')[0]!;
    sim.network.crash(lagging);
    await sim.run(svc.put('s', value('new, ttl 5s'), 5));
    sim.network.recover(lagging);
    await sim.runFor(7000);
    expect(text(sim.storageNode(lagging).engine.get('s')?.value)).toBe('old, no ttl');
    expect(await sim.run(svc.get('s', { r: 3 }))).toBeNull();
    await sim.runFor(100);
    expect(sim.storageNode(lagging).engine.get('s')?.tombstone).toBe(true);
    expect(await sim.run(svc.get('s', { r: 1 }))).toBeNull();
    sim.stop();
  });
});

describe('deletes', () => {
  it('are never resurrected by a replica that missed them or by a replayed older write', async () => {
    const sim = cluster({ coordinator: NO_RETRIES });
    const svc = sim.service();
    const old = await sim.run(svc.put('k', value('v1')));
    await sim.runFor(100);
    const oldRecord = sim.storage[0]!.engine.get('k')!;
    expect(oldRecord.version).toBe(old.version);
    const lagging = sim.preferenceList('k')[1]!;
    sim.network.crash(lagging);
    await sim.run(svc.delete('k'));
    sim.network.recover(lagging);
    await sim.runFor(2000);
    expect(await sim.run(svc.get('k', { r: 3 }))).toBeNull();
    await sim.runFor(100);
    for (const s of sim.storage) {
      expect(s.engine.apply('k', oldRecord).applied).toBe(false);
      expect(s.engine.get('k')?.tombstone).toBe(true);
    }
    expect(await sim.run(svc.get('k', { r: 1 }))).toBeNull();
    sim.stop();
  });
});

describe('replication retry queue', () => {
  it('delivers after a partition heals and never holds more than its bound', async () => {
    const sim = cluster({
      coordinator: {
        replication: {
          maxQueuedTasks: 50,
          retryIntervalMs: 100,
          baseBackoffMs: 50,
          maxBackoffMs: 1000,
          maxTaskAgeMs: 600_000,
          batchSize: 20,
        },
      },
    });
    const svc = sim.service();
    sim.network.partition(['c1'], ['n3']);
    const replication = sim.coordinators[0]!.coordinator.replication;
    let maxDepth = 0;
    for (let i = 0; i < 100; i += 1) {
      await sim.run(svc.put(`key-${i}`, value(`value-${i}`)));
      await sim.runFor(10);
      maxDepth = Math.max(maxDepth, replication.queueDepth);
    }
    for (let i = 0; i < 30; i += 1) {
      await sim.runFor(100);
      maxDepth = Math.max(maxDepth, replication.queueDepth);
    }
    expect(maxDepth).toBe(50);
    expect(replication.queueDepth).toBe(50);
    expect(replication.stats.dropped).toBe(50);
    expect(sim.storageNode('n3').engine.stats().keys).toBe(0);
    const owed = replication.pendingTasks().map((task) => task.key);
    sim.network.heal();
    await sim.run(
      (async () => {
        while (replication.queueDepth > 0) await new Promise<void>((resolve) => sim.scheduler.after(100, resolve));
      })(),
      { maxVirtualMs: 60_000 },
    );
    const n3 = sim.storageNode('n3').engine;
    for (const key of owed) expect(text(n3.get(key)?.value)).toBe(key.replace('key', 'value'));
    expect(n3.stats().keys).toBe(50);
    expect(replication.stats.delivered).toBe(50);
    sim.stop();
  });
});
