/** The capacity a {@link DeadlineHeap} starts with and never shrinks below. */
const MIN_CAPACITY = 1024;

/**
 * A binary min-heap of (deadline, slot, generation) items in three typed arrays: 16 bytes an
 * item, no object per item, for the TTL index of the compact engine. Slots and generations are
 * unsigned 32-bit integers; the generation lets the user tell an item pushed for an earlier
 * record of a reused slot from one for the record it holds now.
 *
 * Why not the generic `BinaryHeap` of `@dkv/core`: the compact engine exists to hold many keys in
 * little memory, and with every key under a TTL the generic heap's item (an object of deadline,
 * slot and generation, plus its array slot) costs about 40 bytes and an object the garbage
 * collector must trace, against 16 bytes here and nothing to trace. That is the one reason a
 * second heap exists.
 *
 * Like `BinaryHeap` (same sift rules, so both pop equal deadlines in the same order for the same
 * pushes) it has no removal: its user deletes lazily, by recognising stale items when it pops
 * them, and by {@link DeadlineHeap.rebuild} when too many have piled up. The arrays double when
 * full and are sized afresh by a rebuild, so their length stays within twice the most items held
 * since the last rebuild (and at least {@link MIN_CAPACITY}).
 */
export class DeadlineHeap {
  private deadlines = new Float64Array(MIN_CAPACITY);
  private slots = new Uint32Array(MIN_CAPACITY);
  private generations = new Uint32Array(MIN_CAPACITY);
  private count = 0;

  /** The number of items held, stale ones included. */
  get size(): number {
    return this.count;
  }

  /** Adds `slot` (at `generation`) due at `deadline`. O(log n). */
  push(deadline: number, slot: number, generation: number): void {
    this.append(deadline, slot, generation);
    this.siftUp(this.count - 1);
  }

  /** The earliest deadline held, or +Infinity when empty (so `peekDeadline() <= now` is a safe test). */
  peekDeadline(): number {
    return this.count > 0 ? (this.deadlines[0] as number) : Number.POSITIVE_INFINITY;
  }

  /** The slot of the item with the earliest deadline (meaningless when empty). */
  peekSlot(): number {
    return this.slots[0] as number;
  }

  /** The generation of the item with the earliest deadline (meaningless when empty). */
  peekGeneration(): number {
    return this.generations[0] as number;
  }

  /** Removes the item with the earliest deadline, if any. O(log n). */
  pop(): void {
    if (this.count === 0) return;
    this.count -= 1;
    if (this.count > 0) {
      this.deadlines[0] = this.deadlines[this.count] as number;
      this.slots[0] = this.slots[this.count] as number;
      this.generations[0] = this.generations[this.count] as number;
      this.siftDown(0);
    }
  }

  /**
   * Replaces the contents with the items `fill` adds, heapified in O(n): the compaction step of
   * lazy deletion. The arrays are sized for `expectedItems` (more may be added; they grow).
   */
  rebuild(expectedItems: number, fill: (add: (deadline: number, slot: number, generation: number) => void) => void): void {
    this.count = 0;
    this.resizeEmpty(Math.max(MIN_CAPACITY, expectedItems));
    fill((deadline, slot, generation) => this.append(deadline, slot, generation));
    for (let i = (this.count >>> 1) - 1; i >= 0; i -= 1) this.siftDown(i);
  }

  /** Puts an item at the end, growing the arrays when full; the heap order is the caller's to restore. */
  private append(deadline: number, slot: number, generation: number): void {
    if (this.count === this.slots.length) this.resize(this.count * 2);
    this.deadlines[this.count] = deadline;
    this.slots[this.count] = slot;
    this.generations[this.count] = generation;
    this.count += 1;
  }

  private siftUp(start: number): void {
    let child = start;
    while (child > 0) {
      const parent = (child - 1) >>> 1;
      if ((this.deadlines[parent] as number) <= (this.deadlines[child] as number)) return;
      this.swap(parent, child);
      child = parent;
    }
  }

  private siftDown(start: number): void {
    const count = this.count;
    let parent = start;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < count && (this.deadlines[left] as number) < (this.deadlines[smallest] as number)) smallest = left;
      if (right < count && (this.deadlines[right] as number) < (this.deadlines[smallest] as number)) smallest = right;
      if (smallest === parent) return;
      this.swap(parent, smallest);
      parent = smallest;
    }
  }

  private swap(a: number, b: number): void {
    const deadline = this.deadlines[a] as number;
    this.deadlines[a] = this.deadlines[b] as number;
    this.deadlines[b] = deadline;
    const slot = this.slots[a] as number;
    this.slots[a] = this.slots[b] as number;
    this.slots[b] = slot;
    const generation = this.generations[a] as number;
    this.generations[a] = this.generations[b] as number;
    this.generations[b] = generation;
  }

  /** New arrays of `capacity` holding the current items. */
  private resize(capacity: number): void {
    const deadlines = new Float64Array(capacity);
    const slots = new Uint32Array(capacity);
    const generations = new Uint32Array(capacity);
    deadlines.set(this.deadlines.subarray(0, this.count));
    slots.set(this.slots.subarray(0, this.count));
    generations.set(this.generations.subarray(0, this.count));
    this.deadlines = deadlines;
    this.slots = slots;
    this.generations = generations;
  }

  private resizeEmpty(capacity: number): void {
    if (this.slots.length === capacity) return;
    this.deadlines = new Float64Array(capacity);
    this.slots = new Uint32Array(capacity);
    this.generations = new Uint32Array(capacity);
  }
}
