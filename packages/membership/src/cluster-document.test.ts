// Goal: the membership document is a state-based CRDT: merging is commutative, associative and
// idempotent, the epoch never goes down, and tombstones keep a removed node removed against older
// copies. The failure detector moves through alive, suspect and down on silence only.
// Method: fast-check properties over random entry sets; table cases for the detector.
import type { MemberEntry } from '@dkv/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bootstrapEntry, changeEntry, compareEntries, epochOf, joiningEntry, mergeEntries, toMembership } from './cluster-document.js';
import { FailureDetector } from './failure-detector.js';

const entryArb: fc.Arbitrary<MemberEntry> = fc.record({
  id: fc.constantFrom('a', 'b', 'c', 'd'),
  address: fc.constantFrom('h:1', 'h:2'),
  role: fc.constant('storage' as const),
  vnodes: fc.constantFrom(8, 16),
  readVnodes: fc.constantFrom(0, 8, 16),
  status: fc.constantFrom('joining' as const, 'up' as const, 'leaving' as const, 'removed' as const),
  version: fc.integer({ min: 1, max: 5 }),
  syncedRing: fc.constantFrom(null, 'r1', 'r2'),
  forced: fc.boolean(),
  rejoining: fc.boolean(),
  metadata: fc.constantFrom<Record<string, string>>({}, { zone: 'a' }),
});
const docArb = fc.array(entryArb, { maxLength: 8 });
const merge = (a: readonly MemberEntry[], b: readonly MemberEntry[]) => mergeEntries(a, b).entries;
const norm = (a: readonly MemberEntry[]) => merge([], a);

describe('mergeEntries', () => {
  it('is commutative, associative and idempotent', () => {
    fc.assert(
      fc.property(docArb, docArb, docArb, (a, b, c) => {
        expect(merge(norm(a), b)).toEqual(merge(norm(b), a));
        expect(merge(merge(norm(a), b), c)).toEqual(merge(norm(a), merge(norm(b), c)));
        expect(merge(norm(a), a)).toEqual(norm(a));
      }),
    );
  });

  it('never lowers the epoch, and keeps the higher version of each entry', () => {
    fc.assert(
      fc.property(docArb, docArb, (a, b) => {
        const merged = merge(norm(a), b);
        expect(epochOf(merged)).toBeGreaterThanOrEqual(epochOf(norm(a)));
        for (const entry of [...a, ...b]) {
          const kept = merged.find((e) => e.id === entry.id);
          expect(kept && compareEntries(kept, entry) >= 0).toBe(true);
        }
      }),
    );
  });

  it('keeps a tombstone against an older live copy, and lets a new join win over it', () => {
    const up = bootstrapEntry({ id: 'a', address: 'h:1', vnodes: 8 }, 'r1');
    const removed = changeEntry(up, { status: 'removed' });
    expect(merge([removed], [up])).toEqual([removed]);
    const rejoined = joiningEntry({ id: 'a', address: 'h:1', vnodes: 8 }, removed);
    expect(merge([removed], [rejoined])[0]?.status).toBe('joining');
  });

  it('projects to a membership without removed nodes, joining nodes unreadable', () => {
    const a = bootstrapEntry({ id: 'a', address: 'h:1', vnodes: 8 }, 'r1');
    const b = joiningEntry({ id: 'b', address: 'h:2', vnodes: 8 }, undefined);
    const c = changeEntry(bootstrapEntry({ id: 'c', address: 'h:3', vnodes: 8 }, 'r1'), { status: 'removed' });
    const membership = toMembership(norm([a, b, c]));
    expect(membership.epoch).toBe(4);
    expect(membership.nodes.map((n) => [n.id, n.status, n.readVnodes, n.readable])).toEqual([
      ['a', 'up', 8, true],
      ['b', 'joining', 0, false],
    ]);
  });
});

describe('FailureDetector', () => {
  it.each([
    [0, 'alive'],
    [1999, 'alive'],
    [2000, 'suspect'],
    [4999, 'suspect'],
    [5000, 'down'],
  ])('after %i ms of silence a node is %s', (silentMs, expected) => {
    const detector = new FailureDetector({ suspectAfterMs: 2000, downAfterMs: 5000 });
    detector.observe({ id: 'a', generation: 1, counter: 1 }, 100);
    expect(detector.livenessOf('a', 100 + silentMs)).toBe(expected);
  });

  it('resets on progress only, and on a new generation', () => {
    const detector = new FailureDetector({ suspectAfterMs: 10, downAfterMs: 20 });
    detector.observe({ id: 'a', generation: 1, counter: 5 }, 0);
    detector.observe({ id: 'a', generation: 1, counter: 5 }, 15);
    expect(detector.livenessOf('a', 15)).toBe('suspect');
    detector.observe({ id: 'a', generation: 2, counter: 0 }, 15);
    expect(detector.livenessOf('a', 15)).toBe('alive');
    detector.track('b', 0);
    expect(detector.livenessOf('b', 25)).toBe('down');
  });
});
