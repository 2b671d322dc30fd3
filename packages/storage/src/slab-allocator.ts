import { DkvError } from '@dkv/core';
import { SlabHeap } from './slab-heap.js';

/** The default {@link SlabAllocatorOptions.slabBytes}: 1 MiB. */
export const DEFAULT_SLAB_BYTES = 1024 * 1024;

/** The default {@link SlabAllocatorOptions.maxSlabValueBytes}: 64 KiB. */
export const DEFAULT_MAX_SLAB_VALUE_BYTES = 64 * 1024;

/** The bounds on {@link SlabAllocatorOptions}: slabs from 4 KiB to 1 GiB. */
const MIN_SLAB_BYTES = 4096;
const MAX_SLAB_BYTES = 2 ** 30;

/** The address of the empty value: it takes no space. */
export const EMPTY_ADDRESS = 0;

/** Size classes are multiples of this up to {@link SMALL_CLASS_LIMIT}, so a class lookup is one table read. */
const CLASS_GRANULE = 16;
const SMALL_CLASS_LIMIT = 128;
/** Above {@link SMALL_CLASS_LIMIT}, each power of two is split into this many classes: at most 1/8 of a block is waste. */
const STEPS_PER_DOUBLING = 8;

/** Addresses are `sizeClass * 2^32 + block`: exact in a double, and `address >>> 0` is the block. */
const CLASS_STRIDE = 2 ** 32;

const EMPTY = new Uint8Array(0);

/** A free block's link: this bit, and in the low 31 bits the next free block of its slab. */
const FREE = 0x8000_0000;
/** The end of a slab's free list, in the low 31 bits of a link (no slab has this many blocks). */
const END = 0x7fff_ffff;

/** The largest owner a value may be stored with: an owner shares a 32-bit link with the free bit. */
export const MAX_OWNER = 0x7fff_ffff;

/**
 * A size class is compacted while its free blocks fill at least this many whole slabs...
 * (one is the least that guarantees the live blocks of the last slab fit into earlier slabs).
 */
const COMPACTION_MIN_FREE_SLABS = 1;
/** ...and are more than this fraction of the blocks it has carved: a quarter of its memory wasted. */
const COMPACTION_MIN_FREE_FRACTION = 0.25;
/**
 * One compaction call examines at most this many blocks (or releases this many slabs) per block
 * it may move: skipping a free block is one array read, and this keeps sparse slabs of small
 * blocks from taking many calls each while the call stays bounded.
 */
export const COMPACTION_STEPS_PER_MOVE = 64;

/** What a {@link SlabAllocator} needs. */
export interface SlabAllocatorOptions {
  /** Bytes of one slab (one ArrayBuffer); a class whose blocks are larger gets one block per slab. Default 1 MiB. */
  readonly slabBytes?: number;
  /**
   * Values up to this many bytes are copied into slabs; larger ones each get an exact-size buffer
   * of their own, where the 1/8 rounding of a size class would cost more than a malloc header.
   * At most `slabBytes`. Default 64 KiB (or `slabBytes` if smaller).
   */
  readonly maxSlabValueBytes?: number;
}

/** What a {@link SlabAllocator} holds, in bytes, and what compaction has done. */
export interface SlabAllocatorStats {
  /** Slabs held now, and their bytes: both go down when compaction releases a slab. */
  readonly slabs: number;
  readonly slabBytes: number;
  /** Values kept in buffers of their own, and their bytes. */
  readonly ownBuffers: number;
  readonly ownBufferBytes: number;
  /** Slabs released by {@link SlabAllocator.compact} since the allocator was made. */
  readonly slabsReleased: number;
  /** Values moved by {@link SlabAllocator.compact} since the allocator was made. */
  readonly blocksMoved: number;
}

/**
 * Told by {@link SlabAllocator.compact} that the value its owner stored has moved from address
 * `from` to address `to`: the owner must use `to` from now on (`from` may already hold another value).
 */
export type Relocate = (owner: number, from: number, to: number) => void;

/**
 * One size class: fixed-size blocks carved out of slabs, in order. Blocks below `carved` are in
 * use or free; only the last slab may have blocks not carved yet.
 */
