import type { VersionedValue, VersionMeta } from './versioned-value.js';

/**
 * The internode protocol as values: what a coordinator asks a storage node, whatever carries it
 * (a direct call, a simulated network, HTTP or a binary frame).
 *
 * - `GET` reads the record of a key, tombstones included (an expired value reads as a tombstone).
 * - `HEAD` reads only the version metadata: what a coordinator needs to issue the next version.
 * - `PUT` applies a record if it is newer than what the replica holds (deletes are tombstone PUTs).
 * - `PING` is the heartbeat; it also reports the replica's counts.
 */
export type StorageRequest =
  | { readonly type: 'GET'; readonly key: string }
  | { readonly type: 'HEAD'; readonly key: string }
  | { readonly type: 'PUT'; readonly key: string; readonly record: VersionedValue }
  | { readonly type: 'PING' };

/** The answer a storage node gives to each {@link StorageRequest}. */
export type StorageResponse =
  | { readonly type: 'GET'; readonly record: VersionedValue | null }
  | { readonly type: 'HEAD'; readonly meta: VersionMeta | null }
  | { readonly type: 'PUT'; readonly applied: boolean; readonly version: number }
  | { readonly type: 'PING'; readonly nodeId: string; readonly ready: boolean; readonly keys: number; readonly bytes: number };

/** The request type's matching response type. */
export type ResponseFor<R extends StorageRequest> = Extract<StorageResponse, { type: R['type'] }>;
