import { compareVersionedValues, DkvError, type HashRange, type Node, type VersionMeta } from '@dkv/core';
import { hashKey, MAX_HASH, type RingViews } from '@dkv/hashing';
import { SCAN_BUCKET_BITS } from '@dkv/storage';
import { readArcs, ReplicaSetGroups, type ReadArc } from './ring-walk.js';

/**
 * The pure half of the cluster-wide key scan (see `ClusterKeyScanner`): where a scan stands, which
 * replicas to ask for the next stretch of the ring, and what their answers add up to.
 *
 * Every replica's range scan walks keys in one global order: by scan bucket (the top
 * {@link SCAN_BUCKET_BITS} bits of the key's ring hash), then by key. That order does not depend
 * on the ring, so a position in it (a bucket and the last key returned there) means the same to
 * every replica and every coordinator, before and after the ring changes: it is the cursor.
 */
export interface KeyScanPosition {
  /** The scan bucket the scan is in, 0 .. {@link SCAN_BUCKETS} - 1. */
  readonly bucket: number;
  /** The last key returned in that bucket, or null when the bucket has not been started. */
  readonly afterKey: string | null;
}

/** The number of scan buckets the replicas' storage engines index keys by. */
export const SCAN_BUCKETS = 1 << SCAN_BUCKET_BITS;
const BUCKET_SPAN = 2 ** (32 - SCAN_BUCKET_BITS);
/** The position of a scan that has not started: the first bucket, nothing returned yet. */
export const SCAN_START: KeyScanPosition = { bucket: 0, afterKey: null };
/** The longest cursor accepted: a bucket, a separator and a 512-byte key in base64url. */
const MAX_CURSOR_CHARS = 5 + 1 + Math.ceil((512 * 4) / 3);

/** The scan bucket of a key, as every storage engine computes it. */
export function bucketOfKey(key: string): number {
  return Math.floor(hashKey(key) / BUCKET_SPAN);
}

/**
 * Compares two positions in scan order (bucket, then key by UTF-16 code units, as the engines
 * sort); a null `afterKey` is before every key of its bucket.
 */
export function comparePositions(a: KeyScanPosition, b: KeyScanPosition): number {
  if (a.bucket !== b.bucket) return a.bucket - b.bucket;
  if (a.afterKey === b.afterKey) return 0;
  if (a.afterKey === null) return -1;
  if (b.afterKey === null) return 1;
  return a.afterKey < b.afterKey ? -1 : 1;
}

/**
 * The opaque cursor string of a position: `<bucket>` at the start of a bucket, otherwise
 * `<bucket>:<base64url of the last key>`. The start of the scan encodes as `"0"`, which is also
 * what Redis calls the first cursor.
 */
export function encodeScanCursor(position: KeyScanPosition): string {
  if (position.afterKey === null) return String(position.bucket);
  return `${position.bucket}:${Buffer.from(position.afterKey, 'utf8').toString('base64url')}`;
}

/**
 * Reads a cursor that {@link encodeScanCursor} wrote (null is the start).
 * @throws DkvError INVALID_REQUEST naming what is wrong with any other string.
 */
export function decodeScanCursor(cursor: string | null): KeyScanPosition {
  if (cursor === null) return SCAN_START;
  const invalid = (why: string) =>
    new DkvError(
      'INVALID_REQUEST',
      `invalid scan cursor ${JSON.stringify(cursor.slice(0, 40))}: ${why}; pass a cursor a previous scan returned, or none to start`,
    );
  if (cursor.length > MAX_CURSOR_CHARS) throw invalid(`longer than ${MAX_CURSOR_CHARS} characters`);
  const match = /^(0|[1-9][0-9]{0,4})(?::([A-Za-z0-9_-]+))?$/.exec(cursor);
  if (match === null) throw invalid('not a bucket number, optionally followed by ":" and a base64url key');
  const bucket = Number(match[1]);
  if (bucket >= SCAN_BUCKETS) throw invalid(`bucket ${bucket} is beyond the last one (${SCAN_BUCKETS - 1})`);
  if (match[2] === undefined) return { bucket, afterKey: null };
  const bytes = Buffer.from(match[2], 'base64url');
  const afterKey = bytes.toString('utf8');
  if (bytes.length === 0 || bytes.length > 512 || !Buffer.from(afterKey, 'utf8').equals(bytes))
    throw invalid('the key part is not 1 to 512 bytes of UTF-8');
  return { bucket, afterKey };
}

