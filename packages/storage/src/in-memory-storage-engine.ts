import {
  BinaryHeap,
  compareVersionedValues,
  deathTimeOf,
  DkvError,
  isPastPurge,
  metaOf,
  toTombstone,
  type ApplyResult,
  type Clock,
  type HashRange,
  type RangeDigest,
  type RangeScanStorageEngine,
  type ScanBatch,
  type ScanCursor,
  type StorageStats,
  type VersionedValue,
  type VersionMeta,
} from '@dkv/core';
import { hashKey, normalizeRanges } from '@dkv/hashing';
import { type BoundedStorageEngine, KeyIndex, keyIndexBoundsProblem, MAX_KEYS_PER_REPLICA, V8_MAP_MAX_ENTRIES } from './key-index.js';
import { digestRanges, writerIdHash } from './record-digest.js';
import { bucketOf, inSomeRange, SCAN_BUCKETS, touchedBuckets } from './scan-buckets.js';

export { SCAN_BUCKET_BITS } from './scan-buckets.js';

/** The default {@link InMemoryStorageEngineOptions.ttlIndexSlackFactor}. */
export const DEFAULT_TTL_INDEX_SLACK_FACTOR = 2;

/** The TTL index may always hold this many stale items before it is compacted, so small stores never rebuild. */
const TTL_INDEX_MIN_SLACK = 1024;

/** What an {@link InMemoryStorageEngine} needs. */
export interface InMemoryStorageEngineOptions {
  /** The replica's clock: what "expired" and "grace period over" are measured against. */
  readonly clock: Clock;
  /**
   * How long a tombstone is kept before `sweep` may purge it. It must cover the time a delete or
   * an expiry needs to reach every replica (hinted handoff, read repair, anti-entropy): once a
   * tombstone is gone, a replayed older write of that key applies again.
   */
  readonly tombstoneGraceMs: number;
  /**
   * Bound on the TTL index's stale items: when it holds more than this factor times the number
   * of keys held (plus a fixed 1024), it is rebuilt from the keys. Default 2.
   */
  readonly ttlIndexSlackFactor?: number;
  /**
   * The most keys (values and tombstones) held: a write of a new key beyond it is refused with
   * `UNAVAILABLE`, nothing changed (see {@link KeyIndex}). 1 to {@link MAX_KEYS_PER_REPLICA}, the default.
   */
  readonly maxKeys?: number;
  /**
   * The most keys one shard of the key index holds ({@link KeyIndex}): V8's limit for a `Map`,
   * {@link V8_MAP_MAX_ENTRIES}, unless a test sets it lower to reach it.
   */
  readonly keyIndexShardCapacity?: number;
}

/**
 * `options` with the default slack factor filled in, checked: both engines take them.
 * @throws DkvError INVALID_REQUEST naming the bad option.
 */
export function checkEngineOptions(options: InMemoryStorageEngineOptions): Required<InMemoryStorageEngineOptions> {
  const {
    clock,
    tombstoneGraceMs,
    ttlIndexSlackFactor = DEFAULT_TTL_INDEX_SLACK_FACTOR,
    maxKeys = MAX_KEYS_PER_REPLICA,
    keyIndexShardCapacity = V8_MAP_MAX_ENTRIES,
  } = options;
  if (!(tombstoneGraceMs >= 0)) {
    throw new DkvError('INVALID_REQUEST', `tombstoneGraceMs must be a number of milliseconds >= 0, got ${String(tombstoneGraceMs)}`);
  }
  if (!(ttlIndexSlackFactor >= 1)) {
    throw new DkvError('INVALID_REQUEST', `ttlIndexSlackFactor must be >= 1, got ${String(ttlIndexSlackFactor)}`);
  }
  const problem = keyIndexBoundsProblem({ maxKeys, shardCapacity: keyIndexShardCapacity });
  if (problem !== null) throw new DkvError('INVALID_REQUEST', problem);
  return { clock, tombstoneGraceMs, ttlIndexSlackFactor, maxKeys, keyIndexShardCapacity };
}

/** {@link StorageStats} plus what is particular to the in-memory engine. */
export interface InMemoryStorageStats extends StorageStats {
  /** Items in the TTL index, stale ones included: bounded by the slack factor. */
  readonly ttlIndexItems: number;
}

/**
 * What the engine holds for one key. A new Entry is made for every applied record, so the TTL
 * index can tell stale items by identity; only the expiry fold changes an Entry in place.
 */
interface Entry {
  readonly key: string;
  readonly keyBytes: number;
  /** `hashKey(key)`: where the key sits on the ring. */
  readonly hash: number;
  record: VersionedValue;
  /** When the record is a tombstone: the epoch ms from which it is purged (its time of death plus the grace). */
  purgeAtMs: number;
}

