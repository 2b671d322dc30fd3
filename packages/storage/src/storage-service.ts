import {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  DkvError,
  LOGICAL_BITS,
  VERSION_EPOCH_MS,
  versionAheadProblem,
  VersionTooFarAheadError,
  REPLICA_FULL_PREFIX,
  type ApplyResult,
  type Clock,
  type GossipState,
  type RangeScanStorageEngine,
  type StorageEngine,
  type StorageRequest,
  type StorageRequestHandler,
  type StorageResponse,
  type VersionedValue,
} from '@dkv/core';
import { KeyLimitError } from './key-index.js';

/** The most records one SCAN answer carries, whatever the request asks. */
export const DEFAULT_SCAN_MAX_RECORDS = 1000;
/** The most bytes of keys and values one SCAN answer carries (one record may go over). */
export const DEFAULT_SCAN_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Versions per millisecond of a hybrid logical clock, computed once: V8 does not fold
 * `2 ** LOGICAL_BITS` of an imported constant, and the `pow` it calls instead (in
 * `versionAheadProblem`) was about 300 instructions of every read a replica served, a fortieth
 * of its whole HEAD over TCP (callgrind, `benchmarks/transport/wire-path.ts --kind head`).
 */
const VERSIONS_PER_MS = 2 ** LOGICAL_BITS;

/**
 * A storage engine that says it copies the value bytes of every record it applies, so a caller
 * may pass a view of memory that it reuses or that is part of a larger buffer (see
 * `StorageService.handleBorrowed`).
 */
export interface CopyingStorageEngine {
  /** True: `apply` keeps none of the caller's bytes. */
  readonly copiesAppliedValues: true;
}

/** The part of a gossiper a storage node's handler needs: one push-pull exchange. */
export interface GossipHandler {
  /** Merges the sender's state and returns this node's state after the merge. */
  handleGossip(state: GossipState): GossipState;
}

/** Where a storage node keeps the writes it holds for other replicas (hinted fallback). */
export interface HintKeeper {
  /** Keeps `record` of `key` for the replica `targetNodeId` until it can be handed over; false when refused. */
  keep(key: string, record: VersionedValue, targetNodeId: string): boolean;
}

/** What a {@link StorageService} needs. */
export interface StorageServiceOptions {
  /** This storage node's id, reported in PING answers so a coordinator can tell who answered. */
  readonly nodeId: string;
  /** The replica's store. */
  readonly engine: StorageEngine;
  /**
   * Whether this node may serve quorum requests (for instance: not while it is still catching up
   * after a restart). Reported in PING; requests are served either way. Default: always ready.
   */
  readonly isReady?: () => boolean;
  /** Answers GOSSIP requests; without it they fail (a node that does not gossip). */
  readonly gossip?: GossipHandler;
  /**
   * Whether this node's store is complete enough to be streamed from (not while it catches up
   * after losing its data); a SCAN is refused otherwise, so the puller switches source. Default: yes.
   */
  readonly canScan?: () => boolean;
  /**
   * Whether this node's store may answer reads (GET, HEAD). A node that restarted empty answers
   * nothing but writes until it has caught up, even before gossip has told every coordinator not
   * to read from it; a refused read counts as a failed replica, not as "missing". Its PUT answers
   * meanwhile say `previousUnknown`: what it held before the loss is unknown. Default: yes.
   */
  readonly canRead?: () => boolean;
  /**
   * Keeps hints for other replicas (HINT requests of a sloppy quorum): returns whether it took
   * the record. Without it HINT requests fail (a node that does not hold hints).
   */
  readonly hints?: HintKeeper;
  /**
   * The replica's clock: with it, a PUT or HINT whose version was issued more than
   * `maxClockOffsetMs` (default {@link DEFAULT_MAX_CLOCK_OFFSET_MS}) after this clock is refused
   * with VERSION_TOO_FAR_AHEAD, so one coordinator years ahead (or a forged record near 2^53)
   * cannot make the key need a version nobody can issue. Without it nothing is checked.
   */
  readonly clock?: Clock;
  readonly maxClockOffsetMs?: number;
  /** Upper bounds on one SCAN answer; defaults {@link DEFAULT_SCAN_MAX_RECORDS}, {@link DEFAULT_SCAN_MAX_BYTES}. */
  readonly scanMaxRecords?: number;
  readonly scanMaxBytes?: number;
}

/**
 * The replica side of the internode protocol: turns each {@link StorageRequest} into a call on
 * the storage engine and its answer. It is synchronous and does no I/O, so every transport (a
 * direct call, the simulated network, HTTP, binary frames) wraps the same handler, and the
 * simulation runs the real replica logic. Requests arrive already validated at the transport's edge.
 */
