import {
  NodeUnavailableError,
  sendTo,
  type Clock,
  type Node,
  type NodeClient,
  type ReplyTo,
  type RequestOptions,
  type ResponseFor,
  type Rng,
  type Scheduler,
  type StorageRequest,
  type StorageResponse,
  type Timer,
} from '@dkv/core';
import { describeError } from './handler.js';

/** The retry policy of {@link RetryingNodeClient}. */
export interface RetryOptions {
  /** Attempts per send, the first included: 1 means no retry. A whole number from 1 to 10. */
  readonly maxAttempts: number;
  /** The backoff before the first retry, before jitter; it doubles after each retry. */
  readonly baseDelayMs: number;
  /** The cap on any one backoff, before jitter. */
  readonly maxDelayMs: number;
}

/** The hard ceiling on {@link RetryOptions.maxAttempts}: a retry loop has a bound however configured. */
export const MAX_RETRY_ATTEMPTS = 10;

/**
 * The backoff before retry number `retry` (1 for the first retry): exponential, capped, with
 * "equal jitter". Half of the capped delay is fixed so that retries are always spaced out, and
 * half is random so that coordinators that failed together do not retry together.
 */
export function backoffDelayMs(retry: number, options: RetryOptions, rng: Rng): number {
  const capped = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (retry - 1));
  return capped / 2 + rng.next() * (capped / 2);
}

/**
 * A {@link NodeClient} decorator that retries the failures where the request surely did not run:
 * kinds `unreachable` (e.g. connection refused while a node restarts) and `overloaded`. A
 * `timeout` or `remote` failure is passed on at once: the node may have run the request and may
 * just be slow, and retrying then is how retry storms start.
 *
 * The request's own `timeoutMs` is the deadline of the whole send, retries and backoffs included:
 * the promise settles by then, with kind `timeout` if an attempt is in flight at the deadline, or
 * with the last failure if the deadline falls in a backoff. A retry is not even started when its
 * backoff would end after the deadline. Time is read only through the `Scheduler` port, so the
 * decorator runs unchanged in virtual time; each attempt is given the time the backoffs have not
 * used (an upper bound of what is left, since attempt durations are not measured).
 *
 * `close()` fails pending sends with kind `closed` and closes the inner client: it owns it.
 *
 * With a `clock`, a send's first attempt goes straight to the inner client, with no timer, state
 * or closures of its own (the data path's common case: one attempt that answers): the inner
 * client's contract already settles it by `timeoutMs`. Only a retryable failure starts the retry
 * machinery, with the time the first attempt left (read on the clock), so the whole send still
 * settles by its deadline. A first attempt in flight when `close()` is called is failed by the
 * inner client's own close (its sends settle by their deadline whatever happens). Without a clock
 * (virtual-time tests that count timers), every send takes the retry path from the start.
 */
export class RetryingNodeClient implements NodeClient {
  private readonly pending = new Set<() => void>();
  private closing: Promise<void> | null = null;

