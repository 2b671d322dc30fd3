import type { HashRange } from '@dkv/core';

/**
 * Keys are indexed by the top 12 bits of their ring hash, so a range scan visits only the buckets
 * its ranges touch and sorts one bucket at a time (a few hundred keys per bucket per million keys
 * held): bounded work and memory per batch, without keeping a sorted index on every write.
 * Every engine uses the same buckets, so a scan cursor (a bucket and a key) taken on one engine
 * resumes on any other.
 */
export const SCAN_BUCKET_BITS = 12;

/** The number of scan buckets. */
export const SCAN_BUCKETS = 1 << SCAN_BUCKET_BITS;

/** How many ring hashes one bucket spans. */
const BUCKET_SPAN = 2 ** (32 - SCAN_BUCKET_BITS);

/** The scan bucket of a 32-bit ring hash. */
export function bucketOf(hash: number): number {
  return Math.floor(hash / BUCKET_SPAN);
}

/** A bucket that some ranges touch: the bucket and the indexes of the first and last of them. */
export type TouchedBucket = readonly [bucket: number, firstRange: number, lastRange: number];

/**
 * The buckets from `fromBucket` on that `ranges` (sorted by start, disjoint) touch, in ascending
 * order, each with the indexes of the ranges that touch it. Ranges and buckets both ascend, so
 * ranges behind a bucket are skipped and buckets no range touches are jumped over: a full walk
 * costs O(ranges + buckets touched), not their product.
 */
export function* touchedBuckets(ranges: readonly HashRange[], fromBucket: number): Generator<TouchedBucket> {
  let next = 0;
  for (let bucket = fromBucket; bucket < SCAN_BUCKETS; bucket += 1) {
    const low = bucket * BUCKET_SPAN;
    const high = low + BUCKET_SPAN - 1;
    while (next < ranges.length && (ranges[next]?.[1] ?? 0) < low) next += 1;
    const first = ranges[next];
    if (first === undefined) return;
    if (first[0] > high) {
      bucket = bucketOf(first[0]) - 1;
      continue;
    }
    let last = next;
    while (last + 1 < ranges.length && (ranges[last + 1]?.[0] ?? 0) <= high) last += 1;
    yield [bucket, next, last];
  }
}

/** Whether `hash` lies in one of `ranges[firstRange..lastRange]`. */
export function inSomeRange(ranges: readonly HashRange[], firstRange: number, lastRange: number, hash: number): boolean {
  for (let i = firstRange; i <= lastRange; i += 1) {
    const range = ranges[i];
    if (range !== undefined && hash >= range[0] && hash <= range[1]) return true;
  }
  return false;
}
