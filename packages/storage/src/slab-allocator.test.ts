// Goal: the slab allocator returns exactly the bytes it was given for as long as they are held,
// whatever else is stored and released around them; rounds no value up by more than its class
// allows (a 2,048-byte value by nothing); reuses freed blocks before it takes new memory; and
// refuses options it cannot honour.
// Method: table cases for the size classes and the edges (0 bytes, the largest slab class, one
// byte more), and a seeded model test: thousands of random stores and releases of many sizes,
// compared after every step with a plain Map of copies, on slabs small enough to need many.
import { DkvError } from '@dkv/core';
import { SeededRng, seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { EMPTY_ADDRESS, SlabAllocator, sizeClasses } from './slab-allocator.js';

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
    expect(allocator.store(new Uint8Array(0))).toBe(EMPTY_ADDRESS);
    expect(allocator.view(EMPTY_ADDRESS, 0).byteLength).toBe(0);
    allocator.release(EMPTY_ADDRESS);
    expect(allocator.stats()).toEqual({ slabs: 0, slabBytes: 0, ownBuffers: 0, ownBufferBytes: 0 });
  });

  it('keeps the largest slab value in a slab, and one byte more in a buffer of its own', () => {
    const allocator = new SlabAllocator({ slabBytes: 8192, maxSlabValueBytes: 4096 });
    const largest = allocator.store(bytes(4096, 1));
    expect(allocator.stats()).toMatchObject({ slabs: 1, slabBytes: 8192, ownBuffers: 0 });
    const over = allocator.store(bytes(4097, 2));
    expect(allocator.stats()).toMatchObject({ slabs: 1, ownBuffers: 1, ownBufferBytes: 4097 });
    expect(allocator.view(largest, 4096)).toEqual(bytes(4096, 1));
    expect(allocator.copy(over, 4097)).toEqual(bytes(4097, 2));
    allocator.release(over);
    expect(allocator.stats()).toMatchObject({ ownBuffers: 0, ownBufferBytes: 0 });
  });

  it('reuses a freed block, last freed first, before carving a new one', () => {
    const allocator = new SlabAllocator({ slabBytes: 4096 });
    const [a, b] = [allocator.store(bytes(2048, 1)), allocator.store(bytes(2048, 2))];
    expect(allocator.stats().slabs).toBe(1);
    allocator.release(a);
    const c = allocator.store(bytes(2000, 3));
    expect(c).toBe(a);
    expect(allocator.stats().slabs).toBe(1);
    expect(allocator.view(b, 2048)).toEqual(bytes(2048, 2));
    expect(allocator.view(c, 2000)).toEqual(bytes(2000, 3));
    allocator.store(bytes(2048, 4));
    expect(allocator.stats()).toMatchObject({ slabs: 2, slabBytes: 8192 });
  });

  it('hands out copies the allocator never writes again, and views that it does', () => {
    const allocator = new SlabAllocator({ slabBytes: 4096 });
    const first = allocator.store(bytes(100, 1));
    const copy = allocator.copy(first, 100);
    const view = allocator.view(first, 100);
    allocator.release(first);
    expect(allocator.store(bytes(100, 2))).toBe(first);
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
          const address = allocator.store(value);
          if (address !== EMPTY_ADDRESS) {
            expect(held.has(address), `address ${address} handed out twice (seed ${seed})`).toBe(false);
            held.set(address, value);
          }
        }
        if (step % 50 === 0) {
          const corrupted = [...held].filter(([address, value]) => !sameBytes(allocator.view(address, value.byteLength), value));
          expect(corrupted.map(([address]) => address), `step ${step} (seed ${seed})`).toEqual([]);
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
