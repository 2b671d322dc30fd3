import { BinaryHeap } from '@dkv/core';

/**
 * The slabs of one size class that hold a free block, lowest slab number first: the generic
 * `BinaryHeap` of slab numbers with lazy removal, so that any slab can be removed (the last slab,
 * when compaction releases it) and none is held twice.
 *
 * A removed slab stays in the heap as a stale item until it reaches the top, where `lowest`
 * drops it; a slab pushed again while its stale item is still there is only marked held again.
 * So the heap has at most one item per slab number, whatever the pushes and removes.
 *
 * The `SlabAllocator` takes blocks from the lowest slab that has one. That packs values towards
 * the start of their class, so its last slabs empty out by themselves as their values are
 * overwritten, deleted or expire, and compaction has fewer values to move.
 */
export class SlabHeap {
  private readonly heap = new BinaryHeap<number>((a, b) => a - b);
  /** By slab number: whether the slab is held (true), has only a stale item in `heap` (false), or neither (a hole). */
  private readonly held: Array<boolean | undefined> = [];
  private count = 0;

  /** The number of slabs held. */
  get size(): number {
    return this.count;
  }

  /** The lowest slab number held, or -1 when none is. Drops the stale items it finds on top. */
  get lowest(): number {
    for (let top = this.heap.peek(); top !== undefined; top = this.heap.peek()) {
      if (this.held[top] === true) return top;
      this.heap.pop();
      this.held[top] = undefined;
    }
    return -1;
  }

  /** Whether `slab` is held. */
  has(slab: number): boolean {
    return this.held[slab] === true;
  }

  /** Adds `slab` unless it is held already. O(log n). */
  push(slab: number): void {
    const state = this.held[slab];
    if (state === true) return;
    this.held[slab] = true;
    this.count += 1;
    if (state === undefined) this.heap.push(slab);
  }

  /** Removes `slab` if it is held. O(1); its item leaves the heap when it reaches the top. */
  remove(slab: number): void {
    if (this.held[slab] !== true) return;
    this.held[slab] = false;
    this.count -= 1;
  }
}