/** One request a window sends per replica: the ranges of one set of owners within the window. */
export interface ScanGroup {
  /** The readable replicas of every hash in `ranges`, in preference order of the first one. */
  readonly owners: readonly Node[];
  readonly ranges: readonly HashRange[];
}

/**
 * A stretch of scan buckets, `[from.bucket, lastBucket]`, cut by owners: every hash in it belongs
 * to exactly one group's ranges, so asking each group's replicas covers the stretch once.
 */
export interface ScanWindow {
  readonly from: KeyScanPosition;
  readonly lastBucket: number;
  readonly groups: readonly ScanGroup[];
}

/**
 * The next window of a scan at `from`: as many whole buckets as fit in `maxGroups` distinct owner
 * sets (arcs with the same replicas in any order share one request), and always at least the
 * first bucket, however many owner sets it has (a bucket spans 2^20 hashes, so a few at most;
 * the window is then that bucket alone).
 * Ranges of one group are merged where they touch.
 */
export function planScanWindow(views: RingViews, n: number, from: KeyScanPosition, maxGroups: number): ScanWindow {
  const arcs = readArcs(views, n);
  const startHash = from.bucket * BUCKET_SPAN;
  const firstBucketEnd = startHash + BUCKET_SPAN - 1;
  const groups = new ReplicaSetGroups();
  let lastBucket = SCAN_BUCKETS - 1;
  let index = firstArcAtOrAfter(arcs, startHash);
  for (; index < arcs.length; index += 1) {
    const arc = arcs[index] as ReadArc;
    const start = Math.max(arc.range[0], startHash);
    if (start > firstBucketEnd && groups.size > maxGroups) {
      lastBucket = from.bucket;
      break;
    }
    if (start > firstBucketEnd && groups.size === maxGroups && !groups.has(arc.readableKey)) {
      lastBucket = Math.floor(start / BUCKET_SPAN) - 1;
      break;
    }
    groups.add(arc.readableKey, arc.readable, [[start, arc.range[1]]], 'merge-touching');
  }
  if (groups.size > maxGroups) lastBucket = from.bucket;
  const endHash = lastBucket === SCAN_BUCKETS - 1 ? MAX_HASH : (lastBucket + 1) * BUCKET_SPAN - 1;
  const clipped: ScanGroup[] = [];
  for (const group of groups.list()) {
    const ranges = group.ranges.filter(([s]) => s <= endHash).map(([s, e]): HashRange => [s, Math.min(e, endHash)]);
    if (ranges.length > 0) clipped.push({ owners: group.replicas, ranges });
  }
  return { from, lastBucket, groups: clipped };
}

function firstArcAtOrAfter(arcs: ReadonlyArray<{ range: readonly [number, number] }>, hash: number): number {
  let low = 0;
  let high = arcs.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((arcs[mid]?.range[1] ?? 0) < hash) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** What one replica answered for one group: its records in scan order, and where it stopped. */
export interface ReplicaScanAnswer {
  readonly records: ReadonlyArray<{ readonly key: string; readonly meta: VersionMeta }>;
  /** Where this replica's batch stopped, or null when it covered the whole window. */
  readonly stoppedAt: KeyScanPosition | null;
}

/** The winning version of each key seen up to `until`, and `until`, where the next call resumes. */
export interface MergedScan {
  readonly winners: Map<string, VersionMeta>;
  /** The position up to which every answer was complete, or null when they all covered the window. */
  readonly until: KeyScanPosition | null;
}

/**
 * Unions the answers of every replica asked in a window. Each answer is complete only up to where
 * it stopped, so the result holds only keys at or before the earliest stop (the frontier): for
 * each of those, every replica asked has reported what it holds, and the highest version among
 * them wins (a tombstone or expired value on one replica beats an older live value on another,
 * as in a quorum read).
 */
export function mergeScanAnswers(answers: readonly ReplicaScanAnswer[]): MergedScan {
  let until: KeyScanPosition | null = null;
  for (const answer of answers) {
    if (answer.stoppedAt !== null && (until === null || comparePositions(answer.stoppedAt, until) < 0)) until = answer.stoppedAt;
  }
  const winners = new Map<string, VersionMeta>();
  for (const answer of answers) {
    for (const { key, meta } of answer.records) {
      if (until !== null && comparePositions({ bucket: bucketOfKey(key), afterKey: key }, until) > 0) break;
      const held = winners.get(key);
      if (held === undefined || compareVersionedValues(meta, held) > 0) winners.set(key, meta);
    }
  }
  return { winners, until };
}
