// Goal: the durable engine keeps what it acknowledged across a restart, and its promises on faults
// hold: a reopened engine serves exactly the live records the engine held when the process
// "crashed" (merges, removes, expiries and purges included); merges keep the log bounded under TTL
// churn and drop expired values; a crash in the middle of a merge loses nothing; under `always`
// a write is acknowledged only after the fsync that covers it, and one fsync serves every write of
// a turn; under every policy a write is acknowledged only once the turn's one write of the log
// holds it, and a crash before that loses only unacknowledged writes; a write the log cannot take
// is refused (the write after it with memory unchanged) and reads go on; after a
// failed fsync writes are refused; a directory of another node or format is refused at start;
// replay into an engine that keeps the values it is given serves them intact across segments.
// Method: a log directory in memory (which can lose unsynced bytes like a power cut and fail any
// operation), a hand-driven clock and scheduler; a seeded differential run against the in-memory
// engine with reopen checkpoints; scripted cases for the rest.
import type { VersionedValue } from '@dkv/core';
import { SeededRng, seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { CompactStorageEngine } from './compact-storage-engine.js';
import { DurableStorageEngine, type DurableStorageEngineOptions, type FsyncPolicy } from './durable-storage-engine.js';
import { InMemoryStorageEngine } from './in-memory-storage-engine.js';
import { MemoryLogDirectory } from './log-files.js';
import { PersistingRequestHandler } from './persisting-request-handler.js';
import { StorageService } from './storage-service.js';

const GRACE_MS = 1000;

/** A scheduler run by hand: `runAll` runs what is due (every `every` once per call). */
class ManualScheduler {
  private once: Array<() => void> = [];
  private readonly repeating = new Set<() => void>();
  after(_delayMs: number, callback: () => void) {
    this.once.push(callback);
    return { cancel: () => (this.once = this.once.filter((c) => c !== callback)) };
  }
  every(_intervalMs: number, callback: () => void) {
    this.repeating.add(callback);
    return { cancel: () => this.repeating.delete(callback) };
  }
  runOnce(): void {
    const due = this.once;
    this.once = [];
    for (const callback of due) callback();
  }
  runRepeating(): void {
    for (const callback of [...this.repeating]) callback();
  }
  /** Forgets every timer: the process that set them has died. */
  crash(): void {
    this.once = [];
    this.repeating.clear();
  }
}

function rec(version: number, value: string, extra: Partial<VersionedValue> = {}): VersionedValue {
  return { value: Buffer.from(value), version, writerId: 'c1', createdAt: 0, updatedAt: 0, expiresAt: null, tombstone: false, ...extra };
}

function setup(
  options: { fsync?: FsyncPolicy; directory?: MemoryLogDirectory; nodeId?: string; extra?: Partial<DurableStorageEngineOptions> } = {},
) {
  const clock = {
    nowMs: 1000,
    now(): number {
      return this.nowMs;
    },
  };
  const scheduler = new ManualScheduler();
  const directory = options.directory ?? new MemoryLogDirectory();
  const logs: string[] = [];
  const open = () =>
    DurableStorageEngine.open({
      engine: new CompactStorageEngine({ clock, tombstoneGraceMs: GRACE_MS, slabBytes: 4096, maxSlabValueBytes: 1024 }),
      directory,
      nodeId: options.nodeId ?? 'n1',
      fsync: options.fsync ?? { mode: 'never' },
      clock,
      scheduler,
      // The turn's end (when its appends are written) comes with the scheduler's next `runOnce`.
      defer: (callback: () => void) => void scheduler.after(0, callback),
      logger: (level, message) => logs.push(`${level}: ${message}`),
      segmentBytes: 2048,
      mergeMinBytes: 0,
      ...options.extra,
    });
  return { clock, scheduler, directory, logs, open, engine: open() };
}

/** The live value of `key` as a reader sees it, or null. */
function live(engine: { get(key: string): VersionedValue | null }, key: string, nowMs: number): string | null {
  const record = engine.get(key);
  if (record === null || record.tombstone || (record.expiresAt !== null && record.expiresAt <= nowMs)) return null;
  return `${record.version}/${record.writerId}/${Buffer.from(record.value).toString('hex')}`;
}

describe('DurableStorageEngine recovery', () => {
  it('replays many segments into an engine that keeps the values it is given (the map engine): every value intact, though segments share one read buffer', () => {
    const { clock, scheduler, directory } = setup();
    const open = () =>
      DurableStorageEngine.open({
        engine: new InMemoryStorageEngine({ clock, tombstoneGraceMs: GRACE_MS }),
        directory,
        nodeId: 'n1',
        fsync: { mode: 'never' },
        clock,
        scheduler,
        segmentBytes: 2048,
      });
    const writer = open();
    for (let i = 0; i < 40; i += 1) writer.apply(`key-${i}`, rec(1, String.fromCharCode(97 + (i % 26)).repeat(300 + i)));
    writer.close();
    expect(directory.list().filter((name) => name.endsWith('.log')).length).toBeGreaterThan(4);
    const reopened = open();
    for (let i = 0; i < 40; i += 1)
      expect(live(reopened, `key-${i}`, clock.nowMs)).toBe(
        live({ get: () => rec(1, String.fromCharCode(97 + (i % 26)).repeat(300 + i)) }, 'k', clock.nowMs),
      );
    reopened.close();
  });

  it('serves after a reopen exactly what it served before, over thousands of seeded writes, deletes, TTLs, removes, sweeps and merges', () => {
    const seed = seedForTest();
    const rng = new SeededRng(seed);
    const { clock, scheduler, directory, open } = setup();
    let engine = open();
    const reference = new InMemoryStorageEngine({ clock, tombstoneGraceMs: GRACE_MS });
    const keys = Array.from({ length: 60 }, (_, i) => `key-${i}`);
    let version = 1;
    let merges = 0;
    for (let step = 0; step < 4000; step += 1) {
      const key = keys[rng.int(keys.length)] as string;
      const dice = rng.int(100);
      if (dice < 55) {
        const size = rng.int(4) === 0 ? 1500 + rng.int(800) : rng.int(200);
        // Versions only grow (a replayed copy of the held record aside): after a restart the
        // durable engine keeps tombstones for a new grace period, so an older write arriving
        // after the reference purged its tombstone would rightly apply in one engine only.
        // A replayed copy of what the durable engine holds changes nothing there (and, when it is
        // a tombstone the reference already purged, nothing a reader sees there).
        const held = engine.get(key);
        const replayed = held !== null && rng.int(10) === 0;
        const record = replayed
          ? held
          : rec(version, 'v'.repeat(size) + String(step), {
              writerId: `c${rng.int(2)}`,
              expiresAt: rng.int(3) === 0 ? clock.nowMs + rng.int(500) : null,
            });
        version += 1;
        const durable = engine.apply(key, record);
        const expected = reference.apply(key, { ...record, value: new Uint8Array(record.value) });
        expect(durable.applied).toBe(replayed ? false : expected.applied);
      } else if (dice < 70) {
        const record = rec(version, '', { tombstone: true });
        version += 1;
        expect(engine.apply(key, record).applied).toBe(reference.apply(key, record).applied);
      } else if (dice < 75) {
        // Tombstones may be held by one engine only (grace restarts on replay), so only what a
        // reader sees is compared, below.
        engine.remove(key);
        reference.remove(key);
      } else if (dice < 85) {
        clock.nowMs += rng.int(400);
      } else if (dice < 92) {
        engine.sweep(rng.int(50));
        reference.sweep(1_000_000);
      } else if (dice < 97) {
        scheduler.runRepeating();
      } else {
        // A crash between turns (the last turn's writes written, and acknowledged): no close, the
        // process's timers die with it, the next process opens the same directory.
        engine.flush();
        merges += engine.durability().merges;
        scheduler.crash();
        engine = open();
      }
      if (step % 250 === 0 || dice >= 97) {
        for (const k of keys) expect(live(engine, k, clock.nowMs), `${k} at step ${step}`).toBe(live(reference, k, clock.nowMs));
      }
    }
    expect(merges + engine.durability().merges).toBeGreaterThan(0);
    expect(engine.durability().corruptRegions + engine.durability().tornTails).toBe(0);
    expect(directory.list().length).toBeLessThan(40);
    // Thousands of steps with reopens: seconds alone, more on a loaded shared machine.
  }, 120_000);

  it('keeps the log bounded under TTL churn: merges drop expired values and purged tombstones', () => {
    const { clock, scheduler, engine } = setup({ extra: { mergeRatio: 1.5, mergeMinBytes: 16 * 1024 } });
    let highest = 0;
    for (let round = 0; round < 200; round += 1) {
      for (let i = 0; i < 20; i += 1)
        engine.apply(`s-${round}-${i}`, rec(round * 100 + i + 1, 'x'.repeat(500), { expiresAt: clock.nowMs + 100 }));
      clock.nowMs += 150;
      engine.sweep(10_000);
      for (let tick = 0; tick < 10; tick += 1) scheduler.runRepeating();
      highest = Math.max(highest, engine.durability().diskBytes);
    }
    // 20 live sessions of ~560 log bytes, their tombstones for a second, and merge slack: far
    // below the 2.2 MB written.
    expect(highest).toBeLessThan(200 * 1024);
    expect(engine.durability().merges).toBeGreaterThan(5);
  }, 60_000);

  it('loses nothing when the process dies in the middle of a merge, and deletes the merge’s unfinished files at the next start', () => {
    const { clock, scheduler, directory, open, engine } = setup({ extra: { mergeStepMaxRecords: 3, mergeRatio: 100, mergeMinBytes: 0 } });
    for (let i = 0; i < 40; i += 1) engine.apply(`k${i}`, rec(i + 1, `value-${i}`));
    for (let i = 0; i < 40; i += 2) engine.apply(`k${i}`, rec(100 + i, `newer-${i}`));
    // Force a merge to start, run two bounded steps of it, write during it, then "crash".
    (engine as unknown as { shouldMerge: () => boolean }).shouldMerge = () => true;
    engine.mergeStep();
    engine.mergeStep();
    engine.apply('k1', rec(500, 'during-merge'));
    engine.remove('k3');
    engine.flush();
    expect(directory.list().some((name) => name.endsWith('.tmp'))).toBe(true);
    const reopened = open();
    expect(directory.list().some((name) => name.endsWith('.tmp'))).toBe(false);
    for (let i = 0; i < 40; i += 1) expect(live(reopened, `k${i}`, clock.nowMs), `k${i}`).toBe(live(engine, `k${i}`, clock.nowMs));
    expect(live(reopened, 'k1', clock.nowMs)).toContain(Buffer.from('during-merge').toString('hex'));
    expect(reopened.get('k3')).toBeNull();
    void scheduler;
  });

  it('replays a finished merge in write order: a change made during the merge wins over the merge’s copy', () => {
    const { clock, directory, open, engine } = setup({ extra: { mergeStepMaxRecords: 1, mergeRatio: 100 } });
    for (let i = 0; i < 10; i += 1) engine.apply(`k${i}`, rec(i + 1, `value-${i}`));
    (engine as unknown as { shouldMerge: () => boolean }).shouldMerge = () => true;
    engine.mergeStep();
    // Every key copied by now is removed or overwritten while the merge is still running.
    for (let step = 0; step < 20 && engine.durability().merges === 0; step += 1) {
      engine.mergeStep();
      engine.remove('k0');
      engine.apply('k5', rec(1000 + step, `late-${step}`));
    }
    expect(engine.durability().merges).toBe(1);
    engine.flush();
    const reopened = open();
    expect(reopened.get('k0')).toBeNull();
    for (let i = 0; i < 10; i += 1) expect(live(reopened, `k${i}`, clock.nowMs)).toBe(live(engine, `k${i}`, clock.nowMs));
    void directory;
  });
});

describe('DurableStorageEngine fsync policies', () => {
  it('under always, acknowledges a turn’s writes together after one fsync, and they survive a power cut', async () => {
    const { scheduler, directory, open, engine } = setup({ fsync: { mode: 'always' } });
    const service = new PersistingRequestHandler(new StorageService({ nodeId: 'n1', engine }), engine);
    const answers = Array.from({ length: 10 }, (_, i) => service.handle({ type: 'PUT', key: `k${i}`, record: rec(1, `v${i}`) }));
    let acknowledged = 0;
    for (const answer of answers) {
      expect(answer).toBeInstanceOf(Promise);
      void (answer as Promise<unknown>).then(() => (acknowledged += 1));
    }
    await Promise.resolve();
    expect(acknowledged).toBe(0);
    expect(engine.durability().fsyncs).toBe(0);
    scheduler.runOnce();
    await Promise.all(answers);
    expect(acknowledged).toBe(10);
    expect(engine.durability().fsyncs).toBe(1);
    // A GET is answered at once; a PUT that changes nothing waits for nothing pending.
    expect(service.handle({ type: 'GET', key: 'k1' })).toMatchObject({ type: 'GET' });
    expect(service.handle({ type: 'PUT', key: 'k1', record: rec(1, 'v1') })).toMatchObject({ type: 'PUT', applied: false });
    directory.powerLoss();
    const reopened = open();
    for (let i = 0; i < 10; i += 1) expect(Buffer.from(reopened.get(`k${i}`)!.value).toString()).toBe(`v${i}`);
  });

  it('under never, a power cut may lose unsynced writes but never serves a damaged one; a process crash loses nothing acknowledged', async () => {
    const { scheduler, directory, open, engine } = setup({ fsync: { mode: 'never' } });
    const service = new PersistingRequestHandler(new StorageService({ nodeId: 'n1', engine }), engine);
    const answers = Array.from({ length: 10 }, (_, i) => service.handle({ type: 'PUT', key: `k${i}`, record: rec(1, `v${i}`) }));
    let acknowledged = 0;
    for (const answer of answers) void (answer as Promise<unknown>).then(() => (acknowledged += 1));
    await Promise.resolve();
    // Not one byte is in the file, and not one PUT answered, before the turn's end writes them all.
    expect(directory.size(directory.list().find((name) => name.endsWith('.log')) as string)).toBe(0);
    expect(acknowledged).toBe(0);
    scheduler.runOnce();
    await Promise.all(answers);
    expect(acknowledged).toBe(10);
    expect(engine.persisted()).toBeNull();
    // A crash in the middle of the next turn loses that turn's writes, none of which was acknowledged.
    engine.apply('unacknowledged', rec(1, 'lost'));
    const afterCrash = open();
    for (let i = 0; i < 10; i += 1) expect(Buffer.from(afterCrash.get(`k${i}`)!.value).toString()).toBe(`v${i}`);
    expect(afterCrash.get('unacknowledged')).toBeNull();
    directory.powerLoss();
    const afterPowerLoss = open();
    for (let i = 0; i < 10; i += 1) {
      const record = afterPowerLoss.get(`k${i}`);
      if (record !== null) expect(Buffer.from(record.value).toString()).toBe(`v${i}`);
    }
  });

  it('under an interval, syncs in the background when something was written', async () => {
    const { scheduler, directory, open, engine } = setup({ fsync: { mode: 'interval', intervalMs: 100 } });
    engine.apply('a', rec(1, 'one'));
    const written = engine.persisted();
    scheduler.runOnce();
    await written;
    expect(engine.persisted()).toBeNull();
    scheduler.runRepeating();
    expect(engine.durability().fsyncs).toBe(1);
    scheduler.runRepeating();
    expect(engine.durability().fsyncs).toBe(1);
    directory.powerLoss();
    expect(Buffer.from(open().get('a')!.value).toString()).toBe('one');
  });
});

describe('DurableStorageEngine with slow fsyncs', () => {
  it.each([
    ['interval', { mode: 'interval', intervalMs: 100 }],
    ['always', { mode: 'always' }],
  ] as const)(
    'under %s, sealing a segment while an fsync of it is in flight neither fails the log nor loses a write',
    async (_name, fsync) => {
      const { scheduler, directory, open, engine } = setup({ fsync });
      directory.holdSyncs = true;
      engine.apply('first', rec(1, 'x'.repeat(100)));
      const waiting = engine.persisted();
      scheduler.runOnce();
      scheduler.runRepeating();
      // The 2 KiB segment fills and is sealed (closed) while its fsync has not finished.
      for (let i = 0; i < 30; i += 1) engine.apply(`k${i}`, rec(1, 'y'.repeat(100)));
      expect(engine.durability().segments).toBeGreaterThan(1);
      directory.releaseSyncs();
      await waiting;
      await Promise.resolve();
      expect(engine.durability().failure).toBeNull();
      engine.apply('after', rec(1, 'z'));
      // The policy's next fsync covers everything, and then a power cut loses nothing.
      directory.holdSyncs = false;
      const more = engine.persisted();
      scheduler.runOnce();
      scheduler.runRepeating();
      await more;
      await Promise.resolve();
      directory.powerLoss();
      const reopened = open();
      for (const key of ['first', 'after', ...Array.from({ length: 30 }, (_, i) => `k${i}`)]) expect(reopened.get(key), key).not.toBeNull();
    },
  );
});

describe('DurableStorageEngine faults', () => {
  it('refuses the writes the log cannot take (disk full) and never acknowledges them, refuses later writes with memory untouched, serves reads, and takes writes again once there is room', async () => {
    const { scheduler, directory, open, engine, logs } = setup();
    engine.apply('k', rec(1, 'old'));
    engine.flush();
    directory.partialBytes = 17;
    directory.inject((operation) =>
      operation === 'append' ? Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }) : null,
    );
    engine.apply('k', rec(2, 'new'));
    const waiting = engine.persisted();
    scheduler.runOnce();
    await expect(waiting).rejects.toThrow(/could not persist the write: ENOSPC/);
    // The failed write's append stays pending (a write that failed may still land, as in any
    // quorum store); every later write tries it first and is refused before touching memory.
    expect(() => engine.apply('other', rec(1, 'x'))).toThrow(/could not persist the write: ENOSPC/);
    expect(() => engine.remove('k')).toThrow(/ENOSPC/);
    expect(engine.get('other')).toBeNull();
    expect(Buffer.from(engine.get('k')!.value).toString()).toBe('new');
    expect(engine.durability().writeFailures).toBe(3);
    expect(logs.some((line) => line.startsWith('error: a write could not be appended'))).toBe(true);
    // What the failed writes left in the file was cut off: a crash now replays the old value, intact.
    const afterCrash = open();
    expect(Buffer.from(afterCrash.get('k')!.value).toString()).toBe('old');
    expect(afterCrash.durability().corruptRegions + afterCrash.durability().tornTails).toBe(0);
    afterCrash.close();
    directory.inject(() => null);
    engine.apply('k', rec(3, 'newest'));
    const written = engine.persisted();
    scheduler.runOnce();
    await written;
    const reopened = open();
    expect(Buffer.from(reopened.get('k')!.value).toString()).toBe('newest');
    expect(reopened.get('other')).toBeNull();
    expect(reopened.durability().corruptRegions + reopened.durability().tornTails).toBe(0);
  });

  it('refuses every write after a failed fsync (the kernel may have dropped the pages) and never acknowledges the writes it covered', async () => {
    const { scheduler, directory, engine } = setup({ fsync: { mode: 'always' } });
    const service = new PersistingRequestHandler(new StorageService({ nodeId: 'n1', engine }), engine);
    directory.inject((operation) => (operation === 'sync' ? new Error('EIO: i/o error') : null));
    const answer = service.handle({ type: 'PUT', key: 'k', record: rec(1, 'v') });
    scheduler.runOnce();
    await expect(answer).rejects.toThrow(/refuses writes: fsync failed \(EIO/);
    expect(() => engine.apply('k2', rec(1, 'v'))).toThrow(/refuses writes/);
    expect(service.handle({ type: 'GET', key: 'k' })).toMatchObject({ type: 'GET' });
    expect(engine.durability().failure).toContain('EIO');
  });

  it('refuses a directory of another node, of an unknown format version, or with segments but no identity', () => {
    const { directory } = setup({ nodeId: 'n1' });
    expect(() => setup({ directory, nodeId: 'n2' })).toThrow(/belongs to node "n1", not to node "n2"; refusing to start/);
    const identity = directory.open('IDENTITY');
    identity.truncate(0);
    identity.append(Buffer.from(JSON.stringify({ format: 'dkv-node-data', formatVersion: 99, nodeId: 'n1', clusterId: null })));
    expect(() => setup({ directory, nodeId: 'n1' })).toThrow(/data format version 99; this build reads version 1 only/);
    const orphan = new MemoryLogDirectory();
    orphan.open('segment-000000000001-000000.log').append(Buffer.from('x'));
    expect(() => setup({ directory: orphan })).toThrow(/holds log segments but no IDENTITY file/);
  });
});
