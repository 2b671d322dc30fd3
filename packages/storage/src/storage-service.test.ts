// Goal: the replica answers each internode request from its engine, synchronously.
// Method: one engine behind the service, each request type checked against the engine's state.
import { DkvError, LOGICAL_BITS, versionAheadProblem, VERSION_EPOCH_MS, type VersionedValue } from '@dkv/core';
import { describe, expect, it } from 'vitest';
import { CompactStorageEngine } from './compact-storage-engine.js';
import { InMemoryStorageEngine } from './in-memory-storage-engine.js';
import { KeyLimitError } from './key-index.js';
import { StorageService } from './storage-service.js';

const record: VersionedValue = {
  value: Buffer.from('{"user":1}'),
  version: 7,
  writerId: 'c1',
  createdAt: 1000,
  updatedAt: 1000,
  expiresAt: 5000,
  tombstone: false,
};

function setup(ready = true) {
  const clock = {
    nowMs: 1000,
    now(): number {
      return this.nowMs;
    },
  };
  const engine = new InMemoryStorageEngine({ clock, tombstoneGraceMs: 10_000 });
  const service = new StorageService({ nodeId: 'n1', engine, isReady: () => ready });
  return { clock, engine, service };
}

describe('StorageService', () => {
  it('answers null to GET and HEAD of an unknown key', () => {
    const { service } = setup();
    expect(service.handle({ type: 'GET', key: 'k' })).toEqual({ type: 'GET', record: null });
    expect(service.handle({ type: 'HEAD', key: 'k' })).toEqual({ type: 'HEAD', meta: null });
  });

  it('applies a PUT once and reports the held version to a replay', () => {
    const { service } = setup();
    expect(service.handle({ type: 'PUT', key: 'k', record })).toEqual({ type: 'PUT', applied: true, version: 7, previous: 0 });
    expect(service.handle({ type: 'PUT', key: 'k', record: { ...record, version: 6 } })).toEqual({
      type: 'PUT',
      applied: false,
      version: 7,
      previous: 7,
    });
    const got = service.handle({ type: 'GET', key: 'k' });
    expect(got.type === 'GET' && got.record?.value).toBe(record.value);
    expect(service.handle({ type: 'HEAD', key: 'k' })).toEqual({
      type: 'HEAD',
      meta: { version: 7, writerId: 'c1', createdAt: 1000, expiresAt: 5000, tombstone: false },
    });
  });

  it('reads an expired value as its tombstone', () => {
    const { service, clock } = setup();
    service.handle({ type: 'PUT', key: 'k', record });
    clock.nowMs = 5000;
    expect(service.handle({ type: 'HEAD', key: 'k' })).toMatchObject({ type: 'HEAD', meta: { version: 7, tombstone: true } });
  });

  it('reports id, readiness and counts on PING', () => {
    const { service } = setup(false);
    service.handle({ type: 'PUT', key: 'k', record });
    expect(service.handle({ type: 'PING' })).toEqual({ type: 'PING', nodeId: 'n1', ready: false, keys: 1, bytes: 1 + 10 });
  });

  it('is ready by default', () => {
    const engine = new InMemoryStorageEngine({ clock: { now: () => 0 }, tombstoneGraceMs: 0 });
    expect(new StorageService({ nodeId: 'n2', engine }).handle({ type: 'PING' })).toMatchObject({ ready: true, keys: 0, bytes: 0 });
  });

  it('keeps a HINT apart from its own data through its hint keeper, and refuses one without it', () => {
    const engine = new InMemoryStorageEngine({ clock: { now: () => 0 }, tombstoneGraceMs: 0 });
    const kept: Array<[string, number, string]> = [];
    const service = new StorageService({
      nodeId: 'n1',
      engine,
      hints: { keep: (key, held, target) => (kept.push([key, held.version, target]), target !== 'gone') },
    });
    expect(service.handle({ type: 'HINT', key: 'k', record, target: 'n3' })).toEqual({ type: 'HINT', accepted: true });
    expect(service.handle({ type: 'HINT', key: 'k', record, target: 'gone' })).toEqual({ type: 'HINT', accepted: false });
    expect(kept).toEqual([
      ['k', 7, 'n3'],
      ['k', 7, 'gone'],
    ]);
    expect(engine.get('k')).toBeNull();
    expect(() => service.handle({ type: 'HINT', key: 'k', record, target: 'n1' })).toThrow(/itself/);
    expect(() => new StorageService({ nodeId: 'n2', engine }).handle({ type: 'HINT', key: 'k', record, target: 'n3' })).toThrow(
      /does not keep hints/,
    );
  });

  it('applies PUTs while catching up but says that what it held before is unknown (no vouching for "nothing newer")', () => {
    const engine = new InMemoryStorageEngine({ clock: { now: () => 1000 }, tombstoneGraceMs: 10_000 });
    let readable = false;
    const service = new StorageService({ nodeId: 'n1', engine, canRead: () => readable });
    expect(service.handle({ type: 'PUT', key: 'k', record })).toEqual({
      type: 'PUT',
      applied: true,
      version: 7,
      previous: 0,
      previousUnknown: true,
    });
    expect(service.handle({ type: 'PUT', key: 'k', record: { ...record, version: 6 } })).toEqual({
      type: 'PUT',
      applied: false,
      version: 7,
      previous: 7,
      previousUnknown: true,
    });
    expect(engine.get('k')?.version).toBe(7);
    readable = true;
    expect(service.handle({ type: 'PUT', key: 'k', record: { ...record, version: 8 } })).toEqual({
      type: 'PUT',
      applied: true,
      version: 8,
      previous: 7,
    });
  });

  it('answers GET through handleBorrowed with the engine lending its bytes, and everything else as handle', () => {
    const clock = { now: () => 1000 };
    const engine = new CompactStorageEngine({ clock, tombstoneGraceMs: 10_000 });
    let readable = true;
    const service = new StorageService({ nodeId: 'n1', engine, canRead: () => readable });
    expect(service.handleBorrowed({ type: 'PUT', key: 'k', record })).toEqual({ type: 'PUT', applied: true, version: 7, previous: 0 });
    const lent = service.handleBorrowed({ type: 'GET', key: 'k' });
    expect(lent).toEqual(service.handle({ type: 'GET', key: 'k' }));
    expect(lent.type === 'GET' && Buffer.from(lent.record!.value).toString()).toBe('{"user":1}');
    readable = false;
    expect(() => service.handleBorrowed({ type: 'GET', key: 'k' })).toThrow(/does not serve reads/);
  });
});

