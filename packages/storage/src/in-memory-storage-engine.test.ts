// Goal: every storage engine (InMemoryStorageEngine and CompactStorageEngine, see
// engines.test-support.ts) keeps exactly the winning version of each key, never lets an older
// write undo a delete or an expiry while the tombstone is held, expires and purges within the
// bounds it is given, and keeps its O(1) counters exact.
// Method: the same suite for each engine: table cases of apply-if-newer; scenario tests driven by
// a fake clock (an object with a mutable time); and fast-check model tests that run random
// operation sequences against a simple reference model (a Map scanned in full) and against the
// engine's own reads.
import { compareVersionedValues, toTombstone, type VersionedValue } from '@dkv/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENGINES, type EngineFactory, type EngineUnderTest } from './engines.test-support.js';
import { InMemoryStorageEngine } from './in-memory-storage-engine.js';

const GRACE_MS = 1000;

function setupWith(createEngine: EngineFactory, options: { graceMs?: number; slack?: number } = {}) {
  const clock = {
    nowMs: 0,
    now(): number {
      return this.nowMs;
    },
  };
  const engine = createEngine({ clock, tombstoneGraceMs: options.graceMs ?? GRACE_MS, ttlIndexSlackFactor: options.slack });
  return { clock, engine };
}

function rec(version: number, extra: Partial<VersionedValue> = {}): VersionedValue {
  const tombstone = extra.tombstone ?? false;
  return {
    value: tombstone ? new Uint8Array(0) : Buffer.from(`v${version}`),
    version,
    writerId: 'c1',
    createdAt: 0,
    updatedAt: 0,
    expiresAt: null,
    tombstone,
    ...extra,
  };
}

const del = (version: number, extra: Partial<VersionedValue> = {}) => rec(version, { tombstone: true, ...extra });

// ---- model tests ----

type Op =
  | { kind: 'apply'; key: string; version: number; writerId: string; tombstone: boolean; ttlMs: number | null; value: Uint8Array }
  | { kind: 'advance'; ms: number }
  | { kind: 'get'; key: string }
  | { kind: 'sweep'; maxWork: number };

const keys = ['a', 'b', 'c', 'dé'];
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('apply' as const),
      key: fc.constantFrom(...keys),
      version: fc.integer({ min: 1, max: 8 }),
      writerId: fc.constantFrom('c1', 'c2'),
      tombstone: fc.boolean(),
      ttlMs: fc.option(fc.integer({ min: -30, max: 60 }), { nil: null }),
      value: fc.uint8Array({ maxLength: 6 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), key: fc.constantFrom(...keys) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('sweep' as const), maxWork: fc.integer({ min: 0, max: 3 }) }) },
);

function recordOf(op: Extract<Op, { kind: 'apply' }>, nowMs: number): VersionedValue {
  return {
    value: op.tombstone ? new Uint8Array(0) : op.value,
    version: op.version,
    writerId: op.writerId,
    createdAt: nowMs,
    updatedAt: nowMs,
    expiresAt: op.tombstone || op.ttlMs === null ? null : nowMs + op.ttlMs,
    tombstone: op.tombstone,
  };
}

/** The reference: the rules of the engine's doc comment, over a plain Map scanned in full. */
class Model {
  readonly held = new Map<string, { record: VersionedValue; purgeAtMs: number }>();
  constructor(private readonly graceMs: number) {}

  private fold(key: string, nowMs: number): void {
    const entry = this.held.get(key);
    const r = entry?.record;
    if (entry && r && !r.tombstone && r.expiresAt !== null && r.expiresAt <= nowMs) {
      this.held.set(key, { record: toTombstone(r), purgeAtMs: r.expiresAt + this.graceMs });
    }
  }

  get(key: string, nowMs: number): VersionedValue | null {
    this.fold(key, nowMs);
    const entry = this.held.get(key);
    if (entry?.record.tombstone && entry.purgeAtMs <= nowMs) this.held.delete(key);
    return this.held.get(key)?.record ?? null;
  }