/** An item of the TTL index: an entry and the deadline it was indexed at (epoch ms). */
interface TtlItem {
  readonly atMs: number;
  readonly entry: Entry;
}

/**
 * A replica's store in memory: per key, only the record that wins by `compareVersionedValues`.
 *
 * Rules, which together are what keeps a delete or an expiry from being undone:
 * - `apply` stores a record only if it beats what is held; older or equal is a no-op that
 *   reports the held version. A record that arrives already expired is stored as its tombstone.
 * - A value whose `expiresAt <= clock.now()` reads as its tombstone at the same version the
 *   moment it expires: `get`, `head` and `apply` fold it first (lazily), and `sweep` folds the
 *   rest (actively), freeing their bytes. It can never be revived by a replay of itself.
 * - A tombstone is kept until `tombstoneGraceMs` after its time of death, which the record
 *   carries (`deathTimeOf`: a delete's `updatedAt`, set by the coordinator that wrote it, or a
 *   value's `expiresAt`), so every replica purges it at the same time whenever it got it (up to
 *   their clocks' difference). It used to be the local time of `apply`: a tombstone that reached
 *   one replica late (by anti-entropy) then outlived the others' copies, was pushed back to them
 *   with a fresh grace, and the replicas re-seeded each other forever (issue 10, finding 2).
 * - A record past its purge time (`isPastPurge`) is never held, streamed or digested: `get`,
 *   `head`, `scan` and `digest` skip it even before `sweep` drops it, and `apply` of one drops
 *   the older record it supersedes and keeps nothing (the delete takes effect; no tombstone is
 *   re-seeded).
 * - While a tombstone is held, no older or equal write can apply. After it is purged the key is
 *   unknown here, and a replay of an older write would apply again: preventing that is the
 *   grace period's job, so it must exceed the longest time a write can stay in flight, plus the
 *   largest clock offset between a coordinator and the replicas.
 *
 * Active expiry and purge run through one TTL index, a `BinaryHeap` of (deadline, Entry) items
 * with lazy deletion: an overwritten Entry's items stay in the heap and are discarded when
 * popped. The heap is rebuilt when stale items exceed the configured slack, which bounds it.
 * The engine stores values' bytes as given, without copying; callers must not mutate them.
 */
export class InMemoryStorageEngine implements RangeScanStorageEngine, BoundedStorageEngine {
  private readonly clock: Clock;
  private readonly tombstoneGraceMs: number;
  private readonly ttlIndexSlackFactor: number;
  private readonly entries: KeyIndex<Entry>;
  /** Entries by the deadline they were indexed at; stale items (the entry changed since) are skipped when popped. */
  private readonly ttlIndex = new BinaryHeap<TtlItem>((a, b) => a.atMs - b.atMs);
  private readonly buckets: Array<Set<string> | undefined> = new Array<Set<string> | undefined>(SCAN_BUCKETS);
  private readonly writerHashes = new Map<string, number>();
  private liveKeys = 0;
  private tombstones = 0;
  private liveBytes = 0;

  constructor(options: InMemoryStorageEngineOptions) {
    const { clock, tombstoneGraceMs, ttlIndexSlackFactor, maxKeys, keyIndexShardCapacity } = checkEngineOptions(options);
    this.clock = clock;
    this.tombstoneGraceMs = tombstoneGraceMs;
    this.ttlIndexSlackFactor = ttlIndexSlackFactor;
    this.entries = new KeyIndex<Entry>({ maxKeys, shardCapacity: keyIndexShardCapacity });
  }

  /** The record held for `key`; an expired value is folded into its tombstone first. */
  get(key: string): VersionedValue | null {
    const entry = this.entries.get(key);
    if (entry === undefined) return null;
    const nowMs = this.clock.now();
    this.foldIfExpired(entry, nowMs);
    if (!this.isPurgeable(entry, nowMs)) return entry.record;
    // Past its purge time but not swept yet: purged now, as an expiry is folded lazily.
    this.remove(key);
    return null;
  }

  /** The metadata of {@link get}'s record, without its bytes. */
  head(key: string): VersionMeta | null {
    const record = this.get(key);
    return record === null ? null : metaOf(record);
  }

  /** Throws a `KeyLimitError` (`UNAVAILABLE`) when `key` is not held and there is no room for another (see {@link KeyIndex}). */
  checkRoom(key: string): void {
    this.entries.checkRoom(key);
  }

