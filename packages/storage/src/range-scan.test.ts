// Goal: with every engine, a range scan returns every record (tombstones included) whose key hash
// is in the ranges, exactly once, in bounded batches, and a cursor taken on one replica resumes on
// another, whichever engine each replica runs; remove forgets a key and its counts.
// Method: a few thousand keys, scans in batches of varied sizes compared with a brute-force
// filter, table cases for the bounds, and the same scans alternating between the two engines.
import { type HashRange, type VersionedValue } from '@dkv/core';
import { hashKey, rangesContain } from '@dkv/hashing';
import { SeededRng, seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { ENGINES, type EngineFactory, type EngineUnderTest } from './engines.test-support.js';
import { StorageService } from './storage-service.js';

const clock = { now: () => 1000 };
const record = (value: string, version = 1, tombstone = false): VersionedValue => ({
  // Plain Uint8Arrays, as the engines return them, so records of the two engines compare equal.
  value: new TextEncoder().encode(tombstone ? '' : value),
  version,
  writerId: 'c',
  createdAt: 1,
  updatedAt: 1,
  expiresAt: null,
  tombstone,
});

function filledBy(createEngine: EngineFactory, count: number): EngineUnderTest {
  const engine = createEngine({ clock, tombstoneGraceMs: 60_000 });
  for (let i = 0; i < count; i += 1) engine.apply(`key-${i}`, record(`v${i}`, 1, i % 10 === 0));
  return engine;
}

function scanAll(engines: EngineUnderTest[], ranges: HashRange[], limit: number, maxBytes = 1 << 20): string[] {
  const keys: string[] = [];
  let cursor = null;
  for (let round = 0; round < 100_000; round += 1) {
    const engine = engines[round % engines.length] ?? engines[0]!;
    const batch = engine.scan(ranges, cursor, limit, maxBytes);
    expect(batch.records.length).toBeLessThanOrEqual(limit);
    keys.push(...batch.records.map((r) => r.key));
    cursor = batch.cursor;
    if (cursor === null) return keys;
  }
  throw new Error('scan did not end');
}

describe.each(ENGINES)('%s', (_name, createEngine) => {
  const filled = (count: number) => filledBy(createEngine, count);

  describe('scan', () => {
    const ranges: HashRange[] = [
      [0, 2 ** 30],
      [3 * 2 ** 30, 2 ** 32 - 1],
    ];

    it.each([1, 7, 100, 5000])('returns each key of the ranges once, in batches of %i', (limit) => {
      const engine = filled(3000);
      const expected = Array.from({ length: 3000 }, (_, i) => `key-${i}`).filter((k) => rangesContain(ranges, hashKey(k)));
      const got = scanAll([engine], ranges, limit);
      expect(new Set(got).size).toBe(got.length);
      expect(got.sort()).toEqual(expected.sort());
    });

    it('matches a brute-force filter for many small random ranges', () => {
      const rng = new SeededRng(seedForTest());
      const engine = filled(3000);
      for (let round = 0; round < 5; round += 1) {
        const many: HashRange[] = Array.from({ length: 1 + rng.int(2000) }, () => {
          const start = rng.int(2 ** 32);
          return [start, Math.min(2 ** 32 - 1, start + rng.int(2 ** 24))];
        });
        const expected = Array.from({ length: 3000 }, (_, i) => `key-${i}`).filter((k) => rangesContain(many, hashKey(k)));
        expect(scanAll([engine], many, 1 + rng.int(50)).sort()).toEqual(expected.sort());
      }
    });

    it('resumes on another replica from the cursor', () => {
      const got = scanAll([filled(2000), filled(2000), filled(2000)], ranges, 13);
      expect(new Set(got).size).toBe(got.length);
      expect(got.length).toBe(Array.from({ length: 2000 }, (_, i) => `key-${i}`).filter((k) => rangesContain(ranges, hashKey(k))).length);
    });

    it('includes tombstones and stops at maxBytes after at least one record', () => {
      const engine = filled(100);
      const all = engine.scan([[0, 2 ** 32 - 1]], null, 1000, 1 << 20).records;
      expect(all.some((r) => r.record.tombstone)).toBe(true);
      expect(engine.scan([[0, 2 ** 32 - 1]], null, 1000, 1).records.length).toBe(1);
      expect(engine.scan([], null, 1000, 1 << 20)).toEqual({ records: [], cursor: null });
    });

    it('removes keys with their counts and from later scans', () => {
      const engine = filled(50);
      const before = engine.stats();
      expect(engine.remove('key-1')).toBe(true);
      expect(engine.remove('key-1')).toBe(false);
      expect(engine.get('key-1')).toBeNull();
      expect(engine.stats().keys).toBe(before.keys - 1);
      expect(scanAll([engine], [[0, 2 ** 32 - 1]], 10)).not.toContain('key-1');
    });
  });

  describe('StorageService SCAN and GOSSIP', () => {
    it('caps a scan at its own bounds and refuses gossip it cannot answer', () => {
      const service = new StorageService({ nodeId: 'a', engine: filled(100), scanMaxRecords: 5 });
      const answer = service.handle({ type: 'SCAN', ranges: [[0, 2 ** 32 - 1]], cursor: null, limit: 1000, maxBytes: 1 << 20 });
      expect(answer.type === 'SCAN' && answer.records.length).toBe(5);
      expect(() => service.handle({ type: 'GOSSIP', state: { entries: [], heartbeats: [] } })).toThrow(/does not gossip/);
    });
  });
});

describe('scans across engines', () => {
  const [inMemory, compact] = ENGINES.map(([, createEngine]) => createEngine);

  it('returns the same batches from both engines, and a cursor of one resumes on the other', () => {
    const ranges: HashRange[] = [
      [0, 2 ** 31],
      [3 * 2 ** 30, 2 ** 32 - 1],
    ];
    const a = filledBy(inMemory!, 2000);
    const b = filledBy(compact!, 2000);
    for (const limit of [1, 13, 500]) {
      let cursor = null;
      do {
        const fromA = a.scan(ranges, cursor, limit, 1 << 20);
        const fromB = b.scan(ranges, cursor, limit, 1 << 20);
        expect(fromB).toEqual(fromA);
        cursor = fromA.cursor;
      } while (cursor !== null);
    }
    const mixed = scanAll([a, b], ranges, 7);
    expect(mixed).toEqual(scanAll([a], ranges, 7));
  });
});
