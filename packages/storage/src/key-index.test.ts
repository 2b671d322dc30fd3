// Goal: a replica holds more keys than one V8 `Map` can (2^24), and a key it has no room for (its
// index shard full, or `maxKeys` reached) is refused cleanly, with nothing in the store changed
// and, for the durable engine, nothing logged. Before the key index, both engines kept
// their keys in one `Map`: on a node past 16,777,216 keys every write of a new key failed with
// V8's RangeError, and the compact engine had already taken a record slot for the key (linked into
// its scan bucket, never freed): every refused write leaked one.
// Method: V8's limit is checked as it is (a plain Map filled to it); the index and every engine
// are run with a shard capacity lowered to reach it in a few hundred keys: more keys than one
// shard holds all stay readable, and the key that would overfill its shard is refused with
// UNAVAILABLE while counts, scans and digests stay as they were; after a key of that shard goes,
// the refused key fits. The same for `maxKeys`, and across a restart of the durable engine.
import { DkvError, type VersionedValue } from '@dkv/core';
import { FULL_RANGE, hashKey } from '@dkv/hashing';
import { describe, expect, it } from 'vitest';
import { CompactStorageEngine } from './compact-storage-engine.js';
import { DurableStorageEngine } from './durable-storage-engine.js';
import { ENGINES } from './engines.test-support.js';
import { KeyIndex, KeyLimitError, MAX_KEYS_PER_REPLICA, V8_MAP_MAX_ENTRIES } from './key-index.js';
import { MemoryLogDirectory } from './log-files.js';

/** Keys `k0, k1, ...` whose index shard (the top 4 bits of their ring hash) is `shard`. */
function keysOfShard(shard: number, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i += 1) if (hashKey(`k${i}`) >>> 28 === shard) keys.push(`k${i}`);
  return keys;
}

function rec(version: number, tombstone = false): VersionedValue {
  const value = tombstone ? new Uint8Array(0) : Buffer.from(`value ${version}`);
  return { value, version, writerId: 'c1', createdAt: 0, updatedAt: 0, expiresAt: null, tombstone };
}

function refusal(run: () => unknown): DkvError {
  try {
    run();
  } catch (error) {
    if (error instanceof DkvError) return error;
    throw error;
  }
  throw new Error('expected a refusal, nothing was thrown');
}

describe('V8 Map limit', () => {
  it(`is ${V8_MAP_MAX_ENTRIES} entries on this Node.js: one more throws`, () => {
    const map = new Map<number, number>();
    for (let i = 0; i < V8_MAP_MAX_ENTRIES; i += 1) map.set(i, 0);
    expect(() => map.set(-1, 0)).toThrow(/Map maximum size exceeded/);
    expect(map.size).toBe(V8_MAP_MAX_ENTRIES);
    // 5 s alone on this machine, 32 s in a loaded CI run: 16.7 million entries take what they take.
  }, 120_000);
});

describe('KeyIndex', () => {
  it('holds more keys than one shard can, spread over its shards, and counts them', () => {
    const index = new KeyIndex<number>({ shardCapacity: 64 });
    for (let i = 0; i < 600; i += 1) index.set(`k${i}`, i);
    expect(index.size).toBe(600);
    for (let i = 0; i < 600; i += 1) expect(index.get(`k${i}`)).toBe(i);
    index.set('k7', 70);
    expect(index.size).toBe(600);
    expect(index.get('k7')).toBe(70);
    expect(index.delete('k7')).toBe(true);
    expect(index.delete('k7')).toBe(false);
    expect(index.size).toBe(599);
    expect([...index.values()].length).toBe(599);
  });

  it('refuses a new key of a full shard with UNAVAILABLE and changes nothing; an existing key of it can still be set', () => {
    const index = new KeyIndex<number>({ shardCapacity: 4 });
    const [a, b, c, d, e] = keysOfShard(3, 5) as [string, string, string, string, string];
    for (const [i, key] of [a, b, c, d].entries()) index.set(key, i);
    index.set(keysOfShard(5, 1)[0] as string, 9);
    const error = refusal(() => index.set(e, 4));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toBe(`no room for new key "${e}": its part of the key index holds 4 keys, the most it can (5 in all)`);
    expect(error).toBeInstanceOf(KeyLimitError);
    expect(index.size).toBe(5);
    expect(index.get(e)).toBeUndefined();
    index.set(a, 40);
    expect(index.get(a)).toBe(40);
    index.delete(b);
    index.set(e, 4);
    expect(index.get(e)).toBe(4);
    expect(index.size).toBe(5);
  });
});

