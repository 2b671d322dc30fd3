import { DkvError } from '@dkv/core';

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

/** What a {@link SlabAllocator} holds, in bytes. */
export interface SlabAllocatorStats {
  /** Slabs allocated (they are never released: each class keeps its high-water mark for reuse). */
  readonly slabs: number;
  readonly slabBytes: number;
  /** Values kept in buffers of their own, and their bytes. */
  readonly ownBuffers: number;
  readonly ownBufferBytes: number;
}

/** One size class: fixed-size blocks carved out of slabs, and the blocks freed for reuse. */
interface SizeClass {
  readonly blockBytes: number;
  readonly blocksPerSlab: number;
  readonly slabs: Uint8Array[];
  /** Blocks handed out from the end of the last slab so far; blocks below this are in use or free. */
  carved: number;
  /** A stack of freed block numbers, `freeCount` deep: reused before a new block is carved. */
  freeBlocks: Uint32Array;
  freeCount: number;
}

/**
 * Stores byte strings in large slab ArrayBuffers by size class, so that a value costs its bytes
 * rounded up to its class, and no per-value ArrayBuffer, typed-array object or malloc header.
 *
 * Classes are multiples of 16 bytes up to 128, then 8 classes per power of two (144, 160, ...,
 * 256, 288, ..., 2048, 2304, ...) up to `maxSlabValueBytes`: every power of two is a class (a
 * 2048-byte value wastes nothing) and no value wastes more than 1/8 of its block. Each class has
 * a free list (a stack of block numbers), so a freed block is the next one reused in its class.
 * Values above the largest class get an exact-size buffer of their own.
 *
 * A value is named by its address, a number the owner keeps (see {@link store}). Invariants:
 * every block is in exactly one of three states (in use by one address, on its class's free
 * stack, or not carved yet), and the bytes of an address never change until it is released.
 * Slabs are never given back: each class keeps its high-water mark and reuses it.
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
  private slabCount = 0;
  private slabBytesTotal = 0;
  private ownBufferBytes = 0;

  constructor(options: SlabAllocatorOptions = {}) {
    const { slabBytes = DEFAULT_SLAB_BYTES } = options;
    const { maxSlabValueBytes = Math.min(DEFAULT_MAX_SLAB_VALUE_BYTES, slabBytes) } = options;
    if (!Number.isInteger(slabBytes) || slabBytes < MIN_SLAB_BYTES || slabBytes > MAX_SLAB_BYTES) {
      throw new DkvError('INVALID_REQUEST', `slabBytes must be a whole number from ${MIN_SLAB_BYTES} to ${MAX_SLAB_BYTES}, got ${String(slabBytes)}`);
    }
    if (!Number.isInteger(maxSlabValueBytes) || maxSlabValueBytes < 0 || maxSlabValueBytes > slabBytes) {
      throw new DkvError('INVALID_REQUEST', `maxSlabValueBytes must be a whole number from 0 to slabBytes (${slabBytes}), got ${String(maxSlabValueBytes)}`);
    }
    this.slabBytes = slabBytes;
    this.maxSlabValueBytes = maxSlabValueBytes;
    const sizes = sizeClasses(maxSlabValueBytes);
    this.classes.push(newClass(0, 1));
    for (const blockBytes of sizes) this.classes.push(newClass(blockBytes, Math.max(1, Math.floor(slabBytes / blockBytes))));
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

  /** Copies `bytes` in and returns their address: {@link EMPTY_ADDRESS} for no bytes. */
  store(bytes: Uint8Array): number {
    const size = bytes.byteLength;
    if (size === 0) return EMPTY_ADDRESS;
    if (size > this.maxSlabValueBytes) return this.storeOwnBuffer(bytes);
    const sizeClass = this.classOf(size);
    const cls = this.classes[sizeClass] as SizeClass;
    const block = this.takeBlock(cls);
    const slab = cls.slabs[Math.floor(block / cls.blocksPerSlab)] as Uint8Array;
    slab.set(bytes, (block % cls.blocksPerSlab) * cls.blockBytes);
    return sizeClass * CLASS_STRIDE + block;
  }

  /**
   * The `size` bytes stored at `address`, as a view into the slab: valid only until the address
   * is released, after which the block may hold another value. Callers that keep or hand the
   * bytes on must copy them ({@link copy}).
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

  /** Frees the block at `address` for reuse. The address must not be used again. */
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
    if (cls.freeCount === cls.freeBlocks.length) cls.freeBlocks = grown(cls.freeBlocks, cls.freeCount + 1);
    cls.freeBlocks[cls.freeCount] = block;
    cls.freeCount += 1;
  }

  stats(): SlabAllocatorStats {
    return { slabs: this.slabCount, slabBytes: this.slabBytesTotal, ownBuffers: this.ownBuffers.length - this.freeOwnBuffers.length, ownBufferBytes: this.ownBufferBytes };
  }

  private classOf(size: number): number {
    return this.classByGranules[Math.ceil(size / CLASS_GRANULE)] as number;
  }

  /** The block freed last in `cls`, or else a block never used before (from a new slab when the last is full). */
  private takeBlock(cls: SizeClass): number {
    if (cls.freeCount > 0) {
      cls.freeCount -= 1;
      return cls.freeBlocks[cls.freeCount] as number;
    }
    if (cls.carved === cls.slabs.length * cls.blocksPerSlab) {
      cls.slabs.push(new Uint8Array(cls.blocksPerSlab * cls.blockBytes));
      this.slabCount += 1;
      this.slabBytesTotal += cls.blocksPerSlab * cls.blockBytes;
    }
    const block = cls.carved;
    cls.carved += 1;
    return block;
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

function newClass(blockBytes: number, blocksPerSlab: number): SizeClass {
  return { blockBytes, blocksPerSlab, slabs: [], carved: 0, freeBlocks: new Uint32Array(16), freeCount: 0 };
}

/** A copy of `array` with room for at least `minLength` items (doubling). */
function grown(array: Uint32Array, minLength: number): Uint32Array {
  const next = new Uint32Array(Math.max(minLength, array.length * 2));
  next.set(array);
  return next;
}
