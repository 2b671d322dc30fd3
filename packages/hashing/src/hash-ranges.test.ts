// Goal: the range math that plans data movement agrees with routing: a hash is in a node's owned
// ranges exactly when the node is in its preference list, a gained range is exactly where the
// node is a replica after and not before, and the interval algebra is right at the edges (wrap,
// touching and overlapping intervals). Method: table cases, and fast-check properties checked
// against `getNodesForHash`, the router itself.
import type { HashRange, Node } from '@dkv/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConsistentHash } from './consistent-hash.js';
import {
  gainedRanges,
  groupRangesByOwners,
  intersectRanges,
  MAX_HASH,
  normalizeRanges,
  ownedRanges,
  rangesContain,
  rangesSize,
  ringId,
  subtractRanges,
} from './hash-ranges.js';

const node = (id: string, vnodes = 8): Node => ({ id, address: `${id}:1`, role: 'storage', status: 'up', vnodes, metadata: {} });
const ring = (ids: readonly string[], vnodes = 8) => new ConsistentHash(ids.map((id) => node(id, vnodes)));

describe('interval algebra', () => {
  it.each<[string, HashRange[], HashRange[]]>([
    [
      'merges touching',
      [
        [5, 9],
        [0, 4],
      ],
      [[0, 9]],
    ],
    [
      'merges overlapping',
      [
        [0, 5],
        [3, 8],
        [20, 30],
      ],
      [
        [0, 8],
        [20, 30],
      ],
    ],
    ['drops empty', [[5, 4]], []],
    [
      'keeps gaps',
      [
        [0, 1],
        [3, 4],
      ],
      [
        [0, 1],
        [3, 4],
      ],
    ],
  ])('normalize: %s', (_name, input, expected) => expect(normalizeRanges(input)).toEqual(expected));

  it.each<[string, HashRange[], HashRange[], HashRange[]]>([
    [
      'hole in the middle',
      [[0, 10]],
      [[3, 4]],
      [
        [0, 2],
        [5, 10],
      ],
    ],
    ['everything', [[0, 10]], [[0, 10]], []],
    ['nothing', [[0, 10]], [[11, 20]], [[0, 10]]],
    [
      'edges',
      [[0, MAX_HASH]],
      [
        [0, 0],
        [MAX_HASH, MAX_HASH],
      ],
      [[1, MAX_HASH - 1]],
    ],
    [
      'several',
      [
        [0, 5],
        [10, 15],
      ],
      [[4, 11]],
      [
        [0, 3],
        [12, 15],
      ],
    ],
  ])('subtract: %s', (_name, a, b, expected) => expect(subtractRanges(a, b)).toEqual(expected));

  it('intersects and sizes', () => {
    expect(
      intersectRanges(
        [
          [0, 10],
          [20, 30],
        ],
        [[5, 25]],
      ),
    ).toEqual([
      [5, 10],
      [20, 25],
    ]);
    expect(
      rangesSize([
        [0, 9],
        [5, 14],
      ]),
    ).toBe(15);
    expect(rangesContain([[3, 4]], 4)).toBe(true);
    expect(rangesContain([[3, 4]], 5)).toBe(false);
  });

  it('satisfies set laws on random intervals', () => {
    const rangeArb = fc
      .tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 200 }))
      .map(([a, b]): HashRange => [Math.min(a, b), Math.max(a, b)]);
    const setArb = fc.array(rangeArb, { maxLength: 6 });
    fc.assert(
      fc.property(setArb, setArb, fc.integer({ min: 0, max: 200 }), (a, b, h) => {
        expect(rangesContain(subtractRanges(a, b), h)).toBe(rangesContain(a, h) && !rangesContain(b, h));
        expect(rangesContain(intersectRanges(a, b), h)).toBe(rangesContain(a, h) && rangesContain(b, h));
        expect(rangesSize(a)).toBe(rangesSize(subtractRanges(a, b)) + rangesSize(intersectRanges(a, b)));
      }),
    );
  });
});

describe('ring arcs and owned ranges', () => {
  it('cover the whole space once, in order', () => {
    const arcs = ring(['a', 'b', 'c', 'd']).arcs(3);
    expect(arcs[0]?.range[0]).toBe(0);
    expect(arcs[arcs.length - 1]?.range[1]).toBe(MAX_HASH);
    arcs.slice(1).forEach((arc, i) => expect(arc.range[0]).toBe((arcs[i]?.range[1] ?? 0) + 1));
  });

  it('answers nothing on an empty ring', () => {
    expect(ring([]).arcs(3)).toEqual([]);
    expect(ownedRanges(ring([]), 'a', 3)).toEqual([]);
  });

  it('gives every node everything when there are at most n nodes', () => {
    expect(ownedRanges(ring(['a', 'b']), 'a', 3)).toEqual([[0, MAX_HASH]]);
  });

  const idsArb = fc.uniqueArray(fc.stringMatching(/^[a-h]$/), { minLength: 1, maxLength: 6 });

  it('agrees with routing: a hash is owned exactly when the node is in its preference list', () => {
    fc.assert(
      fc.property(
        idsArb,
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 0, max: MAX_HASH }), { minLength: 20, maxLength: 20 }),
        (ids, n, hashes) => {
          const r = ring(ids, 4);
          for (const id of ids) {
            const owned = ownedRanges(r, id, n);
            for (const h of hashes) expect(rangesContain(owned, h)).toBe(r.getNodesForHash(h, n).some((x) => x.id === id));
          }
        },
      ),
    );
  });

  it('gains exactly where a node is a replica after and not before', () => {
    fc.assert(
      fc.property(
        idsArb,
        idsArb,
        fc.array(fc.integer({ min: 0, max: MAX_HASH }), { minLength: 20, maxLength: 20 }),
        (before, after, hashes) => {
          const a = ring(before, 4);
          const b = ring(after, 4);
          for (const id of after) {
            const gained = gainedRanges(a, b, id, 3);
            for (const h of hashes) {
              const inAfter = b.getNodesForHash(h, 3).some((x) => x.id === id);
              const inBefore = a.getNodesForHash(h, 3).some((x) => x.id === id);
              expect(rangesContain(gained, h)).toBe(inAfter && !inBefore);
            }
          }
        },
      ),
    );
  });

  it('groups ranges by the replicas that can send them', () => {
    fc.assert(
      fc.property(idsArb, fc.array(fc.integer({ min: 0, max: MAX_HASH }), { minLength: 20, maxLength: 20 }), (ids, hashes) => {
        const r = ring(ids, 4);
        const wanted: HashRange[] = [
          [0, 2 ** 31],
          [3 * 2 ** 30, MAX_HASH],
        ];
        const groups = groupRangesByOwners(r, wanted, 3);
        for (const h of hashes) {
          const containing = groups.filter((g) => rangesContain(g.ranges, h));
          expect(containing.length).toBe(rangesContain(wanted, h) ? 1 : 0);
          if (containing[0]) expect(containing[0].owners.map((x) => x.id)).toEqual(r.getNodesForHash(h, 3).map((x) => x.id));
        }
      }),
    );
  });
});

describe('ringId', () => {
  it('names the token assignment, not the order or addresses', () => {
    expect(ringId(ring(['a', 'b']))).toBe(ringId(new ConsistentHash([{ ...node('b'), address: 'x:2' }, node('a')])));
    expect(ringId(ring(['a', 'b']))).not.toBe(ringId(ring(['a', 'b', 'c'])));
    expect(ringId(ring(['a', 'b']))).not.toBe(ringId(new ConsistentHash([node('a'), node('b', 9)])));
  });
});