interface SizeClass {
  /** The class's number: the high part of its addresses. */
  readonly index: number;
  readonly blockBytes: number;
  readonly blocksPerSlab: number;
  readonly slabs: Uint8Array[];
  /**
   * Per slab, per block: the owner of a block in use (the reverse index compaction needs: who
   * to tell when the block moves), or {@link FREE} and the next free block of the same slab.
   */
  readonly links: Uint32Array[];
  /** Per slab: the first block of its free list ({@link END} when none), and how many are free. */
  readonly freeHeads: number[];
  readonly freeInSlab: number[];
  /** The slabs with a free block, lowest first: blocks are taken from the lowest. */
  readonly withFree: SlabHeap;
  carved: number;
  freeCount: number;
  /** The next block (class-wide number) compaction examines, going down through the last slab; -1 to start at its top. */
  scanAt: number;
  /** Whether the class is on the allocator's compaction queue. */
  queued: boolean;
}

/**
 * Stores byte strings in large slab ArrayBuffers by size class, so that a value costs its bytes
 * rounded up to its class, and no per-value ArrayBuffer, typed-array object or malloc header.
 *
 * Classes are multiples of 16 bytes up to 128, then 8 classes per power of two (144, 160, ...,
 * 256, 288, ..., 2048, 2304, ...) up to `maxSlabValueBytes`: every power of two is a class (a
 * 2048-byte value wastes nothing) and no value wastes more than 1/8 of its block. Values above
 * the largest class get an exact-size buffer of their own. Each slab keeps a free list of its
 * blocks, and a block is taken from the lowest-numbered slab that has a free one (last freed
 * first within a slab), before any new block is carved.
 *
 * A value is named by its address, a number the owner keeps (see {@link store}), and stored
 * with an owner number that the allocator keeps per block (4 bytes a block: 0.2% of a 2 KiB
 * block, a quarter of a 16-byte one), so that it can move the value and tell its owner.
 *
 * Slabs are given back by {@link compact}: while a class's free blocks fill at least one whole
 * slab and are more than a quarter of its carved blocks, it moves the values of the class's
 * last slab into free blocks of earlier slabs (calling the owner's {@link Relocate} for each),
 * then drops the last slab, its free blocks with it, and goes on with the slab before. Nothing
 * moves except inside `compact`, which the owner calls with a bound on the values moved.
 *
 * Invariants: every block is in exactly one of three states (in use by one owner and address,
 * on its slab's free list, or not carved yet); the bytes of an address never change until it is
 * released or moved by `compact`; a class holds a slab only if at least one of its blocks is carved.
 */
export class SlabAllocator {
  private readonly slabBytes: number;
  private readonly maxSlabValueBytes: number;
  /** Class 0 is the empty value; classes 1..n are slab classes; the last is "own buffer". */
  private readonly classes: SizeClass[] = [];
  /** The slab class of a size, by `ceil(size / CLASS_GRANULE)`. */
  private readonly classByGranules: Uint8Array;
  private readonly ownBufferClass: number;
  /** Values in buffers of their own, by block number; freed numbers are reused. */
  private readonly ownBuffers: Array<Uint8Array | null> = [];
  private readonly freeOwnBuffers: number[] = [];
  /** Classes that were worth compacting when a block was last freed in them: at most one entry per class. */
  private readonly compactionQueue: SizeClass[] = [];
  private slabCount = 0;
  private slabBytesTotal = 0;
  private ownBufferBytes = 0;
  private slabsReleased = 0;
  private blocksMoved = 0;

  constructor(options: SlabAllocatorOptions = {}) {
    const { slabBytes = DEFAULT_SLAB_BYTES } = options;
    const { maxSlabValueBytes = Math.min(DEFAULT_MAX_SLAB_VALUE_BYTES, slabBytes) } = options;
    if (!Number.isInteger(slabBytes) || slabBytes < MIN_SLAB_BYTES || slabBytes > MAX_SLAB_BYTES) {
      throw new DkvError(
        'INVALID_REQUEST',
        `slabBytes must be a whole number from ${MIN_SLAB_BYTES} to ${MAX_SLAB_BYTES}, got ${String(slabBytes)}`,
      );
    }
    if (!Number.isInteger(maxSlabValueBytes) || maxSlabValueBytes < 0 || maxSlabValueBytes > slabBytes) {
      throw new DkvError(
        'INVALID_REQUEST',
        `maxSlabValueBytes must be a whole number from 0 to slabBytes (${slabBytes}), got ${String(maxSlabValueBytes)}`,
      );
    }
    this.slabBytes = slabBytes;
    this.maxSlabValueBytes = maxSlabValueBytes;
    const sizes = sizeClasses(maxSlabValueBytes);
    this.classes.push(newClass(0, 0, 1));
    for (const blockBytes of sizes)
      this.classes.push(newClass(this.classes.length, blockBytes, Math.max(1, Math.floor(slabBytes / blockBytes))));
    this.ownBufferClass = this.classes.length;
    this.classByGranules = new Uint8Array(Math.ceil(maxSlabValueBytes / CLASS_GRANULE) + 1);
    let sizeClass = 1;
    for (let granules = 1; granules < this.classByGranules.length; granules += 1) {
      while ((sizes[sizeClass - 1] ?? Number.POSITIVE_INFINITY) < granules * CLASS_GRANULE) sizeClass += 1;
      this.classByGranules[granules] = sizeClass;
    }
  }

