import {
  compareVersionedValues,
  deathTimeOf,
  DkvError,
  isPastPurge,
  toTombstone,
  type ApplyResult,
  type Clock,
  type HashRange,
  type RangeDigest,
  type RangeScanStorageEngine,
  type ScanBatch,
  type ScanCursor,
  type VersionedValue,
  type VersionMeta,
} from '@dkv/core';
import { hashKey, normalizeRanges } from '@dkv/hashing';
import { DeadlineHeap } from './deadline-heap.js';
import { checkEngineOptions, type InMemoryStorageEngineOptions, type InMemoryStorageStats } from './in-memory-storage-engine.js';
import { type BoundedStorageEngine, KeyIndex } from './key-index.js';
import { digestRanges } from './record-digest.js';
import { FLAG_IN_USE, FLAG_TOMBSTONE, NO_SLOT, RecordTable } from './record-table.js';
import { bucketOf, inSomeRange, touchedBuckets } from './scan-buckets.js';
import { EMPTY_ADDRESS, SlabAllocator, type SlabAllocatorOptions } from './slab-allocator.js';
import type { CopyingStorageEngine } from './storage-service.js';
import { WriterTable } from './writer-table.js';

/** The TTL index may always hold this many stale items before it is compacted (as in the in-memory engine). */
const TTL_INDEX_MIN_SLACK = 1024;

/** The default {@link CompactStorageEngineOptions.compactionMaxMoves}: 8 values (16 KiB of copying for 2 KiB sessions). */
export const DEFAULT_COMPACTION_MAX_MOVES = 8;
/** The bound on {@link CompactStorageEngineOptions.compactionMaxMoves}. */
const MAX_COMPACTION_MAX_MOVES = 65_536;
/**
 * The most bytes one `sweep` copies to compact slabs (512 sessions of 2 KiB, or 16 values of 64
 * KiB): a sweep runs every 100 ms by default, and must stay well under a millisecond of copying.
 */
export const SWEEP_COMPACTION_MAX_BYTES = 1024 * 1024;

/** What a {@link CompactStorageEngine} needs: the in-memory engine's options, plus how values are laid out. */
export interface CompactStorageEngineOptions extends InMemoryStorageEngineOptions, SlabAllocatorOptions {
  /**
   * The most values one `apply` or `remove` moves to give back slabs (see `SlabAllocator.compact`;
   * `sweep` uses what is left of its own `maxWork` instead). 0 leaves compaction to `sweep`.
   * A whole number from 0 to 65,536; default {@link DEFAULT_COMPACTION_MAX_MOVES}.
   */
  readonly compactionMaxMoves?: number;
}

/** {@link InMemoryStorageStats} plus what the compact layout holds for values. */
export interface CompactStorageStats extends InMemoryStorageStats {
  /**
   * Bytes reserved for values: slabs (blocks in use, freed for reuse, and not carved yet) plus
   * values kept in buffers of their own. It goes down when compaction gives a slab back.
   */
  readonly valueStoreBytes: number;
  /** Slabs given back by compaction since the engine was made. */
  readonly slabsReleased: number;
  /** Values moved between slabs by compaction since the engine was made. */
  readonly blocksMoved: number;
}

