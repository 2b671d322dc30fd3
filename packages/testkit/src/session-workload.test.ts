// Goal: the one workload generator draws its mix, replays from a seed, names keys and sizes values
// as the simulation, the fault tests and the benchmarks expect, and refuses bad settings with the
// reason. Method: many draws from a SeededRng, counted.
import { describe, expect, it } from 'vitest';
import { SeededRng } from './seeded-rng.js';
import { SESSION_TTL_SECONDS, sessionKey, sessionValue, SessionWorkload, SIMULATION_MIX } from './session-workload.js';

describe('SessionWorkload', () => {
  it('draws the simulation mix over its keys, each put with a value of its own', () => {
    const workload = new SessionWorkload({ keys: 10 });
    const rng = new SeededRng(7);
    const counts = { get: 0, put: 0, delete: 0, ttl: 0 };
    const values = new Set<string>();
    const draws = 20_000;
    for (let op = 0; op < draws; op += 1) {
      const operation = workload.next(rng, 3, op);
      counts[operation.type] += 1;
      expect(operation.key).toMatch(/^session:\d$/);
      if (operation.type === 'put') {
        values.add(operation.value.toString());
        if (operation.ttlSeconds === SESSION_TTL_SECONDS) counts.ttl += 1;
      }
    }
    expect(counts.get / draws).toBeCloseTo(SIMULATION_MIX.get, 1);
    expect(counts.put / draws).toBeCloseTo(SIMULATION_MIX.put, 1);
    expect(counts.ttl / counts.put).toBeCloseTo(SIMULATION_MIX.ttlShare, 1);
    expect(values.size).toBe(counts.put);
  });

  it('replays the same operations from the same seed, under its own key prefix', () => {
    const workload = new SessionWorkload({ keys: 20, keyPrefix: 'partition', mix: { get: 0.5, put: 0.4, ttlShare: 0 } });
    const run = (seed: number) => {
      const rng = new SeededRng(seed);
      return Array.from({ length: 50 }, (_, op) => workload.next(rng, 0, op));
    };
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
    expect(run(1).every((operation) => operation.type !== 'put' || operation.ttlSeconds === undefined)).toBe(true);
    expect(workload.keys()).toHaveLength(20);
    expect(workload.keys()[19]).toBe('partition:19');
  });

  it('refuses a key count or a mix it cannot draw from, saying what is allowed', () => {
    expect(() => new SessionWorkload({ keys: 0 })).toThrow(/whole number of at least 1, got 0/);
    expect(() => new SessionWorkload({ keys: 5, mix: { get: 0.7, put: 0.5, ttlShare: 0 } })).toThrow(/get \+ put <= 1/);
  });
});

describe('session keys and values', () => {
  it('names keys as an application would and builds values of exactly the size asked, as JSON', () => {
    expect(sessionKey(42)).toBe('session:42');
    const value = sessionValue(3, 2048);
    expect(value.length).toBe(2048);
    expect(() => JSON.parse(value.toString('latin1'))).not.toThrow();
    expect(sessionValue(3, 2048).equals(value)).toBe(true);
  });
});
