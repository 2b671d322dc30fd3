import {
  compareVersionedValues,
  DkvError,
  toTombstone,
  type ApplyResult,
  type Clock,
  type HashRange,
  type RangeDigest,
  type RangeScanStorageEngine,
  type ScanBatch,
  type ScanCursor,
  type Scheduler,
  type Timer,
  type VersionedValue,
  type VersionMeta,
} from '@dkv/core';
import { FULL_RANGE } from '@dkv/hashing';
import { CompactStorageEngine } from './compact-storage-engine.js';
import { checkDataIdentity, IDENTITY_FILE } from './data-identity.js';
import type { LogDirectory, LogFile } from './log-files.js';
import { encodeEntryInto, LOG_RECORD_OVERHEAD_BYTES, maxEntryBytes, type LogEntry } from './log-record.js';
import type { BoundedStorageEngine } from './key-index.js';
import { REPLAY_CHUNK_BYTES, replaySegmentFile } from './log-recovery.js';
import type { CopyingStorageEngine } from './storage-service.js';

/**
 * When appended records reach stable storage (fsync):
 * - `always`: before the write is acknowledged. Writes that arrive in the same event-loop turn
 *   share one fsync (group commit); a power loss loses nothing acknowledged.
 * - `interval`: every `intervalMs`, in the background. A power loss of the machine loses at most
 *   the writes of the last `intervalMs` on this replica (its other replicas have them).
 * - `never`: when the operating system writes its cache back (Linux: about 30 s).
 * In every mode a write is in the log (the operating system's cache) before it is acknowledged,
 * so a crash of the process alone loses nothing acknowledged.
 */
export type FsyncPolicy =
  { readonly mode: 'always' } | { readonly mode: 'interval'; readonly intervalMs: number } | { readonly mode: 'never' };

/** Where the engine reports what it found and did (recovery, damage, failed writes, merges). */
export type DurableEngineLogger = (level: 'info' | 'warn' | 'error', message: string, fields: Readonly<Record<string, unknown>>) => void;

/** The default {@link DurableStorageEngineOptions.segmentBytes}: 64 MiB. */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** The default {@link DurableStorageEngineOptions.mergeRatio}. */
export const DEFAULT_MERGE_RATIO = 1.5;
/** The default {@link DurableStorageEngineOptions.mergeMinBytes}: 64 MiB. */
export const DEFAULT_MERGE_MIN_BYTES = 64 * 1024 * 1024;
/** The default {@link DurableStorageEngineOptions.mergeStepIntervalMs}. */
export const DEFAULT_MERGE_STEP_INTERVAL_MS = 10;
/** The default {@link DurableStorageEngineOptions.mergeStepMaxRecords}. */
export const DEFAULT_MERGE_STEP_MAX_RECORDS = 256;
/** The default {@link DurableStorageEngineOptions.mergeStepMaxBytes}: 1 MiB. */
export const DEFAULT_MERGE_STEP_MAX_BYTES = 1024 * 1024;
/** The default {@link DurableStorageEngineOptions.maxRecordBytes}: 64 MiB, far above the largest value dkv accepts. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** What a {@link DurableStorageEngine} needs. */
export interface DurableStorageEngineOptions<E extends RangeScanStorageEngine = RangeScanStorageEngine> {
  /** The in-memory engine that holds the records and answers every read; it must start empty. */
  readonly engine: E;
  /** This node's data directory (`<data-dir>/<node id>`). */
  readonly directory: LogDirectory;
  /** The node whose data this is: a directory written by another node is refused. */
  readonly nodeId: string;
  /** The cluster's id when it has one; null skips the check. */
  readonly clusterId?: string | null;
  readonly fsync: FsyncPolicy;
  readonly clock: Clock;
  /** Runs group commits, interval fsyncs and merge steps. */
  readonly scheduler: Scheduler;
  readonly logger?: DurableEngineLogger;
  /** A segment is sealed and a new one started when it reaches this size. Default {@link DEFAULT_SEGMENT_BYTES}. */
  readonly segmentBytes?: number;
  /**
   * A merge starts when the log takes more than this many times the bytes its live records
   * would take (and at least {@link mergeMinBytes}). Above 1; default {@link DEFAULT_MERGE_RATIO}.
   */
  readonly mergeRatio?: number;
  /** A log smaller than this is never merged. Default {@link DEFAULT_MERGE_MIN_BYTES}. */
  readonly mergeMinBytes?: number;
  /** How often a merge step runs (and whether one should start is checked). Default {@link DEFAULT_MERGE_STEP_INTERVAL_MS}. */
  readonly mergeStepIntervalMs?: number;
  /** Records one merge step writes at most. Default {@link DEFAULT_MERGE_STEP_MAX_RECORDS}. */
  readonly mergeStepMaxRecords?: number;
  /** Bytes one merge step writes at most (one record may go over). Default {@link DEFAULT_MERGE_STEP_MAX_BYTES}. */
  readonly mergeStepMaxBytes?: number;
  /** A record claiming a larger body is damage. Default {@link DEFAULT_MAX_RECORD_BYTES}. */
  readonly maxRecordBytes?: number;
  /**
   * Runs `callback` after the I/O callbacks of the current event-loop turn: when the appends of a
   * turn are written, with one `write`. Default `setImmediate`.
   */
  readonly defer?: (callback: () => void) => void;
  /** Called once by {@link DurableStorageEngine.close}, after the log is closed: releases what the caller tied to the log's life (the data directory's lock). */
  readonly onClose?: () => void;
}