  apply(key: string, record: VersionedValue, nowMs: number): { applied: boolean; version: number; previous: number } {
    const expired = !record.tombstone && record.expiresAt !== null && record.expiresAt <= nowMs;
    let incoming = expired ? toTombstone(record) : record;
    const held = this.get(key, nowMs);
    if (held && compareVersionedValues(incoming, held) <= 0) return { applied: false, version: held.version, previous: held.version };
    if (held && !held.tombstone && !incoming.tombstone && held.createdAt < incoming.createdAt)
      incoming = { ...incoming, createdAt: held.createdAt };
    // The time of death travels in the record: a delete's updatedAt, a value's expiresAt.
    const purgeAtMs = incoming.tombstone ? incoming.updatedAt + this.graceMs : Infinity;
    if (purgeAtMs <= nowMs) {
      this.held.delete(key);
      return { applied: true, version: incoming.version, previous: held?.version ?? 0 };
    }
    this.held.set(key, { record: incoming, purgeAtMs });
    return { applied: true, version: incoming.version, previous: held?.version ?? 0 };
  }

  sweepAll(nowMs: number): void {
    for (const key of [...this.held.keys()]) {
      this.fold(key, nowMs);
      const entry = this.held.get(key);
      if (entry?.record.tombstone && entry.purgeAtMs <= nowMs) this.held.delete(key);
    }
  }

  stats(): { keys: number; tombstones: number; bytes: number } {
    let live = 0;
    let tombstones = 0;
    let bytes = 0;
    for (const [key, { record }] of this.held) {
      if (record.tombstone) tombstones += 1;
      else {
        live += 1;
        bytes += Buffer.byteLength(key) + record.value.byteLength;
      }
    }
    return { keys: live, tombstones, bytes };
  }
}

function statsOf(engine: EngineUnderTest) {
  const { keys: live, tombstones, bytes } = engine.stats();
  return { keys: live, tombstones, bytes };
}

describe('InMemoryStorageEngine', () => {
  it('stores the caller’s bytes without copying', () => {
    const engine = new InMemoryStorageEngine({ clock: { now: () => 0 }, tombstoneGraceMs: GRACE_MS });
    const value = Buffer.from('session');
    engine.apply('k', rec(1, { value }));
    expect(engine.get('k')?.value).toBe(value);
  });
});

