// Goal: the ranges two replicas compare are exactly those both replicate, cut into bounded
// pieces, and the parts of a digest request map back to the hashes the engines count them by.
// Method: rings of a few nodes, checked against a brute-force walk of sample hashes.
import type { Node } from '@dkv/core';
import { RingViews, rangesContain, rangesSize } from '@dkv/hashing';
import { describe, expect, it } from 'vitest';
import { partRange, sharedRanges } from './anti-entropy-manager.js';

const node = (id: string): Node => ({ id, address: `${id}:1`, role: 'storage', status: 'up', vnodes: 16, metadata: {} });

describe('sharedRanges', () => {
  it('covers exactly the hashes both nodes replicate, in pieces no wider than the ring / pieces', () => {
    const views = new RingViews(['n1', 'n2', 'n3', 'n4', 'n5'].map(node));
    const byPeer = sharedRanges(views, 'n1', 3, 64);
    expect([...byPeer.keys()].sort()).toEqual(['n2', 'n3', 'n4', 'n5']);
    for (const [peer, ranges] of byPeer) {
      for (const [start, end] of ranges) expect(end - start + 1).toBeLessThanOrEqual(2 ** 32 / 64);
      for (let i = 1; i < ranges.length; i += 1) expect(ranges[i]![0]).toBeGreaterThan(ranges[i - 1]![1]);
      for (let hash = 0; hash < 2 ** 32; hash += 7_919_333) {
        const owners = views.read.getNodesForHash(hash, 3).map((n) => n.id);
        expect(rangesContain(ranges, hash), `${peer} @${hash}`).toBe(owners.includes('n1') && owners.includes(peer));
      }
    }
  });

  it('cuts the whole ring into pieces when every node replicates everything', () => {
    const views = new RingViews(['n1', 'n2', 'n3'].map(node));
    const ranges = sharedRanges(views, 'n1', 3, 4096).get('n2')!;
    expect(ranges).toHaveLength(4096);
    expect(rangesSize(ranges)).toBe(2 ** 32);
  });
});

describe('partRange', () => {
  it('gives the part of each (range, segment) index, covering each range without gaps', () => {
    const ranges = [
      [0, 9],
      [100, 1_000_000],
    ] as const;
    const parts = Array.from({ length: 6 }, (_, part) => partRange(ranges, 3, part));
    expect(parts.slice(0, 3)).toEqual([
      [0, 2],
      [3, 5],
      [6, 9],
    ]);
    expect(parts[3]![0]).toBe(100);
    expect(parts[5]![1]).toBe(1_000_000);
    for (let i = 4; i < 6; i += 1) expect(parts[i]![0]).toBe(parts[i - 1]![1] + 1);
  });
});
