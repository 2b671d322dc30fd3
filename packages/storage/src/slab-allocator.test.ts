// Goal: the slab allocator returns exactly the bytes it was given for as long as they are held,
// whatever else is stored and released around them, and wherever compaction moves them; rounds
// no value up by more than its class allows (a 2,048-byte value by nothing); reuses freed blocks
// before it takes new memory; gives back the slabs of a class that holds much more than it uses
// (and only those), moving at most the values a call allows; and refuses options it cannot honour.
// Method: table cases for the size classes, the edges (0 bytes, the largest slab class, one byte
// more) and the compaction thresholds; scripted compactions whose outcome is counted by hand; and
// seeded model tests: thousands of random stores, releases and compactions of many sizes, compared
// with a plain Map of copies, on slabs small enough to need many.
import { DkvError } from '@dkv/core';
import { SeededRng, seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { COMPACTION_STEPS_PER_MOVE, EMPTY_ADDRESS, SlabAllocator, sizeClasses } from './slab-allocator.js';

/** Byte-for-byte equality, fast enough for thousands of values (vitest's toEqual compares typed arrays element by element). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 1) out[i] = (seed * 31 + i * 7) & 0xff;
  return out;
}

describe('size classes', () => {
  const max = 64 * 1024;
  const allocator = new SlabAllocator({ maxSlabValueBytes: max });

  it('are ascending multiples of 16 that include every power of two from 16 to the largest', () => {
    const sizes = sizeClasses(max);
    expect(sizes).toEqual(allocator.blockSizes);
    expect(sizes.every((size, i) => size % 16 === 0 && (i === 0 || size > (sizes[i - 1] ?? 0)))).toBe(true);
    for (let power = 16; power <= max; power *= 2) expect(sizes).toContain(power);
    expect(sizes.at(-1)).toBe(max);
    expect(sizes.slice(0, 12)).toEqual([16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192]);
  });

  it('round each size up by at most 15 bytes up to 128, and by at most 1/8 above', () => {
    const wrong: number[] = [];
    for (let size = 1; size <= max; size += 1) {
      const block = allocator.blockBytesFor(size);
      if (block < size || (size <= 128 ? block - size >= 16 : block / size > 1.125)) wrong.push(size);
    }
    expect(wrong).toEqual([]);
  });

  it.each([
    [0, 0],
    [1, 16],
    [2048, 2048],
    [2049, 2304],
    [1921, 2048],
    [max, max],
    [max + 1, max + 1],
  ])('puts a value of %i bytes in %i bytes', (size, expected) => {
    expect(allocator.blockBytesFor(size)).toBe(expected);
  });

  it('end at the first class that holds the largest slab value when it is not a class', () => {
    expect(sizeClasses(1000).at(-1)).toBe(1024);
    expect(sizeClasses(0)).toEqual([]);
    expect(new SlabAllocator({ maxSlabValueBytes: 1000 }).blockBytesFor(1000)).toBe(1024);
  });
});

describe('SlabAllocator', () => {
  it('stores no bytes at the empty address, taking no slab', () => {
    const allocator = new SlabAllocator();
    expect(allocator.store(new Uint8Array(0), 0)).toBe(EMPTY_ADDRESS);
    expect(allocator.view(EMPTY_ADDRESS, 0).byteLength).toBe(0);
    allocator.release(EMPTY_ADDRESS);
    expect(allocator.stats()).toEqual({ slabs: 0, slabBytes: 0, ownBuffers: 0, ownBufferBytes: 0, slabsReleased: 0, blocksMoved: 0 });
  });

  it('keeps the largest slab value in a slab, and one byte more in a buffer of its own', () => {
    const allocator = new SlabAllocator({ slabBytes: 8192, maxSlabValueBytes: 4096 });
    const largest = allocator.store(bytes(4096, 1), 1);
    expect(allocator.stats()).toMatchObject({ slabs: 1, slabBytes: 8192, ownBuffers: 0 });
    const over = allocator.store(bytes(4097, 2), 2);
    expect(allocator.stats()).toMatchObject({ slabs: 1, ownBuffers: 1, ownBufferBytes: 4097 });
    expect(allocator.view(largest, 4096)).toEqual(bytes(4096, 1));
    expect(allocator.copy(over, 4097)).toEqual(bytes(4097, 2));
    allocator.release(over);
    expect(allocator.stats()).toMatchObject({ ownBuffers: 0, ownBufferBytes: 0 });
  });

  it('reuses a freed block, last freed first, before carving a new one', () => {
    const allocator = new SlabAllocator({ slabBytes: 4096 });
    const [a, b] = [allocator.store(bytes(2048, 1), 1), allocator.store(bytes(2048, 2), 2)];
    expect(allocator.stats().slabs).toBe(1);
    allocator.release(a);
    const c = allocator.store(bytes(2000, 3), 3);
    expect(c).toBe(a);
    expect(allocator.stats().slabs).toBe(1);
    expect(allocator.view(b, 2048)).toEqual(bytes(2048, 2));
    expect(allocator.view(c, 2000)).toEqual(bytes(2000, 3));
    allocator.store(bytes(2048, 4), 4);
    expect(allocator.stats()).toMatchObject({ slabs: 2, slabBytes: 8192 });
  });

  it('takes a freed block from the lowest slab that has one, whichever was freed last', () => {
    const allocator = new SlabAllocator({ slabBytes: 4096 });
    const addresses = Array.from({ length: 6 }, (_, i) => allocator.store(bytes(2048, i), i));
    expect(allocator.stats().slabs).toBe(3);
    allocator.release(addresses[1] ?? 0);
    allocator.release(addresses[5] ?? 0);
    allocator.release(addresses[2] ?? 0);
    expect([allocator.store(bytes(2048, 7), 7), allocator.store(bytes(2048, 8), 8), allocator.store(bytes(2048, 9), 9)]).toEqual([
      addresses[1],
      addresses[2],
      addresses[5],
    ]);
  });

  it('hands out copies the allocator never writes again, and views that it does', () => {
    const allocator = new SlabAllocator({ slabBytes: 4096 });
    const first = allocator.store(bytes(100, 1), 1);
    const copy = allocator.copy(first, 100);
    const view = allocator.view(first, 100);
    allocator.release(first);
    expect(allocator.store(bytes(100, 2), 2)).toBe(first);
    expect(copy).toEqual(bytes(100, 1));
    expect(view).toEqual(bytes(100, 2));
  });

  it.each<[string, ConstructorParameters<typeof SlabAllocator>[0], RegExp]>([
    ['slabs under 4 KiB', { slabBytes: 1024 }, /slabBytes/],
    ['fractional slabs', { slabBytes: 5000.5 }, /slabBytes/],
    ['a largest slab value above the slab', { slabBytes: 4096, maxSlabValueBytes: 8192 }, /maxSlabValueBytes/],
    ['a negative largest slab value', { maxSlabValueBytes: -1 }, /maxSlabValueBytes/],
  ])('refuses %s', (_name, options, message) => {
    expect(() => new SlabAllocator(options)).toThrow(DkvError);
    expect(() => new SlabAllocator(options)).toThrow(message);
  });

  it.each([-1, 1.5, 2 ** 31, Number.NaN])('refuses the owner %d', (owner) => {
    expect(() => new SlabAllocator().store(bytes(10, 1), owner)).toThrow(/owner/);
  });

  it('refuses to release a block twice, or one it never handed out', () => {
    const allocator = new SlabAllocator({ slabBytes: 4096 });
    const address = allocator.store(bytes(100, 1), 1);
    const neighbour = allocator.store(bytes(100, 2), 2);
    allocator.release(address);
    expect(() => allocator.release(address)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => allocator.release(neighbour + 1)).toThrow(/not in use/);
    expect(allocator.view(neighbour, 100)).toEqual(bytes(100, 2));
  });

  it('agrees with a Map of copies over thousands of random stores and releases, and reuses what it freed', () => {
    const seed = seedForTest();
    const maxSlabValueBytes = 3000;
    const allocator = new SlabAllocator({ slabBytes: 8192, maxSlabValueBytes });
    const held = new Map<number, Uint8Array>();
    const randomSize = (rng: SeededRng): number => {
      const pick = rng.int(10);
      if (pick === 0) return 0;
      if (pick === 1) return maxSlabValueBytes + rng.int(3);
      if (pick < 5) return 1 + rng.int(64);
      return 1 + rng.int(maxSlabValueBytes);
    };
    const run = (rng: SeededRng, steps: number): void => {
      for (let step = 0; step < steps; step += 1) {
        if (held.size > 0 && rng.int(5) < 2) {
          const addresses = [...held.keys()].filter((address) => address !== EMPTY_ADDRESS);
          const address = addresses[rng.int(addresses.length)];
          if (address === undefined) continue;
          allocator.release(address);
          held.delete(address);
        } else {
          const value = bytes(randomSize(rng), step);
          const address = allocator.store(value, step);
          if (address !== EMPTY_ADDRESS) {
            expect(held.has(address), `address ${address} handed out twice (seed ${seed})`).toBe(false);
            held.set(address, value);
          }
        }
        if (step % 50 === 0) {
          const corrupted = [...held].filter(([address, value]) => !sameBytes(allocator.view(address, value.byteLength), value));
          expect(
            corrupted.map(([address]) => address),
            `step ${step} (seed ${seed})`,
          ).toEqual([]);
        }
      }
    };
    run(new SeededRng(seed), 4000);
    expect([...held].every(([address, value]) => sameBytes(allocator.copy(address, value.byteLength), value))).toBe(true);
    const peak = allocator.stats();
    expect(peak.slabs).toBeGreaterThan(10);
    for (const address of held.keys()) allocator.release(address);
    held.clear();
    expect(allocator.stats()).toMatchObject({ slabs: peak.slabs, ownBuffers: 0, ownBufferBytes: 0 });
    // The same workload again fits in the slabs already carved: freed blocks are used first.
    run(new SeededRng(seed), 4000);
    expect(allocator.stats().slabs).toBe(peak.slabs);
  });
});

/**
 * Values held by owner number, as the compact engine holds them, with the `Relocate` callback
 * that follows each move: it fails the test when a move names an address the owner does not
 * hold, or one another owner holds.
 */
class Holder {
  readonly held = new Map<number, { address: number; value: Uint8Array }>();
  private readonly ownerOf = new Map<number, number>();
  relocations = 0;

  constructor(readonly allocator: SlabAllocator) {}

  store(owner: number, value: Uint8Array): void {
    const address = this.allocator.store(value, owner);
    this.held.set(owner, { address, value });
    if (address !== EMPTY_ADDRESS) {
      expect(this.ownerOf.has(address), `address ${address} handed out twice`).toBe(false);
      this.ownerOf.set(address, owner);
    }
  }

  release(owner: number): void {
    const entry = this.held.get(owner);
    if (entry === undefined) return;
    this.allocator.release(entry.address);
    this.ownerOf.delete(entry.address);
    this.held.delete(owner);
  }

  readonly relocate = (owner: number, from: number, to: number): void => {
    const entry = this.held.get(owner);
    if (entry?.address !== from) throw new Error(`owner ${owner} moved from ${from}, but it holds ${String(entry?.address)}`);
    if (this.ownerOf.has(to)) throw new Error(`owner ${owner} moved onto ${to}, held by owner ${String(this.ownerOf.get(to))}`);
    this.ownerOf.delete(from);
    this.ownerOf.set(to, owner);
    entry.address = to;
    this.relocations += 1;
  };

  /** Compacts until nothing is worth compacting; returns the values moved. */
  compactFully(): number {
    return this.allocator.compact(1e9, this.relocate);
  }

  /** The owners whose bytes no longer read back as stored. */
  corrupted(): number[] {
    return [...this.held]
      .filter(([, { address, value }]) => !sameBytes(this.allocator.view(address, value.byteLength), value))
      .map(([owner]) => owner);
  }
}

describe('SlabAllocator compaction', () => {
  // 241- to 256-byte values: the 256-byte class, 16 blocks to a 4 KiB slab.
  const SLAB_BYTES = 4096;
  const PER_SLAB = 16;
  const filled = (count: number): Holder => {
    const holder = new Holder(new SlabAllocator({ slabBytes: SLAB_BYTES }));
    for (let owner = 0; owner < count; owner += 1) holder.store(owner, bytes(241 + (owner % 16), owner));
    return holder;
  };

  it('gives back the last slabs of a class that lost most of its values, moving the rest into earlier slabs byte for byte', () => {
    const holder = filled(10 * PER_SLAB);
    for (let owner = 0; owner < 10 * PER_SLAB; owner += 1) if (owner % 5 !== 0) holder.release(owner);
    expect(holder.allocator.stats()).toMatchObject({ slabs: 10, slabBytes: 10 * SLAB_BYTES });
    // 32 values stay, in blocks 0, 5, ..., 155: the 25 above block 31 move, and 2 slabs remain.
    expect(holder.compactFully()).toBe(25);
    expect(holder.allocator.stats()).toEqual({
      slabs: 2,
      slabBytes: 2 * SLAB_BYTES,
      ownBuffers: 0,
      ownBufferBytes: 0,
      slabsReleased: 8,
      blocksMoved: 25,
    });
    expect(holder.relocations).toBe(25);
    expect(holder.corrupted()).toEqual([]);
    expect([...holder.held.values()].map(({ address }) => address >>> 0).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 32 }, (_, i) => i),
    );
    // Blocks freed later are reused before a slab is carved again, and new slabs are carved after the kept ones.
    for (let owner = 0; owner < 16 * 5; owner += 5) holder.release(owner);
    for (let owner = 1000; owner < 1016; owner += 1) holder.store(owner, bytes(256, owner));
    expect(holder.allocator.stats().slabs).toBe(2);
    for (let owner = 2000; owner < 2064; owner += 1) holder.store(owner, bytes(250, owner));
    expect(holder.allocator.stats()).toMatchObject({ slabs: 6, slabBytes: 6 * SLAB_BYTES });
    expect(holder.corrupted()).toEqual([]);
  });

  it('gives back every slab of a class whose values are all gone, moving nothing, and carves afresh after', () => {
    const holder = filled(100);
    for (let owner = 0; owner < 100; owner += 1) holder.release(owner);
    expect(holder.allocator.stats().slabs).toBe(7);
    expect(holder.allocator.compact(1, holder.relocate)).toBe(0);
    expect(holder.allocator.stats()).toMatchObject({ slabs: 0, slabBytes: 0, slabsReleased: 7, blocksMoved: 0 });
    holder.store(1, bytes(256, 1));
    holder.store(2, bytes(256, 2));
    expect(holder.allocator.stats()).toMatchObject({ slabs: 1, slabBytes: SLAB_BYTES });
    expect(holder.corrupted()).toEqual([]);
    expect(holder.allocator.compact(0, holder.relocate)).toBe(0);
  });

  it.each([
    ['less than a slab free (15 of 32 blocks)', 0, 0, 2, 15],
    ['a slab free but only a quarter of the blocks (40 of 160)', 0, 0, 10, 40],
    ['a slab free and more than a quarter of the blocks (41 of 160)', 1, 16, 10, 41],
    ['exactly a slab free, half the blocks (16 of 32)', 1, 16, 2, 16],
  ])('with %s, releases %i slabs, moving %i values', (_name, released, moved, slabs, freed) => {
    const holder = filled(slabs * PER_SLAB);
    for (let owner = 0; owner < freed; owner += 1) holder.release(owner);
    expect(holder.compactFully()).toBe(moved);
    expect(holder.allocator.stats()).toMatchObject({ slabs: slabs - released, slabsReleased: released, blocksMoved: moved });
    expect(holder.corrupted()).toEqual([]);
  });

  it('moves at most maxMoves values per call, and ends where one unbounded call ends', () => {
    const sparse = (): Holder => {
      const holder = filled(20 * PER_SLAB);
      for (let owner = 0; owner < 20 * PER_SLAB; owner += 1) if (owner % 7 !== 0) holder.release(owner);
      return holder;
    };
    const stepped = sparse();
    let calls = 0;
    for (let unchanged = 0; unchanged < 2 && calls < 1000; calls += 1) {
      const before = stepped.allocator.stats();
      const relocationsBefore = stepped.relocations;
      const moved = stepped.allocator.compact(3, stepped.relocate);
      expect(moved).toBeLessThanOrEqual(3);
      expect(stepped.relocations - relocationsBefore).toBe(moved);
      unchanged = moved === 0 && stepped.allocator.stats().slabs === before.slabs ? unchanged + 1 : 0;
    }
    expect(calls).toBeGreaterThan(5);
    const whole = sparse();
    whole.compactFully();
    expect(stepped.allocator.stats()).toEqual(whole.allocator.stats());
    expect(stepped.allocator.stats().slabsReleased).toBeGreaterThan(0);
    expect(stepped.corrupted()).toEqual([]);
  });

  it(`examines at most ${COMPACTION_STEPS_PER_MOVE} blocks per value it may move`, () => {
    // 16-byte values, 256 to a slab: slab 0 full, slab 1 empty, slab 2 holding only its first block.
    const holder = new Holder(new SlabAllocator({ slabBytes: SLAB_BYTES }));
    for (let owner = 0; owner < 768; owner += 1) holder.store(owner, bytes(16, owner));
    for (let owner = 256; owner < 768; owner += 1) if (owner !== 512) holder.release(owner);
    const callsToReach = Math.ceil(256 / COMPACTION_STEPS_PER_MOVE);
    for (let call = 1; call < callsToReach; call += 1) expect(holder.allocator.compact(1, holder.relocate), `call ${call}`).toBe(0);
    expect(holder.allocator.stats()).toMatchObject({ slabs: 3, blocksMoved: 0 });
    expect(holder.allocator.compact(1, holder.relocate)).toBe(1);
    expect(holder.held.get(512)?.address).toBeLessThan(holder.held.get(0)!.address + 512);
    expect(holder.allocator.compact(1, holder.relocate)).toBe(0);
    expect(holder.allocator.stats()).toMatchObject({ slabs: 2, slabsReleased: 1, blocksMoved: 1 });
    expect(holder.corrupted()).toEqual([]);
  });

  it('agrees with a Map of copies over thousands of random stores, releases and bounded compactions, and then holds little more than it uses', () => {
    const seed = seedForTest();
    const rng = new SeededRng(seed);
    const maxSlabValueBytes = 3000;
    const holder = new Holder(new SlabAllocator({ slabBytes: SLAB_BYTES, maxSlabValueBytes }));
    const allocator = holder.allocator;
    // The sizes drift: each phase writes around another size, so classes fill and then empty.
    const phases = [16, 200, 1000, 2048, 40, 2900];
    let nextOwner = 0;
    const classesUsed = new Set<number>();
    /**
     * Slab bytes the held values justify once nothing is worth compacting: per class ever used,
     * 4/3 of its values' blocks (at most a quarter free) or its values' blocks and a slab (less than
     * a slab free), plus the slab its last carved block is in.
     */
    const bound = (): number => {
      let total = classesUsed.size * 2 * SLAB_BYTES;
      for (const { value } of holder.held.values()) {
        if (value.byteLength > 0 && value.byteLength <= maxSlabValueBytes) total += (4 / 3) * allocator.blockBytesFor(value.byteLength);
      }
      return total;
    };
    for (let step = 0; step < 8000; step += 1) {
      const where = `step ${step} (seed ${seed})`;
      const centre = phases[Math.floor(step / 1000) % phases.length] ?? 16;
      const op = rng.int(100);
      if (op < 45 || holder.held.size === 0) {
        const size = rng.int(20) === 0 ? rng.int(maxSlabValueBytes + 3) : Math.max(1, Math.round(centre * (0.9 + rng.int(21) / 100)));
        holder.store(nextOwner, bytes(size, step));
        if (size > 0 && size <= maxSlabValueBytes) classesUsed.add(allocator.blockBytesFor(size));
        nextOwner += 1;
      } else if (op < 90) {
        const owners = [...holder.held.keys()];
        holder.release(owners[rng.int(owners.length)] ?? 0);
      } else {
        const budget = rng.int(6);
        const relocationsBefore = holder.relocations;
        const moved = allocator.compact(budget, holder.relocate);
        expect(moved, where).toBeLessThanOrEqual(budget);
        expect(holder.relocations - relocationsBefore, where).toBe(moved);
      }
      if (step % 250 === 0) expect(holder.corrupted(), where).toEqual([]);
      if (step % 1000 === 999) {
        holder.compactFully();
        expect(holder.corrupted(), where).toEqual([]);
        expect(allocator.stats().slabBytes, where).toBeLessThanOrEqual(bound());
      }
    }
    const stats = allocator.stats();
    expect(stats.slabsReleased, `seed ${seed}`).toBeGreaterThan(0);
    expect(stats.blocksMoved, `seed ${seed}`).toBeGreaterThan(0);
    expect(holder.relocations).toBe(stats.blocksMoved);
    for (const owner of [...holder.held.keys()]) holder.release(owner);
    holder.compactFully();
    // Every class is left with at most one slab, less than a slab of free blocks.
    expect(allocator.stats().slabs).toBeLessThanOrEqual(allocator.blockSizes.length);
    expect(allocator.stats()).toMatchObject({ ownBuffers: 0, ownBufferBytes: 0 });
  });
});
