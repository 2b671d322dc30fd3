import type { HashRange, RangeDigest, ScanCursor } from './cluster-state.js';
import type { Membership, Node } from './node.js';
import type { ResponseFor, StorageRequest, StorageResponse } from './storage-request.js';
import type { VersionedValue, VersionMeta } from './versioned-value.js';

/**
 * Wall-clock time as this process sees it, in epoch milliseconds. Domain code reads time only
 * through this port, so a simulation can give every node its own (skewed, drifting) clock.
 * No promise of monotonicity is made: clocks may jump; the version generator copes with that.
 */
export interface Clock {
  now(): number;
}

/** A scheduled callback that can be cancelled; cancelling twice or after it ran is harmless. */
export interface Timer {
  cancel(): void;
}

/**
 * Timers, as a port. The real adapter wraps `setTimeout` (timers do not keep the process alive);
 * the simulated one runs callbacks in virtual time order, deterministically.
 */
export interface Scheduler {
  /** Runs `callback` once, `delayMs` from now (0 means as soon as possible, never synchronously). */
  after(delayMs: number, callback: () => void): Timer;
  /** Runs `callback` every `intervalMs` until cancelled. */
  every(intervalMs: number, callback: () => void): Timer;
}

/** Randomness, as a port: seeded in tests and simulations so a failing run replays exactly. */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
}

/** What {@link StorageEngine.apply} did with an incoming record. */
export interface ApplyResult {
  /** True when the record was newer than what was held and is now stored. */
  readonly applied: boolean;
  /** The version the engine holds for the key after the call. */
  readonly version: number;
  /**
   * The version number held before the call, 0 when the key was unknown. A writer that skipped
   * the version read learns from it whether its version number is strictly above the previous
   * write's (a tie broken by writer id still applies, but is not "above").
   */
  readonly previous: number;
}

/** Counts a storage engine reports for monitoring and the distribution endpoint. */
export interface StorageStats {
  /** Keys holding a live value. */
  readonly keys: number;
  /** Tombstones (deletes and expired values) still kept for their grace period. */
  readonly tombstones: number;
  /** Bytes of keys and live values held. */
  readonly bytes: number;
}

/**
 * A replica's local store. It keeps, per key, only the highest version it has seen (by
 * `compareVersionedValues`), tombstones included, and never goes back: `apply` of an older or
 * equal record is a no-op. Expired values read as tombstones at their own version.
 */
export interface StorageEngine {
  /** The record held for `key`, tombstone or expired-as-tombstone included; null when none is held. */
  get(key: string): VersionedValue | null;
  /**
   * As {@link get}, but the value's bytes may be a view of the engine's own memory, valid only
   * until the engine is next called: for a caller that encodes or copies them at once (the TCP
   * server). An engine whose `get` copies nothing need not have it.
   */
  peek?(key: string): VersionedValue | null;
  /** The version metadata held for `key`, without reading the bytes. */
  head(key: string): VersionMeta | null;
  /** Stores `record` if it is newer than what is held for `key`. */
  apply(key: string, record: VersionedValue): ApplyResult;
  /**
   * Active expiry and tombstone purge: folds values whose TTL has passed into tombstones and drops
   * tombstones older than the grace period, doing at most `maxWork` items. Returns the items done.
   */
  sweep(maxWork: number): number;
  stats(): StorageStats;
}

/** One batch of a range scan: records in (bucket, key) order and where the next batch starts. */
export interface ScanBatch {
  readonly records: ReadonlyArray<{ readonly key: string; readonly record: VersionedValue }>;
  /** Null when every key of the ranges has been returned. */
  readonly cursor: ScanCursor | null;
}

/**
 * A storage engine that can stream the keys of hash ranges and physically drop keys: what moving
 * data between nodes needs. Scans are bounded (by records and bytes) and resumable from a cursor
 * that does not depend on the engine instance, so a scan interrupted on one replica can resume on
 * another. Keys written after a scan passed their place are not returned: the write path sends them
 * to the gaining node directly.
 */
