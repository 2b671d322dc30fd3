// Goal: checkConvergence reports a key exactly when its replicas disagree or hold fewer than N
// copies, says what each replica holds, and treats an expired value and its tombstone as equal.
// Method: a table of replica states with the verdict beside each.
import { describe, expect, it } from 'vitest';
import type { VersionedValue } from '@dkv/core';
import { checkConvergence, type ReplicaCopy } from './history-convergence.js';

const copy = (version: number, value: string | null, extra: Partial<ReplicaCopy> = {}): ReplicaCopy => ({
  version,
  tombstone: value === null,
  value,
  writerId: 'co1',
  ...extra,
});
const replicas = (...copies: Array<ReplicaCopy | null>): Map<string, ReplicaCopy | null> => new Map(copies.map((c, i) => [`n${i + 1}`, c]));

describe('checkConvergence', () => {
  const cases: Array<{ name: string; held: Map<string, ReplicaCopy | null>; nowMs?: number; message: RegExp | null }> = [
    { name: 'the same value everywhere', held: replicas(copy(3, 'a'), copy(3, 'a'), copy(3, 'a')), message: null },
    { name: 'the same tombstone everywhere', held: replicas(copy(4, null), copy(4, null), copy(4, null)), message: null },
    { name: 'nothing anywhere', held: replicas(null, null, null), message: null },
    {
      name: 'different versions',
      held: replicas(copy(3, 'a'), copy(2, 'b'), copy(3, 'a')),
      message: /key "k": its replicas disagree \(2 different records\) \(n1: v3 by co1 "a"; n2: v2 by co1 "b"; n3: v3 by co1 "a"\)/,
    },
    {
      name: 'same version, different writers',
      held: replicas(copy(3, 'a'), copy(3, 'a', { writerId: 'co2' }), copy(3, 'a')),
      message: /disagree/,
    },
    { name: 'a value against a tombstone', held: replicas(copy(3, 'a'), copy(3, null), copy(3, 'a')), message: /v3 by co1 tombstone/ },
    {
      name: 'a replica missing the key',
      held: replicas(copy(3, 'a'), null, copy(3, 'a')),
      message: /it has 2 of N = 3 copies \(n1: v3 by co1 "a"; n2: nothing;/,
    },
    { name: 'fewer replicas listed than N', held: replicas(copy(3, 'a'), copy(3, 'a')), message: /2 of N = 3 copies/ },
    { name: 'both problems at once', held: replicas(copy(3, 'a'), copy(2, 'b'), null), message: /disagree .* and it has 2 of N = 3/ },
    {
      name: 'an expired value and the tombstone it folds into, given nowMs',
      held: replicas(copy(3, 'a', { expiresAt: 100 }), copy(3, null), copy(3, 'a', { expiresAt: 100 })),
      nowMs: 100,
      message: null,
    },
    { name: 'the same without nowMs', held: replicas(copy(3, 'a', { expiresAt: 100 }), copy(3, null), copy(3, null)), message: /disagree/ },
  ];

  it.each(cases)('$name', ({ held, nowMs, message }) => {
    const result = checkConvergence(new Map([['k', held]]), { n: 3, ...(nowMs !== undefined ? { nowMs } : {}) });
    expect(result.valid).toBe(message === null);
    if (message) {
      expect(result.anomalies).toHaveLength(1);
      expect(result.anomalies[0]!.kind).toBe('divergence');
      expect(result.anomalies[0]!.message).toMatch(message);
    }
  });

  it('takes VersionedValues as they are, comparing bytes', () => {
    const record = (bytes: number[]): VersionedValue => ({
      value: new Uint8Array(bytes),
      version: 5,
      writerId: 'co1',
      createdAt: 1,
      updatedAt: 1,
      expiresAt: null,
      tombstone: false,
    });
    const same = new Map([
      [
        'k',
        new Map([
          ['n1', record([1, 2])],
          ['n2', record([1, 2])],
          ['n3', record([1, 2])],
        ]),
      ],
    ]);
    expect(checkConvergence(same, { n: 3 }).valid).toBe(true);
    const differ = new Map([
      [
        'k',
        new Map([
          ['n1', record([1, 2])],
          ['n2', record([1, 3])],
          ['n3', record([1, 2])],
        ]),
      ],
    ]);
    expect(checkConvergence(differ, { n: 3 }).stats).toEqual({ keys: 1, divergentKeys: 1, underReplicatedKeys: 0 });
  });

  it('returns at most maxAnomalies, in key order, and counts the rest', () => {
    const states = new Map(['c', 'a', 'b'].map((key) => [key, replicas(copy(1, 'x'))]));
    const result = checkConvergence(states, { n: 3, maxAnomalies: 2 });
    expect(result.anomalies.map((a) => a.key)).toEqual(['a', 'b']);
    expect(result.truncated).toBe(true);
    expect(result.stats.underReplicatedKeys).toBe(3);
  });
});