describe("StorageService.handleBorrowed and a PUT whose value is a view of the caller's memory", () => {
  // The TCP server lends a PUT's value as a view of its frame: the bytes must end up in memory
  // the store owns, exactly their size, whichever engine holds them.
  const clock = { now: () => 1000 };
  const frameOf = (value: string) => {
    const frame = Buffer.from(`header${value}trailer`);
    return { frame, view: new Uint8Array(frame.buffer, frame.byteOffset + 6, value.length) };
  };

  it('lets an engine that copies what it applies take the view as it is, and keeps its bytes when the frame changes', () => {
    const engine = new CompactStorageEngine({ clock, tombstoneGraceMs: 10_000 });
    expect(engine.copiesAppliedValues).toBe(true);
    const service = new StorageService({ nodeId: 'n1', engine });
    const { frame, view } = frameOf('{"user":2}');
    expect(service.handleBorrowed({ type: 'PUT', key: 'k', record: { ...record, value: view } })).toMatchObject({ applied: true });
    frame.fill(0);
    expect(Buffer.from(engine.get('k')!.value).toString()).toBe('{"user":2}');
  });

  it('copies the view into memory of its own, exactly its size, for an engine that keeps the bytes it is given', () => {
    const engine = new InMemoryStorageEngine({ clock, tombstoneGraceMs: 10_000 });
    const service = new StorageService({ nodeId: 'n1', engine });
    const { frame, view } = frameOf('{"user":3}');
    expect(service.handleBorrowed({ type: 'PUT', key: 'k', record: { ...record, value: view } })).toMatchObject({ applied: true });
    const held = engine.get('k')!.value;
    expect(held.buffer).not.toBe(frame.buffer);
    expect(held.buffer.byteLength).toBe('{"user":3}'.length);
    frame.fill(0);
    expect(Buffer.from(held).toString()).toBe('{"user":3}');
  });
});