export interface RangeScanStorageEngine extends StorageEngine {
  /** Up to `limit` records (and about `maxBytes`, at least one record) of `ranges` after `cursor`. */
  scan(ranges: readonly HashRange[], cursor: ScanCursor | null, limit: number, maxBytes: number): ScanBatch;
  /**
   * Forgets `key` entirely, tombstone included: only for keys this replica no longer owns, whose
   * owners hold their own copies. Returns whether something was held.
   */
  remove(key: string): boolean;
  /**
   * The digest of each of `segments` equal parts of each of `ranges` (sorted, disjoint), in order:
   * range 0's parts, then range 1's... Part `j` of `[start, end]` holds the hashes from
   * `start + floor(j * size / segments)` to `start + floor((j + 1) * size / segments) - 1`, where
   * `size = end - start + 1`. A record counts by its identity (key, version, writer), so a value
   * and the tombstone it expired into are the same record, and two replicas agree whatever their
   * clocks. Work is proportional to the keys held in the buckets the ranges touch.
   */
  digest(ranges: readonly HashRange[], segments: number): RangeDigest[];
}

/** Options of one internode request. */
export interface RequestOptions {
  /** How long to wait for the answer before failing with a `timeout` NodeUnavailableError. */
  readonly timeoutMs: number;
}

/**
 * Sends {@link StorageRequest}s to storage nodes. Promises: each call settles exactly once, by
 * the answer or by a `NodeUnavailableError` no later than `timeoutMs` after it was made; a failure
 * of one node never affects requests to another. Retries, if any, happen inside that deadline.
 */
export interface NodeClient {
  send<R extends StorageRequest>(target: Node, request: R, options: RequestOptions): Promise<ResponseFor<R>>;
  /**
   * As {@link send}, with the outcome handed to `reply` instead of a promise: exactly one of its
   * methods is called, once, and never before `sendTo` returns. Optional: the clients on every
   * request's path (the wire stack, the local-first client) have it, so that a quorum's replica
   * request costs one object instead of a promise per decorator and their reactions. Callers go
   * through {@link sendTo}, which falls back on `send`.
   */
  sendTo?<R extends StorageRequest>(target: Node, request: R, options: RequestOptions, reply: ReplyTo<ResponseFor<R>>): void;
  /** Releases connections; later sends fail with kind `closed`. */
  close(): Promise<void>;
}

/** Where the outcome of a {@link NodeClient.sendTo} goes: the answer, or what `send` would reject with. */
export interface ReplyTo<T> {
  answered(answer: T): void;
  failed(error: unknown): void;
}

/**
 * Sends `request` through `client`, handing the outcome to `reply` (see {@link NodeClient.sendTo}):
 * through the client's own `sendTo` when it has one, else through `send` and a reaction to its promise.
 */
export function sendTo<R extends StorageRequest>(
  client: NodeClient,
  target: Node,
  request: R,
  options: RequestOptions,
  reply: ReplyTo<ResponseFor<R>>,
): void {
  if (client.sendTo !== undefined) {
    try {
      client.sendTo(target, request, options, reply);
    } catch (error) {
      // A `sendTo` that throws (none of ours does) fails the send, as a throwing `send` does below.
      failSoon(reply, error);
    }
    return;
  }
  let sent: Promise<ResponseFor<R>>;
  try {
    sent = client.send(target, request, options);
  } catch (error) {
    sent = Promise.reject(error);
  }
  sent.then(
    (answer) => reply.answered(answer),
    (error: unknown) => reply.failed(error),
  );
}

/** Hands `error` to `reply` once the current job is done (a `sendTo` may not call its reply before it returns). */
export function failSoon(reply: ReplyTo<never>, error: unknown): void {
  queueMicrotask(() => reply.failed(error));
}

/** The replica side of the internode protocol: what a storage node does with a request. */
export interface StorageRequestHandler {
  handle(request: StorageRequest): StorageResponse;
  /**
   * As {@link handle}, but bytes may be borrowed both ways. A GET answer's bytes may be borrowed
   * from the engine (see `StorageEngine.peek`): the caller must encode the answer before it calls
   * the handler again or yields to the event loop. A PUT's (or HINT's) value may be a view of the
   * caller's buffer (the internode frame it arrived in): the handler must copy it if it keeps it
   * (the compact engine copies it into its slab; other engines get an exact-size copy first).
   */
  handleBorrowed?(request: StorageRequest): StorageResponse;
}

/**
 * The membership as this process currently knows it. Static in a fixed cluster; gossip-fed once
 * the cluster is elastic. Listeners run after every change of epoch.
 */
export interface MembershipView {
  current(): Membership;
  subscribe(listener: (membership: Membership) => void): () => void;
}
