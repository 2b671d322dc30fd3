import { SCAN_BUCKETS } from './scan-buckets.js';

/** The end of a bucket list, or "no slot". */
export const NO_SLOT = -1;

/** The table starts with room for this many records and doubles when full. */
const INITIAL_CAPACITY = 1024;

/** A record's flags: {@link FLAG_IN_USE} on every slot that holds a record, {@link FLAG_TOMBSTONE} on tombstones. */
export const FLAG_IN_USE = 1;
export const FLAG_TOMBSTONE = 2;

/**
 * The metadata of every record the compact engine holds, one column (typed array) per field,
 * indexed by slot number: about 85 bytes a record and no object per record, where a record as
 * objects costs several hundred (a `VersionedValue`, its numbers boxed, a `Uint8Array` and its
 * ArrayBuffer). The engine reads and writes the columns directly; this class owns the slots.
 *
 * Invariants:
 * - A slot is either in use (`FLAG_IN_USE`, on exactly one bucket list, named by exactly one key)
 *   or free (flags 0, on the free-slot stack, key ''). {@link allocate} and {@link free} move a
 *   slot between the two; nothing else changes `flags & FLAG_IN_USE`.
 * - Bucket lists are doubly linked through `bucketNext` / `bucketPrev` (`NO_SLOT` at the ends),
 *   one list per scan bucket, in no particular order (a scan sorts one bucket at a time).
 * - Columns are replaced (grown) by {@link allocate}: never keep a column across a call of it.
 *   Pages of a column not written yet are never touched, so the unused tail of a grown column
 *   costs address space, not resident memory.
 */
export class RecordTable {
  /** The record's version. */
  version = new Float64Array(INITIAL_CAPACITY);
  /** Epoch ms of the key's current life and of this write (see `VersionedValue`). */
  createdAt = new Float64Array(INITIAL_CAPACITY);
  updatedAt = new Float64Array(INITIAL_CAPACITY);
  /** Absolute expiry in epoch ms; NaN for none (`expiresAt: null`). */
  expiresAt = new Float64Array(INITIAL_CAPACITY);
  /** For a tombstone: when sweep may purge it (local clock; +Infinity for never). For a value: +Infinity. */
  purgeAt = new Float64Array(INITIAL_CAPACITY);
  /**
   * Where the value's bytes are in the engine's `SlabAllocator`, and how many there are. The
   * allocator keeps the slot as the block's owner, and compaction rewrites the address when it
   * moves the value to another slab.
   */
  valueAddress = new Float64Array(INITIAL_CAPACITY);
  valueBytes = new Uint32Array(INITIAL_CAPACITY);
  /** `hashKey(key)`: where the key sits on the ring (its scan bucket is the top bits). */
  keyHash = new Uint32Array(INITIAL_CAPACITY);
  /** The key's UTF-8 length. */
  keyBytes = new Uint32Array(INITIAL_CAPACITY);
  /** The writer's index in the engine's `WriterTable`. */
  writer = new Uint32Array(INITIAL_CAPACITY);
  /**
   * Bumped each time the slot takes a new record (an `apply`) or is freed, not when its value
   * expires into a tombstone: TTL index items carry the generation they were pushed at, so an
   * item is current exactly when its generation is the slot's (the identity of an in-memory Entry).
   */
  generation = new Uint32Array(INITIAL_CAPACITY);
  /** {@link FLAG_IN_USE} and {@link FLAG_TOMBSTONE}. */
  flags = new Uint8Array(INITIAL_CAPACITY);
  /** The bucket list links. */
  bucketNext = new Int32Array(INITIAL_CAPACITY);
  bucketPrev = new Int32Array(INITIAL_CAPACITY);
  /** The key of each slot ('' when free): what a scan sorts and returns. */
  readonly keys: string[] = [];

  /** The first slot of each scan bucket's list, or {@link NO_SLOT}. */
  private readonly bucketHeads = new Int32Array(SCAN_BUCKETS).fill(NO_SLOT);
  /** Freed slots, reused before new ones (a stack, `freeCount` deep). */
  private freeSlots = new Uint32Array(INITIAL_CAPACITY);
  private freeCount = 0;

