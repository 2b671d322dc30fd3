/**
 * One in-process measurement of the memory benchmark (started by benchmarks/memory/bench.ts as
 * `node --expose-gc --conditions=development --import tsx engine-child.ts <keys> <own|pool> <map|compact>`).
 *
 * `map` (InMemoryStorageEngine, which keeps the records it is given): it builds the stored data
 * in layers (key strings, value bytes, record objects, then the engine's own structures through
 * `apply`), measures each layer's delta after a full GC, then builds each of the engine's per-key
 * shapes alone to split the engine layer.
 *
 * `compact` (CompactStorageEngine, which copies values into its slabs and keeps no record
 * objects): the same keys, then `apply` of the same values, each in a transient buffer made for
 * that call (`own`: a fresh exact-size copy, as the internode codec hands a replica; `pool`: the
 * shared template Buffer) that is garbage once `apply` returns. The engine layer is split by kind:
 * value slabs (the engine's `valueStoreBytes`), its other ArrayBuffers (typed-array columns, TTL
 * heap), and V8 heap (the key Map and the slot-to-key array).
 *
 * It prints progress lines and one `RESULT <json>` line.
 */
import { CompactStorageEngine, InMemoryStorageEngine } from '@dkv/storage';
import type { VersionedValue } from '@dkv/core';
import { SESSION_VALUE_BYTES, sessionValuePool } from '@dkv/testkit';
import type { EngineKind } from './engine-kinds.js';

/** Bytes a layer added: resident, V8 heap (JS objects), and external (ArrayBuffer backing stores). */
export interface Delta {
  readonly rssBytes: number;
  readonly heapBytes: number;
  readonly externalBytes: number;
}

/** A named layer or shape and what it cost. */
export interface Layer extends Delta {
  readonly name: string;
  readonly what: string;
}

/** What the child reports. */
export interface EngineResult {
  readonly engine: EngineKind;
  readonly alloc: 'own' | 'pool';
  readonly keys: number;
  readonly payloadBytes: number;
  /** Everything the engine holds, harness arrays released: the figure the ratio is made of. */
  readonly total: Delta;
  readonly ratio: number;
  readonly fillSeconds: number;
  readonly layers: readonly Layer[];
  /** The map engine's per-key shapes, each built alone; the compact engine's layer split by kind. */
  readonly shapes: readonly Layer[];
}

interface Sample {
  readonly rss: number;
  readonly heap: number;
  readonly external: number;
}

/** What a shape measurement keeps alive while it is sampled (written, never read: it only holds a reference). */
let _retained: unknown = null;

const gc = (globalThis as { gc?: () => void }).gc;

function sample(): Sample {
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external };
}

function delta(from: Sample, to: Sample): Delta {
  return { rssBytes: to.rss - from.rss, heapBytes: to.heap - from.heap, externalBytes: to.external - from.external };
}

function progress(what: string, i: number, keys: number): void {
  if (i > 0 && i % 200_000 === 0) process.stdout.write(`${what}: ${i.toLocaleString('en-US')} / ${keys.toLocaleString('en-US')}\n`);
}

/** Keys as they arrive from the network: flat strings (a template literal would make cons strings). */
function makeKeys(keys: number): string[] {
  const list = new Array<string>(keys);
  for (let i = 0; i < keys; i += 1) list[i] = Buffer.from(`session:${i}`, 'latin1').toString('latin1');
  return list;
}

function makeValues(keys: number, alloc: 'own' | 'pool', templates: readonly Buffer[]): Uint8Array[] {
  const values = new Array<Uint8Array>(keys);
  for (let i = 0; i < keys; i += 1) {
    const template = templates[i % templates.length] ?? Buffer.alloc(SESSION_VALUE_BYTES);
    values[i] = alloc === 'own' ? new Uint8Array(template) : Buffer.from(template);
    progress('values', i, keys);
  }
  return values;
}

function makeRecords(values: readonly Uint8Array[], nowMs: number): VersionedValue[] {
  return values.map((value, i) => ({
    value,
    version: 245_344_933_228_544 + i,
    writerId: 'c1',
    createdAt: nowMs,
    updatedAt: nowMs,
    expiresAt: nowMs + 3_600_000,
    tombstone: false,
  }));
}

/** Applies every record; returns the seconds it took. */
function applyAllRecords(engine: InMemoryStorageEngine, keys: readonly string[], records: readonly VersionedValue[]): number {
  const start = performance.now();
  for (let i = 0; i < keys.length; i += 1) {
    engine.apply(keys[i] ?? '', records[i] as VersionedValue);
    progress('engine.apply', i, keys.length);
  }
  return (performance.now() - start) / 1000;
}

