// Goal: a connection's table of waiting requests finds each by id through growth, wrap-around
// and emptying, refuses an id twice, and leaves what it let go of to the next scavenge: the entries
// deleted from it are not kept alive into the old generation (what a Map, churned the same way,
// does: see the class comment).
// Method: the table driven by hand; for the garbage, V8's own collector (`gc` exposed through
// `--expose-gc` set at run time) and the old space's size before and after two scavenges.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { PENDING_TABLE_INITIAL_SLOTS, PendingTable } from './pending-table.js';

interface Entry {
  readonly id: number;
  readonly payload: number[];
}

function entry(id: number): Entry {
  return { id, payload: [id] };
}

describe('PendingTable', () => {
  it('finds, deletes and counts entries by id', () => {
    const table = new PendingTable<Entry>();
    const a = entry(1);
    const b = entry(2);
    table.add(a);
    table.add(b);
    expect(table.size).toBe(2);
    expect(table.get(1)).toBe(a);
    expect(table.get(2)).toBe(b);
    expect(table.get(3)).toBeUndefined();
    expect(table.delete(1)).toBe(true);
    expect(table.delete(1)).toBe(false);
    expect(table.get(1)).toBeUndefined();
    expect(table.size).toBe(1);
  });

  it('does not take an id for another that shares its slot', () => {
    const table = new PendingTable<Entry>();
    table.add(entry(5));
    expect(table.get(5 + PENDING_TABLE_INITIAL_SLOTS)).toBeUndefined();
    expect(table.delete(5 + PENDING_TABLE_INITIAL_SLOTS)).toBe(false);
    expect(table.size).toBe(1);
  });

  it('grows until waiting ids that share a slot each have their own, and keeps every entry', () => {
    const table = new PendingTable<Entry>();
    const ids = [7, 7 + PENDING_TABLE_INITIAL_SLOTS, 7 + 4 * PENDING_TABLE_INITIAL_SLOTS, 8, 0xffffffff];
    const entries = ids.map(entry);
    for (const e of entries) table.add(e);
    expect(table.size).toBe(ids.length);
    for (const e of entries) expect(table.get(e.id)).toBe(e);
    expect(
      table
        .values()
        .map((e) => e.id)
        .sort((x, y) => x - y),
    ).toEqual([...ids].sort((x, y) => x - y));
  });

  it('holds a window of ids across the wrap from 2^32 - 1 to 1', () => {
    const table = new PendingTable<Entry>();
    const ids = [0xfffffffe, 0xffffffff, 1, 2, 3];
    for (const id of ids) table.add(entry(id));
    for (const id of ids) expect(table.get(id)?.id).toBe(id);
  });

  it('refuses an id that is already waiting, and keeps the first', () => {
    const table = new PendingTable<Entry>();
    const first = entry(9);
    table.add(first);
    expect(() => table.add(entry(9))).toThrow(/id 9 is already waiting/);
    expect(table.get(9)).toBe(first);
    expect(table.size).toBe(1);
  });

  it('works on after it empties from a grown size', () => {
    const table = new PendingTable<Entry>();
    for (let id = 1; id <= 1000; id += 1) table.add(entry(id));
    for (let id = 1; id <= 1000; id += 1) expect(table.delete(id)).toBe(true);
    expect(table.size).toBe(0);
    expect(table.values()).toEqual([]);
    table.add(entry(1001));
    table.add(entry(1001 + PENDING_TABLE_INITIAL_SLOTS));
    expect(table.get(1001)?.id).toBe(1001);
    expect(table.get(1001 + PENDING_TABLE_INITIAL_SLOTS)?.id).toBe(1001 + PENDING_TABLE_INITIAL_SLOTS);
  });

  it('leaves the entries it deleted to the next scavenge, as answers come and go in batches', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
    const oldSpaceUsed = (): number => getHeapSpaceStatistics().find((space) => space.space_name === 'old_space')?.space_used_size ?? 0;
    const table = new PendingTable<Entry>();
    let nextId = 0;
    // A turn's 50 requests, each holding about 500 bytes (a request, its promise and its answer).
    const sendBatch = (): number[] => {
      const ids: number[] = [];
      for (let i = 0; i < 50; i += 1) {
        nextId += 1;
        table.add({ id: nextId, payload: new Array<number>(64).fill(nextId) });
        ids.push(nextId);
      }
      return ids;
    };
    let waiting = sendBatch();
    // The table has been there a while, as a connection's has: it is in the old generation.
    gc();
    gc();
    const before = oldSpaceUsed();
    const rounds = 40;
    for (let round = 0; round < rounds; round += 1) {
      for (const id of waiting) table.delete(id);
      waiting = sendBatch();
    }
    // An object that survives two scavenges is promoted to the old space.
    gc({ type: 'minor' });
    gc({ type: 'minor' });
    const promoted = oldSpaceUsed() - before;
    const deletedBytes = rounds * 50 * 64 * 8;
    // The 50 still waiting (about 30 KB) may be promoted; a Map in its place promoted 1.5 MB here.
    expect(promoted).toBeLessThan(deletedBytes / 4);
  });
});
