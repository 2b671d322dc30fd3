/** The slots a new table starts with, and returns to when it empties. */
export const PENDING_TABLE_INITIAL_SLOTS = 64;

/**
 * The requests of one connection that wait for their answers, by request id: what a `Map` would
 * hold, without the garbage a `Map` leaves behind on a loaded coordinator.
 *
 * A connection numbers its requests one after the other (wrapping from 2^32 - 1 to 1), so the ids
 * waiting at any moment lie in a window as wide as the requests sent since the oldest of them. A
 * power-of-two array indexed by `id & (length - 1)` holds them without collisions once it is at
 * least that wide; an insert whose slot is taken doubles it until every entry has a slot of its
 * own. Its size is bounded as the window is: by the requests a connection sends within a request's
 * timeout, after which the oldest is gone. It returns to {@link PENDING_TABLE_INITIAL_SLOTS} when it
 * empties.
 *
 * Why not a `Map`: V8 rehashes a Map into a new table as entries come and go (a turn's answers
 * deleted, the next turn's requests added). It allocates the new table in the generation of the
 * old one, the old generation for a connection's long-lived Map, and leaves the table it left as it
 * was, entries included, linked to the new one (`OrderedHashTable::Rehash`). Until the next
 * mark-compact, each such dead table in the old generation keeps the requests, promises and
 * answers it held alive through every scavenge, which then promotes them. Measured with `--trace-gc-nvp` on a coordinator under redis-benchmark GETs: 16-18% of what
 * it allocated survived each scavenge and 95% of that was promoted, each scavenge took 5-10 ms
 * against 1-2 ms on the storage nodes, and the promoted garbage cost a mark-compact every 0.75 s.
 * `benchmarks/transport/wire-path.ts` (a client alone, 50 in flight) kept 62% of its allocation.
 */
export class PendingTable<T extends { readonly id: number }> {
  /** A power of two long: an id's slot is `id & (slots.length - 1)`. */
  private slots: (T | undefined)[] = emptySlots(PENDING_TABLE_INITIAL_SLOTS);
  private count = 0;

  /** How many entries it holds. */
  get size(): number {
    return this.count;
  }

  /** The entry with `id`, if it holds one. */
  get(id: number): T | undefined {
    const entry = this.slots[id & (this.slots.length - 1)];
    return entry !== undefined && entry.id === id ? entry : undefined;
  }

  /** Adds `entry`; its id must not be held already (ids repeat only after 2^32 - 1 requests). */
  add(entry: T): void {
    for (;;) {
      const slot = entry.id & (this.slots.length - 1);
      const taken = this.slots[slot];
      if (taken === undefined) {
        this.slots[slot] = entry;
        this.count += 1;
        return;
      }
      if (taken.id === entry.id) throw new RangeError(`PendingTable: id ${entry.id} is already waiting`);
      this.grow();
    }
  }

  /** Removes the entry with `id`: true when it held one. */
  delete(id: number): boolean {
    const slot = id & (this.slots.length - 1);
    const entry = this.slots[slot];
    if (entry === undefined || entry.id !== id) return false;
    this.slots[slot] = undefined;
    this.count -= 1;
    if (this.count === 0 && this.slots.length > PENDING_TABLE_INITIAL_SLOTS) this.slots = emptySlots(PENDING_TABLE_INITIAL_SLOTS);
    return true;
  }

  /** Its entries, in no particular order, as an array of their own (the caller may delete while going through it). */
  values(): T[] {
    const entries: T[] = [];
    for (const entry of this.slots) if (entry !== undefined) entries.push(entry);
    return entries;
  }

  /** Doubles the slots until every entry has one of its own. */
  private grow(): void {
    const entries = this.values();
    for (let length = this.slots.length * 2; ; length *= 2) {
      const slots = placed(entries, length);
      if (slots !== null) {
        this.slots = slots;
        return;
      }
    }
  }
}

/** `entries` in `length` slots by `id & (length - 1)`, or null when two of them fall in one slot. */
function placed<T extends { readonly id: number }>(entries: readonly T[], length: number): (T | undefined)[] | null {
  const slots = emptySlots<T>(length);
  const mask = length - 1;
  for (const entry of entries) {
    if (slots[entry.id & mask] !== undefined) return null;
    slots[entry.id & mask] = entry;
  }
  return slots;
}

function emptySlots<T>(length: number): (T | undefined)[] {
  return new Array<T | undefined>(length).fill(undefined);
}
