// Goal: the one ring walker that the key scan and the operator repair share groups arcs by replica
// set (whatever the order of the replicas), merges touching ranges only when asked, and computes
// the arcs of a ring views once. Method: small hand-made sets and ranges, and a real ring.
import type { Node } from '@dkv/core';
import { RingViews } from '@dkv/hashing';
import { describe, expect, it } from 'vitest';
import { readArcs, replicaSetKey, ReplicaSetGroups } from './ring-walk.js';

const node = (id: string): Node => ({ id, address: `${id}:1`, role: 'storage', status: 'up', vnodes: 8, metadata: {} });
const [a, b, c] = [node('a'), node('b'), node('c')];

describe('ReplicaSetGroups', () => {
  it('gathers the ranges of one replica set, in any order of its replicas, into one group', () => {
    const groups = new ReplicaSetGroups();
    groups.add(replicaSetKey([a, b]), [a, b], [[0, 9]], 'apart');
    groups.add(replicaSetKey([b, c]), [b, c], [[10, 19]], 'apart');
    groups.add(replicaSetKey([b, a]), [b, a], [[20, 29]], 'apart');
    expect(groups.size).toBe(2);
    expect(groups.has(replicaSetKey([a, b]))).toBe(true);
    expect(groups.list()).toEqual([
      {
        replicas: [a, b],
        ranges: [
          [0, 9],
          [20, 29],
        ],
      },
      { replicas: [b, c], ranges: [[10, 19]] },
    ]);
  });

  it.each([
    [
      'merge-touching',
      [
        [0, 29],
        [40, 49],
      ],
    ],
    [
      'apart',
      [
        [0, 9],
        [10, 29],
        [40, 49],
      ],
    ],
  ] as const)('%s: touching ranges are joined only when merging', (join, expected) => {
    const groups = new ReplicaSetGroups();
    groups.add(
      'a,b',
      [a, b],
      [
        [0, 9],
        [10, 29],
        [40, 49],
      ],
      join,
    );
    expect(groups.list()[0]?.ranges).toEqual(expected);
  });
});

describe('readArcs', () => {
  it('covers the ring once, in hash order, with the replica sets keyed, and is computed once per views', () => {
    const views = new RingViews([a, b, c]);
    const arcs = readArcs(views, 2);
    expect(arcs[0]?.range[0]).toBe(0);
    for (let i = 1; i < arcs.length; i += 1) expect(arcs[i]!.range[0]).toBe(arcs[i - 1]!.range[1] + 1);
    for (const arc of arcs) expect(arc.replicasKey).toBe(replicaSetKey(arc.replicas));
    expect(readArcs(views, 2)).toBe(arcs);
  });
});