/**
 * A replica's store in memory with the same rules as {@link InMemoryStorageEngine} (read its doc
 * comment: apply-if-newer by `compareVersionedValues`, expiry folded into tombstones lazily and by
 * `sweep`, tombstone grace from the time of death the record carries, nothing held, streamed or
 * digested past its purge time, `createdAt` kept across overwrites, scans
 * in (bucket, key) order with the same cursors, digests with the same hashes), laid out so that
 * a record costs little more than its key and value bytes:
 *
 * - value bytes are copied into slab ArrayBuffers by size class ({@link SlabAllocator}): a
 *   2048-byte value takes 2048 bytes, with no ArrayBuffer or typed-array object of its own;
 * - the metadata is a row of typed-array columns, indexed by a slot number ({@link RecordTable}),
 *   writer ids interned ({@link WriterTable}); one `Map<string, number>` leads from key to slot;
 * - scan buckets are doubly linked lists through the slots, not Sets of keys;
 * - the TTL index is a heap of (deadline, slot, generation) in typed arrays ({@link DeadlineHeap}),
 *   with lazy deletion: an item is current only while its slot's generation is the one it was
 *   pushed with (a slot's generation changes on every applied record and when it is freed).
 *
 * Memory that a size class no longer uses is given back by compaction (`SlabAllocator.compact`):
 * when a class's free blocks fill at least one whole slab and are more than a quarter of its
 * blocks (sessions grew into another class, or a burst of them expired), the values of its last
 * slab are moved into free blocks of earlier slabs, their records' `valueAddress` updated (the
 * allocator keeps each block's record slot), and the slab dropped, one slab after another. It
 * runs in steps inside the calls that change the store: each `apply` and `remove` moves at most
 * `compactionMaxMoves` values (default 8), each `sweep(maxWork)` at most `maxWork` minus the TTL
 * items it took. Reads (`get`, `peek`, `head`, `scan`, `digest`) never move a value.
 *
 * Unlike the in-memory engine, `apply` copies the caller's bytes (the caller may reuse its
 * buffer), and `get` and `scan` return bytes of their own: a copy of the slab block, never a view
 * into it, because a block is reused as soon as its key is overwritten, expires or is removed
 * (and compaction may move a value to another block), while callers hand records on
 * asynchronously (in-process node clients resolve a promise with them; anti-entropy sends
 * scanned records after an await). Values above `maxSlabValueBytes`
 * keep a buffer of their own, which is returned as it is and must not be mutated.
 */
export class CompactStorageEngine implements RangeScanStorageEngine, CopyingStorageEngine, BoundedStorageEngine {
  /** `apply` copies the bytes into a slab block or a buffer of their own: a caller may lend it a view (see `StorageService.handleBorrowed`). */
  readonly copiesAppliedValues = true;
  private readonly clock: Clock;
  private readonly tombstoneGraceMs: number;
  private readonly ttlIndexSlackFactor: number;
  /** Key → slot. Its order is the in-memory engine's `entries` order (both insert on first apply, delete on purge and remove). */
  private readonly slots: KeyIndex<number>;
  private readonly table = new RecordTable();
  private readonly values: SlabAllocator;
  private readonly writers = new WriterTable();
  private readonly ttlIndex = new DeadlineHeap();
  private readonly compactionMaxMoves: number;
  /** Points a moved value's record at its new address (the allocator's owner is the record's slot). */
  private readonly relocate = (slot: number, from: number, to: number): void => {
    if (this.table.valueAddress[slot] !== from)
      throw new DkvError('INTERNAL', `compaction moved address ${from}, but slot ${slot} holds ${String(this.table.valueAddress[slot])}`);
    this.table.valueAddress[slot] = to;
  };
  private liveKeys = 0;
  private tombstones = 0;
  private liveBytes = 0;

  constructor(options: CompactStorageEngineOptions) {
    const { clock, tombstoneGraceMs, ttlIndexSlackFactor, maxKeys, keyIndexShardCapacity } = checkEngineOptions(options);
    this.clock = clock;
    this.tombstoneGraceMs = tombstoneGraceMs;
    this.ttlIndexSlackFactor = ttlIndexSlackFactor;
    this.values = new SlabAllocator(options);
    this.slots = new KeyIndex<number>({ maxKeys, shardCapacity: keyIndexShardCapacity });
    const { compactionMaxMoves = DEFAULT_COMPACTION_MAX_MOVES } = options;
    if (!Number.isInteger(compactionMaxMoves) || compactionMaxMoves < 0 || compactionMaxMoves > MAX_COMPACTION_MAX_MOVES) {
      throw new DkvError(
        'INVALID_REQUEST',
        `compactionMaxMoves must be a whole number from 0 to ${MAX_COMPACTION_MAX_MOVES}, got ${String(compactionMaxMoves)}`,
      );
    }
    this.compactionMaxMoves = compactionMaxMoves;
  }

  /** The record held for `key`, its value in bytes of its own; an expired value is folded into its tombstone first. */
  get(key: string): VersionedValue | null {
    const slot = this.slots.get(key);
    if (slot === undefined) return null;
    return this.goneOnRead(key, slot) ? null : this.recordAt(slot);
  }

