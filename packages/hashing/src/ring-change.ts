import { DkvError } from '@dkv/core';
import type { ConsistentHash } from './consistent-hash.js';

/** The most keys {@link compareRings} samples in one call: it is a report, not a migration. */
export const MAX_SAMPLE_KEYS = 10_000_000;

/** What {@link compareRings} samples. */
export interface RingComparisonOptions {
  /** How many keys to sample, 1..{@link MAX_SAMPLE_KEYS}. Keys are `${keyPrefix}${i}`. */
  readonly sampleKeys: number;
  /** The preference-list length to compare; default 3 (dkv's N). */
  readonly replicationFactor?: number;
  /** Prefix of the sampled keys; default `key-`. */
  readonly keyPrefix?: string;
}

/** How much of a sample of keys a ring change moves. */
export interface RingChange {
  readonly sampledKeys: number;
  /** Fraction of the sampled keys whose primary node changed. */
  readonly primaryMovedFraction: number;
  /** Fraction whose preference list (the ordered node ids) changed in any position. */
  readonly preferenceListChangedFraction: number;
}

/**
 * Compares two rings over the same deterministic sample of keys: what fraction would change
 * primary, and what fraction would change preference list. It is a pure function, meant for
 * reports and for tests that hold the ring to Dynamo's promise that adding one node to k moves
 * about 1/(k+1) of the keys, not for routing.
 */
export function compareRings(before: ConsistentHash, after: ConsistentHash, options: RingComparisonOptions): RingChange {
  const { sampleKeys, replicationFactor = 3, keyPrefix = 'key-' } = options;
  if (!Number.isInteger(sampleKeys) || sampleKeys < 1 || sampleKeys > MAX_SAMPLE_KEYS) {
    throw new DkvError('INVALID_REQUEST', `sampleKeys must be a whole number from 1 to ${MAX_SAMPLE_KEYS}, got ${String(sampleKeys)}`);
  }
  let primaryMoved = 0;
  let listChanged = 0;
  for (let i = 0; i < sampleKeys; i += 1) {
    const key = `${keyPrefix}${i}`;
    const a = before.getNodesForKey(key, replicationFactor);
    const b = after.getNodesForKey(key, replicationFactor);
    if (a[0]?.id !== b[0]?.id) primaryMoved += 1;
    if (a.length !== b.length || a.some((node, index) => node.id !== b[index]?.id)) listChanged += 1;
  }
  return {
    sampledKeys: sampleKeys,
    primaryMovedFraction: primaryMoved / sampleKeys,
    preferenceListChangedFraction: listChanged / sampleKeys,
  };
}