  /** The block size of every slab class, smallest first. */
  get blockSizes(): readonly number[] {
    return this.classes.slice(1).map((c) => c.blockBytes);
  }

  /** The bytes a value of `size` bytes occupies: its class's block size, or `size` in a buffer of its own. */
  blockBytesFor(size: number): number {
    if (size === 0) return 0;
    if (size > this.maxSlabValueBytes) return size;
    return this.classes[this.classOf(size)]?.blockBytes ?? size;
  }

  /**
   * Copies `bytes` in and returns their address: {@link EMPTY_ADDRESS} for no bytes. `owner` (a
   * whole number up to {@link MAX_OWNER}; the compact engine passes the record's slot) is what
   * {@link compact} names when it moves the value.
   */
  store(bytes: Uint8Array, owner: number): number {
    if (!(owner >= 0 && owner <= MAX_OWNER && owner === Math.floor(owner)))
      throw new DkvError('INVALID_REQUEST', `owner must be a whole number from 0 to ${MAX_OWNER}, got ${String(owner)}`);
    const size = bytes.byteLength;
    if (size === 0) return EMPTY_ADDRESS;
    if (size > this.maxSlabValueBytes) return this.storeOwnBuffer(bytes);
    const cls = this.classes[this.classOf(size)] as SizeClass;
    const block = this.takeBlock(cls, owner);
    const slab = cls.slabs[Math.floor(block / cls.blocksPerSlab)] as Uint8Array;
    slab.set(bytes, (block % cls.blocksPerSlab) * cls.blockBytes);
    return cls.index * CLASS_STRIDE + block;
  }

  /**
   * The `size` bytes stored at `address`, as a view into the slab: valid only until the address
   * is released or {@link compact} next runs, after which the block may hold another value or its
   * slab be gone. Callers that keep or hand the bytes on must copy them ({@link copy}).
   */
  view(address: number, size: number): Uint8Array {
    if (address === EMPTY_ADDRESS) return EMPTY;
    const sizeClass = Math.floor(address / CLASS_STRIDE);
    const block = address >>> 0;
    if (sizeClass === this.ownBufferClass) return this.ownBuffers[block] ?? EMPTY;
    const cls = this.classes[sizeClass] as SizeClass;
    const offset = (block % cls.blocksPerSlab) * cls.blockBytes;
    return (cls.slabs[Math.floor(block / cls.blocksPerSlab)] as Uint8Array).subarray(offset, offset + size);
  }

  /**
   * The `size` bytes stored at `address`, in memory the allocator will never write again: a copy
   * of a slab block, or a value's own buffer as it is (own buffers are never reused in place).
   */
  copy(address: number, size: number): Uint8Array {
    if (address === EMPTY_ADDRESS) return EMPTY;
    if (Math.floor(address / CLASS_STRIDE) === this.ownBufferClass) return this.view(address, size);
    // Node's Buffer pool serves copies under 4 KiB from shared 8 KiB chunks: much cheaper than an
    // ArrayBuffer of its own per read, and a read's copy lives only until it is sent.
    const pooled = Buffer.allocUnsafe(size);
    const copy = new Uint8Array(pooled.buffer, pooled.byteOffset, size);
    copy.set(this.view(address, size));
    return copy;
  }

  /**
   * Frees the block at `address` for reuse. The address must not be used again.
   * @throws DkvError INTERNAL when the block is not in use (released twice, or never stored).
   */
  release(address: number): void {
    if (address === EMPTY_ADDRESS) return;
    const sizeClass = Math.floor(address / CLASS_STRIDE);
    const block = address >>> 0;
    if (sizeClass === this.ownBufferClass) {
      this.ownBufferBytes -= this.ownBuffers[block]?.byteLength ?? 0;
      this.ownBuffers[block] = null;
      this.freeOwnBuffers.push(block);
      return;
    }
    const cls = this.classes[sizeClass] as SizeClass;
    const slab = Math.floor(block / cls.blocksPerSlab);
    const local = block - slab * cls.blocksPerSlab;
    if (block >= cls.carved || ((cls.links[slab]?.[local] ?? FREE) & FREE) !== 0) {
      throw new DkvError('INTERNAL', `block ${block} of the ${cls.blockBytes}-byte class is not in use: released twice or never stored`);
    }
    this.freeBlock(cls, slab, local);
    if (!cls.queued && worthCompacting(cls)) {
      cls.queued = true;
      this.compactionQueue.push(cls);
    }
  }