export class StorageService implements StorageRequestHandler {
  /**
   * Records refused or dropped because their version was too far ahead of this clock (a metric):
   * PUT and HINT requests, and records already held (written before the check, or by a replica
   * whose clock was that far ahead) that a GET, HEAD, PUT or SCAN met.
   */
  versionsRefused = 0;
  /** Writes of new keys refused because the engine had no room for another key (a metric; see `KeyIndex`). */
  keysRefused = 0;
  private readonly nodeId: string;
  private readonly clock: Clock | null;
  private readonly maxClockOffsetMs: number;
  private readonly engine: StorageEngine;
  private readonly isReady: () => boolean;
  private readonly gossip: GossipHandler | null;
  private readonly canScan: () => boolean;
  private readonly canRead: () => boolean;
  private readonly hints: HintKeeper | null;
  private readonly scanMaxRecords: number;
  private readonly scanMaxBytes: number;
  /** Whether the engine copies the bytes it applies (see {@link handleBorrowed}). */
  private readonly engineCopies: boolean;
  /** The clock reading {@link firstTooFarAhead} was computed at (NaN: not yet). */
  private tooFarAheadAtMs = Number.NaN;
  /** The lowest version too far ahead at {@link tooFarAheadAtMs} (see {@link isTooFarAhead}). */
  private firstTooFarAhead = 0;

  constructor(options: StorageServiceOptions) {
    this.nodeId = options.nodeId;
    this.engine = options.engine;
    this.clock = options.clock ?? null;
    this.maxClockOffsetMs = options.maxClockOffsetMs ?? DEFAULT_MAX_CLOCK_OFFSET_MS;
    this.isReady = options.isReady ?? (() => true);
    this.gossip = options.gossip ?? null;
    this.canScan = options.canScan ?? (() => true);
    this.canRead = options.canRead ?? (() => true);
    this.hints = options.hints ?? null;
    this.scanMaxRecords = options.scanMaxRecords ?? DEFAULT_SCAN_MAX_RECORDS;
    this.scanMaxBytes = options.scanMaxBytes ?? DEFAULT_SCAN_MAX_BYTES;
    this.engineCopies = (options.engine as Partial<CopyingStorageEngine>).copiesAppliedValues === true;
  }

  /**
   * Refuses a record whose version is beyond this clock plus the tolerated offset. The message
   * starts with the code, so a coordinator can tell this refusal from a failed replica whatever
   * transport carried it (remote errors travel as text).
   */
  private checkVersion(version: number): void {
    if (this.clock === null) return;
    const problem = versionAheadProblem(version, this.clock.now(), this.maxClockOffsetMs);
    if (problem === null) return;
    this.versionsRefused += 1;
    throw new VersionTooFarAheadError(`VERSION_TOO_FAR_AHEAD: node ${this.nodeId} refused ${problem}`);
  }

  /**
   * True when a held version is beyond this clock plus the tolerated offset (no clock: never):
   * `versionAheadProblem`'s rule, `floor(version / 2^LOGICAL_BITS) + VERSION_EPOCH_MS - now >
   * maxClockOffsetMs`, which holds exactly when `version` is at least
   * `(floor(now + maxClockOffsetMs - VERSION_EPOCH_MS) + 1) * 2^LOGICAL_BITS`. That bound is
   * computed once per clock reading, so a read costs one comparison (see {@link VERSIONS_PER_MS}).
   */
  private isTooFarAhead(version: number): boolean {
    if (this.clock === null) return false;
    const now = this.clock.now();
    if (now !== this.tooFarAheadAtMs) {
      this.tooFarAheadAtMs = now;
      this.firstTooFarAhead = (Math.floor(now + this.maxClockOffsetMs - VERSION_EPOCH_MS) + 1) * VERSIONS_PER_MS;
    }
    return version >= this.firstTooFarAhead;
  }

  /**
   * A held record whose version is too far ahead was never acceptable (it came before the check,
   * or by a path that did not check): it is dropped when met, so that it cannot make its key
   * unwritable (every later version would have to be above it) nor fail the writes of every
   * coordinator that reads it. Returns the record, or null when it was dropped (only an engine
   * that can forget a key drops it: every engine a node runs can).
   */
  private withoutTooFarAhead<R extends { readonly version: number }>(key: string, record: R | null): R | null {
    if (record === null || !this.isTooFarAhead(record.version) || !isScannable(this.engine)) return record;
    this.engine.remove(key);
    this.versionsRefused += 1;
    return null;
  }

  private checkReadable(): void {
    if (!this.canRead())
      throw new DkvError('UNAVAILABLE', `node ${this.nodeId} is catching up after losing its data and does not serve reads`);
  }

  /**
   * As {@link handle}, but a GET answers the engine's bytes without copying them when the engine
   * can lend them (`StorageEngine.peek`): for the TCP server, which encodes the answer at once.
   * And a PUT's value may be a view of the caller's memory (the TCP server's frame): an engine
   * that copies what it applies ({@link CopyingStorageEngine}) takes it as it is; for any other
   * the value is copied into memory of its own, exactly its size, as `handle` receives it, so the
   * store never pins the larger chunk the view is part of.
   */
  handleBorrowed(request: StorageRequest): StorageResponse {
    if (request.type === 'PUT') {
      const { key, record } = request;
      return this.put(key, this.engineCopies ? record : { ...record, value: new Uint8Array(record.value) });
    }
    if (request.type !== 'GET' || this.engine.peek === undefined) return this.handle(request);
    this.checkReadable();
    return { type: 'GET', record: this.withoutTooFarAhead(request.key, this.engine.peek(request.key)) };
  }