  /**
   * As {@link get}, its bytes a view of the slab: valid only until the engine is next called (see
   * `StorageEngine.peek`). Compaction cannot move or drop the lent block before then: it runs only
   * inside `apply`, `remove` and `sweep`, never in a read, and the one borrower
   * (`StorageService.handleBorrowed`, for the TCP server) encodes the answer synchronously, before
   * any other call can reach the engine.
   */
  peek(key: string): VersionedValue | null {
    const slot = this.slots.get(key);
    if (slot === undefined) return null;
    return this.goneOnRead(key, slot) ? null : this.recordAt(slot, true);
  }

  /** The metadata of {@link get}'s record, without reading its bytes. */
  head(key: string): VersionMeta | null {
    const slot = this.slots.get(key);
    if (slot === undefined) return null;
    if (this.goneOnRead(key, slot)) return null;
    const t = this.table;
    return {
      version: t.version[slot] as number,
      writerId: this.writers.id(t.writer[slot] as number),
      createdAt: t.createdAt[slot] as number,
      expiresAt: expiresAtOf(t, slot),
      tombstone: t.isTombstone(slot),
    };
  }

  /** Throws a `KeyLimitError` (`UNAVAILABLE`) when `key` is not held and there is no room for another (see {@link KeyIndex}). */
  checkRoom(key: string): void {
    this.slots.checkRoom(key);
  }

  /**
   * Stores a copy of `record` if it beats the record held (expired values compared as their tombstones).
   * @throws KeyLimitError (`UNAVAILABLE`) for a key not held when there is no room for it, nothing changed.
   */
  apply(key: string, record: VersionedValue): ApplyResult {
    const nowMs = this.clock.now();
    const incoming = isExpired(record, nowMs) ? toTombstone(record) : record;
    const t = this.table;
    const hash = hashKey(key);
    let slot = this.slots.get(key, hash);
    if (slot !== undefined) {
      this.foldIfExpired(slot, nowMs);
      // A tombstone past its purge time is gone, swept or not.
      if (this.purgeIfDue(key, slot, nowMs)) slot = undefined;
    }
    let createdAt = incoming.createdAt;
    let oldWriter = -1;
    let previous = 0;
    if (isPastPurge(incoming, nowMs, this.tombstoneGraceMs)) return this.applyPastPurge(key, slot, incoming, nowMs);
    if (slot === undefined) {
      this.slots.checkRoom(key, hash);
      slot = t.allocate(key, bucketOf(hash));
      t.keyHash[slot] = hash;
      t.keyBytes[slot] = Buffer.byteLength(key, 'utf8');
      this.slots.set(key, slot, hash);
    } else {
      this.foldIfExpired(slot, nowMs);
      if (!this.beatsHeld(incoming, slot))
        return { applied: false, version: t.version[slot] as number, previous: t.version[slot] as number };
      previous = t.version[slot] as number;
      // A coordinator that writes without reading first cannot know when the key's life began:
      // an overwrite of a live value keeps the earlier `createdAt`.
      const heldCreatedAt = t.createdAt[slot] as number;
      if (!incoming.tombstone && !t.isTombstone(slot) && heldCreatedAt < createdAt) createdAt = heldCreatedAt;
      this.uncount(slot);
      this.values.release(t.valueAddress[slot] as number);
      oldWriter = t.writer[slot] as number;
      t.generation[slot] = ((t.generation[slot] as number) + 1) >>> 0;
    }
    t.version[slot] = incoming.version;
    // The new writer is taken before the old one is let go, so rewriting a key by the same
    // writer keeps its index instead of forgetting and re-interning it.
    t.writer[slot] = this.writers.acquire(incoming.writerId);
    if (oldWriter >= 0) this.writers.release(oldWriter);
    t.createdAt[slot] = createdAt;
    t.updatedAt[slot] = incoming.updatedAt;
    t.expiresAt[slot] = incoming.expiresAt ?? Number.NaN;
    t.purgeAt[slot] = incoming.tombstone ? (deathTimeOf(incoming) ?? nowMs) + this.tombstoneGraceMs : Number.POSITIVE_INFINITY;
    t.flags[slot] = incoming.tombstone ? FLAG_IN_USE | FLAG_TOMBSTONE : FLAG_IN_USE;
    t.valueAddress[slot] = this.values.store(incoming.value, slot);
    t.valueBytes[slot] = incoming.value.byteLength;
    this.count(slot);
    this.index(slot);
    this.values.compact(this.compactionMaxMoves, this.relocate);
    return { applied: true, version: incoming.version, previous };
  }

