// Goal: interned writer ids keep their hash, are shared by every record of one writer, and are
// forgotten (their index reused) once no record refers to them, so the table stays bounded by
// the records held. Method: a scripted sequence of acquires and releases.
import { describe, expect, it } from 'vitest';
import { writerIdHash } from './record-digest.js';
import { WriterTable } from './writer-table.js';

describe('WriterTable', () => {
  it('shares one index per writer and reuses it after the last release', () => {
    const writers = new WriterTable();
    const a = writers.acquire('coordinator-a');
    expect(writers.acquire('coordinator-a')).toBe(a);
    const b = writers.acquire('coordinator-b');
    expect(b).not.toBe(a);
    expect([writers.id(a), writers.hash(a)]).toEqual(['coordinator-a', writerIdHash('coordinator-a')]);
    writers.release(a);
    expect(writers.size).toBe(2);
    writers.release(a);
    expect(writers.size).toBe(1);
    const c = writers.acquire('coordinator-c');
    expect(c).toBe(a);
    expect(writers.id(c)).toBe('coordinator-c');
    expect(writers.acquire('coordinator-a')).not.toBe(c);
  });
});