/** What the durability layer did, for metrics. */
export interface DurabilityStats {
  /** Bytes of every segment file, the one being written included. */
  readonly diskBytes: number;
  readonly segments: number;
  /** Damaged stretches skipped at start-up (never served). */
  readonly corruptRegions: number;
  /** Torn ends cut at start-up. */
  readonly tornTails: number;
  /** Entries replayed at start-up. */
  readonly recoveredEntries: number;
  /** How long start-up replay took. */
  readonly recoveryMs: number;
  /** Writes refused because the log could not take them. */
  readonly writeFailures: number;
  /** Merges finished, and merges given up (their output deleted, the old segments kept). */
  readonly merges: number;
  readonly mergesFailed: number;
  /** fsync calls made, and writes they made durable (for `always`: how well commits are grouped). */
  readonly fsyncs: number;
  /** Why writes are refused until a restart (an fsync failed, or a failed append could not be undone); null when they are not. */
  readonly failure: string | null;
}

/** A segment file: `segment-<major>-<minor>.log`. New segments have minor 0; a merge writes minors 1, 2... after the last major it covers. */
interface Segment {
  readonly name: string;
  readonly major: number;
  readonly minor: number;
  bytes: number;
}

/**
 * The writes waiting for the same moment (the write of a turn's appends, or an fsync), sharing one
 * promise: settled once the log covers `position`. It takes new writes while `open`; a group
 * commit closes the ones its fsync will cover.
 */