  /**
   * Up to `limit` records whose key hashes lie in `ranges`, in (bucket, key) order after `cursor`,
   * stopping early once their keys and values reach `maxBytes` (but never before one record).
   * Tombstones are included, an expired value as its tombstone. Same cursors as the in-memory engine.
   */
  scan(ranges: readonly HashRange[], cursor: ScanCursor | null, limit: number, maxBytes: number): ScanBatch {
    const wanted = normalizeRanges(ranges);
    const records: Array<{ key: string; record: VersionedValue }> = [];
    const t = this.table;
    let bytes = 0;
    for (const [bucket, firstRange, lastRange] of touchedBuckets(wanted, cursor?.bucket ?? 0)) {
      const afterKey = bucket === cursor?.bucket ? cursor.afterKey : null;
      const inScan: number[] = [];
      for (let slot = t.firstInBucket(bucket); slot !== NO_SLOT; slot = t.bucketNext[slot] as number) {
        const key = t.keys[slot] as string;
        if ((afterKey === null || key > afterKey) && inSomeRange(wanted, firstRange, lastRange, t.keyHash[slot] as number))
          inScan.push(slot);
      }
      inScan.sort((a, b) => ((t.keys[a] as string) < (t.keys[b] as string) ? -1 : 1));
      const nowMs = this.clock.now();
      for (const slot of inScan) {
        this.foldIfExpired(slot, nowMs);
        const key = t.keys[slot] as string;
        if (this.purgeIfDue(key, slot, nowMs)) continue;
        const record = this.recordAt(slot);
        records.push({ key, record });
        bytes += (t.keyBytes[slot] as number) + record.value.byteLength;
        if (records.length >= limit || bytes >= maxBytes) return { records, cursor: { bucket, afterKey: key } };
      }
    }
    return { records, cursor: null };
  }

  /**
   * The digest of `segments` equal parts of each of `ranges` (see `RangeScanStorageEngine.digest`),
   * with the in-memory engine's hashes: one pass over the bucket lists the ranges touch.
   * @throws DkvError INVALID_REQUEST when the ranges are not sorted and disjoint or `segments` is out of bounds.
   */
  digest(ranges: readonly HashRange[], segments: number): RangeDigest[] {
    const t = this.table;
    const nowMs = this.clock.now();
    return digestRanges(ranges, segments, (bucket, visit) => {
      for (let slot = t.firstInBucket(bucket); slot !== NO_SLOT; slot = t.bucketNext[slot] as number) {
        if (!this.isPurgeable(slot, nowMs))
          visit(
            t.keyHash[slot] as number,
            t.version[slot] as number,
            this.writers.hash(t.writer[slot] as number),
            t.keyBytes[slot] as number,
          );
      }
    });
  }

  /** Forgets `key` and its record entirely (see `RangeScanStorageEngine.remove`). */
  remove(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.forget(key, slot);
    this.values.compact(this.compactionMaxMoves, this.relocate);
    return true;
  }

  /**
   * Folds due expiries and purges due tombstones, taking at most `maxWork` items off the TTL
   * index, then spends what is left of `maxWork` on compaction: at most `maxWork` minus the items
   * taken values moved, so an idle node still gives back what a burst of expiries freed. Returns
   * the items taken, stale index items included (see the in-memory engine).
   */
  sweep(maxWork: number): number {
    const nowMs = this.clock.now();
    const t = this.table;
    let work = 0;
    while (work < maxWork && this.ttlIndex.peekDeadline() <= nowMs) {
      const slot = this.ttlIndex.peekSlot();
      const generation = this.ttlIndex.peekGeneration();
      this.ttlIndex.pop();
      work += 1;
      if (!t.inUse(slot) || t.generation[slot] !== generation) continue;
      this.foldIfExpired(slot, nowMs);
      if (t.isTombstone(slot) && (t.purgeAt[slot] as number) <= nowMs) this.forget(t.keys[slot] as string, slot);
    }
    if (work < maxWork) this.values.compact(maxWork - work, this.relocate, SWEEP_COMPACTION_MAX_BYTES);
    return work;
  }

