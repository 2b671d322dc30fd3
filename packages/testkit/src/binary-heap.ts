/**
 * A minimal binary min-heap over an array, ordered by a comparator. The simulated scheduler keeps
 * its event queue in one; it is separate so it can be tested on its own.
 */
export class BinaryHeap<T> {
  private items: T[] = [];

  /** `compare(a, b) < 0` means `a` comes out first. It must be a strict total order for determinism. */
  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  /** The first item without removing it, or undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.siftUp(this.items.length - 1);
  }

  /** Removes and returns the first item, or undefined when empty. */
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
    this.items = this.items.filter(keep);
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
