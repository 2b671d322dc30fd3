// Goal: the compact engine does exactly what the in-memory engine does (the shared suites in
// in-memory-storage-engine.test.ts, range-scan.test.ts and digest.test.ts hold both to the port's
// rules), and what is particular to its layout holds: it copies bytes in and hands bytes of their
// own out, so a value handed out is never changed by later writes that reuse its slab block;
// values of every size (0 bytes, the largest slab class, above it) round-trip; 2,048-byte values
// take 2,048 bytes of slab and freed blocks are reused; memory a size class no longer uses (the
// values grew into another class, or expired) is given back by compaction in bounded steps of
// writes, removes and sweeps, never of reads, with every record intact.
// Method: scripted cases for the layout and for compaction (a size shift, a burst of expiries,
// the per-call bounds, a lent value across reads), and seeded differential tests: thousands of
// random operations (writes of many sizes, drifting in one of them, deletes, TTLs, clock steps,
// bounded sweeps, removes, scans, digests) applied to both engines side by side, every answer and
// every count compared.
import { DEFAULT_MAX_VALUE_BYTES, type HashRange, type ScanCursor, type VersionedValue } from '@dkv/core';
import { FULL_RANGE } from '@dkv/hashing';
import { SeededRng, seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { CompactStorageEngine, SWEEP_COMPACTION_MAX_BYTES, type CompactStorageEngineOptions } from './compact-storage-engine.js';
import { InMemoryStorageEngine } from './in-memory-storage-engine.js';

const GRACE_MS = 1000;

function setup(options: Partial<CompactStorageEngineOptions> = {}) {
  const clock = {
    nowMs: 0,
    now(): number {
      return this.nowMs;
    },
  };
  const engine = new CompactStorageEngine({ clock, tombstoneGraceMs: GRACE_MS, ...options });
  return { clock, engine };
}

function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 1) out[i] = (seed * 131 + i * 7) & 0xff;
  return out;
}

function rec(version: number, value: Uint8Array, extra: Partial<VersionedValue> = {}): VersionedValue {
  return { value, version, writerId: 'c1', createdAt: 0, updatedAt: 0, expiresAt: null, tombstone: false, ...extra };
}

/** A record with its value as hex, so large values compare quickly and print readably. */
function plain(record: VersionedValue | null): unknown {
  return record === null ? null : { ...record, value: Buffer.from(record.value).toString('hex') };
}