interface Waiter {
  position: number;
  open: boolean;
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

function newWaiter(): Waiter {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((settle, refuse) => {
    resolve = settle;
    reject = refuse;
  });
  return { position: 0, open: true, promise, resolve, reject };
}

/** The buffer a turn's appends are encoded into: 256 KiB, written at the turn's end or once full. */
const PENDING_BUFFER_BYTES = 256 * 1024;

/** A merge under way: the index is being written out after `lastMajor`; the segments up to it go once it is done. */
interface Merge {
  readonly lastMajor: number;
  readonly outputs: Segment[];
  output: LogFile;
  cursor: ScanCursor | null;
}

const SEGMENT_NAME = /^segment-(\d{12})-(\d{6})\.log$/;
const TEMPORARY_SUFFIX = '.tmp';

function segmentName(major: number, minor: number): string {
  return `segment-${String(major).padStart(12, '0')}-${String(minor).padStart(6, '0')}.log`;
}

function bySegmentOrder(a: Segment, b: Segment): number {
  return a.major - b.major || a.minor - b.minor;
}

/**
 * A {@link RangeScanStorageEngine} whose records survive a restart: an in-memory engine (the
 * compact one in production) keeps the records and answers every read, unchanged, and an
 * append-only log of checksummed records beside it (Bitcask's design, with the values in memory
 * instead of on disk) makes every change durable before it is acknowledged.
 *
 * - `apply` of a record that wins encodes it into the turn's pending buffer, then applies it in
 *   memory; a record that loses is neither logged nor applied. `remove` logs a removal.
 *   Expiry and tombstone purge are not logged: replay derives them again from the records.
 * - The appends of an event-loop turn are written to the current segment with one `write` at the
 *   turn's end (or once 256 KiB are pending): a write is acknowledged only once
 *   {@link DurableStorageEngine.persisted} settles, after that write (and under `always` after
 *   the fsync that follows it), so a crash of the process loses nothing acknowledged.
 * - When the log cannot take that write (disk full, I/O error), what it left in the file is cut
 *   off, the writes waiting for it are refused (`UNAVAILABLE`) and its appends stay pending, in
 *   memory as in the buffer: every later write first tries them again, and is refused with memory
 *   untouched while the log still cannot take them. Reads go on.
 * - A merge rewrites the live records when the log holds more than `mergeRatio` times their size:
 *   it seals the current segment, writes what the in-memory index holds (a bounded batch per
 *   step, from a range scan) into new segments ordered right after the sealed ones, and once they
 *   are synced and renamed into place deletes every sealed segment. Expired values are written
 *   as tombstones (their bytes leave the disk) and purged tombstones are not written at all.
 *   Changes made while it runs go to the new segments and replay after it, so replay order is
 *   write order. A crash during a merge leaves its temporary files, deleted at the next start.
 * - Start-up ({@link open}) checks the directory's identity, replays every segment in order, cuts
 *   a torn end, skips damaged records (counted and logged) and starts a new segment.
 */
export class DurableStorageEngine<E extends RangeScanStorageEngine = RangeScanStorageEngine> implements RangeScanStorageEngine {
  private readonly inner: E;
  private readonly directory: LogDirectory;
  private readonly options: Required<
    Omit<DurableStorageEngineOptions, 'engine' | 'directory' | 'logger' | 'clusterId' | 'onClose' | 'defer'>
  >;
  private readonly defer: (callback: () => void) => void;
  private readonly logger: DurableEngineLogger;
  private readonly onClose: () => void;
  private readonly sealed: Segment[] = [];
  private active!: Segment;
  private activeFile!: LogFile;
  /** Bytes taken for the log since start (written or pending), written to the file, and covered by an fsync. */
  private appended = 0;
  private written = 0;
  private synced = 0;
  /** This turn's appends, encoded and not yet written. */
  private pending = Buffer.allocUnsafe(PENDING_BUFFER_BYTES);
  private pendingBytes = 0;
  private flushScheduled = false;
  /** Why the last write of the pending appends failed (they stay pending and are tried again); null when it did not. */
  private writeError: DkvError | null = null;
  private waiters: Waiter[] = [];
  private syncing = false;
  private syncScheduled = false;
  /** Sealed segments whose file an fsync in flight still uses: closed when it settles. */
  private closeAfterSync: LogFile[] = [];
  private readonly timers: Timer[] = [];
  private merge: Merge | null = null;
  private failure: string | null = null;
  private closed = false;
  /** Where a merge step encodes its batch, written with one `write` per output segment. */
  private mergeBuffer = Buffer.allocUnsafe(0);
  private counts = {
    corruptRegions: 0,
    tornTails: 0,
    recoveredEntries: 0,
    recoveryMs: 0,
    writeFailures: 0,
    merges: 0,
    mergesFailed: 0,
    fsyncs: 0,
  };

  private constructor(options: DurableStorageEngineOptions<E>) {
    this.inner = options.engine;
    this.directory = options.directory;
    this.logger = options.logger ?? (() => undefined);
    this.onClose = options.onClose ?? (() => undefined);
    this.defer = options.defer ?? setImmediate;
    this.options = {
      nodeId: options.nodeId,
      fsync: options.fsync,
      clock: options.clock,
      scheduler: options.scheduler,
      segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      mergeRatio: options.mergeRatio ?? DEFAULT_MERGE_RATIO,
      mergeMinBytes: options.mergeMinBytes ?? DEFAULT_MERGE_MIN_BYTES,
      mergeStepIntervalMs: options.mergeStepIntervalMs ?? DEFAULT_MERGE_STEP_INTERVAL_MS,
      mergeStepMaxRecords: options.mergeStepMaxRecords ?? DEFAULT_MERGE_STEP_MAX_RECORDS,
      mergeStepMaxBytes: options.mergeStepMaxBytes ?? DEFAULT_MERGE_STEP_MAX_BYTES,
      maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
    };
    checkOptions(this.options);
  }

  /**
   * Opens the log in `options.directory`: checks whose data it is, replays it into
   * `options.engine` (which must be empty), and starts a new segment and the background work.
   * @throws DkvError INVALID_REQUEST when the directory belongs to another node or cluster, is of
   * an unknown format, or an option is out of bounds; the file system's error when it cannot be read.
   */
  static open<E extends RangeScanStorageEngine>(options: DurableStorageEngineOptions<E>): DurableStorageEngine<E> {
    const engine = new DurableStorageEngine<E>(options);
    engine.recover(options.clusterId ?? null);
    return engine;
  }

