/**
 * Records what clients asked of dkv and what they were told, as a history of operations that
 * {@link checkHistory} (and, exported, Elle/Knossos or Porcupine) can judge afterwards. This is
 * the Jepsen method: the store is a black box, and correctness is a property of the history.
 *
 * Each operation has an interval `[startMs, endMs]` on one clock (virtual time in simulations,
 * `performance.now()` against a real cluster) and one of three outcomes, which is what makes the
 * checks sound under faults:
 * - `ok`: the store answered; for a write, it was acknowledged and is durable at W replicas.
 * - `fail`: the operation definitely had no effect (the request was rejected as malformed, or it
 *   was a read, which never has an effect).
 * - `info`: indeterminate. A write that timed out or missed its quorum may have reached some
 *   replicas and may surface later, at any time; it can explain a read but is never required to.
 */
import { createHash } from 'node:crypto';
import {
  DkvError,
  type DeleteOptions,
  type DeleteResult,
  type KVStore,
  type ReadOptions,
  type ReadResult,
  type WriteOptions,
  type WriteResult,
} from '@dkv/core';

/** What an operation did: the three calls of the `KVStore` port. */
export type OperationKind = 'get' | 'put' | 'delete';

/** How an operation ended; see the module comment for what each promises. */
export type OperationOutcome = 'ok' | 'fail' | 'info';

/** One completed (or, at snapshot time, abandoned) operation of a history. */
export interface HistoryOperation {
  /** Position in invocation order, from 0; unique within one history. */
  readonly id: number;
  /** The client that issued it. Operations of one process should not overlap (exports split them if they do). */
  readonly process: string;
  readonly kind: OperationKind;
  readonly key: string;
  /**
   * For a put, the value written; for an ok get, the value read, or null for not-found; null for
   * deletes and for gets that did not succeed. Bytes are kept in {@link valueToken}'s stable form.
   */
  readonly value: string | null;
  /** When the client invoked it, by the recorder's clock. */
  readonly startMs: number;
  /** When the client got its answer or gave up, by the same clock; never before `startMs`. */
  readonly endMs: number;
  readonly outcome: OperationOutcome;
  /** The version the store reported: of the write (ok put/delete) or of the value read (ok get of a value). */
  readonly version?: number;
  /** The TTL a put asked for, in seconds. */
  readonly ttlSeconds?: number;
  /** The expiry the store reported (epoch ms on the coordinator's clock, not the recorder's), or null. */
  readonly expiresAt?: number | null;
  /** For `fail` and `info`: the error code (or error name) and message that ended it. */
  readonly error?: string;
}

/** What a client is about to do: the invocation half of an operation. */
export interface OperationCall {
  readonly process: string;
  readonly kind: OperationKind;
  readonly key: string;
  /** The value a put writes; ignored for gets and deletes. */
  readonly value?: string | Uint8Array;
  readonly ttlSeconds?: number;
}

/** What the client was told: the completion half of an operation. */
export interface OperationCompletion {
  readonly outcome: OperationOutcome;
  /** For an ok get: the value read, or null for not-found. */
  readonly value?: string | Uint8Array | null;
  readonly version?: number;
  readonly expiresAt?: number | null;
  readonly error?: string;
}

/** Options of a {@link HistoryRecorder}. */
export interface HistoryRecorderOptions {
  /** The most operations one recorder accepts; {@link HistoryRecorder.invoke} throws beyond. Default 1,000,000. */
  readonly maxOperations?: number;
  /**
   * Values longer than this many bytes are kept as a SHA-256 digest instead of their text, so a
   * long run with 1 MiB session documents does not keep every document in memory. Default 1024.
   */
  readonly digestValuesOverBytes?: number;
}

/** The default bound on one history: a million operations is far beyond any test and still fits in memory. */
export const DEFAULT_MAX_HISTORY_OPERATIONS = 1_000_000;
const DEFAULT_DIGEST_OVER_BYTES = 1024;

const TEXT_DECODER = new TextDecoder('utf-8', { fatal: true });
const BASE64_PREFIX = 'b64:';
const DIGEST_PREFIX = 'sha256:';

/**
 * The stable string form of a value, so that equal bytes always give equal strings and a read can
 * be matched to the put that wrote it: valid UTF-8 is kept as text; anything else, and any text
 * that starts with one of the markers below, becomes `b64:<base64>`; a value over `digestOverBytes`
 * bytes becomes `sha256:<hex>:<length>`. The form is injective short of SHA-256 collisions.
 */