describe('CompactStorageEngine layout', () => {
  it('lends the slab bytes on peek (the same record as get, no copy), valid until the key is written again', () => {
    const { clock, engine } = setup();
    engine.apply('k', rec(1, bytes(2048, 1), { expiresAt: 100 }));
    const lent = engine.peek('k')!;
    expect(plain(lent)).toEqual(plain(engine.get('k')));
    expect(lent.value.buffer).not.toBe(engine.get('k')!.value.buffer);
    engine.remove('k');
    engine.apply('other', rec(1, bytes(2048, 2)));
    expect(Buffer.from(lent.value).equals(Buffer.from(bytes(2048, 2)))).toBe(true);
    expect(engine.peek('absent')).toBeNull();
    engine.apply('t', rec(3, bytes(10, 3), { expiresAt: 50 }));
    clock.nowMs = 60;
    expect(engine.peek('t')).toMatchObject({ version: 3, tombstone: true });
  });

  it('copies the caller’s bytes in and hands out bytes of their own', () => {
    const { engine } = setup();
    const value = bytes(100, 1);
    engine.apply('k', rec(1, value));
    value.fill(0);
    const read = engine.get('k')?.value;
    expect(read).toEqual(bytes(100, 1));
    read?.fill(0);
    expect(engine.get('k')?.value).toEqual(bytes(100, 1));
  });

  it('never changes a value it handed out when the key is overwritten, expires or is removed and its block is reused', () => {
    const { engine, clock } = setup({ slabBytes: 4096 });
    engine.apply('a', rec(1, bytes(2048, 1), { expiresAt: 50 }));
    engine.apply('b', rec(1, bytes(2048, 2)));
    const fromGet = engine.get('a')?.value;
    const fromScan = engine.scan([FULL_RANGE], null, 10, 1 << 20).records.map((r) => r.record.value);
    engine.apply('a', rec(2, bytes(2048, 3)));
    engine.apply('c', rec(1, bytes(2048, 4)));
    engine.remove('b');
    engine.apply('d', rec(1, bytes(2048, 5)));
    clock.nowMs = 100;
    engine.sweep(10);
    engine.apply('e', rec(1, bytes(2048, 6)));
    expect(fromGet).toEqual(bytes(2048, 1));
    expect(fromScan.map((v) => Buffer.from(v).toString('hex')).sort()).toEqual(
      [bytes(2048, 1), bytes(2048, 2)].map((v) => Buffer.from(v).toString('hex')).sort(),
    );
    expect(engine.get('c')?.value).toEqual(bytes(2048, 4));
    expect(engine.get('d')?.value).toEqual(bytes(2048, 5));
  });

  const maxSlabValueBytes = 4096;
  it.each([0, 1, 15, 16, 17, 127, 128, 129, 2047, 2048, 2049, maxSlabValueBytes, maxSlabValueBytes + 1, DEFAULT_MAX_VALUE_BYTES])(
    'round-trips a value of %i bytes through apply, get, head and scan',
    (size) => {
      const { engine } = setup({ slabBytes: 8192, maxSlabValueBytes });
      engine.apply('neighbour-1', rec(1, bytes(size, 7)));
      engine.apply('k', rec(3, bytes(size, 8), { createdAt: 5, updatedAt: 6, expiresAt: 10_000 }));
      engine.apply('neighbour-2', rec(1, bytes(size, 9)));
      expect(plain(engine.get('k'))).toEqual(plain(rec(3, bytes(size, 8), { createdAt: 5, updatedAt: 6, expiresAt: 10_000 })));
      expect(engine.head('k')).toEqual({ version: 3, writerId: 'c1', createdAt: 5, expiresAt: 10_000, tombstone: false });
      const scanned = engine.scan([FULL_RANGE], null, 10, Number.MAX_SAFE_INTEGER).records;
      expect(scanned.map((r) => [r.key, r.record.value.byteLength]).sort()).toEqual([
        ['k', size],
        ['neighbour-1', size],
        ['neighbour-2', size],
      ]);
      expect(Buffer.compare(engine.get('neighbour-1')?.value ?? new Uint8Array(1), bytes(size, 7))).toBe(0);
      expect(engine.stats()).toMatchObject({ keys: 3, bytes: 3 * size + 1 + 11 + 11 });
    },
  );

  it('keeps 2,048-byte values in exactly 2,048 bytes of slab and reuses the blocks of overwritten and removed keys', () => {
    const { engine } = setup();
    for (let i = 0; i < 1024; i += 1) engine.apply(`session:${i}`, rec(1, bytes(2048, i)));
    expect(engine.stats().valueStoreBytes).toBe(2 * 1024 * 1024);
    for (let i = 0; i < 1024; i += 1) engine.apply(`session:${i}`, rec(2, bytes(2048, i + 1)));
    for (let i = 0; i < 512; i += 1) engine.remove(`session:${i}`);
    for (let i = 0; i < 512; i += 1) engine.apply(`other:${i}`, rec(1, bytes(2000, i)));
    expect(engine.stats().valueStoreBytes).toBe(2 * 1024 * 1024);
    expect(engine.get('session:700')?.value).toEqual(bytes(2048, 701));
    expect(engine.get('other:3')?.value).toEqual(bytes(2000, 3));
  });
});

