import { DkvError } from './errors.js';

/** Keys are 1 to 512 bytes of UTF-8 (API.md). */
export const MAX_KEY_BYTES = 512;
/** TTLs are whole seconds from 1 to one year (API.md). */
export const MAX_TTL_SECONDS = 31_536_000;
/** The default value size limit: 1 MiB (API.md). The one home of this default: the coordinator's config and its flag read it. */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;
/**
 * The default replication factor N: 3 copies of each key survive one node down with W = R = 2
 * (Dynamo's usual setting). The one home of this default: the coordinators' config, range sync,
 * anti-entropy, the node's `--n` and the simulation read it.
 */
export const DEFAULT_REPLICATION_FACTOR = 3;
/**
 * How long deletes and expiries are remembered (as tombstones) before they are purged by default:
 * one hour, well above anti-entropy's default round (a minute) and the longest hint age, so a
 * replica that missed a delete learns it before anyone forgets it. The one home of this default:
 * the node's `--tombstone-grace-ms`, the simulation and the test harnesses read it.
 */
export const DEFAULT_TOMBSTONE_GRACE_MS = 3_600_000;

/** The longest key, in UTF-16 code units, that is within {@link MAX_KEY_BYTES} whatever its characters. */
const MAX_KEY_UNITS_WITHIN_BOUND = Math.floor(MAX_KEY_BYTES / 3);

/** Throws INVALID_KEY unless `key` is 1..512 bytes of UTF-8 (lone surrogates are not UTF-8). */
export function validateKey(key: string): void {
  // A UTF-16 code unit is at most 3 bytes of UTF-8 (a pair of them 4), so a key of 1 to
  // MAX_KEY_BYTES / 3 units is within the bound without counting its bytes: every read and write
  // validates its key, and counting them is a call into Node's C++ each time.
  if (key.length < 1 || key.length > MAX_KEY_UNITS_WITHIN_BOUND) {
    const bytes = Buffer.byteLength(key, 'utf8');
    if (bytes < 1 || bytes > MAX_KEY_BYTES) {
      throw new DkvError('INVALID_KEY', `key must be 1 to ${MAX_KEY_BYTES} bytes of UTF-8, got ${bytes} bytes`);
    }
  }
  if (!key.isWellFormed()) {
    throw new DkvError('INVALID_KEY', 'key must be valid UTF-8 (it contains an unpaired surrogate)');
  }
}

/** Throws INVALID_TTL unless `ttlSeconds` is a whole number of seconds in 1..31536000. */
export function validateTtlSeconds(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new DkvError('INVALID_TTL', `ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}, got ${String(ttlSeconds)}`);
  }
}

/** Throws INVALID_CONSISTENCY unless `level` (the `r` or `w` of a request) is an integer in 1..n. */
export function validateConsistency(name: 'r' | 'w', level: number, n: number): void {
  if (!Number.isInteger(level) || level < 1 || level > n) {
    throw new DkvError(
      'INVALID_CONSISTENCY',
      `${name} must be a whole number from 1 to ${n} (the replication factor N), got ${String(level)}`,
    );
  }
}

/** Throws VALUE_TOO_LARGE when a value is over the configured limit. */
export function validateValueSize(sizeBytes: number, maxValueBytes: number): void {
  if (sizeBytes > maxValueBytes) {
    throw new DkvError('VALUE_TOO_LARGE', `value is ${sizeBytes} bytes; the limit is ${maxValueBytes} bytes`);
  }
}