export function valueToken(value: string | Uint8Array, digestOverBytes = Number.POSITIVE_INFINITY): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.byteLength > digestOverBytes) {
    return `${DIGEST_PREFIX}${createHash('sha256').update(bytes).digest('hex')}:${bytes.byteLength}`;
  }
  let text: string | null;
  try {
    text = typeof value === 'string' && value.isWellFormed() ? value : TEXT_DECODER.decode(bytes);
  } catch {
    text = null;
  }
  if (text !== null && !text.startsWith(BASE64_PREFIX) && !text.startsWith(DIGEST_PREFIX)) return text;
  return `${BASE64_PREFIX}${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
}

/** The recorder is full: a test recorded more operations than its bound allows. */
export class HistoryLimitError extends RangeError {
  constructor(readonly maxOperations: number) {
    super(
      `history recorder is full: it holds its maximum of ${maxOperations} operations; ` +
        'record fewer operations or raise maxOperations when constructing the HistoryRecorder',
    );
    this.name = 'HistoryLimitError';
  }
}

interface PendingOperation {
  readonly call: OperationCall;
  readonly startMs: number;
  /** A put's value in stable form, taken at invocation: the caller may reuse its buffer afterwards. */
  readonly written: string | null;
}

/**
 * Collects the operations of one test. A client calls {@link HistoryRecorder.invoke} before it
 * sends a request and {@link HistoryRecorder.complete} when it has the answer; {@link recordingStore}
 * does both around any `KVStore`. The recorder keeps no clock of its own: callers pass times from
 * the one clock the whole history uses, so histories from simulations are deterministic.
 */
export class HistoryRecorder {
  /** The bound given (or defaulted) at construction. */
  readonly maxOperations: number;
  private readonly digestOverBytes: number;
  private readonly completed: HistoryOperation[] = [];
  private readonly pending = new Map<number, PendingOperation>();
  private nextId = 0;
  private latestMs = Number.NEGATIVE_INFINITY;

  constructor(options: HistoryRecorderOptions = {}) {
    const maxOperations = options.maxOperations ?? DEFAULT_MAX_HISTORY_OPERATIONS;
    if (!Number.isInteger(maxOperations) || maxOperations < 1) {
      throw new RangeError(`maxOperations must be a positive integer, got ${String(maxOperations)}`);
    }
    const digestOverBytes = options.digestValuesOverBytes ?? DEFAULT_DIGEST_OVER_BYTES;
    if (!(digestOverBytes >= 0)) throw new RangeError(`digestValuesOverBytes must be 0 or more, got ${String(digestOverBytes)}`);
    this.maxOperations = maxOperations;
    this.digestOverBytes = digestOverBytes;
  }

  /** How many operations were invoked so far, completed or not. */
  get size(): number {
    return this.nextId;
  }

  /** Records the invocation of `call` at `startMs` and returns the id to complete it with. Throws {@link HistoryLimitError} when full. */
  invoke(call: OperationCall, startMs: number): number {
    if (this.nextId >= this.maxOperations) throw new HistoryLimitError(this.maxOperations);
    assertTime('startMs', startMs);
    const id = this.nextId;
    this.nextId += 1;
    const written = call.kind === 'put' ? valueToken(call.value ?? '', this.digestOverBytes) : null;
    this.pending.set(id, { call, startMs, written });
    this.latestMs = Math.max(this.latestMs, startMs);
    return id;
  }

  /** Records how operation `id` ended, at `endMs`. Each id completes once. */
  complete(id: number, completion: OperationCompletion, endMs: number): void {
    const invoked = this.pending.get(id);
    if (!invoked) throw new RangeError(`operation ${id} is not pending: it was never invoked or already completed`);
    assertTime('endMs', endMs);
    if (endMs < invoked.startMs) throw new RangeError(`operation ${id} ends at ${endMs}, before it started at ${invoked.startMs}`);
    this.pending.delete(id);
    this.latestMs = Math.max(this.latestMs, endMs);
    this.completed.push(this.build(id, invoked, completion, endMs));
  }

  /**
   * The history so far, in id order. Operations still pending are included as `info` (their
   * outcome is unknown) ending at `pendingEndMs`, which defaults to the latest time recorded.
   */
  history(pendingEndMs?: number): HistoryOperation[] {
    const operations = [...this.completed];
    for (const [id, invoked] of this.pending) {
      const endMs = Math.max(invoked.startMs, pendingEndMs ?? this.latestMs);
      operations.push(this.build(id, invoked, { outcome: 'info', error: 'PENDING: no answer when the history was taken' }, endMs));
    }
    return operations.sort((a, b) => a.id - b.id);
  }

  private build(id: number, invoked: PendingOperation, completion: OperationCompletion, endMs: number): HistoryOperation {
    const { call } = invoked;
    const value = call.kind === 'put' ? invoked.written : this.readValueOf(call, completion);
    return {
      id,
      process: call.process,
      kind: call.kind,
      key: call.key,
      value,
      startMs: invoked.startMs,
      endMs,
      outcome: completion.outcome,
      ...(completion.version !== undefined ? { version: completion.version } : {}),
      ...(call.ttlSeconds !== undefined ? { ttlSeconds: call.ttlSeconds } : {}),
      ...(completion.expiresAt !== undefined ? { expiresAt: completion.expiresAt } : {}),
      ...(completion.error !== undefined ? { error: completion.error } : {}),
    };
  }

  private readValueOf(call: OperationCall, completion: OperationCompletion): string | null {
    if (call.kind === 'get' && completion.outcome === 'ok' && completion.value != null) {
      return valueToken(completion.value, this.digestOverBytes);
    }
    return null;
  }
}

function assertTime(name: string, ms: number): void {
  if (!Number.isFinite(ms)) throw new RangeError(`${name} must be a finite number of milliseconds, got ${String(ms)}`);
}

/** Error codes that mean the request was rejected before it could touch any replica. */
const REJECTED_CODES = new Set(['INVALID_KEY', 'INVALID_TTL', 'INVALID_CONSISTENCY', 'INVALID_REQUEST', 'VALUE_TOO_LARGE']);

/**
 * How an error ends an operation. A request rejected as malformed (`INVALID_*`,
 * `VALUE_TOO_LARGE`) definitely did nothing: `fail`. A read that failed in any way had no effect:
 * `fail`. Any other error on a write (`QUORUM_NOT_MET`, a timeout, a dropped connection) leaves it
 * unknown whether some replica applied it: `info`.
 */
export function classifyError(kind: OperationKind, error: unknown): OperationOutcome {
  if (error instanceof DkvError && REJECTED_CODES.has(error.code)) return 'fail';
  return kind === 'get' ? 'fail' : 'info';
}

function describeError(error: unknown): string {
  if (error instanceof DkvError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Wraps `store` so that every call made through it is recorded in `recorder` as issued by
 * `processId`, timed by `now`. Results and errors pass through unchanged, so a workload runs
 * exactly as it would against `store`. Errors are classified by {@link classifyError}; a get
 * that throws `NOT_FOUND` (instead of answering null) is recorded as an ok not-found read.
 */
export function recordingStore(store: KVStore, recorder: HistoryRecorder, processId: string, now: () => number): KVStore {
  async function run<T>(call: OperationCall, perform: () => Promise<T>, completionOf: (result: T) => OperationCompletion): Promise<T> {
    const id = recorder.invoke(call, now());
    let result: T;
    try {
      result = await perform();
    } catch (error) {
      const notFound = call.kind === 'get' && error instanceof DkvError && error.code === 'NOT_FOUND';
      const completion: OperationCompletion = notFound
        ? { outcome: 'ok', value: null }
        : { outcome: classifyError(call.kind, error), error: describeError(error) };
      recorder.complete(id, completion, now());
      throw error;
    }
    recorder.complete(id, completionOf(result), now());
    return result;
  }
  return {
    get: (key: string, options?: ReadOptions) =>
      run(
        { process: processId, kind: 'get', key },
        () => store.get(key, options),
        (result: ReadResult | null) =>
          result === null
            ? { outcome: 'ok', value: null }
            : { outcome: 'ok', value: result.value, version: result.version, expiresAt: result.expiresAt },
      ),
    put: (key: string, value: Uint8Array, ttlSeconds?: number, options?: WriteOptions) =>
      run(
        { process: processId, kind: 'put', key, value, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) },
        () => store.put(key, value, ttlSeconds, options),
        (result: WriteResult) => ({ outcome: 'ok', version: result.version, expiresAt: result.expiresAt }),
      ),
    delete: (key: string, options?: DeleteOptions) =>
      run(
        { process: processId, kind: 'delete', key },
        () => store.delete(key, options),
        (result: DeleteResult) => ({ outcome: 'ok', version: result.version }),
      ),
  };
}