  /**
   * Stores `record` if it beats the record held (expired values compared as their tombstones).
   * @throws KeyLimitError (`UNAVAILABLE`) for a key not held when there is no room for it, nothing changed.
   */
  apply(key: string, record: VersionedValue): ApplyResult {
    const nowMs = this.clock.now();
    const hash = hashKey(key);
    let held = this.entries.get(key, hash);
    let incoming = isExpired(record, nowMs) ? toTombstone(record) : record;
    if (held !== undefined) {
      this.foldIfExpired(held, nowMs);
      // A tombstone past its purge time is gone, swept or not.
      if (this.isPurgeable(held, nowMs)) this.remove(key);
    }
    held = this.entries.get(key, hash);
    if (held !== undefined) {
      if (compareVersionedValues(incoming, held.record) <= 0)
        return { applied: false, version: held.record.version, previous: held.record.version };
      if (isPastPurge(incoming, nowMs, this.tombstoneGraceMs)) {
        this.remove(key);
        return { applied: true, version: incoming.version, previous: held.record.version };
      }
      // A coordinator that writes without reading first cannot know when the key's life began:
      // an overwrite of a live value keeps the earlier `createdAt`.
      if (!incoming.tombstone && !held.record.tombstone && held.record.createdAt < incoming.createdAt)
        incoming = { ...incoming, createdAt: held.record.createdAt };
      this.uncount(held);
    } else if (isPastPurge(incoming, nowMs, this.tombstoneGraceMs)) {
      return { applied: true, version: incoming.version, previous: 0 };
    }
    const entry: Entry = {
      key,
      keyBytes: held?.keyBytes ?? Buffer.byteLength(key, 'utf8'),
      hash,
      record: incoming,
      purgeAtMs: incoming.tombstone ? (deathTimeOf(incoming) ?? nowMs) + this.tombstoneGraceMs : Number.POSITIVE_INFINITY,
    };
    this.entries.set(key, entry, hash);
    if (held === undefined) this.addToBucket(entry);
    this.count(entry);
    this.index(entry);
    return { applied: true, version: incoming.version, previous: held?.record.version ?? 0 };
  }

  /**
   * Up to `limit` records whose key hashes lie in `ranges`, in (bucket, key) order after `cursor`,
   * stopping early once their keys and values reach `maxBytes` (but never before one record).
   * Tombstones are included (an expired value as its tombstone) until their purge time: a node that gains a range must
   * also learn what was deleted there. The cursor names a bucket and a key, not engine state, so a
   * scan can resume on another replica.
   */
  scan(ranges: readonly HashRange[], cursor: ScanCursor | null, limit: number, maxBytes: number): ScanBatch {
    const wanted = normalizeRanges(ranges);
    const records: Array<{ key: string; record: VersionedValue }> = [];
    let bytes = 0;
    for (const [bucket, firstRange, lastRange] of touchedBuckets(wanted, cursor?.bucket ?? 0)) {
      const keys = this.buckets[bucket];
      if (keys === undefined) continue;
      const afterKey = bucket === cursor?.bucket ? cursor.afterKey : null;
      const sorted = [...keys].filter((key) => afterKey === null || key > afterKey).sort();
      for (const key of sorted) {
        const entry = this.entries.get(key);
        if (entry === undefined || !inSomeRange(wanted, firstRange, lastRange, entry.hash)) continue;
        const record = this.get(key);
        if (record === null) continue;
        records.push({ key, record });
        bytes += entry.keyBytes + record.value.byteLength;
        if (records.length >= limit || bytes >= maxBytes) return { records, cursor: { bucket, afterKey: key } };
      }
    }
    return { records, cursor: null };
  }

  /**
   * The digest of `segments` equal parts of each of `ranges` (see `RangeScanStorageEngine.digest`):
   * one pass over the buckets the ranges touch, no sorting, no copies.
   * @throws DkvError INVALID_REQUEST when the ranges are not sorted and disjoint or `segments` is out of bounds.
   */
  digest(ranges: readonly HashRange[], segments: number): RangeDigest[] {
    const nowMs = this.clock.now();
    return digestRanges(ranges, segments, (bucket, visit) => {
      for (const key of this.buckets[bucket] ?? []) {
        const entry = this.entries.get(key);
        if (entry !== undefined && !this.isPurgeable(entry, nowMs))
          visit(entry.hash, entry.record.version, this.writerHash(entry.record.writerId), entry.keyBytes);
      }
    });
  }

  /** Forgets `key` and its record entirely (see `RangeScanStorageEngine.remove`). */
  remove(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.uncount(entry);
    this.entries.delete(key, entry.hash);
    this.removeFromBucket(entry);
    return true;
  }

