/**
 * A binary min-heap over an array, ordered by a comparator: the one generic heap of dkv. The
 * simulated scheduler keeps its event queue in one, the map engine its TTL index, the slab
 * allocator its slabs with free blocks. (The compact engine's TTL index is the one other heap,
 * `DeadlineHeap` in `@dkv/storage`, kept in typed arrays for memory; its comment says why.)
 *
 * It has no removal of an arbitrary item: users delete lazily, by recognising stale items when
 * they reach the top, and compact with {@link BinaryHeap.retain} or {@link BinaryHeap.rebuild}.
 * Equal items come out in an order fixed by the pushes alone, so a run is reproducible.
 */
export class BinaryHeap<T> {
  private items: T[] = [];

  /** `compare(a, b) < 0` means `a` comes out first. A strict total order makes the pop order independent of the push order. */
  constructor(private readonly compare: (a: T, b: T) => number) {}

  /** The number of items held, stale ones included. */
  get size(): number {
    return this.items.length;
  }

  /** The first item without removing it, or undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Adds `item`. O(log n). */
  push(item: T): void {
    this.items.push(item);
    this.siftUp(this.items.length - 1);
  }

  /** Removes and returns the first item, or undefined when empty. O(log n). */
  pop(): T | undefined {
    const first = this.items[0];
    const last = this.items.pop();
    if (this.items.length > 0 && last !== undefined) {
      this.items[0] = last;
      this.siftDown(0);
    }
    return first;
  }

  /** Keeps only the items for which `keep` is true, in O(n); used to purge cancelled events. */
  retain(keep: (item: T) => boolean): void {
    this.rebuild(this.items.filter(keep));
  }

  /** Replaces the contents with `items`, heapified in O(n): the compaction step of lazy deletion. */
  rebuild(items: Iterable<T>): void {
    this.items = Array.from(items);
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftUp(index: number): void {
    const items = this.items;
    const item = items[index] as T;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex] as T;
      if (this.compare(item, parent) >= 0) break;
      items[index] = parent;
      index = parentIndex;
    }
    items[index] = item;
  }

  private siftDown(index: number): void {
    const items = this.items;
    const length = items.length;
    const item = items[index] as T;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && this.compare(items[right] as T, items[left] as T) < 0) child = right;
      if (this.compare(items[child] as T, item) >= 0) break;
      items[index] = items[child] as T;
      index = child;
    }
    items[index] = item;
  }
}