  /** The record held for `key` (the in-memory engine's answer). */
  get(key: string): VersionedValue | null {
    return this.inner.get(key);
  }

  /** As {@link get}, its bytes possibly lent by the in-memory engine (see `StorageEngine.peek`). */
  peek(key: string): VersionedValue | null {
    return this.inner.peek ? this.inner.peek(key) : this.inner.get(key);
  }

  head(key: string): VersionMeta | null {
    return this.inner.head(key);
  }

  /**
   * Whether `apply` keeps none of the caller's bytes (see `StorageService.handleBorrowed`): the
   * log encodes the record at once, so it copies exactly when the engine in memory does.
   */
  get copiesAppliedValues(): boolean {
    return (this.inner as Partial<CopyingStorageEngine>).copiesAppliedValues === true;
  }

  /**
   * Logs `record` and applies it, when it beats the record held; otherwise applies nothing.
   * @throws DkvError UNAVAILABLE when the log cannot take it, or the engine has no room for a new
   * key (then nothing changed, and nothing was logged).
   */
  apply(key: string, record: VersionedValue): ApplyResult {
    const incoming =
      !record.tombstone && record.expiresAt !== null && record.expiresAt <= this.options.clock.now() ? toTombstone(record) : record;
    const held = this.peek(key);
    // A key the engine has no room for is refused before it is logged (a replay would refuse it too).
    if (held === null) (this.inner as Partial<BoundedStorageEngine>).checkRoom?.(key);
    if (held === null || compareVersionedValues(incoming, held) > 0) this.append(key, incoming);
    return this.inner.apply(key, record);
  }

  scan(ranges: readonly HashRange[], cursor: ScanCursor | null, limit: number, maxBytes: number): ScanBatch {
    return this.inner.scan(ranges, cursor, limit, maxBytes);
  }

  digest(ranges: readonly HashRange[], segments: number): RangeDigest[] {
    return this.inner.digest(ranges, segments);
  }

  /**
   * Logs the removal of `key`, then forgets it (see `RangeScanStorageEngine.remove`).
   * @throws DkvError UNAVAILABLE when the log cannot take the removal (then the key is kept).
   */
  remove(key: string): boolean {
    if (this.inner.head(key) === null) return false;
    this.append(key, null);
    return this.inner.remove(key);
  }

  /** The in-memory engine's sweep: expiry and purge are derived from the records, never logged. */
  sweep(maxWork: number): number {
    return this.inner.sweep(maxWork);
  }

  /** The in-memory engine's counts (its own fields included). */
  stats(): ReturnType<E['stats']> {
    return this.inner.stats() as ReturnType<E['stats']>;
  }

  /** What the log holds and what it went through. */
  durability(): DurabilityStats {
    const segments = [...this.sealed, this.active, ...(this.merge?.outputs ?? [])];
    return {
      ...this.counts,
      diskBytes: segments.reduce((sum, segment) => sum + segment.bytes, 0),
      segments: segments.length,
      failure: this.failure,
    };
  }

  /**
   * Null when every write applied so far may be acknowledged under the fsync policy; otherwise
   * a promise that settles once they may: under `always` after the fsync that covers them (one
   * fsync for all writes of an event-loop turn), under the other policies once they are written
   * to the file (one write for all appends of a turn, at its end). It is rejected (UNAVAILABLE)
   * when the log could not take them. Every write waiting for the same moment shares one promise.
   */
  persisted(): Promise<void> | null {
    if (this.covered() >= this.appended) return null;
    if (this.failure !== null) return Promise.reject(this.refusal());
    let waiter = this.waiters.at(-1);
    if (waiter === undefined || !waiter.open) {
      waiter = newWaiter();
      this.waiters.push(waiter);
    }
    waiter.position = this.appended;
    if (this.options.fsync.mode !== 'always') this.scheduleFlush();
    else if (!this.syncing && !this.syncScheduled) {
      this.syncScheduled = true;
      // A turn's writes are all appended before this runs: they share the fsync.
      this.options.scheduler.after(0, () => this.groupCommit());
    }
    return waiter.promise;
  }