  /**
   * Gives back slabs of size classes that hold much more than they use, moving at most
   * `maxMoves` values and examining at most {@link COMPACTION_STEPS_PER_MOVE} times as many
   * blocks, so a call costs O(`maxMoves` x block size) whatever the allocator holds.
   *
   * A class is worth compacting while its free blocks fill at least one whole slab and are more
   * than a quarter of the blocks it has carved (so after compaction a class wastes less than a
   * slab or less than a quarter of its memory, and a class must lose at least a slab of values
   * again before it is compacted again). For such a class, each step looks at the next block of
   * the class's last slab, going down: a value in use is copied into a free block of the lowest
   * slab that has one (always an earlier slab: the free blocks outside the last slab are at least
   * as many as the values in it) and `relocate` tells its owner the new address; once the last
   * slab holds no value, it is dropped (its ArrayBuffer, its free blocks, its carved blocks) and
   * the slab before becomes the last. Classes become candidates when a block is freed in them.
   *
   * Views returned by {@link view} before the call may show other bytes afterwards, or bytes of
   * a dropped slab: a caller that lends views must not call this while they are in use.
   * At most `maxMoves` values are moved, and no more once `maxBytes` bytes were copied (the
   * move that crosses it still completes). Returns the values moved.
   */
  compact(maxMoves: number, relocate: Relocate, maxBytes = Number.POSITIVE_INFINITY): number {
    let moved = 0;
    let copied = 0;
    const maxSteps = maxMoves * COMPACTION_STEPS_PER_MOVE;
    for (let steps = 0; moved < maxMoves && copied < maxBytes && steps < maxSteps; steps += 1) {
      const cls = this.compactionQueue.at(-1);
      if (cls === undefined) break;
      if (!worthCompacting(cls)) {
        this.compactionQueue.pop();
        cls.queued = false;
        continue;
      }
      const last = cls.slabs.length - 1;
      const lastStart = last * cls.blocksPerSlab;
      if (cls.freeInSlab[last] === cls.carved - lastStart) {
        this.releaseLastSlab(cls);
        continue;
      }
      if (cls.scanAt < lastStart || cls.scanAt >= cls.carved) cls.scanAt = cls.carved - 1;
      const block = cls.scanAt;
      cls.scanAt -= 1;
      const owner = (cls.links[last] as Uint32Array)[block - lastStart] as number;
      if ((owner & FREE) !== 0) continue;
      this.move(cls, block, owner, relocate);
      moved += 1;
      copied += cls.blockBytes;
    }
    return moved;
  }

  stats(): SlabAllocatorStats {
    return {
      slabs: this.slabCount,
      slabBytes: this.slabBytesTotal,
      ownBuffers: this.ownBuffers.length - this.freeOwnBuffers.length,
      ownBufferBytes: this.ownBufferBytes,
      slabsReleased: this.slabsReleased,
      blocksMoved: this.blocksMoved,
    };
  }

  private classOf(size: number): number {
    return this.classByGranules[Math.ceil(size / CLASS_GRANULE)] as number;
  }

  /** A free block of the lowest slab that has one (the one freed last there), or else a block never used before, given to `owner`. */
  private takeBlock(cls: SizeClass, owner: number): number {
    const slab = cls.withFree.lowest;
    if (slab >= 0) {
      const links = cls.links[slab] as Uint32Array;
      const local = cls.freeHeads[slab] as number;
      cls.freeHeads[slab] = (links[local] as number) & END;
      links[local] = owner;
      cls.freeInSlab[slab] = (cls.freeInSlab[slab] as number) - 1;
      cls.freeCount -= 1;
      if (cls.freeInSlab[slab] === 0) cls.withFree.remove(slab);
      return slab * cls.blocksPerSlab + local;
    }
    if (cls.carved === cls.slabs.length * cls.blocksPerSlab) this.addSlab(cls);
    const block = cls.carved;
    cls.carved += 1;
    (cls.links[cls.slabs.length - 1] as Uint32Array)[block % cls.blocksPerSlab] = owner;
    return block;
  }