describe('StorageService and records whose version is too far ahead (issue 10, finding 5)', () => {
  const clock = { now: () => 1_800_000_000_000 };
  const live = { createdAt: clock.now(), updatedAt: clock.now(), expiresAt: null };
  const farAhead: VersionedValue = {
    ...record,
    ...live,
    value: Buffer.from('poison'),
    version: Number.MAX_SAFE_INTEGER - 10,
    writerId: 'forged',
  };
  const fine: VersionedValue = { ...record, ...live, version: (clock.now() - 1_735_689_600_000) * 4096, writerId: 'c1' };
  const withHeld = () => {
    const engine = new InMemoryStorageEngine({ clock, tombstoneGraceMs: 60_000 });
    engine.apply('k', farAhead);
    return { engine, service: new StorageService({ nodeId: 'n1', engine, clock, hints: { keep: () => true } }) };
  };

  it('refuses one in a PUT or a HINT, naming the code and the bound, and counts it', () => {
    const { service } = withHeld();
    expect(() => service.handle({ type: 'PUT', key: 'other', record: farAhead })).toThrow(
      /^VERSION_TOO_FAR_AHEAD: node n1 refused version \d+ .* at most 600000 ms \(--max-clock-offset-ms\)/,
    );
    expect(() => service.handle({ type: 'HINT', key: 'other', record: farAhead, target: 'n2' })).toThrow(/VERSION_TOO_FAR_AHEAD/);
    expect(service.versionsRefused).toBe(2);
  });

  it('drops one already held when a GET, HEAD or SCAN meets it, answering as if none were held', () => {
    for (const request of [
      { type: 'GET', key: 'k' },
      { type: 'HEAD', key: 'k' },
    ] as const) {
      const { engine, service } = withHeld();
      const answer = service.handle(request);
      expect(answer.type === 'GET' ? answer.record : answer.type === 'HEAD' ? answer.meta : undefined).toBeNull();
      expect(engine.get('k')).toBeNull();
      expect(service.versionsRefused).toBe(1);
    }
    const { engine, service } = withHeld();
    engine.apply('kept', fine);
    const scan = service.handle({ type: 'SCAN', ranges: [[0, 2 ** 32 - 1]], cursor: null, limit: 10, maxBytes: 1 << 20 });
    expect(scan.type === 'SCAN' && scan.records.map((r) => r.key)).toEqual(['kept']);
    expect(engine.get('k')).toBeNull();
  });

  it('lets a PUT replace one already held, so the key stays writable', () => {
    const { engine, service } = withHeld();
    expect(service.handle({ type: 'PUT', key: 'k', record: fine })).toMatchObject({ applied: true, version: fine.version, previous: 0 });
    expect(engine.get('k')?.writerId).toBe('c1');
    expect(service.versionsRefused).toBe(1);
  });

  it('drops a held record exactly when versionAheadProblem refuses its version, at the boundary too', () => {
    const offsetMs = 600_000;
    for (const nowMs of [1_800_000_000_000, 1_800_000_000_001, 1_800_000_000_000.5]) {
      const at = { now: () => nowMs };
      const boundary = (Math.floor(nowMs + offsetMs - VERSION_EPOCH_MS) + 1) * 2 ** LOGICAL_BITS;
      for (const version of [boundary - 4097, boundary - 1, boundary, boundary + 1, boundary + 4096]) {
        const engine = new InMemoryStorageEngine({ clock: at, tombstoneGraceMs: 60_000 });
        engine.apply('k', { ...record, ...live, version });
        const service = new StorageService({ nodeId: 'n1', engine, clock: at, maxClockOffsetMs: offsetMs });
        const answer = service.handle({ type: 'HEAD', key: 'k' });
        const refused = versionAheadProblem(version, nowMs, offsetMs) !== null;
        expect({ nowMs, version, dropped: answer.type === 'HEAD' && answer.meta === null }).toEqual({ nowMs, version, dropped: refused });
        expect(refused).toBe(version >= boundary);
      }
    }
  });
});

describe('StorageService with a full engine', () => {
  it('refuses a PUT of a new key as REPLICA_FULL with its node and reason, counts it, and still takes keys it holds', () => {
    const clock = { now: (): number => 1000 };
    for (const engine of [
      new InMemoryStorageEngine({ clock, tombstoneGraceMs: 10_000, maxKeys: 1 }),
      new CompactStorageEngine({ clock, tombstoneGraceMs: 10_000, maxKeys: 1 }),
    ]) {
      const service = new StorageService({ nodeId: 'n1', engine });
      service.handle({ type: 'PUT', key: 'held', record });
      let thrown: unknown;
      try {
        service.handleBorrowed({ type: 'PUT', key: 'new', record });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(DkvError);
      expect(thrown).not.toBeInstanceOf(KeyLimitError);
      expect((thrown as DkvError).code).toBe('UNAVAILABLE');
      expect((thrown as DkvError).message).toBe(
        'REPLICA_FULL: node n1: no room for new key "new": this replica holds its most keys, 1 (values and tombstones), until some expire, or are deleted and purged',
      );
      expect(service.keysRefused).toBe(1);
      expect(service.handle({ type: 'PUT', key: 'held', record: { ...record, version: 8 } })).toMatchObject({ applied: true, version: 8 });
      expect(service.handle({ type: 'GET', key: 'new' })).toEqual({ type: 'GET', record: null });
    }
  });
});
