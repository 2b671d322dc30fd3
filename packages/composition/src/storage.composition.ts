import type { Clock, RangeScanStorageEngine } from '@dkv/core';
import { CompactStorageEngine, InMemoryStorageEngine, MAX_KEYS_PER_REPLICA } from '@dkv/storage';
import { ContainerModule } from 'inversify';
import { TOKENS as T } from './tokens.js';

/**
 * The storage engines a node can run: `map` (`InMemoryStorageEngine`, a Map of record objects,
 * the reference layout) and `compact` (`CompactStorageEngine`: the same rules, values in slabs
 * and metadata in typed arrays). A durable node wraps either in a `DurableStorageEngine` by
 * rebinding {@link TOKENS.engine} (apps/node does, with its data directory).
 */
export const STORAGE_ENGINES = ['map', 'compact'] as const;

/** Which engine a storage node runs. */
export type StorageEngineKind = (typeof STORAGE_ENGINES)[number];

/**
 * The V8 heap a key costs each engine, besides its value, planned with room for keys of up to
 * about 100 characters. Measured with 37-character keys (connect-redis's `sess:<id>`): 97 bytes
 * in the compact engine (its index entry, the key string and its slot in the key column; the
 * record's other columns are outside the heap), 372 in the map engine (a record object and an
 * entry per key). A character more costs a byte more.
 */
export const HEAP_BYTES_PER_KEY: Readonly<Record<StorageEngineKind, number>> = { compact: 160, map: 512 };

/** The share of the V8 heap limit a node's keys may take by default; the rest is for requests, buffers and collection. */
const KEYS_HEAP_SHARE = 0.7;

/**
 * The default of a node's `--max-keys`: as many keys as fit in 70% of `heapLimitBytes` (V8's heap
 * limit, `v8.getHeapStatistics().heap_size_limit`, which `--max-old-space-size` raises) at
 * {@link HEAP_BYTES_PER_KEY}, and never more than `MAX_KEYS_PER_REPLICA`. A node that reaches it
 * refuses writes of new keys; without it, it would stop with "JavaScript heap out of memory", and
 * its replicas with it, since they fill alike.
 */
export function maxKeysForHeap(engine: StorageEngineKind, heapLimitBytes: number): number {
  return Math.max(1, Math.min(MAX_KEYS_PER_REPLICA, Math.floor((KEYS_HEAP_SHARE * heapLimitBytes) / HEAP_BYTES_PER_KEY[engine])));
}

/** What the storage module builds an engine from. */
export interface StorageSettings {
  readonly engine: StorageEngineKind;
  /** How long deletes and expiries are remembered before they are purged. */
  readonly tombstoneGraceMs: number;
  /** The most keys (values and tombstones) the engine holds: new keys beyond are refused (`UNAVAILABLE`). Default `MAX_KEYS_PER_REPLICA`. */
  readonly maxKeys?: number;
}

/** The in-memory engine of {@link StorageSettings}, on the bound clock. */
export function createMemoryEngine(settings: StorageSettings, clock: Clock): InMemoryStorageEngine | CompactStorageEngine {
  const options = {
    clock,
    tombstoneGraceMs: settings.tombstoneGraceMs,
    ...(settings.maxKeys === undefined ? {} : { maxKeys: settings.maxKeys }),
  };
  return settings.engine === 'map' ? new InMemoryStorageEngine(options) : new CompactStorageEngine(options);
}

/** Binds {@link TOKENS.engine} to the engine the settings name. */
export const storageModule = new ContainerModule(({ bind }) => {
  bind<RangeScanStorageEngine>(T.engine)
    .toResolvedValue((settings: StorageSettings, clock: Clock) => createMemoryEngine(settings, clock), [T.storageSettings, T.clock])
    .inSingletonScope();
});
