import type { GossipState, HashRange, RangeDigest, ScanCursor } from './cluster-state.js';
import type { VersionedValue, VersionMeta } from './versioned-value.js';

/**
 * The internode protocol as values: what a coordinator asks a storage node, whatever carries it
 * (a direct call, a simulated network, HTTP or a binary frame).
 *
 * - `GET` reads the record of a key, tombstones included (an expired value reads as a tombstone).
 * - `HEAD` reads only the version metadata: what a coordinator needs to issue the next version.
 * - `PUT` applies a record if it is newer than what the replica holds (deletes are tombstone PUTs).
 * - `PING` is the heartbeat; it also reports the replica's counts.
 * - `GOSSIP` is one push-pull round of membership gossip: the sender's state in, the receiver's
 *   merged state out.
 * - `SCAN` reads a bounded batch of the records (tombstones included) whose key hashes fall in
 *   `ranges`, in (bucket, key) order from `cursor`: how data streams to a node that gains ranges.
 *   The answer's `cursor` is where the next batch starts, null when the ranges are exhausted.
 * - `DIGEST` summarises what the replica holds in `ranges` (sorted, disjoint), each cut into
 *   `segments` equal parts: per part, an order-independent hash of its records' identities and
 *   their count. Anti-entropy compares these between replicas (a hash tree: ranges, then their
 *   segments, then records) and streams only the parts that differ.
 * - `TIME` reads the replica's wall clock: a coordinator estimates its own clock's offset from
 *   the replicas' as NTP does (the answer's time against the midpoint of the round trip). It is a
 *   request of its own rather than a field of PING so that nodes and coordinators of the previous
 *   release, whose binary PING frames have no room for it, keep working: they answer it with an
 *   error, and the offset is then unknown.
 * - `HINT` asks a node that is not one of the key's replicas to keep `record` for the replica
 *   `target`, which is down, and hand it over when it is back (a sloppy quorum's hinted fallback).
 *   The node keeps it apart from its own data, bounded, and answers whether it took it.
 */
export type StorageRequest =
  | { readonly type: 'GET'; readonly key: string }
  | { readonly type: 'HEAD'; readonly key: string }
  | { readonly type: 'PUT'; readonly key: string; readonly record: VersionedValue }
  | { readonly type: 'PING' }
  | { readonly type: 'TIME' }
  | { readonly type: 'GOSSIP'; readonly state: GossipState }
  | {
      readonly type: 'SCAN';
      readonly ranges: readonly HashRange[];
      readonly cursor: ScanCursor | null;
      /** The most records in the answer. */
      readonly limit: number;
      /** The answer stops once its keys and values reach this many bytes (at least one record is returned). */
      readonly maxBytes: number;
    }
  | { readonly type: 'DIGEST'; readonly ranges: readonly HashRange[]; readonly segments: number }
  | { readonly type: 'HINT'; readonly key: string; readonly record: VersionedValue; readonly target: string };

/** The answer a storage node gives to each {@link StorageRequest}. */
export type StorageResponse =
  | { readonly type: 'GET'; readonly record: VersionedValue | null }
  | { readonly type: 'HEAD'; readonly meta: VersionMeta | null }
  | {
      readonly type: 'PUT';
      readonly applied: boolean;
      readonly version: number;
      readonly previous: number;
      /**
       * True when the replica is catching up after losing its data (it does not serve reads):
       * `previous` then says only what it holds since the loss, not that nothing newer was ever
       * written here, so an optimistic write must not count it as proof of its version's order.
       * Absent (or false) from a replica that serves reads, and from replicas older than the flag.
       */
      readonly previousUnknown?: boolean;
    }
  | { readonly type: 'PING'; readonly nodeId: string; readonly ready: boolean; readonly keys: number; readonly bytes: number }
  | { readonly type: 'TIME'; readonly nowMs: number }
  | { readonly type: 'GOSSIP'; readonly state: GossipState }
  | {
      readonly type: 'SCAN';
      readonly records: ReadonlyArray<{ readonly key: string; readonly record: VersionedValue }>;
      readonly cursor: ScanCursor | null;
    }
  | { readonly type: 'DIGEST'; readonly digests: readonly RangeDigest[] }
  | { readonly type: 'HINT'; readonly accepted: boolean };

/** The request type's matching response type. */
export type ResponseFor<R extends StorageRequest> = Extract<StorageResponse, { type: R['type'] }>;
