// The storage engines every engine test suite runs against, so that each suite states the rules
// of the `RangeScanStorageEngine` port once and every engine is held to them. Test code only
// (excluded from the library build).
import type { RangeScanStorageEngine } from '@dkv/core';
import { CompactStorageEngine } from './compact-storage-engine.js';
import { InMemoryStorageEngine, type InMemoryStorageEngineOptions, type InMemoryStorageStats } from './in-memory-storage-engine.js';

/** An engine under test: the port, plus the TTL index size both engines report. */
export interface EngineUnderTest extends RangeScanStorageEngine {
  stats(): InMemoryStorageStats;
}

/** Builds an engine from the options both engines take. */
export type EngineFactory = (options: InMemoryStorageEngineOptions) => EngineUnderTest;

/**
 * Both engines, named for `describe.each`. The compact engine gets 4 KiB slabs and a 1 KiB
 * largest slab class, so that even small suites fill several slabs and keep values in buffers of
 * their own.
 */
export const ENGINES: ReadonlyArray<readonly [string, EngineFactory]> = [
  ['InMemoryStorageEngine', (options) => new InMemoryStorageEngine(options)],
  ['CompactStorageEngine', (options) => new CompactStorageEngine({ ...options, slabBytes: 4096, maxSlabValueBytes: 1024 })],
];
