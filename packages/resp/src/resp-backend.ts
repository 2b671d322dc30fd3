/**
 * The port the Redis door's commands run against: dkv's key-value operations in the terms the
 * commands need them. The coordinator's `CoordinatorService` is the real one (adapted in the apps'
 * composition roots); tests use {@link InMemoryRespBackend}.
 */

/** A stored value as a read sees it. */
export interface RespStoredValue {
  readonly value: Uint8Array;
  /** The version the store gave the write (not shown by Redis commands; kept for callers that can show it). */
  readonly version: number;
  /** Epoch milliseconds, or null for no expiry. */
  readonly expiresAt: number | null;
}

/** One page of a cluster-wide key scan. */
export interface RespScanPage {
  readonly keys: readonly string[];
  /** Where the next page starts; null when the scan is complete. */
  readonly cursor: string | null;
}

/**
 * What the commands need of the store. Every operation may throw a `DkvError` (`QUORUM_NOT_MET`,
 * `VALUE_TOO_LARGE`, `INVALID_KEY`, ...), which the door answers as `-<CODE> <message>` or `-ERR`.
 */
export interface RespBackend {
  /** The live value of `key` (missing, expired and deleted keys read as null). */
  get(key: string): Promise<RespStoredValue | null>;
  /**
   * Stores `value` under `key`, expiring at `expiresAt` (epoch ms, at most a year ahead) or never
   * (null). The door turns an expiry already past into {@link delete}.
   */
  put(key: string, value: Uint8Array, expiresAt: number | null): Promise<void>;
  /** Deletes `key` (a missing key too). */
  delete(key: string): Promise<void>;
  /**
   * A page of at most about `count` keys of the whole cluster whose names match the glob `match`
   * (every key without it), from `cursor` (null: the start). A complete scan returns every key
   * that existed throughout it, perhaps some twice.
   */
  scanKeys(cursor: string | null, options: { readonly match?: string; readonly count: number }): Promise<RespScanPage>;
  /** The cluster's live key count (an estimate from the replicas is fine: DBSIZE). */
  liveKeyCount(): Promise<number>;
}