describe('KeyIndex maxKeys', () => {
  it('refuses a new key once it holds maxKeys, whatever the shard; a key held is still set; one deleted makes room', () => {
    const index = new KeyIndex<number>({ maxKeys: 3 });
    index.set('a', 1);
    index.set('b', 2);
    index.set('c', 3);
    const error = refusal(() => index.set('d', 4));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toBe(
      'no room for new key "d": this replica holds its most keys, 3 (values and tombstones), until some expire, or are deleted and purged',
    );
    expect(() => index.checkRoom('d')).toThrow(/most keys/);
    index.checkRoom('a');
    index.set('a', 10);
    expect(index.size).toBe(3);
    index.delete('b');
    index.set('d', 4);
    expect([...index.values()].sort()).toEqual([10, 3, 4].sort());
  });

  it('names a long key by its first 64 characters', () => {
    const index = new KeyIndex<number>({ maxKeys: 1 });
    index.set('a', 1);
    expect(refusal(() => index.set('x'.repeat(300), 2)).message).toContain(`"${'x'.repeat(64)}..."`);
  });

  it('refuses bounds outside their ranges', () => {
    expect(() => new KeyIndex({ maxKeys: 0 })).toThrow(`maxKeys must be a whole number from 1 to ${MAX_KEYS_PER_REPLICA}, got 0`);
    expect(() => new KeyIndex({ maxKeys: MAX_KEYS_PER_REPLICA + 1 })).toThrow(/maxKeys must be/);
    expect(() => new KeyIndex({ maxKeys: 2.5 })).toThrow(/maxKeys must be/);
    expect(() => new KeyIndex({ shardCapacity: V8_MAP_MAX_ENTRIES + 1 })).toThrow(/keyIndexShardCapacity must be/);
  });
});

