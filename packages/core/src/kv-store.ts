/** The result of a successful read: the value's bytes and what identifies this version. */
export interface ReadResult {
  readonly key: string;
  readonly value: Uint8Array;
  readonly version: number;
  /** Epoch ms, or null when the value has no TTL. */
  readonly expiresAt: number | null;
}

/** The result of a successful write (API.md: `{"key", "version", "expiresAt"}`). */
export interface WriteResult {
  readonly key: string;
  readonly version: number;
  readonly expiresAt: number | null;
}

/** The result of a delete: the version of the tombstone written. */
export interface DeleteResult {
  readonly key: string;
  readonly version: number;
}

/** Per-request consistency overrides (API.md: `r` on reads, `w` on writes and deletes). */
export interface ReadOptions {
  readonly r?: number;
}
export interface WriteOptions {
  readonly w?: number;
}
export interface DeleteOptions {
  readonly w?: number;
}

/**
 * The seed's `KVStoreClient` interface: what an application sees of dkv. The coordinator's
 * `CoordinatorService` implements it in-process and `@dkv/client`'s `KVStoreClient` over HTTP,
 * so the same workload can drive either. A missing, expired or deleted key reads as null.
 */
export interface KVStore {
  get(key: string, options?: ReadOptions): Promise<ReadResult | null>;
  /** Stores `value` under `key`; with `ttlSeconds` (1..31536000) it expires that long after the write. */
  put(key: string, value: Uint8Array, ttlSeconds?: number, options?: WriteOptions): Promise<WriteResult>;
  delete(key: string, options?: DeleteOptions): Promise<DeleteResult>;
}
