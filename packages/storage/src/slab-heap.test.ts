// Goal: the slab heap always names the lowest slab it holds, holds each slab at most once, and
// removes any slab it holds (not only the lowest) without losing the others.
// Method: a seeded model test: thousands of random pushes (repeats included) and removes,
// compared after every step with a sorted Set.
import { SeededRng, seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { SlabHeap } from './slab-heap.js';

describe('SlabHeap', () => {
  it('is empty at first', () => {
    const heap = new SlabHeap();
    expect([heap.size, heap.lowest, heap.has(0)]).toEqual([0, -1, false]);
    heap.remove(3);
    expect(heap.size).toBe(0);
  });

  it('agrees with a Set over thousands of random pushes and removes', () => {
    const seed = seedForTest();
    const rng = new SeededRng(seed);
    const heap = new SlabHeap();
    const model = new Set<number>();
    for (let step = 0; step < 5000; step += 1) {
      const slab = rng.int(64);
      if (rng.int(2) === 0) {
        heap.push(slab);
        model.add(slab);
      } else {
        heap.remove(slab);
        model.delete(slab);
      }
      const where = `step ${step} (seed ${seed})`;
      expect(heap.size, where).toBe(model.size);
      expect(heap.lowest, where).toBe(model.size === 0 ? -1 : Math.min(...model));
      expect(heap.has(slab), where).toBe(model.has(slab));
    }
  });
});
