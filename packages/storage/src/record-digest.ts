import { digestRequestProblem, DkvError, type HashRange, type RangeDigest } from '@dkv/core';
import { touchedBuckets } from './scan-buckets.js';

/**
 * Range digests, shared by every engine so that two engines holding the same records give the
 * same hashes (anti-entropy compares digests across replicas, whatever engine each one runs).
 * A record counts by its identity: its key's ring hash and byte length, its version and its writer.
 */

/** Adds one record to the digest of the part its key hash falls in. */
export type DigestVisitor = (keyHash: number, version: number, writerHash: number, keyBytes: number) => void;

/**
 * The digest of `segments` equal parts of each of `ranges` (see `RangeScanStorageEngine.digest`).
 * `recordsOfBucket(bucket, visit)` must call `visit` once for every record held in that scan
 * bucket, in any order: a digest sums each lane over a part, so order does not matter.
 * @throws DkvError INVALID_REQUEST when the ranges are not sorted and disjoint or `segments` is out of bounds.
 */
export function digestRanges(
  ranges: readonly HashRange[],
  segments: number,
  recordsOfBucket: (bucket: number, visit: DigestVisitor) => void,
): RangeDigest[] {
  const problem = digestRequestProblem(ranges, segments);
  if (problem !== null) throw new DkvError('INVALID_REQUEST', `invalid digest request: ${problem}`);
  const sumA = new Uint32Array(ranges.length * segments);
  const sumB = new Uint32Array(ranges.length * segments);
  const counts = new Uint32Array(ranges.length * segments);
  for (const [bucket, firstRange, lastRange] of touchedBuckets(ranges, 0)) {
    recordsOfBucket(bucket, (keyHash, version, writerHash, keyBytes) => {
      for (let i = firstRange; i <= lastRange; i += 1) {
        const range = ranges[i];
        if (range === undefined || keyHash < range[0] || keyHash > range[1]) continue;
        const part = i * segments + Math.floor(((keyHash - range[0]) * segments) / (range[1] - range[0] + 1));
        sumA[part] = (sumA[part]! + identityHashA(keyHash, version, writerHash)) >>> 0;
        sumB[part] = (sumB[part]! + identityHashB(keyHash, version, keyBytes)) >>> 0;
        counts[part] = counts[part]! + 1;
        return;
      }
    });
  }
  const digests: RangeDigest[] = new Array<RangeDigest>(counts.length);
  for (let part = 0; part < counts.length; part += 1)
    digests[part] = { hash: sumA[part]! * 2 ** 21 + (sumB[part]! >>> 11), count: counts[part]! };
  return digests;
}

/** A 32-bit hash of a writer id (FNV-1a over its UTF-16 code units). Engines cache it per writer. */
export function writerIdHash(writerId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < writerId.length; i += 1) hash = Math.imul(hash ^ writerId.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** Murmur3's finaliser: a bijective 32-bit mix. */
function fmix32(input: number): number {
  let h = input;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Two independent 32-bit hashes of a record's identity: its key's ring hash, its version (53
 * bits, split in halves) and its writer (lane A) or its key's length (lane B). A digest sums each
 * lane over a part, so it does not depend on the order keys are visited in.
 */
function identityHashA(keyHash: number, version: number, writerHash: number): number {
  const low = version >>> 0;
  const high = Math.floor(version / 2 ** 32);
  return fmix32(keyHash ^ fmix32(low ^ Math.imul(high, 0x9e3779b1)) ^ Math.imul(writerHash, 0x27d4eb2f));
}

function identityHashB(keyHash: number, version: number, keyBytes: number): number {
  const low = version >>> 0;
  const high = Math.floor(version / 2 ** 32);
  return fmix32(Math.imul(keyHash ^ 0x5bd1e995, 0xcc9e2d51) + fmix32(high ^ Math.imul(low, 0x1b873593)) + Math.imul(keyBytes, 0x7feb352d));
}
