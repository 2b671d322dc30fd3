// Goal: under a random workload with message loss, one crashed-and-recovered replica at a time
// and coordinators whose clocks disagree by minutes, no read returns a value that the history
// rules out (acknowledged writes are never lost or reordered, deletes stay deleted), and
// replicas converge once the faults stop.
// Method: seeded simulation over many seeds; a model of what each key may hold (the last
// acknowledged value plus any writes whose outcome was unknown since). The seed is printed.
import { describe, expect, it } from 'vitest';
import { compareVersionedValues, QuorumNotMetError } from '@dkv/core';
import { seedForTest } from '@dkv/testkit';
import { SimCluster } from './sim-cluster.js';

const SEEDS = 12;
const OPS = 250;
const KEYS = 15;

describe('random workload with single faults', () => {
  it(`keeps every read consistent with the history, over ${SEEDS} seeds`, async () => {
    const base = seedForTest();
    for (let round = 0; round < SEEDS; round += 1) {
      const seed = base + round;
      const sim = new SimCluster({ seed, storageNodes: 5, coordinators: 2, coordinatorSkewMs: [120_000, -120_000], lossRate: 0.01, latencyMs: { min: 1, max: 8 } });
      const rng = sim.rng.fork('workload');
      const possible = new Map<string, Set<string | null>>();
      const uncertain = new Set<string>();
      let crashed: string | null = null;
      let failures = 0;
      for (let op = 0; op < OPS; op += 1) {
        if (rng.chance(0.04)) {
          if (crashed) {
            sim.network.recover(crashed);
            crashed = null;
          } else {
            crashed = sim.storage[rng.int(sim.storage.length)]!.node.id;
            sim.network.crash(crashed);
          }
        }
        const key = `session:${rng.int(KEYS)}`;
        const svc = sim.service(rng.int(2));
        const allowed = possible.get(key) ?? new Set<string | null>([null]);
        const kind = rng.next();
        if (kind < 0.5) {
          const read = await sim.run(svc.get(key)).catch((e: unknown) => e);
          if (read instanceof QuorumNotMetError) failures += 1;
          else {
            const seen = read === null ? null : Buffer.from((read as { value: Uint8Array }).value).toString();
            expect(allowed.has(seen), `seed ${seed} op ${op}: read ${key} = ${seen}, allowed ${[...allowed].join(' | ')}`).toBe(true);
          }
        } else {
          const value = kind < 0.85 ? `v${op}` : null;
          const result = await sim.run(value === null ? svc.delete(key) : svc.put(key, Buffer.from(value), rng.chance(0.3) ? 3600 : undefined)).catch((e: unknown) => e);
          if (result instanceof QuorumNotMetError) {
            failures += 1;
            allowed.add(value);
            possible.set(key, allowed);
            uncertain.add(key);
          } else {
            possible.set(key, new Set([value]));
          }
        }
        await sim.runFor(rng.int(20));
      }
      if (crashed) sim.network.recover(crashed);
      sim.network.setLoss(0);
      await sim.runFor(30_000);
      for (const [key, allowed] of possible) {
        if (uncertain.has(key)) continue;
        const replicas = sim.preferenceList(key).map((id) => sim.storageNode(id).engine.get(key));
        const newest = replicas.reduce((a, b) => (a && b ? (compareVersionedValues(a, b) >= 0 ? a : b) : (a ?? b)));
        for (const record of replicas) {
          expect(record && newest && compareVersionedValues(record, newest) === 0, `seed ${seed}: ${key} diverged`).toBe(true);
        }
        const [only] = [...allowed];
        expect(newest!.tombstone ? null : Buffer.from(newest!.value).toString(), `seed ${seed}: ${key}`).toBe(only);
      }
      expect(failures, `seed ${seed}: failed requests`).toBeLessThan(OPS * 0.1);
      sim.stop();
    }
  });
});
