/**
 * `@dkv/hashing`: the ring. {@link ConsistentHash} places each node's virtual nodes on the 32-bit
 * xxHash space and answers, for any key, the preference list of distinct nodes that hold it.
 * It is a pure value computed from membership, so every process routes every key the same way.
 */
export * from './consistent-hash.js';
export * from './ring-change.js';
export * from './hash-ranges.js';
export * from './ring-views.js';
export * from './zones.js';
