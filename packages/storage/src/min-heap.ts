/**
 * A binary min-heap of items by a numeric priority (a deadline in epoch ms, for the TTL index).
 * Priorities and items live in two parallel arrays, so a push allocates nothing but array growth.
 * It does not support removal: users delete lazily, by recognising stale items when they pop
 * them, and by {@link MinHeap.rebuild} when too many stale items have piled up.
 */
export class MinHeap<T> {
  private priorities: number[] = [];
  private items: T[] = [];

  /** The number of items held, stale ones included. */
  get size(): number {
    return this.items.length;
  }

  /** Adds `item` with `priority`. O(log n). */
  push(priority: number, item: T): void {
    this.priorities.push(priority);
    this.items.push(item);
    this.siftUp(this.items.length - 1);
  }

  /** The smallest priority held, or +Infinity when empty (so `peek() <= now` is a safe test). */
  peekPriority(): number {
    return this.priorities[0] ?? Number.POSITIVE_INFINITY;
  }

  /** Removes and returns the item with the smallest priority, or undefined when empty. O(log n). */
  pop(): T | undefined {
    const top = this.items[0];
    const lastItem = this.items.pop();
    const lastPriority = this.priorities.pop();
    if (this.items.length > 0 && lastItem !== undefined && lastPriority !== undefined) {
      this.items[0] = lastItem;
      this.priorities[0] = lastPriority;
      this.siftDown(0);
    }
    return top;
  }

  /** Replaces the contents with `entries`, heapified in O(n): the compaction step of lazy deletion. */
  rebuild(entries: Iterable<readonly [number, T]>): void {
    this.priorities = [];
    this.items = [];
    for (const [priority, item] of entries) {
      this.priorities.push(priority);
      this.items.push(item);
    }
    for (let i = (this.items.length >>> 1) - 1; i >= 0; i -= 1) this.siftDown(i);
  }

  private siftUp(start: number): void {
    let child = start;
    while (child > 0) {
      const parent = (child - 1) >>> 1;
      if (this.priorityAt(parent) <= this.priorityAt(child)) return;
      this.swap(parent, child);
      child = parent;
    }
  }

  private siftDown(start: number): void {
    const count = this.items.length;
    let parent = start;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < count && this.priorityAt(left) < this.priorityAt(smallest)) smallest = left;
      if (right < count && this.priorityAt(right) < this.priorityAt(smallest)) smallest = right;
      if (smallest === parent) return;
      this.swap(parent, smallest);
      parent = smallest;
    }
  }

  private priorityAt(index: number): number {
    return this.priorities[index] ?? Number.POSITIVE_INFINITY;
  }

  private swap(a: number, b: number): void {
    const priority = this.priorityAt(a);
    this.priorities[a] = this.priorityAt(b);
    this.priorities[b] = priority;
    const item = this.items[a] as T;
    this.items[a] = this.items[b] as T;
    this.items[b] = item;
  }
}