  /**
   * Writes the appends pending in this turn now, with one write (otherwise the turn's end does).
   * @throws DkvError UNAVAILABLE when the log cannot take them: they stay pending, tried again by
   * the next write, and the writes waiting for them are refused.
   */
  flush(): void {
    const error = this.writePending();
    if (error !== null) throw error;
  }

  /** Runs the pending merge step, or starts a merge when the log has grown enough: what the merge timer does. */
  mergeStep(): void {
    if (this.closed || this.failure !== null) return;
    // Appends a failed write left pending are tried again, so that their waiters need no new write.
    if (this.writeError !== null && this.writePending() !== null) return;
    if (this.merge === null && !this.shouldMerge()) return;
    try {
      if (this.merge === null) this.startMerge();
      this.continueMerge();
    } catch (error) {
      this.abortMerge(error);
    }
  }

  /** Stops the background work, gives up a merge under way, syncs and closes the log. Reads still work; writes throw. */
  close(): void {
    if (this.closed) return;
    for (const timer of this.timers) timer.cancel();
    if (this.merge !== null) this.abortMerge(new Error('the engine closed'));
    try {
      if (this.failure === null && this.writePending() === null) {
        this.activeFile.syncNow();
        this.synced = this.written;
      }
      this.settleWaiters(null);
      this.settleWaiters(new DkvError('UNAVAILABLE', `the log of node ${this.options.nodeId} closed before these writes were written`));
    } finally {
      this.closed = true;
      try {
        this.activeFile.close();
        for (const file of this.closeAfterSync.splice(0)) file.close();
      } finally {
        this.onClose();
      }
    }
  }

  private recover(clusterId: string | null): void {
    const startedMs = this.options.clock.now();
    const names = this.directory.list();
    const segments: Segment[] = [];
    for (const name of names) {
      if (name.endsWith(TEMPORARY_SUFFIX)) {
        this.directory.remove(name);
        continue;
      }
      const match = SEGMENT_NAME.exec(name);
      if (match) segments.push({ name, major: Number(match[1]), minor: Number(match[2]), bytes: 0 });
    }
    checkDataIdentity(this.directory, { nodeId: this.options.nodeId, clusterId }, segments.length > 0);
    segments.sort(bySegmentOrder);
    const copyValues = !(this.inner instanceof CompactStorageEngine);
    const visit = (entry: LogEntry): void => {
      if (entry.kind === 'remove') this.inner.remove(entry.key);
      else this.inner.apply(entry.key, copyValues ? { ...entry.record, value: new Uint8Array(entry.record.value) } : entry.record);
    };
    // One read buffer of a chunk for every segment: the compact engine copies what it keeps, so
    // the buffer can be filled again; the others get copies (see `visit`).
    let buffer: Buffer = Buffer.allocUnsafe(REPLAY_CHUNK_BYTES);
    for (const segment of segments) {
      const read = replaySegmentFile(this.directory, segment.name, this.options.maxRecordBytes, buffer, visit);
      const replay = read.replay;
      buffer = read.buffer;
      this.counts.recoveredEntries += replay.entries;
      for (const region of replay.corrupt) {
        this.counts.corruptRegions += 1;
        this.logger(
          'error',
          'skipped a damaged stretch of the log: its records are not served; anti-entropy restores them from the replicas',
          { segment: segment.name, offset: region.offset, bytes: region.bytes },
        );
      }
      segment.bytes = read.size;
      if (replay.tail !== null) {
        this.counts.tornTails += 1;
        this.directory.truncate(segment.name, replay.tail.offset);
        segment.bytes = replay.tail.offset;
        this.logger('warn', 'cut a torn record at the end of a log segment (a write the process did not finish)', {
          segment: segment.name,
          offset: replay.tail.offset,
          bytes: replay.tail.bytes,
        });
      }
      // A segment left empty (a start without writes) is not kept: starts would pile them up.
      if (segment.bytes === 0) this.directory.remove(segment.name);
      else this.sealed.push(segment);
    }
    this.openActive((segments.at(-1)?.major ?? 0) + 1);
    this.counts.recoveryMs = this.options.clock.now() - startedMs;
    const { fsync, scheduler, mergeStepIntervalMs } = this.options;
    if (fsync.mode === 'interval') this.timers.push(scheduler.every(fsync.intervalMs, () => this.backgroundSync()));
    this.timers.push(scheduler.every(mergeStepIntervalMs, () => this.mergeStep()));
    this.logger('info', 'log replayed', {
      directory: this.directory.location,
      segments: segments.length,
      entries: this.counts.recoveredEntries,
      corruptRegions: this.counts.corruptRegions,
      tornTails: this.counts.tornTails,
      ms: this.counts.recoveryMs,
      identity: IDENTITY_FILE,
    });
  }

