// Goal: the pure half of the key scan: answers are merged only up to where every replica's answer
// is complete (a replica that stopped early has not yet reported a tombstone that wins), the
// highest version wins per key, and a window's groups cover each hash of the window exactly once
// within the bound on replica sets. Method: tables of hand-made answers; windows planned over real
// rings, checked by sampling hashes against the ring's own preference lists.
import { describe, expect, it } from 'vitest';
import type { Node, VersionMeta } from '@dkv/core';
import { RingViews } from '@dkv/hashing';
import {
  bucketOfKey,
  comparePositions,
  mergeScanAnswers,
  planScanWindow,
  SCAN_BUCKETS,
  type KeyScanPosition,
  type ReplicaScanAnswer,
} from './key-scan-plan.js';

const meta = (version: number, tombstone = false): VersionMeta => ({ version, writerId: 'w', createdAt: 1, expiresAt: null, tombstone });
/** Keys of one bucket, sorted as the engines return them. */
const keysOfOneBucket = (() => {
  const all = Array.from({ length: 40_000 }, (_, i) => `key${i}`);
  const bucket = bucketOfKey(all[0]!);
  return all.filter((key) => bucketOfKey(key) === bucket).sort();
})();
const at = (key: string): KeyScanPosition => ({ bucket: bucketOfKey(key), afterKey: key });

describe('mergeScanAnswers', () => {
  it('keeps only keys up to the earliest stop, where every answer is complete', () => {
    const [k1, k2, k3, k4] = keysOfOneBucket as [string, string, string, string];
    const stoppedEarly: ReplicaScanAnswer = {
      records: [
        { key: k1, meta: meta(5) },
        { key: k2, meta: meta(5) },
      ],
      stoppedAt: at(k2),
    };
    // The second replica missed the delete of k3 that the first would report in its next batch.
    const complete: ReplicaScanAnswer = {
      records: [
        { key: k1, meta: meta(5) },
        { key: k2, meta: meta(4) },
        { key: k3, meta: meta(3) },
        { key: k4, meta: meta(3) },
      ],
      stoppedAt: null,
    };
    const merged = mergeScanAnswers([stoppedEarly, complete]);
    expect([...merged.winners.keys()]).toEqual([k1, k2]);
    expect(merged.winners.get(k2)?.version).toBe(5);
    expect(merged.until).toEqual(at(k2));
  });

  it('lets the highest version win, a tombstone over an older live value', () => {
    const [k1] = keysOfOneBucket as [string];
    const merged = mergeScanAnswers([
      { records: [{ key: k1, meta: meta(3) }], stoppedAt: null },
      { records: [{ key: k1, meta: meta(9, true) }], stoppedAt: null },
    ]);
    expect(merged.winners.get(k1)).toMatchObject({ version: 9, tombstone: true });
    expect(merged.until).toBeNull();
  });

  it('orders positions by bucket, then key, a bucket start first', () => {
    expect(comparePositions({ bucket: 1, afterKey: null }, { bucket: 1, afterKey: 'a' })).toBeLessThan(0);
    expect(comparePositions({ bucket: 1, afterKey: 'z' }, { bucket: 2, afterKey: null })).toBeLessThan(0);
    expect(comparePositions({ bucket: 3, afterKey: 'b' }, { bucket: 3, afterKey: 'a' })).toBeGreaterThan(0);
  });
});

describe('planScanWindow', () => {
  const nodes = (count: number): Node[] =>
    Array.from(
      { length: count },
      (_, i) => ({ id: `n${i}`, address: `n${i}:1`, role: 'storage', status: 'up', vnodes: 16, metadata: {} }) as Node,
    );

  it.each([
    [3, 8, 1],
    [12, 4, 1],
    [12, 1, 1],
  ])('with %i nodes and at most %i replica sets covers each hash once with its replicas', (count, maxGroups) => {
    const views = new RingViews(nodes(count));
    let from: KeyScanPosition | null = { bucket: 0, afterKey: null };
    let windows = 0;
    while (from !== null) {
      const window = planScanWindow(views, 3, from, maxGroups);
      windows += 1;
      expect(window.lastBucket).toBeGreaterThanOrEqual(from.bucket);
      const low = from.bucket * 2 ** 20;
      const high = (window.lastBucket + 1) * 2 ** 20 - 1;
      const single = window.lastBucket === from.bucket;
      if (!single) expect(window.groups.length).toBeLessThanOrEqual(maxGroups);
      for (let sample = 0; sample < 16; sample += 1) {
        const hash = low + Math.floor(((high - low) * sample) / 15);
        const holders = window.groups.filter((g) => g.ranges.some(([s, e]) => hash >= s && hash <= e));
        expect(holders).toHaveLength(1);
        expect(holders[0]!.owners.map((n) => n.id).sort()).toEqual(
          views
            .readReplicasOfHash(hash, 3)
            .map((n) => n.id)
            .sort(),
        );
      }
      for (const group of window.groups) for (const [s, e] of group.ranges) expect(s >= low && e <= high).toBe(true);
      from = window.lastBucket + 1 < SCAN_BUCKETS ? { bucket: window.lastBucket + 1, afterKey: null } : null;
    }
    if (count === 3) expect(windows).toBe(1);
    else expect(windows).toBeGreaterThan(1);
  });
});