  /** Counts kept up to date on every change (O(1)); `keys` and `bytes` count values not folded yet, as in the in-memory engine. */
  stats(): CompactStorageStats {
    const values = this.values.stats();
    return {
      keys: this.liveKeys,
      tombstones: this.tombstones,
      bytes: this.liveBytes,
      ttlIndexItems: this.ttlIndex.size,
      valueStoreBytes: values.slabBytes + values.ownBufferBytes,
      slabsReleased: values.slabsReleased,
      blocksMoved: values.blocksMoved,
    };
  }

  /**
   * `apply` of a record already past its purge time: it beats an older record held (which is
   * dropped: the delete or expiry takes effect) but is not kept, so it cannot re-seed a tombstone
   * the other replicas purged. Against an equal or newer record held it is refused as usual.
   */
  private applyPastPurge(key: string, slot: number | undefined, incoming: VersionedValue, nowMs: number): ApplyResult {
    if (slot === undefined) return { applied: true, version: incoming.version, previous: 0 };
    this.foldIfExpired(slot, nowMs);
    const previous = this.table.version[slot] as number;
    if (!this.beatsHeld(incoming, slot)) return { applied: false, version: previous, previous };
    this.forget(key, slot);
    this.values.compact(this.compactionMaxMoves, this.relocate);
    return { applied: true, version: incoming.version, previous };
  }

  /**
   * A read's look at the record in `slot`: folds an expired value into its tombstone and drops a
   * tombstone past its purge time ({@link foldIfExpired}, {@link purgeIfDue}); true when the
   * record is gone. A live value without expiry (what most reads meet) can be neither, so the
   * clock (a call into the runtime) is read only for a record that expires or is a tombstone.
   */
  private goneOnRead(key: string, slot: number): boolean {
    const t = this.table;
    if (!t.isTombstone(slot) && Number.isNaN(t.expiresAt[slot] as number)) return false;
    const nowMs = this.clock.now();
    this.foldIfExpired(slot, nowMs);
    return this.purgeIfDue(key, slot, nowMs);
  }

  /**
   * Drops the record in `slot` when it is past its purge time but not swept yet (as an expiry is
   * folded lazily), so reads and counts agree; returns whether it did. Frees a block, moves none.
   */
  private purgeIfDue(key: string, slot: number, nowMs: number): boolean {
    if (!this.isPurgeable(slot, nowMs)) return false;
    this.forget(key, slot);
    return true;
  }

  /** True when the record in `slot` is past its purge time at `nowMs`, folded or not yet. */
  private isPurgeable(slot: number, nowMs: number): boolean {
    const t = this.table;
    if (t.isTombstone(slot)) return (t.purgeAt[slot] as number) <= nowMs;
    return (t.expiresAt[slot] as number) + this.tombstoneGraceMs <= nowMs;
  }

  /** The record in `slot` as a `VersionedValue`, its bytes copied out of the slab. */
  private recordAt(slot: number, borrowed = false): VersionedValue {
    const t = this.table;
    const address = t.valueAddress[slot] as number;
    const size = t.valueBytes[slot] as number;
    return {
      value: borrowed ? this.values.view(address, size) : this.values.copy(address, size),
      version: t.version[slot] as number,
      writerId: this.writers.id(t.writer[slot] as number),
      createdAt: t.createdAt[slot] as number,
      updatedAt: t.updatedAt[slot] as number,
      expiresAt: expiresAtOf(t, slot),
      tombstone: t.isTombstone(slot),
    };
  }

  /**
   * Whether `incoming` beats the record held in `slot` by `compareVersionedValues`. Versions
   * decide almost every write (a newer version from a coordinator), and that comparison needs no
   * view of the held bytes nor its writer id's string: the full comparison runs only on a tie.
   */
  private beatsHeld(incoming: VersionedValue, slot: number): boolean {
    const heldVersion = this.table.version[slot] as number;
    if (incoming.version !== heldVersion) return incoming.version > heldVersion;
    return compareVersionedValues(incoming, this.heldForComparison(slot)) > 0;
  }

