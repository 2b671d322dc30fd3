/**
 * The unit of replication: one version of one key's value as a replica stores it.
 *
 * A delete is a tombstone: the same record with `tombstone: true` and an empty value, so that a
 * delete is ordered against writes by the same rule (highest version wins) and a replayed older
 * write can never bring the key back. An expired value is treated exactly like a tombstone at
 * its own version (see {@link isLive}).
 */
export interface VersionedValue {
  /** The value's bytes, stored and returned byte for byte. Empty for a tombstone. */
  readonly value: Uint8Array;
  /** Positive integer below 2^53. Higher wins; see {@link compareVersionedValues}. */
  readonly version: number;
  /** Id of the coordinator that issued the version; the first tie-breaker between equal versions. */
  readonly writerId: string;
  /** Epoch ms when the key's current life began (first write after absence or deletion). */
  readonly createdAt: number;
  /** Epoch ms of this write, by the issuing coordinator's clock. */
  readonly updatedAt: number;
  /** Absolute expiry in epoch ms, or null for no expiry. Fixed once by the coordinator. */
  readonly expiresAt: number | null;
  /** True when this version records a delete (or an expiry folded into a tombstone). */
  readonly tombstone: boolean;
}

/** The parts of a {@link VersionedValue} that order versions, without the value's bytes. */
export interface VersionMeta {
  readonly version: number;
  readonly writerId: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly tombstone: boolean;
}

/** The largest version dkv issues: versions travel as JSON numbers, so they stay exact integers. */
export const MAX_VERSION = Number.MAX_SAFE_INTEGER;

/**
 * Orders two versions of one key: negative when `a` loses to `b`, positive when it wins, 0 when
 * they are the same write.
 *
 * Higher `version` wins. Equal versions can only come from two coordinators issuing the same
 * number concurrently; they are broken by `writerId`, then tombstone over value, then by the bytes,
 * so that every replica that sees both keeps the same one whatever the order of arrival.
 */
export function compareVersionedValues(a: VersionMeta & { value?: Uint8Array }, b: VersionMeta & { value?: Uint8Array }): number {
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  if (a.writerId !== b.writerId) return a.writerId < b.writerId ? -1 : 1;
  if (a.tombstone !== b.tombstone) return a.tombstone ? 1 : -1;
  if (a.value && b.value) return Math.sign(Buffer.compare(a.value, b.value));
  return 0;
}

/** True when `record` is a value a reader may see at `nowMs`: not a tombstone and not expired. */
export function isLive(record: VersionMeta, nowMs: number): boolean {
  return !record.tombstone && (record.expiresAt === null || record.expiresAt > nowMs);
}

/** The metadata of a record, without its bytes. */
export function metaOf(record: VersionedValue): VersionMeta {
  return {
    version: record.version,
    writerId: record.writerId,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    tombstone: record.tombstone,
  };
}

/**
 * When `record` died, in epoch ms, or null while it can still live: a tombstone's `updatedAt` (the
 * time of the delete by the clock of the coordinator that wrote it, or the expiry time of the value
 * it was folded from, see {@link toTombstone}), or a value's `expiresAt`. It travels with the record,
 * so every replica computes the same purge time from it (Cassandra's "local deletion time"),
 * however late the tombstone reached it: a tombstone purged on one replica cannot come back from
 * another with a fresh grace period.
 */
export function deathTimeOf(record: Pick<VersionedValue, 'tombstone' | 'updatedAt' | 'expiresAt'>): number | null {
  return record.tombstone ? record.updatedAt : record.expiresAt;
}

/**
 * True when `record` is past its purge time at `nowMs` (its time of death plus `graceMs`): a
 * replica then holds nothing for it, and never applies, streams or digests it.
 */
export function isPastPurge(
  record: Pick<VersionedValue, 'tombstone' | 'updatedAt' | 'expiresAt'>,
  nowMs: number,
  graceMs: number,
): boolean {
  const deathMs = deathTimeOf(record);
  return deathMs !== null && deathMs + graceMs <= nowMs;
}

const EMPTY = new Uint8Array(0);

/**
 * The tombstone that stands for `record` once it has expired: same version and writer, no bytes.
 * Replicas fold expired values into these so an older replayed write cannot reappear.
 */
export function toTombstone(record: VersionMeta): VersionedValue {
  return {
    value: EMPTY,
    version: record.version,
    writerId: record.writerId,
    createdAt: record.createdAt,
    updatedAt: record.expiresAt ?? record.createdAt,
    expiresAt: null,
    tombstone: true,
  };
}
