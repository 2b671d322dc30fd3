import { DkvError } from '@dkv/core';
import { hashKey } from '@dkv/hashing';

/**
 * The most entries one V8 `Map` holds: a `set` of one more throws `RangeError: Map maximum size
 * exceeded` (V8's `OrderedHashMap` capacity limit, 2^24; `key-index.test.ts` checks it on every
 * Node.js the project runs on). A storage node that kept its keys in one `Map` failed every write
 * of a new key from the 16,777,217th on, at about 38 GB of 2 KB sessions: less than one node of a
 * 5-node cluster holds of the users' 50 million sessions (30 million keys each, N=3).
 */
export const V8_MAP_MAX_ENTRIES = 2 ** 24;

/**
 * The most keys a replica holds, whatever `maxKeys` asks: the compact engine keeps its keys in a
 * JS array (a column of its record table), and V8 cannot grow an array past about 112 million
 * elements. It does not throw there, it stops the process: pushing onto an array on Node 20 ended
 * in "Fatal JavaScript invalid size error 169220804" (V8 grows an array by half, and 169 million
 * is past its limit). At about 200 bytes of index and columns per key besides the value, 100
 * million keys are 20 GB before any value.
 */
export const MAX_KEYS_PER_REPLICA = 100_000_000;

/** A {@link KeyIndex} has 2^SHARD_BITS shards, picked by the top bits of the key's ring hash. */
const SHARD_BITS = 4;

/**
 * A write of a new key refused for want of room in the key index (see {@link KeyIndex}). Its code
 * is `UNAVAILABLE`: the replica fails that write. A storage node tells its coordinators why
 * (`REPLICA_FULL`, see `StorageService`), and they count it as an answer from a live replica.
 */
export class KeyLimitError extends DkvError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
    this.name = 'KeyLimitError';
  }
}

/**
 * An engine whose key index is bounded ({@link KeyIndex}): both of ours. The durable engine asks
 * it before it logs a record, so that a key the engine would refuse is never logged either.
 */
export interface BoundedStorageEngine {
  /** Throws a {@link KeyLimitError} when `key` is not held and the engine has no room for another key. */
  checkRoom(key: string): void;
}

/** The bounds of a {@link KeyIndex}. */
export interface KeyIndexBounds {
  /** The most keys held: 1 to {@link MAX_KEYS_PER_REPLICA} (the default). */
  readonly maxKeys?: number;
  /** The most keys one shard holds: 1 to {@link V8_MAP_MAX_ENTRIES} (the default, V8's limit); lower only in tests. */
  readonly shardCapacity?: number;
}

/**
 * A replica's key → record index over several `Map`s, so that it holds more keys than one `Map`
 * can ({@link V8_MAP_MAX_ENTRIES}): 16 shards, picked by the top bits of `hashKey(key)` (xxHash32,
 * uniform over keys). Both storage engines use it, so they iterate their keys in the same order.
 *
 * A new key is refused with a {@link KeyLimitError} (`UNAVAILABLE`), before anything changes,
 * when the index holds `maxKeys` keys or the key's shard is full (only keys that all hash alike,
 * more than 16.7 million of them, fill one): the replica fails that write, and the caller's store
 * stays as it was. Keys already held can always be set again.
 */
export class KeyIndex<V> {
  private readonly shards: Map<string, V>[];
  private readonly maxKeys: number;
  private readonly shardCapacity: number;
  private count = 0;

  constructor(bounds: KeyIndexBounds = {}) {
    const { maxKeys = MAX_KEYS_PER_REPLICA, shardCapacity = V8_MAP_MAX_ENTRIES } = bounds;
    const problem = keyIndexBoundsProblem(bounds);
    if (problem !== null) throw new DkvError('INVALID_REQUEST', problem);
    this.maxKeys = maxKeys;
    this.shardCapacity = shardCapacity;
    this.shards = Array.from({ length: 2 ** SHARD_BITS }, () => new Map<string, V>());
  }

  /** Keys held. */
  get size(): number {
    return this.count;
  }

  /** The value of `key`; `hash` is `hashKey(key)` when the caller has it. */
  get(key: string, hash: number = hashKey(key)): V | undefined {
    return this.shardOf(hash).get(key);
  }

  /**
   * Throws a {@link KeyLimitError} when `key` is new and there is no room for it (see the class
   * comment): for a caller that must check before it changes anything else (the compact engine
   * takes a record slot first).
   */
  checkRoom(key: string, hash: number = hashKey(key)): void {
    const shard = this.shardOf(hash);
    if ((this.count < this.maxKeys && shard.size < this.shardCapacity) || shard.has(key)) return;
    const named = JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}...` : key);
    throw new KeyLimitError(
      this.count >= this.maxKeys
        ? `no room for new key ${named}: this replica holds its most keys, ${this.maxKeys} (values and tombstones), until some expire, or are deleted and purged`
        : `no room for new key ${named}: its part of the key index holds ${this.shardCapacity} keys, the most it can (${this.count} in all)`,
    );
  }

  /** Sets `key` to `value`; a new key without room is refused first (see {@link checkRoom}), with nothing changed. */
  set(key: string, value: V, hash: number = hashKey(key)): void {
    this.checkRoom(key, hash);
    const shard = this.shardOf(hash);
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
  }

  /** Removes `key`; true when it was held. */
  delete(key: string, hash: number = hashKey(key)): boolean {
    if (!this.shardOf(hash).delete(key)) return false;
    this.count -= 1;
    return true;
  }

  /** Every value, shard by shard, each shard in insertion order. */
  *values(): IterableIterator<V> {
    for (const shard of this.shards) yield* shard.values();
  }

  private shardOf(hash: number): Map<string, V> {
    return this.shards[hash >>> (32 - SHARD_BITS)] as Map<string, V>;
  }
}

/** What is wrong with `bounds`, or null. */
export function keyIndexBoundsProblem(bounds: KeyIndexBounds): string | null {
  const { maxKeys = MAX_KEYS_PER_REPLICA, shardCapacity = V8_MAP_MAX_ENTRIES } = bounds;
  if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > MAX_KEYS_PER_REPLICA)
    return `maxKeys must be a whole number from 1 to ${MAX_KEYS_PER_REPLICA}, got ${String(maxKeys)}`;
  if (!Number.isInteger(shardCapacity) || shardCapacity < 1 || shardCapacity > V8_MAP_MAX_ENTRIES)
    return `keyIndexShardCapacity must be a whole number from 1 to ${V8_MAP_MAX_ENTRIES}, got ${String(shardCapacity)}`;
  return null;
}
