/**
 * `@dkv/storage`: a replica's store and the handler that serves the internode protocol from it.
 * {@link InMemoryStorageEngine} keeps the winning version of each key, expires values into
 * tombstones and purges tombstones after a grace period; {@link StorageService} answers
 * GET, HEAD, PUT and PING from any `StorageEngine`.
 */
export * from './in-memory-storage-engine.js';
export * from './storage-service.js';
