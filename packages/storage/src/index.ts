/**
 * `@dkv/storage`: a replica's store and the handler that serves the internode protocol from it.
 * {@link InMemoryStorageEngine} keeps the winning version of each key, expires values into
 * tombstones and purges tombstones after a grace period; {@link CompactStorageEngine} does the
 * same with a layout of slabs and typed arrays that costs little more than the bytes it holds;
 * {@link StorageService} answers every internode request (GET, HEAD, PUT, PING, GOSSIP, SCAN,
 * DIGEST, HINT) from any `StorageEngine`, with the hooks of the node it runs in.
 */
export * from './in-memory-storage-engine.js';
export * from './compact-storage-engine.js';
export { DEFAULT_MAX_SLAB_VALUE_BYTES, DEFAULT_SLAB_BYTES } from './slab-allocator.js';
export * from './storage-service.js';