  /** Puts block `local` of `slab` on its slab's free list. */
  private freeBlock(cls: SizeClass, slab: number, local: number): void {
    (cls.links[slab] as Uint32Array)[local] = (FREE | (cls.freeHeads[slab] as number)) >>> 0;
    cls.freeHeads[slab] = local;
    cls.freeInSlab[slab] = (cls.freeInSlab[slab] as number) + 1;
    cls.freeCount += 1;
    if (cls.freeInSlab[slab] === 1) cls.withFree.push(slab);
  }

  /** Copies the value in `block` (in the last slab) into a free block of an earlier slab, frees `block` and tells the owner. */
  private move(cls: SizeClass, block: number, owner: number, relocate: Relocate): void {
    const perSlab = cls.blocksPerSlab;
    const from = Math.floor(block / perSlab);
    const to = this.takeBlock(cls, owner);
    const toSlab = Math.floor(to / perSlab);
    const source = (block - from * perSlab) * cls.blockBytes;
    (cls.slabs[toSlab] as Uint8Array).set(
      (cls.slabs[from] as Uint8Array).subarray(source, source + cls.blockBytes),
      (to - toSlab * perSlab) * cls.blockBytes,
    );
    this.freeBlock(cls, from, block - from * perSlab);
    this.blocksMoved += 1;
    relocate(owner, cls.index * CLASS_STRIDE + block, cls.index * CLASS_STRIDE + to);
  }

  private addSlab(cls: SizeClass): void {
    cls.slabs.push(new Uint8Array(cls.blocksPerSlab * cls.blockBytes));
    cls.links.push(new Uint32Array(cls.blocksPerSlab));
    cls.freeHeads.push(END);
    cls.freeInSlab.push(0);
    this.slabCount += 1;
    this.slabBytesTotal += cls.blocksPerSlab * cls.blockBytes;
  }

  /** Drops the last slab of `cls`, which holds no value: its bytes, its free blocks and its carved blocks. */
  private releaseLastSlab(cls: SizeClass): void {
    const last = cls.slabs.length - 1;
    cls.withFree.remove(last);
    cls.freeCount -= cls.freeInSlab[last] as number;
    cls.carved = last * cls.blocksPerSlab;
    cls.slabs.pop();
    cls.links.pop();
    cls.freeHeads.pop();
    cls.freeInSlab.pop();
    cls.scanAt = -1;
    this.slabCount -= 1;
    this.slabBytesTotal -= cls.blocksPerSlab * cls.blockBytes;
    this.slabsReleased += 1;
  }

  private storeOwnBuffer(bytes: Uint8Array): number {
    const own = new Uint8Array(bytes);
    const block = this.freeOwnBuffers.pop() ?? this.ownBuffers.length;
    this.ownBuffers[block] = own;
    this.ownBufferBytes += own.byteLength;
    return this.ownBufferClass * CLASS_STRIDE + block;
  }
}

/**
 * The block sizes of the slab classes for values up to `maxBytes`, ascending: multiples of 16 up
 * to 128, then 8 evenly spaced sizes per power of two, up to the first size >= `maxBytes`.
 * Every size is a multiple of 16, so the smallest class that fits `n` bytes is the smallest that
 * fits `16 * ceil(n / 16)` bytes.
 */
export function sizeClasses(maxBytes: number): number[] {
  const sizes: number[] = [];
  for (let size = CLASS_GRANULE; maxBytes > 0; size += classStep(size)) {
    sizes.push(size);
    if (size >= maxBytes) break;
  }
  return sizes;
}

/** The gap between a class of `size` bytes and the next one. */
function classStep(size: number): number {
  if (size < SMALL_CLASS_LIMIT) return CLASS_GRANULE;
  const powerOfTwoBelow = 2 ** (31 - Math.clz32(size));
  return powerOfTwoBelow / STEPS_PER_DOUBLING;
}

function newClass(index: number, blockBytes: number, blocksPerSlab: number): SizeClass {
  return {
    index,
    blockBytes,
    blocksPerSlab,
    slabs: [],
    links: [],
    freeHeads: [],
    freeInSlab: [],
    withFree: new SlabHeap(),
    carved: 0,
    freeCount: 0,
    scanAt: -1,
    queued: false,
  };
}

/** Whether `cls` holds much more than it uses (see {@link SlabAllocator.compact}). */
function worthCompacting(cls: SizeClass): boolean {
  return cls.freeCount >= COMPACTION_MIN_FREE_SLABS * cls.blocksPerSlab && cls.freeCount > COMPACTION_MIN_FREE_FRACTION * cls.carved;
}
