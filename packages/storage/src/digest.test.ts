// Goal: a range digest summarises exactly what a replica holds in each part of its ranges: equal
// for replicas that hold the same writes (whatever the order they arrived in, and whether an
// expired value has been folded into its tombstone yet), different in exactly the parts where a
// write is missing or older, with counts that match a brute-force count; bad requests are refused.
// Every engine is held to this, and the two engines must agree hash for hash (replicas running
// different engines compare digests during anti-entropy).
// Method: seeded key sets applied in shuffled orders to two engines, compared part by part.
import { DkvError, type HashRange, type VersionedValue } from '@dkv/core';
import { FULL_RANGE, hashKey } from '@dkv/hashing';
import { SeededRng, seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { ENGINES, type EngineFactory, type EngineUnderTest } from './engines.test-support.js';
import { StorageService } from './storage-service.js';

const record = (version: number, overrides: Partial<VersionedValue> = {}): VersionedValue => ({
  value: Buffer.from(`v${version}`),
  version,
  writerId: 'c1',
  createdAt: 1,
  updatedAt: 1,
  expiresAt: null,
  tombstone: false,
  ...overrides,
});

function engineOf(createEngine: EngineFactory, now: { t: number }): EngineUnderTest {
  return createEngine({ clock: { now: () => now.t }, tombstoneGraceMs: 60_000 });
}

/** Which part of `ranges` x `segments` a hash falls in, by the documented rule; -1 when in none. */
function partOf(ranges: readonly HashRange[], segments: number, hash: number): number {
  for (let i = 0; i < ranges.length; i += 1) {
    const [start, end] = ranges[i]!;
    if (hash < start || hash > end) continue;
    const size = end - start + 1;
    for (let j = 0; j < segments; j += 1) {
      const low = start + Math.floor((j * size) / segments);
      const high = start + Math.floor(((j + 1) * size) / segments) - 1;
      if (hash >= low && hash <= high) return i * segments + j;
    }
  }
  return -1;
}

describe.each(ENGINES)('%s', (_name, createEngine) => {
  const engineAt = (now: { t: number }) => engineOf(createEngine, now);

  describe('digest', () => {
    const seed = seedForTest();
    const rng = new SeededRng(seed);
    const keys = Array.from({ length: 3000 }, (_, i) => `session:${i}:${rng.int(1_000_000)}`);
    const ranges: HashRange[] = [
      [0, 700_000_000],
      [700_000_001, 1_500_000_000],
      [2_000_000_000, 2_000_500_000],
      [3_000_000_000, 4_294_967_295],
    ];

    it(`is the same for the same writes in any order, with brute-force counts (seed ${seed})`, () => {
      const now = { t: 1000 };
      const a = engineAt(now);
      const b = engineAt(now);
      keys.forEach((key, i) =>
        a.apply(key, record(i + 1, { tombstone: i % 7 === 0, value: i % 7 === 0 ? Buffer.alloc(0) : Buffer.from('x') })),
      );
      const shuffled = keys.map((key, i) => [key, i] as const).sort(() => rng.next() - 0.5);
      for (const [key, i] of shuffled) {
        // b also saw older versions first: only the winner counts.
        b.apply(key, record(i, { writerId: 'c0' }));
        b.apply(key, record(i + 1, { tombstone: i % 7 === 0, value: i % 7 === 0 ? Buffer.alloc(0) : Buffer.from('x') }));
      }
      const segments = 16;
      const digestA = a.digest(ranges, segments);
      expect(digestA).toEqual(b.digest(ranges, segments));
      const expected = new Array<number>(ranges.length * segments).fill(0);
      for (const key of keys) {
        const part = partOf(ranges, segments, hashKey(key));
        if (part >= 0) expected[part]! += 1;
      }
      expect(digestA.map((d) => d.count)).toEqual(expected);
      expect(new Set(digestA.filter((d) => d.count > 0).map((d) => d.hash)).size).toBe(digestA.filter((d) => d.count > 0).length);
    });

    it('differs in exactly the part of a key that is missing, older or written by another writer', () => {
      const now = { t: 1000 };
      const base = engineAt(now);
      keys.forEach((key, i) => base.apply(key, record(10 + i)));
      const digest = base.digest([FULL_RANGE], 64);
      const variants: Array<[string, (engine: EngineUnderTest, key: string) => void]> = [
        ['missing', () => undefined],
        ['older', (engine, key) => engine.apply(key, record(5))],
        ['same version, other writer', (engine, key) => engine.apply(key, record(10 + keys.indexOf(key), { writerId: 'c2' }))],
      ];
      for (const [name, write] of variants) {
        const other = engineAt(now);
        const changed = keys[17]!;
        keys.forEach((key, i) => (key === changed ? write(other, key) : other.apply(key, record(10 + i))));
        const differing = other
          .digest([FULL_RANGE], 64)
          .map((d, part) => (d.hash === digest[part]!.hash && d.count === digest[part]!.count ? -1 : part))
          .filter((part) => part >= 0);
        expect(differing, name).toEqual([partOf([FULL_RANGE], 64, hashKey(changed))]);
      }
    });

    it('counts a value that expired the same before and after it is folded into its tombstone', () => {
      const now = { t: 1000 };
      const folded = engineAt(now);
      const unfolded = engineAt(now);
      for (const engine of [folded, unfolded]) engine.apply('k', record(3, { expiresAt: 2000 }));
      now.t = 5000;
      folded.sweep(100);
      expect(folded.get('k')?.tombstone).toBe(true);
      expect(folded.digest([FULL_RANGE], 1)).toEqual(unfolded.digest([FULL_RANGE], 1));
    });

    it('is empty-handed for empty ranges and answers one digest per part', () => {
      const engine = engineAt({ t: 0 });
      expect(engine.digest([], 8)).toEqual([]);
      expect(engine.digest([[5, 5]], 3)).toEqual([
        { hash: 0, count: 0 },
        { hash: 0, count: 0 },
        { hash: 0, count: 0 },
      ]);
    });

    it.each<[string, HashRange[], number, RegExp]>([
      [
        'unsorted ranges',
        [
          [10, 20],
          [0, 5],
        ],
        1,
        /sorted and disjoint/,
      ],
      [
        'overlapping ranges',
        [
          [0, 10],
          [10, 20],
        ],
        1,
        /sorted and disjoint/,
      ],
      ['0 segments', [[0, 10]], 0, /segments must be a whole number from 1 to 4096/],
      ['a fraction of a segment', [[0, 10]], 1.5, /segments/],
    ])('refuses %s with INVALID_REQUEST', (_name, bad, segments, message) => {
      const engine = engineAt({ t: 0 });
      expect(() => engine.digest(bad, segments)).toThrow(DkvError);
      expect(() => engine.digest(bad, segments)).toThrow(message);
    });

    it('is served by StorageService as DIGEST, and refused while the node cannot be streamed from', () => {
      const engine = engineAt({ t: 0 });
      engine.apply('k', record(1));
      let complete = false;
      const service = new StorageService({ nodeId: 'n1', engine, canScan: () => complete });
      expect(() => service.handle({ type: 'DIGEST', ranges: [FULL_RANGE], segments: 1 })).toThrow(/catching up/);
      complete = true;
      expect(service.handle({ type: 'DIGEST', ranges: [FULL_RANGE], segments: 1 })).toEqual({
        type: 'DIGEST',
        digests: engine.digest([FULL_RANGE], 1),
      });
    });
  });
});

describe('digests across engines', () => {
  it('are equal, hash for hash, for the same records, whichever order and engine', () => {
    const seed = seedForTest();
    const rng = new SeededRng(seed);
    const now = { t: 1000 };
    const engines = ENGINES.map(([, createEngine]) => engineOf(createEngine, now));
    const writes = Array.from({ length: 4000 }, (_, i) => {
      const tombstone = rng.int(5) === 0;
      const value = tombstone ? Buffer.alloc(0) : Buffer.alloc(rng.int(3000), i);
      return [
        `k:${rng.int(2500)}:é`,
        record(245_344_933_228_544 + rng.int(1_000_000), {
          writerId: `c${rng.int(4)}`,
          tombstone,
          value,
          expiresAt: rng.int(4) === 0 ? 1000 + rng.int(3000) : null,
        }),
      ] as const;
    });
    for (const engine of engines) {
      for (const [key, r] of [...writes].sort(() => rng.next() - 0.5)) engine.apply(key, r);
    }
    now.t = 2500;
    engines[0]!.sweep(1000);
    const ranges: HashRange[] = [
      [0, 1e9],
      [1e9 + 1, 3e9],
      [3.5e9, 2 ** 32 - 1],
    ];
    for (const segments of [1, 7, 256]) {
      const expected = engines[0]!.digest(ranges, segments);
      for (const engine of engines) expect(engine.digest(ranges, segments)).toEqual(expected);
    }
  });
});