  private openActive(major: number): void {
    const name = segmentName(major, 0);
    this.activeFile = this.directory.open(name);
    this.active = { name, major, minor: 0, bytes: this.directory.size(name) };
    this.directory.syncDirectory();
  }

  /**
   * Takes the entry of `record` for `key` (null: its removal) for the log, or throws with memory
   * untouched: it is encoded into the turn's pending buffer, written with the turn's other
   * appends at its end ({@link persisted} tells when), or at once when the buffer or the segment
   * is full (the segment is then sealed).
   */
  private append(key: string, record: VersionedValue | null): void {
    if (this.closed) throw new DkvError('UNAVAILABLE', `the log of node ${this.options.nodeId} is closed`);
    if (this.failure !== null) throw this.refusal();
    // After a failed write nothing new is taken until what it left pending is written.
    if (this.writeError !== null) this.flush();
    const room = maxEntryBytes(key, record);
    if (this.pendingBytes + room > this.pending.length) {
      this.flush();
      if (room > this.pending.length) this.pending = Buffer.allocUnsafe(room);
    }
    const bytes = encodeEntryInto(this.pending, this.pendingBytes, key, record);
    this.pendingBytes += bytes;
    this.appended += bytes;
    if (this.active.bytes + this.pendingBytes < this.options.segmentBytes) {
      this.scheduleFlush();
      return;
    }
    const error = this.writePending();
    if (error !== null) {
      // This entry is refused with its write; the earlier ones stay pending.
      this.pendingBytes -= bytes;
      this.appended -= bytes;
      throw error;
    }
    this.seal();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.defer(this.flushTurn);
  }

  private readonly flushTurn = (): void => {
    this.flushScheduled = false;
    if (!this.closed) this.writePending();
  };

  /**
   * Writes the pending appends with one write. On failure it cuts off what the write left in the
   * file, keeps them pending (to be tried again), refuses the writes waiting, and returns why.
   */
  private writePending(): DkvError | null {
    if (this.pendingBytes === 0) return null;
    const before = this.active.bytes;
    try {
      this.activeFile.append(this.pending.subarray(0, this.pendingBytes));
    } catch (error) {
      this.counts.writeFailures += 1;
      try {
        this.activeFile.truncate(before);
      } catch (undo) {
        this.fail(`a failed append could not be undone (${message(undo)})`);
      }
      this.logger('error', 'a write could not be appended to the log and was refused', {
        segment: this.active.name,
        error: message(error),
      });
      this.writeError = new DkvError('UNAVAILABLE', `node ${this.options.nodeId} could not persist the write: ${message(error)}`);
      this.settleWaiters(this.writeError);
      return this.writeError;
    }
    this.active.bytes += this.pendingBytes;
    this.written += this.pendingBytes;
    this.pendingBytes = 0;
    this.writeError = null;
    if (this.pending.length > PENDING_BUFFER_BYTES) this.pending = Buffer.allocUnsafe(PENDING_BUFFER_BYTES);
    if (this.options.fsync.mode !== 'always') this.settleWaiters(null);
    return null;
  }

  /** Bytes the policy lets the node acknowledge: synced under `always`, written under the others. */
  private covered(): number {
    return this.options.fsync.mode === 'always' ? this.synced : this.written;
  }

  /** Closes the current segment (synced unless the policy is `never`) and starts the next one. */
  private seal(): void {
    const previous = this.active;
    try {
      if (this.options.fsync.mode !== 'never') {
        this.activeFile.syncNow();
        this.counts.fsyncs += 1;
        this.synced = this.written;
      }
      // An fsync in flight may still be using this file: closing it now would fail that fsync.
      if (this.syncing) this.closeAfterSync.push(this.activeFile);
      else this.activeFile.close();
      this.sealed.push(previous);
      this.openActive(previous.major + 1);
    } catch (error) {
      this.fail(`sealing segment ${previous.name} failed (${message(error)})`);
      return;
    }
    this.settleWaiters(null);
  }

