import type { Clock, RangeScanStorageEngine } from '@dkv/core';
import { CompactStorageEngine, InMemoryStorageEngine } from '@dkv/storage';
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

/** What the storage module builds an engine from. */
export interface StorageSettings {
  readonly engine: StorageEngineKind;
  /** How long deletes and expiries are remembered before they are purged. */
  readonly tombstoneGraceMs: number;
}

/** The in-memory engine of {@link StorageSettings}, on the bound clock. */
export function createMemoryEngine(settings: StorageSettings, clock: Clock): InMemoryStorageEngine | CompactStorageEngine {
  const options = { clock, tombstoneGraceMs: settings.tombstoneGraceMs };
  return settings.engine === 'map' ? new InMemoryStorageEngine(options) : new CompactStorageEngine(options);
}

/** Binds {@link TOKENS.engine} to the engine the settings name. */
export const storageModule = new ContainerModule(({ bind }) => {
  bind<RangeScanStorageEngine>(T.engine)
    .toResolvedValue((settings: StorageSettings, clock: Clock) => createMemoryEngine(settings, clock), [T.storageSettings, T.clock])
    .inSingletonScope();
});