  constructor(
    private readonly inner: NodeClient,
    private readonly options: RetryOptions,
    private readonly scheduler: Scheduler,
    private readonly rng: Rng,
    private readonly clock?: Clock,
  ) {
    const { maxAttempts, baseDelayMs, maxDelayMs } = options;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > MAX_RETRY_ATTEMPTS) {
      throw new RangeError(`maxAttempts must be a whole number from 1 to ${MAX_RETRY_ATTEMPTS}, got ${String(maxAttempts)}`);
    }
    if (!(baseDelayMs >= 0) || !(maxDelayMs >= baseDelayMs) || !Number.isFinite(maxDelayMs)) {
      throw new RangeError(`delays must satisfy 0 <= baseDelayMs <= maxDelayMs < Infinity, got ${baseDelayMs} and ${maxDelayMs}`);
    }
  }

  /**
   * Sends through the inner client, retrying as the class comment says, within `timeoutMs`. With
   * a clock, it is {@link sendTo} behind one promise: the first attempt's outcome settles it, or
   * a retryable failure starts the retries.
   */
  send<R extends StorageRequest>(target: Node, request: R, options: RequestOptions): Promise<ResponseFor<R>> {
    if (this.closing !== null) return Promise.reject(new NodeUnavailableError(target.id, 'closed', 'the client is closed'));
    if (this.clock === undefined) return this.sendWithRetries(target, request, options.timeoutMs, null, options.timeoutMs);
    return new Promise<ResponseFor<R>>((resolve, reject) =>
      this.firstAttempt(target, request, options, { answered: resolve, failed: reject }),
    );
  }

  /**
   * As {@link send}, the outcome handed to `reply`. With a clock, the first attempt goes to the
   * inner client's `sendTo` with one object that sees its outcome (a {@link FirstAttempt}), and
   * only a retryable failure starts the retry machinery, as in `send`.
   */
  sendTo<R extends StorageRequest>(target: Node, request: R, options: RequestOptions, reply: ReplyTo<ResponseFor<R>>): void {
    if (this.closing !== null || this.clock === undefined) {
      this.send(target, request, options).then(
        (answer) => reply.answered(answer),
        (error: unknown) => reply.failed(error),
      );
      return;
    }
    this.firstAttempt(target, request, options, reply);
  }

  /** The first attempt of a send, with a clock: straight to the inner client, retried only if it fails retryably. */
  private firstAttempt<R extends StorageRequest>(target: Node, request: R, options: RequestOptions, reply: ReplyTo<ResponseFor<R>>): void {
    const startedAt = (this.clock as Clock).now();
    const attempt = new FirstAttempt(
      this.afterFirstFailure,
      target,
      request,
      options.timeoutMs,
      startedAt,
      reply as ReplyTo<StorageResponse>,
    );
    sendTo(this.inner, target, request, options, attempt);
  }

  /** A first attempt of `sendTo` failed with `error`: its reply fails, or the retries take over with the time left. */
  private readonly afterFirstFailure = (attempt: FirstAttempt, error: unknown): void => {
    const { target, request, timeoutMs, startedAt, reply } = attempt;
    const failure = asNodeFailure(target, error);
    if (this.closing !== null || !isRetryable(failure) || this.options.maxAttempts < 2 || this.clock === undefined) {
      reply.failed(failure);
      return;
    }
    this.sendWithRetries(target, request, timeoutMs - (this.clock.now() - startedAt), failure, timeoutMs).then(
      (answer) => reply.answered(answer),
      (thrown: unknown) => reply.failed(thrown),
    );
  };

  /**
   * The retry machinery: attempts, backoffs and the deadline, within `budgetMs`. `firstFailure`:
   * the first attempt already ran and failed so (retryably); null: no attempt has run yet.
   * `timeoutMs`: the send's whole deadline, as failures name it.
   */
  private sendWithRetries<R extends StorageRequest>(
    target: Node,
    request: R,
    budgetMs: number,
    firstFailure: NodeUnavailableError | null,
    timeoutMs: number,
  ): Promise<ResponseFor<R>> {
    const options: RequestOptions = { timeoutMs: budgetMs };
    return new Promise<ResponseFor<R>>((resolve, reject) => {
      let settled = false;
      let attempts = 0;
      let backoffSpentMs = 0;
      let backoff: Timer | null = null;
      let lastFailure: NodeUnavailableError | null = null;

      const finish = (outcome: { value: ResponseFor<R> } | { error: NodeUnavailableError }): void => {
        if (settled) return;
        settled = true;
        deadline.cancel();
        backoff?.cancel();
        this.pending.delete(abort);
        if ('value' in outcome) resolve(outcome.value);
        else reject(outcome.error);
      };
      const abort = (): void => finish({ error: new NodeUnavailableError(target.id, 'closed', 'the client closed during the request') });
      const deadline = this.scheduler.after(Math.max(0, options.timeoutMs), () => {
        const failure = backoff !== null && lastFailure !== null ? lastFailure : timeoutOf(target, timeoutMs, attempts);
        finish({ error: failure });
      });
      this.pending.add(abort);

      const failed = (error: NodeUnavailableError): void => {
        if (settled) return;
        const delayMs = backoffDelayMs(attempts, this.options, this.rng);
        const retry = isRetryable(error) && attempts < this.options.maxAttempts && backoffSpentMs + delayMs < options.timeoutMs;
        if (!retry) return finish({ error });
        lastFailure = error;
        backoffSpentMs += delayMs;
        backoff = this.scheduler.after(delayMs, attempt);
      };
      const attempt = (): void => {
        backoff = null;
        attempts += 1;
        this.attemptOnce(target, request, options.timeoutMs - backoffSpentMs).then((value) => finish({ value }), failed);
      };
      if (firstFailure === null) attempt();
      else {
        attempts = 1;
        failed(firstFailure);
      }
    });
  }

  /** Fails pending sends with kind `closed`, then closes the inner client. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    for (const abort of [...this.pending]) abort();
    const closing = this.inner.close();
    this.closing = closing;
    return closing;
  }

  private attemptOnce<R extends StorageRequest>(target: Node, request: R, timeoutMs: number): Promise<ResponseFor<R>> {
    try {
      return this.inner.send(target, request, { timeoutMs }).catch((error: unknown) => {
        throw asNodeFailure(target, error);
      });
    } catch (error) {
      return Promise.reject(asNodeFailure(target, error));
    }
  }
}

function isRetryable(error: NodeUnavailableError): boolean {
  return error.kind === 'unreachable' || error.kind === 'overloaded';
}

function asNodeFailure(target: Node, error: unknown): NodeUnavailableError {
  if (error instanceof NodeUnavailableError) return error;
  return new NodeUnavailableError(target.id, 'remote', describeError(error));
}

function timeoutOf(target: Node, timeoutMs: number, attempts: number): NodeUnavailableError {
  return new NodeUnavailableError(target.id, 'timeout', `no answer within ${timeoutMs} ms (${attempts} attempts)`);
}

/** The first attempt of one `sendTo` (see `RetryingNodeClient.sendTo`): an answer goes on as it is; a failure may be retried. */
class FirstAttempt implements ReplyTo<StorageResponse> {
  constructor(
    private readonly afterFailure: (attempt: FirstAttempt, error: unknown) => void,
    readonly target: Node,
    readonly request: StorageRequest,
    readonly timeoutMs: number,
    readonly startedAt: number,
    readonly reply: ReplyTo<StorageResponse>,
  ) {}

  answered(answer: StorageResponse): void {
    this.reply.answered(answer);
  }

  failed(error: unknown): void {
    this.afterFailure(this, error);
  }
}