  /** The held record as `compareVersionedValues` reads it, its bytes a view of the slab (used before anything is released). */
  private heldForComparison(slot: number): VersionMeta & { value: Uint8Array } {
    const t = this.table;
    return {
      value: this.values.view(t.valueAddress[slot] as number, t.valueBytes[slot] as number),
      version: t.version[slot] as number,
      writerId: this.writers.id(t.writer[slot] as number),
      createdAt: t.createdAt[slot] as number,
      expiresAt: expiresAtOf(t, slot),
      tombstone: t.isTombstone(slot),
    };
  }

  /** Turns an expired value into its tombstone in place (`toTombstone`), frees its bytes and indexes its purge. */
  private foldIfExpired(slot: number, nowMs: number): void {
    const t = this.table;
    const expiresAt = t.expiresAt[slot] as number;
    // NaN (no expiry) compares false.
    if (t.isTombstone(slot) || !(expiresAt <= nowMs)) return;
    this.uncount(slot);
    this.values.release(t.valueAddress[slot] as number);
    t.valueAddress[slot] = EMPTY_ADDRESS;
    t.valueBytes[slot] = 0;
    t.flags[slot] = FLAG_IN_USE | FLAG_TOMBSTONE;
    t.updatedAt[slot] = expiresAt;
    t.expiresAt[slot] = Number.NaN;
    t.purgeAt[slot] = expiresAt + this.tombstoneGraceMs;
    this.count(slot);
    this.ttlIndex.push(t.purgeAt[slot] as number, slot, t.generation[slot] as number);
  }

  /** Drops the record in `slot` and frees the slot, its bytes and its writer reference. */
  private forget(key: string, slot: number): void {
    const t = this.table;
    this.uncount(slot);
    this.values.release(t.valueAddress[slot] as number);
    this.writers.release(t.writer[slot] as number);
    this.slots.delete(key, t.keyHash[slot] as number);
    t.free(slot, bucketOf(t.keyHash[slot] as number));
  }

  /** Pushes the slot's next deadline, compacting the index when stale items exceed the slack. */
  private index(slot: number): void {
    const deadlineMs = deadlineOf(this.table, slot);
    if (deadlineMs === null) return;
    this.ttlIndex.push(deadlineMs, slot, this.table.generation[slot] as number);
    if (this.ttlIndex.size > this.ttlIndexSlackFactor * this.slots.size + TTL_INDEX_MIN_SLACK) this.compactIndex();
  }

  /** Rebuilds the TTL index from the records held, in the key index's order: O(n), amortised by the slack. */
  private compactIndex(): void {
    const t = this.table;
    this.ttlIndex.rebuild(this.slots.size, (add) => {
      for (const slot of this.slots.values()) {
        const deadlineMs = deadlineOf(t, slot);
        if (deadlineMs !== null) add(deadlineMs, slot, t.generation[slot] as number);
      }
    });
  }

  private count(slot: number): void {
    if (this.table.isTombstone(slot)) {
      this.tombstones += 1;
    } else {
      this.liveKeys += 1;
      this.liveBytes += (this.table.keyBytes[slot] as number) + (this.table.valueBytes[slot] as number);
    }
  }

  private uncount(slot: number): void {
    if (this.table.isTombstone(slot)) {
      this.tombstones -= 1;
    } else {
      this.liveKeys -= 1;
      this.liveBytes -= (this.table.keyBytes[slot] as number) + (this.table.valueBytes[slot] as number);
    }
  }
}

function isExpired(record: VersionedValue, nowMs: number): boolean {
  return !record.tombstone && record.expiresAt !== null && record.expiresAt <= nowMs;
}

function expiresAtOf(table: RecordTable, slot: number): number | null {
  const expiresAt = table.expiresAt[slot] as number;
  return Number.isNaN(expiresAt) ? null : expiresAt;
}

/** The next time sweep has something to do for the record in `slot`: its expiry, its purge, or never (null). */
function deadlineOf(table: RecordTable, slot: number): number | null {
  if (table.isTombstone(slot)) {
    const purgeAt = table.purgeAt[slot] as number;
    return Number.isFinite(purgeAt) ? purgeAt : null;
  }
  return expiresAtOf(table, slot);
}