describe.each(ENGINES)('%s', (_name, createEngine) => {
  const setup = (options: { graceMs?: number; slack?: number } = {}) => setupWith(createEngine, options);

  describe('apply-if-newer', () => {
    const cases: Array<[string, VersionedValue, VersionedValue, boolean, Partial<VersionedValue>]> = [
      ['higher version applies', rec(1), rec(2), true, { version: 2 }],
      ['lower version is a no-op', rec(2), rec(1), false, { version: 2 }],
      ['the same write replayed is a no-op', rec(2), rec(2), false, { version: 2 }],
      ['equal version: higher writer id wins', rec(2, { writerId: 'c1' }), rec(2, { writerId: 'c2' }), true, { writerId: 'c2' }],
      ['equal version: lower writer id loses', rec(2, { writerId: 'c2' }), rec(2, { writerId: 'c1' }), false, { writerId: 'c2' }],
      ['a delete beats an older value', rec(1), del(2), true, { version: 2, tombstone: true }],
      ['an older value loses to a delete', del(2), rec(1), false, { version: 2, tombstone: true }],
      ['equal version and writer: the delete wins', rec(2), del(2), true, { tombstone: true }],
      ['equal version and writer: a value loses to the delete', del(2), rec(2), false, { tombstone: true }],
      ['a newer value re-creates a deleted key', del(2), rec(3), true, { version: 3, tombstone: false }],
      [
        'equal version, writer and kind: larger bytes win',
        rec(2, { value: Uint8Array.of(0x61) }),
        rec(2, { value: Uint8Array.of(0x62) }),
        true,
        { value: Uint8Array.of(0x62) },
      ],
    ];

    it.each(cases)('%s', (_name, held, incoming, applied, expected) => {
      const { engine } = setup();
      expect(engine.apply('k', held)).toEqual({ applied: true, version: held.version, previous: 0 });
      expect(engine.apply('k', incoming)).toEqual({ applied, version: expected.version ?? held.version, previous: held.version });
      expect(engine.get('k')).toMatchObject(expected);
    });

    it('keeps the createdAt of the live value it overwrites, and starts a new life after a delete', () => {
      const { engine } = setup();
      engine.apply('k', rec(1, { createdAt: 100 }));
      engine.apply('k', rec(2, { createdAt: 500 }));
      expect(engine.get('k')?.createdAt).toBe(100);
      engine.apply('k', del(3, { createdAt: 600 }));
      engine.apply('k', rec(4, { createdAt: 700 }));
      expect(engine.get('k')?.createdAt).toBe(700);
    });

    it('answers null for a key it never held', () => {
      const { engine } = setup();
      expect(engine.get('nope')).toBeNull();
      expect(engine.head('nope')).toBeNull();
    });

    it('rejects a negative grace period', () => {
      expect(() => createEngine({ clock: { now: () => 0 }, tombstoneGraceMs: -1 })).toThrow(/tombstoneGraceMs/);
    });
  });

  describe('expiry', () => {
    it('reads an expired value as its tombstone at the same version, from the moment it expires', () => {
      const { engine, clock } = setup();
      engine.apply('k', rec(5, { expiresAt: 100 }));
      clock.nowMs = 99;
      expect(engine.get('k')).toMatchObject({ version: 5, tombstone: false });
      clock.nowMs = 100;
      expect(engine.head('k')).toEqual({ version: 5, writerId: 'c1', createdAt: 0, expiresAt: null, tombstone: true });
      expect(engine.get('k')).toEqual(toTombstone(rec(5, { expiresAt: 100 })));
      expect(engine.stats()).toMatchObject({ keys: 0, tombstones: 1, bytes: 0 });
    });

    it('stores a record that arrives already expired as its tombstone', () => {
      const { engine, clock } = setup();
      clock.nowMs = 500;
      expect(engine.apply('k', rec(5, { expiresAt: 400 }))).toEqual({ applied: true, version: 5, previous: 0 });
      expect(engine.get('k')).toMatchObject({ version: 5, tombstone: true });
      expect(engine.stats()).toMatchObject({ keys: 0, tombstones: 1, bytes: 0 });
    });

    it('never revives an expired value by a replay of it or of an older write', () => {
      const { engine, clock } = setup();
      engine.apply('k', rec(5, { expiresAt: 100 }));
      clock.nowMs = 150;
      expect(engine.apply('k', rec(5, { expiresAt: 100 }))).toEqual({ applied: false, version: 5, previous: 5 });
      expect(engine.apply('k', rec(4))).toEqual({ applied: false, version: 5, previous: 5 });
      expect(engine.apply('k', rec(5, { expiresAt: null }))).toEqual({ applied: false, version: 5, previous: 5 });
      expect(engine.get('k')).toMatchObject({ tombstone: true });
    });

    it('lets a newer write with a fresh TTL replace the expired one', () => {
      const { engine, clock } = setup();
      engine.apply('k', rec(5, { expiresAt: 100 }));
      clock.nowMs = 150;
      expect(engine.apply('k', rec(6, { expiresAt: 300 }))).toEqual({ applied: true, version: 6, previous: 5 });
      expect(engine.stats()).toMatchObject({ keys: 1, tombstones: 0 });
      clock.nowMs = 300;
      expect(engine.sweep(10)).toBeGreaterThan(0);
      expect(engine.stats()).toMatchObject({ keys: 0, tombstones: 1 });
    });
  });

  describe('sweep', () => {
    it('folds at most maxWork expired values per call and reclaims their bytes', () => {
      const { engine, clock } = setup();
      for (let i = 0; i < 10; i += 1) engine.apply(`k${i}`, rec(1, { expiresAt: 100 + i, value: Buffer.alloc(10) }));
      engine.apply('forever', rec(1, { value: Buffer.alloc(10) }));
      expect(engine.stats()).toMatchObject({ keys: 11, tombstones: 0, bytes: 10 * (2 + 10) + 7 + 10 });
      clock.nowMs = 99;
      expect(engine.sweep(100)).toBe(0);
      clock.nowMs = 200;
      expect(engine.sweep(0)).toBe(0);
      expect(engine.sweep(3)).toBe(3);
      expect(engine.stats()).toMatchObject({ keys: 8, tombstones: 3, bytes: 7 * 12 + 17 });
      expect(engine.sweep(100)).toBe(7);
      expect(engine.stats()).toMatchObject({ keys: 1, tombstones: 10, bytes: 17 });
      expect(engine.sweep(100)).toBe(0);
    });

    it('folds the earliest deadlines first', () => {
      const { engine, clock } = setup();
      for (const at of [300, 100, 200]) engine.apply(`k${at}`, rec(1, { expiresAt: at }));
      clock.nowMs = 1000;
      engine.sweep(1);
      expect(engine.stats().tombstones).toBe(1);
      clock.nowMs = 150;
      expect(engine.stats().keys).toBe(2);
      expect(engine.get('k200')?.tombstone).toBe(false);
    });

    it('purges an expiry tombstone grace after expiresAt, then forgets the key', () => {
      const { engine, clock } = setup();
      engine.apply('k', rec(5, { expiresAt: 100 }));
      clock.nowMs = 100;
      engine.sweep(10);
      clock.nowMs = 100 + GRACE_MS - 1;
      engine.sweep(10);
      expect(engine.get('k')).toMatchObject({ tombstone: true });
      clock.nowMs = 100 + GRACE_MS;
      engine.sweep(10);
      expect(engine.get('k')).toBeNull();
      expect(engine.stats()).toMatchObject({ keys: 0, tombstones: 0, bytes: 0 });
    });

    it('purges a delete grace after its time of death (the record’s updatedAt), however late it arrived', () => {
      const { engine, clock } = setup();
      clock.nowMs = 40_600;
      // Deleted at 40 000 by the coordinator; this replica gets it 600 ms late (anti-entropy).
      engine.apply('k', del(3, { updatedAt: 40_000 }));
      clock.nowMs = 40_000 + GRACE_MS - 1;
      engine.sweep(10);
      expect(engine.apply('k', rec(2))).toEqual({ applied: false, version: 3, previous: 3 });
      clock.nowMs = 40_000 + GRACE_MS;
      engine.sweep(10);
      expect(engine.stats().tombstones).toBe(0);
      expect(engine.get('k')).toBeNull();
    });

    it('never holds, streams or digests a tombstone past its purge time; applying one drops what it supersedes', () => {
      const { engine, clock } = setup();
      engine.apply('old', rec(1));
      clock.nowMs = 10 * GRACE_MS;
      // A tombstone purged elsewhere arrives (re-seeded by a peer): the older value goes, nothing is kept.
      expect(engine.apply('old', del(3, { updatedAt: 1000 }))).toEqual({ applied: true, version: 3, previous: 1 });
      expect(engine.apply('fresh', del(4, { updatedAt: 1000 }))).toEqual({ applied: true, version: 4, previous: 0 });
      // An expired value long past its grace is not kept either.
      expect(engine.apply('ttl', rec(5, { expiresAt: 2000 }))).toEqual({ applied: true, version: 5, previous: 0 });
      expect(engine.stats()).toMatchObject({ keys: 0, tombstones: 0, bytes: 0 });
      expect(engine.scan([[0, 2 ** 32 - 1]], null, 100, 1 << 20).records).toEqual([]);
      expect(engine.digest([[0, 2 ** 32 - 1]], 1)).toEqual([{ hash: 0, count: 0 }]);
      // A tombstone held until its purge time is skipped by digest and scan once the time has come, before any sweep.
      clock.nowMs = 0;
      engine.apply('k', del(6, { updatedAt: 0 }));
      clock.nowMs = GRACE_MS;
      expect(engine.digest([[0, 2 ** 32 - 1]], 1)).toEqual([{ hash: 0, count: 0 }]);
      expect(engine.scan([[0, 2 ** 32 - 1]], null, 100, 1 << 20).records).toEqual([]);
      expect(engine.get('k')).toBeNull();
      expect(engine.stats().tombstones).toBe(0);
    });

    it('after the purge, a replayed older write applies again: the grace period must outlive it', () => {
      const { engine, clock } = setup();
      engine.apply('k', del(3));
      clock.nowMs = GRACE_MS;
      engine.sweep(10);
      expect(engine.apply('k', rec(2))).toEqual({ applied: true, version: 2, previous: 0 });
    });

    it('discards the index items of overwritten keys and keeps the index bounded', () => {
      const { engine, clock } = setup({ slack: 2 });
      for (let i = 1; i <= 10_000; i += 1) engine.apply('session', rec(i, { expiresAt: 1_000_000 + i }));
      expect(engine.stats().ttlIndexItems).toBeLessThanOrEqual(2 * 1 + 1024 + 1);
      clock.nowMs = 1_010_000 + GRACE_MS / 2;
      let rounds = 0;
      while (engine.sweep(100) === 100) rounds += 1;
      expect(rounds).toBeLessThanOrEqual(11);
      expect(engine.get('session')).toMatchObject({ version: 10_000, tombstone: true });
      expect(engine.stats()).toMatchObject({ keys: 0, tombstones: 1 });
    });
  });

  describe('model tests', () => {
    it('agrees with the reference model on every answer and every count (full sweeps)', () => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 120 }), fc.integer({ min: 0, max: 50 }), (ops, graceMs) => {
          const { engine, clock } = setup({ graceMs });
          const model = new Model(graceMs);
          for (const op of ops) {
            if (op.kind === 'apply') {
              const record = recordOf(op, clock.nowMs);
              expect(engine.apply(op.key, record)).toEqual(model.apply(op.key, record, clock.nowMs));
            } else if (op.kind === 'advance') {
              clock.nowMs += op.ms;
            } else if (op.kind === 'get') {
              expect(engine.get(op.key)).toEqual(model.get(op.key, clock.nowMs));
            } else {
              engine.sweep(Number.POSITIVE_INFINITY);
              model.sweepAll(clock.nowMs);
            }
            expect(statsOf(engine)).toEqual(model.stats());
          }
        }),
        { numRuns: 300 },
      );
    });

    it('keeps its counters equal to a recount of its own reads under bounded sweeps', () => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
          const { engine, clock } = setup({ graceMs: 20 });
          let everHigher = new Map<string, number>();
          for (const op of ops) {
            if (op.kind === 'apply') engine.apply(op.key, recordOf(op, clock.nowMs));
            else if (op.kind === 'advance') clock.nowMs += op.ms;
            else if (op.kind === 'get') engine.get(op.key);
            else expect(engine.sweep(op.maxWork)).toBeLessThanOrEqual(op.maxWork);
            // Reads fold expired values, after which the counters must match exactly what is read.
            const recount = { keys: 0, tombstones: 0, bytes: 0 };
            for (const key of keys) {
              const r = engine.get(key);
              if (r === null) continue;
              if (r.tombstone) recount.tombstones += 1;
              else {
                recount.keys += 1;
                recount.bytes += Buffer.byteLength(key) + r.value.byteLength;
                expect(r.expiresAt === null || r.expiresAt > clock.nowMs).toBe(true);
              }
              // Versions held never go down while the key is held.
              expect(r.version).toBeGreaterThanOrEqual(everHigher.get(key) ?? 0);
            }
            everHigher = new Map(keys.map((key) => [key, engine.get(key)?.version ?? 0]));
            expect(statsOf(engine)).toEqual(recount);
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});