  /** One fsync for every write appended so far; the writes appended while it runs wait for the next. */
  private groupCommit(): void {
    this.syncScheduled = false;
    if (this.waiters.length === 0 || this.syncing || this.closed) return;
    if (this.failure !== null) {
      this.settleWaiters(this.refusal());
      return;
    }
    if (this.writePending() !== null) return;
    for (const waiter of this.waiters) waiter.open = false;
    this.syncAppended(() => {
      this.settleWaiters(null);
      if (this.waiters.length > 0 && !this.syncScheduled) {
        this.syncScheduled = true;
        this.options.scheduler.after(0, () => this.groupCommit());
      }
    });
  }

  /**
   * Starts one fsync of the active segment covering every byte written so far: both the group
   * commit and the `interval` tick sync this way. Once it succeeds, `synced` covers those bytes and
   * `then` runs; a failed fsync fails the log (see {@link fail}).
   */
  private syncAppended(then: () => void = () => undefined): void {
    const target = this.written;
    this.syncing = true;
    this.counts.fsyncs += 1;
    this.activeFile.sync().then(
      () => {
        this.syncSettled();
        this.synced = Math.max(this.synced, target);
        then();
      },
      (error: unknown) => {
        this.syncSettled();
        if (!this.closed) this.fail(`fsync failed (${message(error)})`);
      },
    );
  }

  /** An fsync finished: the files sealed while it ran can be closed. */
  private syncSettled(): void {
    this.syncing = false;
    for (const file of this.closeAfterSync.splice(0)) file.close();
  }

  /** The `interval` policy's tick: an fsync when something was appended since the last one. */
  private backgroundSync(): void {
    if (this.syncing || this.closed || this.failure !== null || this.synced >= this.written) return;
    this.syncAppended();
  }