describe('CompactStorageEngine against InMemoryStorageEngine', () => {
  it('gives the same answer to every operation of a long random run, and keeps the same counts', () => {
    const seed = seedForTest();
    const rng = new SeededRng(seed);
    const clock = {
      nowMs: 1_000,
      now(): number {
        return this.nowMs;
      },
    };
    const graceMs = 200;
    const reference = new InMemoryStorageEngine({ clock, tombstoneGraceMs: graceMs, ttlIndexSlackFactor: 1 });
    const compact = new CompactStorageEngine({
      clock,
      tombstoneGraceMs: graceMs,
      ttlIndexSlackFactor: 1,
      slabBytes: 8192,
      maxSlabValueBytes: 2048,
    });
    const keys = Array.from({ length: 300 }, (_, i) => (i % 17 === 0 ? `ключ-${i}` : `session:${i}`));
    const randomSize = (): number => [0, 1 + rng.int(40), 2048, 1 + rng.int(2100), 2049 + rng.int(3000)][rng.int(5)] ?? 0;
    const randomRanges = (): HashRange[] => {
      const points = Array.from({ length: 2 * (1 + rng.int(4)) }, () => rng.int(2 ** 32)).sort((a, b) => a - b);
      const ranges: HashRange[] = [];
      for (let i = 0; i + 1 < points.length; i += 2)
        if ((points[i] ?? 0) < (points[i + 1] ?? 0) && (ranges.at(-1)?.[1] ?? -1) < (points[i] ?? 0))
          ranges.push([points[i] ?? 0, points[i + 1] ?? 0]);
      return ranges;
    };
    const cursors: Array<ScanCursor | null> = [null];
    for (let step = 0; step < 6000; step += 1) {
      const key = keys[rng.int(keys.length)] ?? 'k';
      const op = rng.int(100);
      const where = `step ${step}, op ${op} (seed ${seed})`;
      if (op < 45) {
        const tombstone = rng.int(5) === 0;
        const record: VersionedValue = {
          value: tombstone ? new Uint8Array(0) : bytes(randomSize(), step),
          version: 1 + rng.int(40),
          writerId: `c${rng.int(3)}`,
          createdAt: clock.nowMs - rng.int(100),
          updatedAt: clock.nowMs,
          expiresAt: tombstone || rng.int(3) === 0 ? null : clock.nowMs + rng.int(300) - 20,
          tombstone,
        };
        expect(compact.apply(key, record), where).toEqual(reference.apply(key, record));
      } else if (op < 60) {
        expect(plain(compact.get(key)), where).toEqual(plain(reference.get(key)));
      } else if (op < 65) {
        expect(compact.head(key), where).toEqual(reference.head(key));
      } else if (op < 77) {
        clock.nowMs += rng.int(60);
      } else if (op < 85) {
        const maxWork = rng.int(25);
        expect(compact.sweep(maxWork), where).toBe(reference.sweep(maxWork));
      } else if (op < 90) {
        expect(compact.remove(key), where).toBe(reference.remove(key));
      } else if (op < 96) {
        const ranges = rng.int(3) === 0 ? [FULL_RANGE] : randomRanges();
        const cursor = cursors[rng.int(cursors.length)] ?? null;
        const limit = 1 + rng.int(20);
        const maxBytes = 1 + rng.int(20_000);
        const expected = reference.scan(ranges, cursor, limit, maxBytes);
        const got = compact.scan(ranges, cursor, limit, maxBytes);
        expect(got.cursor, where).toEqual(expected.cursor);
        expect(
          got.records.map((r) => [r.key, plain(r.record)]),
          where,
        ).toEqual(expected.records.map((r) => [r.key, plain(r.record)]));
        if (expected.cursor !== null) cursors.push(expected.cursor);
      } else {
        const ranges = randomRanges();
        const segments = 1 + rng.int(16);
        expect(compact.digest(ranges, segments), where).toEqual(reference.digest(ranges, segments));
      }
      expect(compact.stats(), where).toMatchObject(reference.stats());
    }
    for (const key of keys) expect(plain(compact.get(key)), `${key} at the end (seed ${seed})`).toEqual(plain(reference.get(key)));
    expect(compact.digest([FULL_RANGE], 64)).toEqual(reference.digest([FULL_RANGE], 64));
  });
});