/**
 * Applies a record of every key to the compact engine, its value in a buffer made for the call
 * (`own`) or the shared template (`pool`), like a replica's request handler would; returns the seconds it took.
 */
function applyAllTransient(
  engine: CompactStorageEngine,
  keys: readonly string[],
  alloc: 'own' | 'pool',
  templates: readonly Buffer[],
  nowMs: number,
): number {
  const start = performance.now();
  for (let i = 0; i < keys.length; i += 1) {
    const template = templates[i % templates.length] ?? Buffer.alloc(SESSION_VALUE_BYTES);
    const value = alloc === 'own' ? new Uint8Array(template) : template;
    engine.apply(keys[i] ?? '', {
      value,
      version: 245_344_933_228_544 + i,
      writerId: 'c1',
      createdAt: nowMs,
      updatedAt: nowMs,
      expiresAt: nowMs + 3_600_000,
      tombstone: false,
    });
    progress('engine.apply', i, keys.length);
  }
  return (performance.now() - start) / 1000;
}

function main(): void {
  const keys = Number(process.argv[2] ?? 1_000_000);
  const alloc = process.argv[3] === 'pool' ? 'pool' : 'own';
  const engineKind: EngineKind = process.argv[4] === 'compact' ? 'compact' : 'map';
  const result = engineKind === 'compact' ? measureCompact(keys, alloc) : measureMap(keys, alloc);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

/** Takes a sample after full GCs and records layers as deltas from the previous sample. */
function layerRecorder(): { layers: Layer[]; layer: (name: string, what: string) => void; total: () => Delta } {
  const layers: Layer[] = [];
  let previous = sample();
  const base = previous;
  const layer = (name: string, what: string): void => {
    const now = sample();
    layers.push({ name, what, ...delta(previous, now) });
    previous = now;
    process.stdout.write(`${name}: ${((now.rss - base.rss) / 2 ** 20).toFixed(0)} MiB resident above the start\n`);
  };
  return { layers, layer, total: () => delta(base, previous) };
}

function measureCompact(keys: number, alloc: 'own' | 'pool'): EngineResult {
  const templates = sessionValuePool(256, SESSION_VALUE_BYTES);
  const nowMs = Date.now();
  const { layers, layer, total } = layerRecorder();
  const harness: { keys: string[] | null } = { keys: null };
  harness.keys = makeKeys(keys);
  layer('keys', 'the key strings (plus 8 B/key of harness array)');
  const engine = new CompactStorageEngine({ clock: { now: () => Date.now() }, tombstoneGraceMs: 3_600_000 });
  const fillSeconds = applyAllTransient(engine, harness.keys, alloc, templates, nowMs);
  layer(
    'engine',
    `CompactStorageEngine: value slabs, typed-array columns, TTL heap, key Map (values arrive in ${alloc === 'own' ? 'a fresh buffer per apply' : 'the shared template Buffer'}, garbage afterwards)`,
  );
  const held = engine.stats();
  if (held.keys !== keys) throw new Error(`the engine holds ${held.keys} keys, expected ${keys}`);
  harness.keys = null;
  layer('harness', "the benchmark's own key array released (negative)");
  const engineLayer = layers.find((l) => l.name === 'engine');
  const shapes: Layer[] = engineLayer
    ? [
        {
          name: 'value slabs',
          what: 'slab ArrayBuffers reserved for values (engine stats valueStoreBytes)',
          rssBytes: 0,
          heapBytes: 0,
          externalBytes: held.valueStoreBytes,
        },
        {
          name: 'other ArrayBuffers',
          what: 'typed-array columns (~90 B/slot), slot free list, TTL heap (16 B/item); the tails of grown arrays are reserved, not resident',
          rssBytes: 0,
          heapBytes: 0,
          externalBytes: engineLayer.externalBytes - held.valueStoreBytes,
        },
        {
          name: 'V8 heap',
          what: 'Map<string, number> from key to slot, the slot-to-key array, writer table',
          rssBytes: 0,
          heapBytes: engineLayer.heapBytes,
          externalBytes: 0,
        },
      ]
    : [];
  const engineTotal = total();
  const result: EngineResult = {
    engine: 'compact',
    alloc,
    keys,
    payloadBytes: held.bytes,
    total: engineTotal,
    ratio: engineTotal.rssBytes / held.bytes,
    fillSeconds,
    layers,
    shapes,
  };
  if (engine.stats().keys !== keys) throw new Error('the engine lost keys');
  return result;
}

function measureMap(keys: number, alloc: 'own' | 'pool'): EngineResult {
  const templates = sessionValuePool(256, SESSION_VALUE_BYTES);
  const nowMs = Date.now();
  const recorder = layerRecorder();
  const { layers, layer } = recorder;

  // The harness's arrays live in one object, filled by helper functions, so that releasing them
  // leaves no reference behind in an optimized frame of this function.
  const harness: { keys: string[] | null; values: Uint8Array[] | null; records: VersionedValue[] | null } = {
    keys: null,
    values: null,
    records: null,
  };
  harness.keys = makeKeys(keys);
  layer('keys', 'the key strings (plus 8 B/key of harness array)');
  harness.values = makeValues(keys, alloc, templates);
  layer(
    'values',
    alloc === 'own'
      ? 'one exact-size ArrayBuffer per value (+ Uint8Array object, backing store, malloc header)'
      : 'Buffer.from: slices of shared 8 KiB pool slabs',
  );
  harness.records = makeRecords(harness.values, nowMs);
  layer('records', 'VersionedValue objects (7 fields; version and times as heap numbers)');
  const engine = new InMemoryStorageEngine({ clock: { now: () => Date.now() }, tombstoneGraceMs: 3_600_000 });
  const fillSeconds = applyAllRecords(engine, harness.keys, harness.records);
  layer('engine', 'InMemoryStorageEngine structures: Map entry, Entry object, scan-bucket Set entry, TTL heap items');

  const held = engine.stats();
  if (held.keys !== keys) throw new Error(`the engine holds ${held.keys} keys, expected ${keys}`);
  harness.keys = null;
  harness.values = null;
  harness.records = null;
  layer('harness', "the benchmark's own key/value/record arrays released (negative)");
  const total = recorder.total();
  const payloadBytes = held.bytes;

  // The engine layer taken apart: each shape alone, at the same count, then released. The keys
  // are made again (measured before each shape, so not counted in it); the shapes point at one
  // record, since a pointer costs the same whatever it points to.
  const keysForShapes = Array.from({ length: keys }, (_, i) => Buffer.from(`session:${i}`, 'latin1').toString('latin1'));
  const oneRecord = { value: new Uint8Array(0) };
  const shapes: Layer[] = [];
  const shape = (name: string, what: string, build: () => unknown): void => {
    const before = sample();
    _retained = build();
    const after = sample();
    _retained = null;
    shapes.push({ name, what, ...delta(before, after) });
  };
  shape('Map<string, object>', 'one Map entry per key (OrderedHashMap: hash table + entry triple)', () => {
    const map = new Map<string, unknown>();
    for (let i = 0; i < keys; i += 1) map.set(keysForShapes[i] ?? '', oneRecord);
    return map;
  });
  shape('4096 Set<string>', 'the scan index: one Set entry per key, keys spread over 4096 bucket Sets', () => {
    const sets = Array.from({ length: 4096 }, () => new Set<string>());
    for (let i = 0; i < keys; i += 1) sets[(i * 2654435761) >>> 20]?.add(keysForShapes[i] ?? '');
    return sets;
  });
  shape('Entry objects', '{ key, keyBytes, hash, record, purgeAtMs } per key (hash above 2^31 half the time: a heap number)', () => {
    const entries = new Array<unknown>(keys).fill(0);
    for (let i = 0; i < keys; i += 1) {
      entries[i] = {
        key: keysForShapes[i],
        keyBytes: 14,
        hash: (i * 2654435761) >>> 0,
        record: oneRecord,
        purgeAtMs: Number.POSITIVE_INFINITY,
      };
    }
    return entries;
  });
  shape('TTL heap items', 'BinaryHeap: one array of { atMs, entry } items pointing at the Entry objects, grown by push', () => {
    const items: Array<{ atMs: number; entry: unknown }> = [];
    for (let i = 0; i < keys; i += 1) items.push({ atMs: nowMs + 3_600_000 + i, entry: oneRecord });
    return items;
  });
  // The Entry shape above includes its holding array; subtract a plain array of the same length.
  const arrayBaseline = (() => {
    const before = sample();
    _retained = new Array<unknown>(keys).fill(0);
    const after = sample();
    _retained = null;
    return after.heap - before.heap;
  })();
  const entryShape = shapes.find((s) => s.name === 'Entry objects');
  if (entryShape)
    Object.assign(entryShape, { heapBytes: entryShape.heapBytes - arrayBaseline, what: `${entryShape.what}; holding array subtracted` });

  const result: EngineResult = {
    engine: 'map',
    alloc,
    keys,
    payloadBytes,
    total,
    ratio: total.rssBytes / payloadBytes,
    fillSeconds,
    layers,
    shapes,
  };
  if (engine.stats().keys !== keys) throw new Error('the engine lost keys');
  return result;
}

main();
