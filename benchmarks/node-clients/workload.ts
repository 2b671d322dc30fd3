/**
 * The workload the NodeClient microbenchmark shares between its client and server processes:
 * session keys, 2 KiB values, and records that a StorageService accepts.
 */
import type { StorageEngine, VersionedValue } from '@dkv/core';

/** The key of session `index`. */
export function keyOf(index: number): string {
  return `session:${index.toString().padStart(8, '0')}`;
}

/** A value of `bytes` bytes, the same on every call (its content does not matter, only its size). */
export function valueOf(bytes: number): Uint8Array {
  const value = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 1) value[i] = (i * 31 + 7) & 0xff;
  return value;
}

/** A live record of `value` at `version`, with a one-hour TTL from now, as a coordinator would write it. */
export function recordOf(value: Uint8Array, version: number, nowMs: number): VersionedValue {
  return {
    value,
    version,
    writerId: 'bench-coordinator',
    createdAt: nowMs,
    updatedAt: nowMs,
    expiresAt: nowMs + 3_600_000,
    tombstone: false,
  };
}

/** Stores `keyCount` keys of `valueBytes` bytes at version 1 straight into `engine`. */
export function preload(engine: StorageEngine, keyCount: number, valueBytes: number): void {
  const value = valueOf(valueBytes);
  const now = Date.now();
  for (let i = 0; i < keyCount; i += 1) engine.apply(keyOf(i), recordOf(value, 1, now));
}