  /** Resolves the waiters the log now covers (see {@link covered}), or rejects them all with `error`. */
  private settleWaiters(error: Error | null): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) {
      if (error !== null) waiter.reject(error);
      else if (waiter.position <= this.covered()) waiter.resolve();
      else this.waiters.push(waiter);
    }
  }

  /**
   * Refuses every write from now on: after a failed fsync the kernel may have dropped the pages it
   * could not write, so nothing appended since the last good fsync can be trusted to be on disk
   * (PostgreSQL's lesson). A restart replays what is there. Reads go on.
   */
  private fail(reason: string): void {
    if (this.failure !== null) return;
    this.failure = reason;
    this.logger('error', 'the log failed: writes are refused until the node restarts; reads go on', { reason });
    this.settleWaiters(this.refusal());
  }

  private refusal(): DkvError {
    return new DkvError(
      'UNAVAILABLE',
      `node ${this.options.nodeId} refuses writes: ${this.failure ?? 'the log failed'}; restart it to recover from its log`,
    );
  }

  /** Bytes the live records would take in the log: the figure the merge ratio compares the log with. */
  private liveBytesEstimate(): number {
    const { keys, tombstones, bytes } = this.inner.stats();
    // `bytes` counts keys and values of live records; a tombstone's key is guessed at 32 bytes,
    // writer ids at 16.
    return bytes + (keys + tombstones) * (LOG_RECORD_OVERHEAD_BYTES + 16) + tombstones * 32;
  }

  private shouldMerge(): boolean {
    const disk = this.durability().diskBytes;
    return disk >= this.options.mergeMinBytes && disk > this.options.mergeRatio * this.liveBytesEstimate();
  }

  private startMerge(): void {
    const lastMajor = this.active.major;
    this.flush();
    this.seal();
    if (this.failure !== null) throw new Error(this.failure);
    const first = { name: segmentName(lastMajor, 1), major: lastMajor, minor: 1, bytes: 0 };
    this.merge = { lastMajor, outputs: [first], output: this.directory.open(first.name + TEMPORARY_SUFFIX), cursor: null };
    this.logger('info', 'merge started', { lastMajor, diskBytes: this.durability().diskBytes });
  }

  /** Writes one bounded batch of the index (one write per output segment it touches); finishes the merge after the last. */
  private continueMerge(): void {
    const merge = this.merge as Merge;
    const batch = this.inner.scan([FULL_RANGE], merge.cursor, this.options.mergeStepMaxRecords, this.options.mergeStepMaxBytes);
    let size = 0;
    for (const { key, record } of batch.records) size += maxEntryBytes(key, record);
    if (size > this.mergeBuffer.length) this.mergeBuffer = Buffer.allocUnsafe(size);
    let output = merge.outputs.at(-1) as Segment;
    let start = 0;
    let end = 0;
    for (const { key, record } of batch.records) {
      const bytes = encodeEntryInto(this.mergeBuffer, end, key, record);
      const filled = output.bytes + (end - start);
      if (filled > 0 && filled + bytes > this.options.segmentBytes) {
        // The segment is full: what precedes this record goes to it, this record starts the next.
        this.writeMerged(merge, output, start, end);
        start = end;
        merge.output.syncNow();
        merge.output.close();
        output = { name: segmentName(merge.lastMajor, output.minor + 1), major: merge.lastMajor, minor: output.minor + 1, bytes: 0 };
        merge.outputs.push(output);
        merge.output = this.directory.open(output.name + TEMPORARY_SUFFIX);
      }
      end += bytes;
    }
    this.writeMerged(merge, output, start, end);
    merge.cursor = batch.cursor;
    if (batch.cursor === null) this.finishMerge(merge);
  }

  /** Appends the merge buffer's bytes from `start` to `end` to the merge's current output. */
  private writeMerged(merge: Merge, output: Segment, start: number, end: number): void {
    if (end === start) return;
    merge.output.append(this.mergeBuffer.subarray(start, end));
    output.bytes += end - start;
  }

  /** Syncs and renames the new segments into place, then deletes the segments they replace. */
  private finishMerge(merge: Merge): void {
    merge.output.syncNow();
    merge.output.close();
    for (const output of merge.outputs) this.directory.rename(output.name + TEMPORARY_SUFFIX, output.name);
    this.directory.syncDirectory();
    this.merge = null;
    const replaced = this.sealed.filter((segment) => segment.major <= merge.lastMajor);
    const kept = this.sealed.filter((segment) => segment.major > merge.lastMajor);
    this.sealed.length = 0;
    this.sealed.push(...merge.outputs, ...kept);
    this.sealed.sort(bySegmentOrder);
    for (const segment of replaced) this.directory.remove(segment.name);
    this.directory.syncDirectory();
    this.counts.merges += 1;
    this.logger('info', 'merge done', {
      segmentsReplaced: replaced.length,
      bytesBefore: replaced.reduce((sum, s) => sum + s.bytes, 0),
      bytesAfter: merge.outputs.reduce((sum, s) => sum + s.bytes, 0),
    });
  }

  /** Deletes what a merge wrote; the segments it was to replace stay. The next check may start again. */
  private abortMerge(error: unknown): void {
    const merge = this.merge;
    this.merge = null;
    this.counts.mergesFailed += 1;
    this.logger('error', 'merge given up; the log keeps its segments', { error: message(error) });
    if (merge === null) return;
    try {
      merge.output.close();
      for (const output of merge.outputs)
        if (this.directory.list().includes(output.name + TEMPORARY_SUFFIX)) this.directory.remove(output.name + TEMPORARY_SUFFIX);
    } catch (cleanup) {
      this.logger('warn', 'could not delete a given-up merge’s files; the next start deletes them', { error: message(cleanup) });
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function checkOptions(
  options: Required<Omit<DurableStorageEngineOptions, 'engine' | 'directory' | 'logger' | 'clusterId' | 'onClose' | 'defer'>>,
): void {
  const positive: Array<[string, number]> = [
    ['segmentBytes', options.segmentBytes],
    ['mergeStepIntervalMs', options.mergeStepIntervalMs],
    ['mergeStepMaxRecords', options.mergeStepMaxRecords],
    ['mergeStepMaxBytes', options.mergeStepMaxBytes],
    ['maxRecordBytes', options.maxRecordBytes],
  ];
  for (const [name, value] of positive) {
    if (!Number.isInteger(value) || value < 1)
      throw new DkvError('INVALID_REQUEST', `${name} must be a whole number >= 1, got ${String(value)}`);
  }
  if (!Number.isInteger(options.mergeMinBytes) || options.mergeMinBytes < 0)
    throw new DkvError('INVALID_REQUEST', `mergeMinBytes must be a whole number >= 0, got ${String(options.mergeMinBytes)}`);
  if (!(options.mergeRatio > 1))
    throw new DkvError('INVALID_REQUEST', `mergeRatio must be a number above 1, got ${String(options.mergeRatio)}`);
  if (options.fsync.mode === 'interval' && !(Number.isInteger(options.fsync.intervalMs) && options.fsync.intervalMs >= 1)) {
    throw new DkvError(
      'INVALID_REQUEST',
      `the fsync interval must be a whole number of milliseconds >= 1, got ${String(options.fsync.intervalMs)}`,
    );
  }
}
