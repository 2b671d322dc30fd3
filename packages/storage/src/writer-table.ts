import { writerIdHash } from './record-digest.js';

/**
 * Writer ids, interned: a record keeps a small index instead of a string pointer, and each writer
 * keeps the hash digests use. A cluster has a handful of coordinators, but writer ids arrive from
 * the network, so entries are reference counted (one reference per record held) and an index is
 * reused once no record refers to it: the table never holds more writers than records.
 */
export class WriterTable {
  private readonly ids: string[] = [];
  private readonly hashes: number[] = [];
  private readonly references: number[] = [];
  private readonly indexById = new Map<string, number>();
  private readonly freeIndexes: number[] = [];

  /** The index of `writerId`, counting one more reference to it. */
  acquire(writerId: string): number {
    let index = this.indexById.get(writerId);
    if (index === undefined) {
      index = this.freeIndexes.pop() ?? this.ids.length;
      this.ids[index] = writerId;
      this.hashes[index] = writerIdHash(writerId);
      this.references[index] = 0;
      this.indexById.set(writerId, index);
    }
    this.references[index] = (this.references[index] ?? 0) + 1;
    return index;
  }

  /** Drops one reference to the writer at `index`; forgets the writer after the last. */
  release(index: number): void {
    const left = (this.references[index] ?? 1) - 1;
    this.references[index] = left;
    if (left > 0) return;
    this.indexById.delete(this.ids[index] ?? '');
    this.ids[index] = '';
    this.freeIndexes.push(index);
  }

  /** The writer id at `index`. */
  id(index: number): string {
    return this.ids[index] ?? '';
  }

  /** `writerIdHash` of the writer at `index`. */
  hash(index: number): number {
    return this.hashes[index] ?? 0;
  }

  /** Writers currently referred to. */
  get size(): number {
    return this.indexById.size;
  }
}
