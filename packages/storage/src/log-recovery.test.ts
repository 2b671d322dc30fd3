// Goal: recovery never serves a damaged value and loses only what the damage touched. A log cut
// at any byte (a process killed in the middle of a write) comes back with every record written
// wholly before the cut and none after it, its torn end cut off and logged; a bit flipped anywhere
// in a record (header, metadata, key or value) costs that record only: every other record is
// served byte for byte, and the damage is counted and logged.
// Method: a log of records of varied sizes written through the durable engine to a directory in
// memory; its segment cut at every byte offset of its last three records, and, in a seeded run,
// single bits flipped in random records; each damaged copy reopened, every key compared with what
// was written. The codec's round trip and its refusal of another format version are checked too.
import { crc32 } from 'node:zlib';
import type { VersionedValue } from '@dkv/core';
import { SeededRng, seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { CompactStorageEngine } from './compact-storage-engine.js';
import { DurableStorageEngine } from './durable-storage-engine.js';
import { MemoryLogDirectory } from './log-files.js';
import { REPLAY_CHUNK_BYTES } from './log-recovery.js';
import { decodeLogEntry, encodeRecordEntry, encodeRemoveEntry, LOG_HEADER_BYTES } from './log-record.js';

const SEGMENT = 'segment-000000000001-000000.log';
const IDLE = { after: () => ({ cancel: () => undefined }), every: () => ({ cancel: () => undefined }) };
const clock = { now: () => 1000 };

function rec(version: number, value: Buffer, extra: Partial<VersionedValue> = {}): VersionedValue {
  return { value, version, writerId: 'coordinator-1', createdAt: 5, updatedAt: 7, expiresAt: null, tombstone: false, ...extra };
}

function open(directory: MemoryLogDirectory, logs: string[] = []) {
  return DurableStorageEngine.open({
    engine: new CompactStorageEngine({ clock, tombstoneGraceMs: 60_000 }),
    directory,
    nodeId: 'n1',
    fsync: { mode: 'never' },
    clock,
    scheduler: IDLE,
    logger: (level, message) => logs.push(`${level}: ${message}`),
  });
}

/** Writes `count` records of one key each, varied sizes; returns the segment's bytes and where each record starts. */
function writeLog(count: number) {
  const directory = new MemoryLogDirectory();
  const engine = open(directory);
  const values: Buffer[] = [];
  for (let i = 0; i < count; i += 1) {
    const value = Buffer.alloc([0, 1, 37, 300, 2048][i % 5] as number, i + 1);
    values.push(value);
    engine.apply(`key-${i}`, rec(i + 1, value, i % 4 === 3 ? { expiresAt: 10_000_000 } : {}));
  }
  // The turn's end: its appends are written.
  engine.flush();
  const bytes = Buffer.from(directory.bytesOf(SEGMENT));
  const starts: number[] = [];
  for (let at = 0; at < bytes.length;) {
    starts.push(at);
    const decoded = decodeLogEntry(bytes, at, bytes.length, 1 << 20);
    if (!('entry' in decoded)) throw new Error(`the log written is not readable at ${at}`);
    at += decoded.bytes;
  }
  if (starts.length !== count) throw new Error(`the log holds ${starts.length} records, ${count} were written`);
  return { bytes, starts, values };
}

/** A directory holding `segment` as the log of node n1 (its identity file as an engine writes it). */
function directoryWith(segment: Buffer): MemoryLogDirectory {
  const directory = new MemoryLogDirectory();
  directory
    .open('IDENTITY')
    .append(Buffer.from(JSON.stringify({ format: 'dkv-node-data', formatVersion: 1, nodeId: 'n1', clusterId: null })));
  directory.open(SEGMENT).append(segment);
  return directory;
}

describe('log recovery', () => {
  it('comes back from a cut at every byte of the last three records with exactly the records written before the cut', () => {
    const { bytes, starts, values } = writeLog(12);
    const firstCut = starts.at(-3) as number;
    for (let cut = firstCut; cut <= bytes.length; cut += 1) {
      const logs: string[] = [];
      const directory = directoryWith(bytes.subarray(0, cut));
      const engine = open(directory, logs);
      const whole = starts.filter((start, i) => (starts[i + 1] ?? bytes.length) <= cut && start < cut).length;
      for (let i = 0; i < values.length; i += 1) {
        const record = engine.get(`key-${i}`);
        if (i < whole) expect(Buffer.from(record!.value).equals(values[i] as Buffer), `key-${i} after a cut at ${cut}`).toBe(true);
        else expect(record, `key-${i} after a cut at ${cut}`).toBeNull();
      }
      const torn = !starts.includes(cut) && cut !== bytes.length;
      expect(engine.durability().tornTails, `cut at ${cut}`).toBe(torn ? 1 : 0);
      expect(engine.durability().corruptRegions).toBe(0);
      expect(logs.some((line) => line.startsWith('warn: cut a torn record'))).toBe(torn);
      // The torn end is gone from the file: the next start finds a clean log.
      expect(directory.size(SEGMENT)).toBe(
        starts.includes(cut) || cut === bytes.length ? cut : (starts.filter((start) => start < cut).at(-1) as number),
      );
    }
    // Hundreds of reopens: minutes on a loaded shared machine, not a speed test.
  }, 120_000);

  it('serves every undamaged record byte for byte and never a damaged one, whatever bit of whatever record flips', () => {
    const seed = seedForTest();
    const rng = new SeededRng(seed);
    const { bytes, starts, values } = writeLog(25);
    for (let trial = 0; trial < 400; trial += 1) {
      const damaged = Buffer.from(bytes);
      const victim = rng.int(starts.length);
      const start = starts[victim] as number;
      const end = starts[victim + 1] ?? bytes.length;
      const at = start + rng.int(end - start);
      damaged[at] = (damaged[at] as number) ^ (1 << rng.int(8));
      const logs: string[] = [];
      const engine = open(directoryWith(damaged), logs);
      for (let i = 0; i < values.length; i += 1) {
        const record = engine.get(`key-${i}`);
        if (i === victim) expect(record, `trial ${trial}: the damaged record key-${i} (byte ${at - start} flipped)`).toBeNull();
        else
          expect(
            record !== null && Buffer.from(record.value).equals(values[i] as Buffer),
            `trial ${trial}: key-${i} with key-${victim} damaged at byte ${at - start}`,
          ).toBe(true);
      }
      const { corruptRegions, tornTails } = engine.durability();
      // Damage in the last record is indistinguishable from a torn write: it is cut as one.
      if (victim === starts.length - 1) expect({ corruptRegions, tornTails }).toEqual({ corruptRegions: 0, tornTails: 1 });
      else {
        expect({ corruptRegions, tornTails }).toEqual({ corruptRegions: 1, tornTails: 0 });
        expect(logs.some((line) => line.startsWith('error: skipped a damaged stretch'))).toBe(true);
      }
    }
  });
});

describe('log replay in chunks', () => {
  it('replays records that straddle the read chunks, one larger than a chunk, and a damaged one beyond the first chunk, every intact value byte for byte', () => {
    const directory = new MemoryLogDirectory();
    const engine = open(directory);
    const values: Buffer[] = [];
    for (let i = 0; i < 1400; i += 1) {
      // Mostly 2 KiB sessions of odd sizes, so that records end anywhere in a chunk; one value of 1.5 chunks.
      const value = Buffer.alloc(i === 700 ? REPLAY_CHUNK_BYTES * 1.5 : 2000 + (i % 97), i % 251);
      values.push(value);
      engine.apply(`key-${i}`, rec(1, value));
    }
    engine.flush();
    const bytes = Buffer.from(directory.bytesOf(SEGMENT));
    expect(bytes.length).toBeGreaterThan(3 * REPLAY_CHUNK_BYTES);
    const check = (reopened: ReturnType<typeof open>, damaged: number | null) => {
      for (let i = 0; i < values.length; i += 1) {
        const record = reopened.get(`key-${i}`);
        if (i === damaged) expect(record, `key-${i}`).toBeNull();
        else expect(record !== null && Buffer.from(record.value).equals(values[i] as Buffer), `key-${i}`).toBe(true);
      }
    };
    const whole = open(directoryWith(bytes));
    check(whole, null);
    expect(whole.durability()).toMatchObject({ recoveredEntries: 1400, corruptRegions: 0, tornTails: 0 });
    // A bit flipped in the value of key-1000, past the large record: found, skipped, the rest served.
    const damaged = Buffer.from(bytes);
    const at = damaged.indexOf(Buffer.from('key-1000')) + 100;
    damaged[at] = (damaged[at] as number) ^ 4;
    const afterDamage = open(directoryWith(damaged));
    check(afterDamage, 1000);
    expect(afterDamage.durability()).toMatchObject({ recoveredEntries: 1399, corruptRegions: 1, tornTails: 0 });
  });
});

describe('log record codec', () => {
  it('round-trips records (tombstones, expiry, multi-byte keys) and removals, and refuses another format version', () => {
    const record = rec(42, Buffer.from('héllo'), { tombstone: false, expiresAt: 123456789 });
    const bytes = encodeRecordEntry('clé-1', record);
    const decoded = decodeLogEntry(bytes, 0, bytes.length, 1 << 20);
    expect(decoded).toMatchObject({
      bytes: bytes.length,
      entry: { kind: 'record', key: 'clé-1', record: { ...record, value: expect.anything() } },
    });
    expect(Buffer.from((decoded as { entry: { record: VersionedValue } }).entry.record.value).toString()).toBe('héllo');
    const tombstone = encodeRecordEntry('k', rec(3, Buffer.alloc(0), { tombstone: true }));
    expect(decodeLogEntry(tombstone, 0, tombstone.length, 1 << 20)).toMatchObject({
      entry: { record: { tombstone: true, expiresAt: null } },
    });
    const removal = encodeRemoveEntry('gone');
    expect(decodeLogEntry(removal, 0, removal.length, 1 << 20)).toEqual({ entry: { kind: 'remove', key: 'gone' }, bytes: removal.length });
    // A record of a later format, checksummed as it would be: refused as another format, not served.
    const later = Buffer.from(bytes);
    later[LOG_HEADER_BYTES] = 2;
    later.writeUInt32LE(crc32(later.subarray(LOG_HEADER_BYTES), crc32(later.subarray(4, 8))), 8);
    expect(decodeLogEntry(later, 0, later.length, 1 << 20)).toEqual({ damage: 'bad-format' });
    expect(decodeLogEntry(bytes, 0, bytes.length, 10)).toEqual({ damage: 'bad-length' });
  });
});
