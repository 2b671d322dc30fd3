/**
 * `@dkv/storage`: a replica's store and the handler that serves the internode protocol from it.
 * {@link InMemoryStorageEngine} keeps the winning version of each key, expires values into
 * tombstones and purges tombstones after a grace period; {@link CompactStorageEngine} does the
 * same with a layout of slabs and typed arrays that costs little more than the bytes it holds;
 * {@link StorageService} answers every internode request (GET, HEAD, PUT, PING, GOSSIP, SCAN,
 * DIGEST, HINT) from any `StorageEngine`, with the hooks of the node it runs in;
 * {@link DurableStorageEngine} keeps an in-memory engine's records in an append-only log on disk
 * (through the {@link LogDirectory} port) so that they survive a restart, and
 * {@link PersistingRequestHandler} holds a PUT's answer until its write is durable.
 */
export {
  checkEngineOptions,
  DEFAULT_TTL_INDEX_SLACK_FACTOR,
  InMemoryStorageEngine,
  type InMemoryStorageEngineOptions,
  type InMemoryStorageStats,
  SCAN_BUCKET_BITS,
} from './in-memory-storage-engine.js';
export {
  CompactStorageEngine,
  type CompactStorageEngineOptions,
  type CompactStorageStats,
  DEFAULT_COMPACTION_MAX_MOVES,
  SWEEP_COMPACTION_MAX_BYTES,
} from './compact-storage-engine.js';
export { DEFAULT_MAX_SLAB_VALUE_BYTES, DEFAULT_SLAB_BYTES } from './slab-allocator.js';
export {
  type CopyingStorageEngine,
  DEFAULT_SCAN_MAX_BYTES,
  DEFAULT_SCAN_MAX_RECORDS,
  type GossipHandler,
  type HintKeeper,
  StorageService,
  type StorageServiceOptions,
} from './storage-service.js';
export {
  DurableStorageEngine,
  DEFAULT_SEGMENT_BYTES,
  DEFAULT_MERGE_RATIO,
  DEFAULT_MERGE_MIN_BYTES,
  type DurableStorageEngineOptions,
  type DurabilityStats,
  type DurableEngineLogger,
  type FsyncPolicy,
} from './durable-storage-engine.js';
export {
  type BoundedStorageEngine,
  KeyIndex,
  type KeyIndexBounds,
  KeyLimitError,
  MAX_KEYS_PER_REPLICA,
  V8_MAP_MAX_ENTRIES,
} from './key-index.js';
export { MemoryLogDirectory, type LogDirectory, type LogFile, type LogFault } from './log-files.js';
export { DATA_FORMAT_VERSION, IDENTITY_FILE } from './data-identity.js';
export { PersistingRequestHandler, type Persistence } from './persisting-request-handler.js';