  /**
   * Folds due expiries and purges due tombstones, taking at most `maxWork` items off the TTL
   * index. Returns the items taken, stale index items included: they are work too, and counting
   * them keeps every call bounded. A caller that gets `maxWork` back may call again.
   */
  sweep(maxWork: number): number {
    const nowMs = this.clock.now();
    let work = 0;
    while (work < maxWork && (this.ttlIndex.peek()?.atMs ?? Number.POSITIVE_INFINITY) <= nowMs) {
      const entry = this.ttlIndex.pop()?.entry;
      work += 1;
      if (entry === undefined || this.entries.get(entry.key, entry.hash) !== entry) continue;
      this.foldIfExpired(entry, nowMs);
      if (entry.record.tombstone && entry.purgeAtMs <= nowMs) {
        this.entries.delete(entry.key, entry.hash);
        this.removeFromBucket(entry);
        this.tombstones -= 1;
      }
    }
    return work;
  }

  /**
   * Counts kept up to date on every change, so this is O(1). `keys` and `bytes` count values not
   * yet folded: a value whose TTL passed counts until a read, a write or `sweep` folds it.
   */
  stats(): InMemoryStorageStats {
    return { keys: this.liveKeys, tombstones: this.tombstones, bytes: this.liveBytes, ttlIndexItems: this.ttlIndex.size };
  }

  /** True when `entry` is past its purge time at `nowMs`, folded or not yet. */
  private isPurgeable(entry: Entry, nowMs: number): boolean {
    const { record } = entry;
    if (record.tombstone) return entry.purgeAtMs <= nowMs;
    return record.expiresAt !== null && record.expiresAt + this.tombstoneGraceMs <= nowMs;
  }

  /** A 32-bit hash of a writer id, cached: a cluster has few coordinators. */
  private writerHash(writerId: string): number {
    let hash = this.writerHashes.get(writerId);
    if (hash === undefined) {
      hash = writerIdHash(writerId);
      if (this.writerHashes.size >= WRITER_HASH_CACHE_MAX) this.writerHashes.clear();
      this.writerHashes.set(writerId, hash);
    }
    return hash;
  }

  private addToBucket(entry: Entry): void {
    const bucket = bucketOf(entry.hash);
    let keys = this.buckets[bucket];
    if (keys === undefined) {
      keys = new Set();
      this.buckets[bucket] = keys;
    }
    keys.add(entry.key);
  }

  private removeFromBucket(entry: Entry): void {
    const bucket = bucketOf(entry.hash);
    const keys = this.buckets[bucket];
    keys?.delete(entry.key);
    if (keys?.size === 0) this.buckets[bucket] = undefined;
  }

  private foldIfExpired(entry: Entry, nowMs: number): void {
    const { record } = entry;
    if (!isExpired(record, nowMs) || record.expiresAt === null) return;
    this.uncount(entry);
    entry.record = toTombstone(record);
    entry.purgeAtMs = record.expiresAt + this.tombstoneGraceMs;
    this.count(entry);
    this.ttlIndex.push({ atMs: entry.purgeAtMs, entry });
  }

  private index(entry: Entry): void {
    const deadlineMs = deadlineOf(entry);
    if (deadlineMs === null) return;
    this.ttlIndex.push({ atMs: deadlineMs, entry });
    if (this.ttlIndex.size > this.ttlIndexSlackFactor * this.entries.size + TTL_INDEX_MIN_SLACK) this.compactIndex();
  }

  /** Rebuilds the TTL index from the entries, dropping every stale item: O(n), amortised by the slack. */
  private compactIndex(): void {
    const items: TtlItem[] = [];
    for (const entry of this.entries.values()) {
      const deadlineMs = deadlineOf(entry);
      if (deadlineMs !== null) items.push({ atMs: deadlineMs, entry });
    }
    this.ttlIndex.rebuild(items);
  }

  private count(entry: Entry): void {
    if (entry.record.tombstone) {
      this.tombstones += 1;
    } else {
      this.liveKeys += 1;
      this.liveBytes += entry.keyBytes + entry.record.value.byteLength;
    }
  }

  private uncount(entry: Entry): void {
    if (entry.record.tombstone) {
      this.tombstones -= 1;
    } else {
      this.liveKeys -= 1;
      this.liveBytes -= entry.keyBytes + entry.record.value.byteLength;
    }
  }
}

/** Bound on the writer-id hash cache (cleared when full). */
const WRITER_HASH_CACHE_MAX = 4096;

function isExpired(record: VersionedValue, nowMs: number): boolean {
  return !record.tombstone && record.expiresAt !== null && record.expiresAt <= nowMs;
}

/** The next time sweep has something to do for `entry`: its expiry, its purge, or never (null). */
function deadlineOf(entry: Entry): number | null {
  if (entry.record.tombstone) return Number.isFinite(entry.purgeAtMs) ? entry.purgeAtMs : null;
  return entry.record.expiresAt;
}
