/**
 * The slabs of one size class that hold a free block, lowest slab number first: a binary
 * min-heap of slab numbers that keeps each slab's position in the heap, so that any slab can be
 * removed in O(log n) (the last slab, when compaction releases it) and none is held twice.
 *
 * The `SlabAllocator` takes blocks from the lowest slab that has one. That packs values towards
 * the start of their class, so its last slabs empty out by themselves as their values are
 * overwritten, deleted or expire, and compaction has fewer values to move.
 */
export class SlabHeap {
  private readonly heap: number[] = [];
  /** By slab number: where the slab is in `heap`, or -1 (or a hole) when it is not held. */
  private readonly positions: number[] = [];

  /** The number of slabs held. */
  get size(): number {
    return this.heap.length;
  }

  /** The lowest slab number held, or -1 when none is. */
  get lowest(): number {
    return this.heap[0] ?? -1;
  }

  /** Whether `slab` is held. */
  has(slab: number): boolean {
    return (this.positions[slab] ?? -1) >= 0;
  }

  /** Adds `slab` unless it is held already. O(log n). */
  push(slab: number): void {
    if (this.has(slab)) return;
    this.heap.push(slab);
    this.positions[slab] = this.heap.length - 1;
    this.siftUp(this.heap.length - 1);
  }

  /** Removes `slab` if it is held. O(log n). */
  remove(slab: number): void {
    const at = this.positions[slab] ?? -1;
    if (at < 0) return;
    this.positions[slab] = -1;
    const moved = this.heap.pop() as number;
    if (at === this.heap.length) return;
    this.heap[at] = moved;
    this.positions[moved] = at;
    this.siftDown(at);
    this.siftUp(this.positions[moved] as number);
  }

  private siftUp(start: number): void {
    let child = start;
    while (child > 0) {
      const parent = (child - 1) >>> 1;
      if ((this.heap[parent] as number) <= (this.heap[child] as number)) return;
      this.swap(parent, child);
      child = parent;
    }
  }

  private siftDown(start: number): void {
    const count = this.heap.length;
    let parent = start;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < count && (this.heap[left] as number) < (this.heap[smallest] as number)) smallest = left;
      if (right < count && (this.heap[right] as number) < (this.heap[smallest] as number)) smallest = right;
      if (smallest === parent) return;
      this.swap(parent, smallest);
      parent = smallest;
    }
  }

  private swap(a: number, b: number): void {
    const slabA = this.heap[a] as number;
    const slabB = this.heap[b] as number;
    this.heap[a] = slabB;
    this.heap[b] = slabA;
    this.positions[slabB] = a;
    this.positions[slabA] = b;
  }
}