  /**
   * Answers one request: GET the record, HEAD its metadata, PUT apply-if-newer, PING counts,
   * GOSSIP a membership exchange, SCAN a bounded batch of a range scan, DIGEST a range summary, HINT a write kept for another replica.
   */
  handle(request: StorageRequest): StorageResponse {
    switch (request.type) {
      case 'GET':
        this.checkReadable();
        return { type: 'GET', record: this.withoutTooFarAhead(request.key, this.engine.get(request.key)) };
      case 'HEAD':
        this.checkReadable();
        return { type: 'HEAD', meta: this.withoutTooFarAhead(request.key, this.engine.head(request.key)) };
      case 'PUT':
        return this.put(request.key, request.record);
      case 'PING': {
        const { keys, bytes } = this.engine.stats();
        return { type: 'PING', nodeId: this.nodeId, ready: this.isReady(), keys, bytes };
      }
      case 'TIME': {
        if (this.clock === null) throw new DkvError('NOT_IMPLEMENTED', `node ${this.nodeId} has no clock to report`);
        return { type: 'TIME', nowMs: this.clock.now() };
      }
      case 'GOSSIP': {
        if (this.gossip === null) throw new DkvError('NOT_IMPLEMENTED', `node ${this.nodeId} does not gossip`);
        return { type: 'GOSSIP', state: this.gossip.handleGossip(request.state) };
      }
      case 'SCAN': {
        if (!isScannable(this.engine)) throw new DkvError('NOT_IMPLEMENTED', `node ${this.nodeId}'s storage engine cannot scan ranges`);
        if (!this.canScan()) throw new DkvError('UNAVAILABLE', `node ${this.nodeId} is catching up and cannot be streamed from`);
        const limit = Math.max(1, Math.min(request.limit, this.scanMaxRecords));
        const maxBytes = Math.max(1, Math.min(request.maxBytes, this.scanMaxBytes));
        const batch = this.engine.scan(request.ranges, request.cursor, limit, maxBytes);
        const records = batch.records.filter(({ key, record }) => this.withoutTooFarAhead(key, record) !== null);
        return { type: 'SCAN', records, cursor: batch.cursor };
      }
      case 'HINT': {
        if (this.hints === null) throw new DkvError('NOT_IMPLEMENTED', `node ${this.nodeId} does not keep hints`);
        this.checkVersion(request.record.version);
        if (request.target === this.nodeId)
          throw new DkvError('INVALID_REQUEST', `a hint for ${this.nodeId} was sent to ${this.nodeId} itself: it is a PUT`);
        return { type: 'HINT', accepted: this.hints.keep(request.key, request.record, request.target) };
      }
      case 'DIGEST': {
        if (!isScannable(this.engine)) throw new DkvError('NOT_IMPLEMENTED', `node ${this.nodeId}'s storage engine cannot digest ranges`);
        if (!this.canScan()) throw new DkvError('UNAVAILABLE', `node ${this.nodeId} is catching up and cannot be compared with`);
        return { type: 'DIGEST', digests: this.engine.digest(request.ranges, request.segments) };
      }
    }
  }

  /** `engine.apply`, a refusal for want of room told as {@link REPLICA_FULL_PREFIX} and counted. */
  private apply(key: string, record: VersionedValue): ApplyResult {
    try {
      return this.engine.apply(key, record);
    } catch (error) {
      if (!(error instanceof KeyLimitError)) throw error;
      this.keysRefused += 1;
      throw new DkvError('UNAVAILABLE', `${REPLICA_FULL_PREFIX}node ${this.nodeId}: ${error.message}`);
    }
  }

  /**
   * PUT: apply-if-newer, after the version check. A held record too far ahead gives way, and the
   * replica then answers as one that held nothing (it cannot bring back what that record may have
   * overwritten before the check existed; keeping the key unwritable would not either).
   */
  private put(key: string, record: VersionedValue): StorageResponse {
    this.checkVersion(record.version);
    let result = this.apply(key, record);
    if (!result.applied && this.isTooFarAhead(result.version)) {
      this.withoutTooFarAhead(key, this.engine.head(key));
      result = this.apply(key, record);
    }
    const { applied, version, previous } = result;
    // A store that lost its data cannot say that it never held anything newer (issue 10, finding 1).
    if (!this.canRead()) return { type: 'PUT', applied, version, previous, previousUnknown: true };
    return { type: 'PUT', applied, version, previous };
  }
}

function isScannable(engine: StorageEngine): engine is RangeScanStorageEngine {
  return typeof (engine as Partial<RangeScanStorageEngine>).scan === 'function';
}