  /** Slots ever handed out: slots at and above this were never used. */
  get highWater(): number {
    return this.keys.length;
  }

  /** A slot for a record of `key`, flagged in use and linked into `bucket`; its other columns hold stale data to overwrite. */
  allocate(key: string, bucket: number): number {
    let slot: number;
    if (this.freeCount > 0) {
      this.freeCount -= 1;
      slot = this.freeSlots[this.freeCount] as number;
      this.keys[slot] = key;
    } else {
      slot = this.keys.length;
      if (slot === this.version.length) this.grow(slot * 2);
      this.keys.push(key);
    }
    this.flags[slot] = FLAG_IN_USE;
    const head = this.bucketHeads[bucket] as number;
    this.bucketPrev[slot] = NO_SLOT;
    this.bucketNext[slot] = head;
    if (head !== NO_SLOT) this.bucketPrev[head] = slot;
    this.bucketHeads[bucket] = slot;
    return slot;
  }

  /** Unlinks `slot` from `bucket` and makes it free. The caller has released what it pointed to. */
  free(slot: number, bucket: number): void {
    const prev = this.bucketPrev[slot] as number;
    const next = this.bucketNext[slot] as number;
    if (prev === NO_SLOT) this.bucketHeads[bucket] = next;
    else this.bucketNext[prev] = next;
    if (next !== NO_SLOT) this.bucketPrev[next] = prev;
    this.flags[slot] = 0;
    this.generation[slot] = ((this.generation[slot] as number) + 1) >>> 0;
    this.keys[slot] = '';
    this.freeSlots[this.freeCount] = slot;
    this.freeCount += 1;
  }

  /** Whether `slot` holds a record. */
  inUse(slot: number): boolean {
    return ((this.flags[slot] as number) & FLAG_IN_USE) !== 0;
  }

  /** Whether the record in `slot` is a tombstone. */
  isTombstone(slot: number): boolean {
    return ((this.flags[slot] as number) & FLAG_TOMBSTONE) !== 0;
  }

  /** The first slot of `bucket`'s list, then follow `bucketNext` to {@link NO_SLOT}. */
  firstInBucket(bucket: number): number {
    return this.bucketHeads[bucket] as number;
  }

  /** Every column and the free-slot stack, grown to `capacity` slots with their contents kept. */
  private grow(capacity: number): void {
    this.version = grownFloat64(this.version, capacity);
    this.createdAt = grownFloat64(this.createdAt, capacity);
    this.updatedAt = grownFloat64(this.updatedAt, capacity);
    this.expiresAt = grownFloat64(this.expiresAt, capacity);
    this.purgeAt = grownFloat64(this.purgeAt, capacity);
    this.valueAddress = grownFloat64(this.valueAddress, capacity);
    this.valueBytes = grownUint32(this.valueBytes, capacity);
    this.keyHash = grownUint32(this.keyHash, capacity);
    this.keyBytes = grownUint32(this.keyBytes, capacity);
    this.writer = grownUint32(this.writer, capacity);
    this.generation = grownUint32(this.generation, capacity);
    this.freeSlots = grownUint32(this.freeSlots, capacity);
    const flags = new Uint8Array(capacity);
    flags.set(this.flags);
    this.flags = flags;
    const next = new Int32Array(capacity);
    next.set(this.bucketNext);
    this.bucketNext = next;
    const prev = new Int32Array(capacity);
    prev.set(this.bucketPrev);
    this.bucketPrev = prev;
  }
}

function grownFloat64(column: Float64Array, capacity: number): Float64Array<ArrayBuffer> {
  const next = new Float64Array(capacity);
  next.set(column);
  return next;
}

function grownUint32(column: Uint32Array, capacity: number): Uint32Array<ArrayBuffer> {
  const next = new Uint32Array(capacity);
  next.set(column);
  return next;
}