describe('CompactStorageEngine compaction', () => {
  const SLAB_BYTES = 65_536;

  it('gives back the slabs of a size no longer written, and every key keeps its latest value, TTL and version', () => {
    const { engine } = setup({ slabBytes: SLAB_BYTES });
    const keys = 2000;
    for (let i = 0; i < keys; i += 1) engine.apply(`session:${i}`, rec(1, bytes(1000, i), { createdAt: 5, expiresAt: 1e9 }));
    for (let i = 0; i < 100; i += 1) engine.apply(`gone:${i}`, rec(5, new Uint8Array(0), { tombstone: true, updatedAt: 7 }));
    // 1,000-byte values take 1,024-byte blocks, 64 to a slab: 32 slabs.
    expect(engine.stats()).toMatchObject({ valueStoreBytes: 32 * SLAB_BYTES, slabsReleased: 0 });
    for (let i = 0; i < keys; i += 1)
      engine.apply(`session:${i}`, rec(2, bytes(3000, i + keys), { createdAt: 9, updatedAt: 9, expiresAt: 2e9 }));
    // Only the 3,072-byte class is left: 21 blocks to a slab, 96 slabs for 2,000 values.
    const stats = engine.stats();
    expect(stats).toMatchObject({ keys, tombstones: 100, valueStoreBytes: 96 * 21 * 3072, slabsReleased: 32 });
    expect(stats.blocksMoved).toBeGreaterThan(0);
    for (let i = 0; i < keys; i += 1) {
      expect(plain(engine.get(`session:${i}`)), `session:${i}`).toEqual(
        plain(rec(2, bytes(3000, i + keys), { createdAt: 5, updatedAt: 9, expiresAt: 2e9 })),
      );
    }
    for (let i = 0; i < 100; i += 1)
      expect(engine.head(`gone:${i}`)).toEqual({ version: 5, writerId: 'c1', createdAt: 0, expiresAt: null, tombstone: true });
  });

  it('gives back what a burst of expiries freed through sweep alone, at most maxWork moves and items a sweep', () => {
    const { engine, clock } = setup({ slabBytes: SLAB_BYTES, compactionMaxMoves: 0 });
    const keys = 2000;
    const kept = (i: number): boolean => i % 10 === 3;
    for (let i = 0; i < keys; i += 1) engine.apply(`session:${i}`, rec(1 + (i % 7), bytes(2048, i), { expiresAt: kept(i) ? 50_000 : 500 }));
    const peakBytes = engine.stats().valueStoreBytes;
    expect(peakBytes).toBe(63 * SLAB_BYTES);
    clock.nowMs = 600;
    const maxWork = 100;
    for (let sweeps = 0; sweeps < 200; sweeps += 1) {
      const movedBefore = engine.stats().blocksMoved;
      const items = engine.sweep(maxWork);
      expect(engine.stats().blocksMoved - movedBefore, `sweep ${sweeps}`).toBeLessThanOrEqual(maxWork - items);
    }
    const stats = engine.stats();
    const liveBlockBytes = (keys / 10) * 2048;
    expect(stats).toMatchObject({ keys: keys / 10, tombstones: keys - keys / 10 });
    expect(stats.blocksMoved).toBeGreaterThan(0);
    expect(stats.valueStoreBytes).toBeLessThanOrEqual((4 / 3) * liveBlockBytes + 2 * SLAB_BYTES);
    for (let i = 0; i < keys; i += 1) {
      const expected = kept(i)
        ? rec(1 + (i % 7), bytes(2048, i), { expiresAt: 50_000 })
        : rec(1 + (i % 7), new Uint8Array(0), { tombstone: true, updatedAt: 500 });
      expect(plain(engine.get(`session:${i}`)), `session:${i}`).toEqual(plain(expected));
    }
  });

  it('copies at most SWEEP_COMPACTION_MAX_BYTES (plus the one value that crosses it) in one sweep, whatever maxWork allows', () => {
    const { engine, clock } = setup({ compactionMaxMoves: 0 });
    const keys = 400;
    const kept = (i: number): boolean => i % 4 === 1;
    const size = 60_000;
    for (let i = 0; i < keys; i += 1) engine.apply(`big:${i}`, rec(1, bytes(size, i), { expiresAt: kept(i) ? 50_000 : 500 }));
    clock.nowMs = 600;
    let largestStep = 0;
    for (let sweeps = 0; sweeps < 100; sweeps += 1) {
      const movedBefore = engine.stats().blocksMoved;
      engine.sweep(100_000);
      largestStep = Math.max(largestStep, engine.stats().blocksMoved - movedBefore);
    }
    expect(engine.stats().blocksMoved).toBeGreaterThan(0);
    // A 60,000-byte value sits in a block of at most 64 KiB: 17 such copies pass 1 MiB.
    expect(largestStep).toBeGreaterThan(0);
    expect(largestStep).toBeLessThanOrEqual(Math.ceil(SWEEP_COMPACTION_MAX_BYTES / size) + 1);
    for (let i = 0; i < keys; i += 1)
      if (kept(i)) expect(plain(engine.get(`big:${i}`)), `big:${i}`).toEqual(plain(rec(1, bytes(size, i), { expiresAt: 50_000 })));
  });

  it('moves at most compactionMaxMoves values in one apply or remove', () => {
    const { engine } = setup({ slabBytes: 8192, compactionMaxMoves: 2 });
    for (let i = 0; i < 400; i += 1) engine.apply(`k:${i}`, rec(1, bytes(256, i)));
    let moved = engine.stats().blocksMoved;
    const check = (where: string): void => {
      const now = engine.stats().blocksMoved;
      expect(now - moved, where).toBeLessThanOrEqual(2);
      moved = now;
    };
    for (let i = 0; i < 400; i += 1) {
      if (i % 4 === 0) continue;
      if (i % 2 === 0) engine.remove(`k:${i}`);
      else engine.apply(`k:${i}`, rec(2, bytes(600, i)));
      check(`k:${i}`);
    }
    for (let i = 0; i < 400; i += 4) {
      engine.apply(`k:${i}`, rec(3, bytes(250, i + 1)));
      check(`k:${i} again`);
    }
    expect(engine.stats().slabsReleased).toBeGreaterThan(0);
    expect(engine.get('k:8')?.value).toEqual(bytes(250, 9));
    expect(engine.get('k:9')?.value).toEqual(bytes(600, 9));
    expect(engine.get('k:10')).toBeNull();
  });

  it('never moves a value in a read, so a value lent by peek is intact until the next write', () => {
    const { engine, clock } = setup({ slabBytes: SLAB_BYTES });
    for (let i = 0; i < 640; i += 1) engine.apply(`k:${i}`, rec(1, bytes(2048, i), { expiresAt: i % 10 === 0 ? null : 100 }));
    clock.nowMs = 200;
    const lent = engine.peek('k:630')!.value;
    // Reads fold the expired values and free their blocks: the class is worth compacting now.
    for (let i = 0; i < 640; i += 1) engine.get(`k:${i}`);
    engine.head('k:0');
    engine.scan([FULL_RANGE], null, 1000, 1 << 30);
    engine.digest([FULL_RANGE], 4);
    expect(engine.stats()).toMatchObject({ blocksMoved: 0, slabsReleased: 0, valueStoreBytes: 20 * SLAB_BYTES, tombstones: 576 });
    expect(Buffer.from(lent).equals(Buffer.from(bytes(2048, 630)))).toBe(true);
    engine.remove('k:0');
    expect(engine.stats().blocksMoved).toBeGreaterThan(0);
    expect(engine.get('k:630')?.value).toEqual(bytes(2048, 630));
  });

  it.each([-1, 1.5, 65_537, Number.NaN])('refuses compactionMaxMoves %d', (compactionMaxMoves) => {
    expect(() => setup({ compactionMaxMoves })).toThrow(/compactionMaxMoves/);
  });

  it('agrees with the in-memory engine over a long random run whose value sizes drift, while it gives slabs back', () => {
    const seed = seedForTest();
    const rng = new SeededRng(seed);
    const clock = {
      nowMs: 1_000,
      now(): number {
        return this.nowMs;
      },
    };
    const graceMs = 300;
    const reference = new InMemoryStorageEngine({ clock, tombstoneGraceMs: graceMs });
    const compactionMaxMoves = 1 + rng.int(4);
    const compact = new CompactStorageEngine({
      clock,
      tombstoneGraceMs: graceMs,
      slabBytes: 4096,
      maxSlabValueBytes: 2048,
      compactionMaxMoves,
    });
    const keys = Array.from({ length: 400 }, (_, i) => `session:${i}`);
    // Each phase writes around another size, so classes fill and then empty out.
    const phases = [100, 1000, 300, 2000, 40];
    for (let step = 0; step < 10_000; step += 1) {
      const key = keys[rng.int(keys.length)] ?? 'k';
      const op = rng.int(100);
      const where = `step ${step}, op ${op}, compactionMaxMoves ${compactionMaxMoves} (seed ${seed})`;
      const centre = phases[Math.floor(step / 2000)] ?? 40;
      const movedBefore = compact.stats().blocksMoved;
      if (op < 50) {
        const tombstone = rng.int(10) === 0;
        const size = rng.int(15) === 0 ? rng.int(2100) : Math.round(centre * (0.9 + rng.int(21) / 100));
        const record: VersionedValue = {
          value: tombstone ? new Uint8Array(0) : bytes(size, step),
          version: 1 + Math.floor(step / 10) + rng.int(3),
          writerId: `c${rng.int(3)}`,
          createdAt: clock.nowMs - rng.int(100),
          updatedAt: clock.nowMs,
          expiresAt: tombstone || rng.int(2) === 0 ? null : clock.nowMs + rng.int(400),
          tombstone,
        };
        expect(compact.apply(key, record), where).toEqual(reference.apply(key, record));
        expect(compact.stats().blocksMoved - movedBefore, where).toBeLessThanOrEqual(compactionMaxMoves);
      } else if (op < 70) {
        expect(plain(compact.get(key)), where).toEqual(plain(reference.get(key)));
      } else if (op < 75) {
        expect(plain(compact.peek(key)), where).toEqual(plain(reference.get(key)));
      } else if (op < 85) {
        clock.nowMs += rng.int(40);
      } else if (op < 93) {
        const maxWork = rng.int(30);
        const items = compact.sweep(maxWork);
        expect(items, where).toBe(reference.sweep(maxWork));
        expect(compact.stats().blocksMoved - movedBefore, where).toBeLessThanOrEqual(maxWork - items);
      } else {
        expect(compact.remove(key), where).toBe(reference.remove(key));
        expect(compact.stats().blocksMoved - movedBefore, where).toBeLessThanOrEqual(compactionMaxMoves);
      }
      expect(compact.stats(), where).toMatchObject(reference.stats());
      if (step % 500 === 499) for (const k of keys) expect(plain(compact.get(k)), `${k} at ${where}`).toEqual(plain(reference.get(k)));
    }
    const stats = compact.stats();
    expect(stats.slabsReleased, `seed ${seed}`).toBeGreaterThan(0);
    expect(stats.blocksMoved, `seed ${seed}`).toBeGreaterThan(0);
    expect(compact.digest([FULL_RANGE], 64)).toEqual(reference.digest([FULL_RANGE], 64));
  });
});
