// The storage engines every engine test suite runs against, so that each suite states the rules
// of the `RangeScanStorageEngine` port once and every engine is held to them. Test code only
// (excluded from the library build).
import type { RangeScanStorageEngine } from '@dkv/core';
import { CompactStorageEngine } from './compact-storage-engine.js';
import { DurableStorageEngine } from './durable-storage-engine.js';
import { InMemoryStorageEngine, type InMemoryStorageEngineOptions, type InMemoryStorageStats } from './in-memory-storage-engine.js';
import { MemoryLogDirectory } from './log-files.js';

/** A scheduler that never runs anything: the contract suites drive engines by hand. */
const IDLE_SCHEDULER = { after: () => ({ cancel: () => undefined }), every: () => ({ cancel: () => undefined }) };

/** An engine under test: the port, plus the TTL index size both engines report. */
export interface EngineUnderTest extends RangeScanStorageEngine {
  stats(): InMemoryStorageStats;
}

/** Builds an engine from the options both engines take. */
export type EngineFactory = (options: InMemoryStorageEngineOptions) => EngineUnderTest;

/**
 * The engines, named for `describe.each`. The compact engine gets 4 KiB slabs and a 1 KiB
 * largest slab class, so that even small suites fill several slabs and keep values in buffers of
 * their own. The durable engine wraps such a compact engine and logs to a directory in memory,
 * with 4 KiB segments so that suites seal several of them.
 */
export const ENGINES: ReadonlyArray<readonly [string, EngineFactory]> = [
  ['InMemoryStorageEngine', (options) => new InMemoryStorageEngine(options)],
  ['CompactStorageEngine', (options) => new CompactStorageEngine({ ...options, slabBytes: 4096, maxSlabValueBytes: 1024 })],
  [
    'DurableStorageEngine',
    (options) =>
      DurableStorageEngine.open({
        engine: new CompactStorageEngine({ ...options, slabBytes: 4096, maxSlabValueBytes: 1024 }),
        directory: new MemoryLogDirectory(),
        nodeId: 'n1',
        fsync: { mode: 'never' },
        clock: options.clock,
        scheduler: IDLE_SCHEDULER,
        segmentBytes: 4096,
      }),
  ],
];