describe.each(ENGINES)('%s key index', (_name, make) => {
  const clock = { now: (): number => 1_000 };

  it('holds more keys than one shard of its index can, every one readable', () => {
    const engine = make({ clock, tombstoneGraceMs: 60_000, keyIndexShardCapacity: 64 });
    for (let i = 0; i < 600; i += 1) engine.apply(`k${i}`, rec(i + 1));
    expect(engine.stats().keys).toBe(600);
    for (let i = 0; i < 600; i += 1) expect(engine.get(`k${i}`)?.version).toBe(i + 1);
    expect(engine.scan([FULL_RANGE], null, 1000, Number.MAX_SAFE_INTEGER).records.length).toBe(600);
  });

  it('refuses a key whose shard is full with UNAVAILABLE, its counts, scans and digests unchanged; after a key of that shard goes, it fits', () => {
    const engine = make({ clock, tombstoneGraceMs: 60_000, keyIndexShardCapacity: 8 });
    const keys = keysOfShard(11, 9);
    for (const [i, key] of keys.slice(0, 8).entries()) engine.apply(key, rec(i + 1));
    engine.apply('other', rec(50));
    const refused = keys[8] as string;
    const before = {
      stats: engine.stats(),
      scan: engine.scan([FULL_RANGE], null, 100, Number.MAX_SAFE_INTEGER),
      digest: engine.digest([FULL_RANGE], 4),
    };

    expect(refusal(() => engine.apply(refused, rec(100))).code).toBe('UNAVAILABLE');
    expect(refusal(() => engine.apply(refused, rec(101, true))).code).toBe('UNAVAILABLE');
    expect(engine.get(refused)).toBeNull();
    expect(engine.stats()).toEqual(before.stats);
    expect(engine.scan([FULL_RANGE], null, 100, Number.MAX_SAFE_INTEGER)).toEqual(before.scan);
    expect(engine.digest([FULL_RANGE], 4)).toEqual(before.digest);

    // A key already held in the full shard is still written; one removed makes room.
    expect(engine.apply(keys[0] as string, rec(200)).applied).toBe(true);
    expect(engine.remove(keys[1] as string)).toBe(true);
    expect(engine.apply(refused, rec(100)).applied).toBe(true);
    expect(engine.get(refused)?.version).toBe(100);
    expect(engine.stats().keys).toBe(9);
  });

  it('refuses a new key, value or tombstone, once it holds maxKeys, with nothing changed; overwrites and deletes of keys held go on', () => {
    const engine = make({ clock, tombstoneGraceMs: 60_000, maxKeys: 5 });
    for (let i = 0; i < 5; i += 1) engine.apply(`k${i}`, rec(i + 1));
    const before = { stats: engine.stats(), scan: engine.scan([FULL_RANGE], null, 100, Number.MAX_SAFE_INTEGER) };
    expect(refusal(() => engine.apply('new', rec(10))).message).toBe(
      'no room for new key "new": this replica holds its most keys, 5 (values and tombstones), until some expire, or are deleted and purged',
    );
    expect(refusal(() => engine.apply('new', rec(11, true))).code).toBe('UNAVAILABLE');
    expect(engine.stats()).toEqual(before.stats);
    expect(engine.scan([FULL_RANGE], null, 100, Number.MAX_SAFE_INTEGER)).toEqual(before.scan);
    expect(engine.apply('k0', rec(20)).applied).toBe(true);
    expect(engine.apply('k1', rec(21, true)).applied).toBe(true);
    expect(engine.remove('k2')).toBe(true);
    expect(engine.apply('new', rec(10)).applied).toBe(true);
    expect(engine.stats().keys + engine.stats().tombstones).toBe(5);
  });

  it('refuses a shard capacity outside 1..2^24', () => {
    expect(() => make({ clock, tombstoneGraceMs: 0, keyIndexShardCapacity: 0 })).toThrow(
      `keyIndexShardCapacity must be a whole number from 1 to ${V8_MAP_MAX_ENTRIES}, got 0`,
    );
    expect(() => make({ clock, tombstoneGraceMs: 0, keyIndexShardCapacity: V8_MAP_MAX_ENTRIES + 1 })).toThrow(/keyIndexShardCapacity/);
  });
});

describe('DurableStorageEngine with a bounded key index', () => {
  const clock = { now: (): number => 1_000 };
  const idle = { after: () => ({ cancel: () => undefined }), every: () => ({ cancel: () => undefined }) };
  const open = (directory: MemoryLogDirectory, maxKeys: number) =>
    DurableStorageEngine.open({
      engine: new CompactStorageEngine({ clock, tombstoneGraceMs: 60_000, maxKeys }),
      directory,
      nodeId: 'n1',
      fsync: { mode: 'never' },
      clock,
      scheduler: idle,
    });

  it('logs no record of a key it refused: a reopen holds exactly the keys it took', () => {
    const directory = new MemoryLogDirectory();
    const engine = open(directory, 3);
    for (let i = 0; i < 3; i += 1) engine.apply(`k${i}`, rec(i + 1));
    expect(refusal(() => engine.apply('refused', rec(9))).code).toBe('UNAVAILABLE');
    engine.apply('k0', rec(10));
    engine.close();

    const reopened = open(directory, 3);
    expect(reopened.durability().recoveredEntries).toBe(4);
    expect(reopened.get('refused')).toBeNull();
    expect(reopened.get('k0')?.version).toBe(10);
    expect(reopened.stats().keys).toBe(3);
    reopened.close();
  });

  it('does not start with fewer maxKeys than its log holds keys, and says so', () => {
    const directory = new MemoryLogDirectory();
    const engine = open(directory, 3);
    for (let i = 0; i < 3; i += 1) engine.apply(`k${i}`, rec(i + 1));
    engine.close();
    expect(() => open(directory, 2)).toThrow('no room for new key "k2": this replica holds its most keys, 2 (values and tombstones)');
  });
});
