import type { KvOperation } from './public-api.js';

/** The operations a {@link RequestWindow} keeps apart, in the order the dashboard shows them. */
const OPERATIONS: readonly KvOperation[] = ['get', 'put', 'delete'];

/** The smallest latency bucket's upper bound (50 µs: below any loopback request). */
const FIRST_BOUND_S = 0.00005;
/** Each bucket's bound is this much above the previous one: a p99 is exact to within 25 %. */
const BOUND_FACTOR = 1.25;
/** 62 buckets reach 40 s, beyond any request timeout; slower requests land in the last one. */
const BUCKET_COUNT = 62;
const BOUNDS_S = Array.from({ length: BUCKET_COUNT }, (_, i) => FIRST_BOUND_S * BOUND_FACTOR ** i);

/** One second's requests of one operation: how many, how many failed (5xx), their latency histogram. */
interface OperationSlot {
  count: number;
  errors: number;
  readonly buckets: Uint32Array;
}

interface Slot {
  /** The whole second (epoch) this slot counts, or -1 while unused. */
  second: number;
  readonly operations: Record<KvOperation, OperationSlot>;
}

/** Request rate and latency of one operation over the window, as the dashboard shows it. */
export interface OperationSummary {
  readonly perSecond: number;
  /** Requests answered with a 5xx status (QUORUM_NOT_MET, UNAVAILABLE...) per second. */
  readonly errorsPerSecond: number;
  /** The 99th percentile latency in seconds (a bucket's upper bound), or null without requests. */
  readonly p99Seconds: number | null;
}

/** {@link RequestWindow.summary}'s answer: per operation, over the last `windowSeconds`. */
export interface RequestSummary {
  readonly windowSeconds: number;
  readonly operations: Readonly<Record<KvOperation, OperationSummary>>;
}

/**
 * The key requests of the last few seconds, for the dashboard's rates and p99 latencies: one slot
 * per second in a ring of `windowSeconds` slots, each holding a count and a fixed histogram of 62
 * geometric buckets per operation. Memory is bounded (about 1 KB per slot) whatever the load, and
 * recording a request is a few array writes. Prometheus keeps the long history; this answers
 * "what is it doing now" without a Prometheus server.
 */
export class RequestWindow {
  private readonly slots: Slot[];

  /**
   * @param windowSeconds how many whole seconds a summary covers (1..60)
   * @param nowMs the wall clock; a port so that a test can step it
   */
  constructor(
    readonly windowSeconds: number,
    private readonly nowMs: () => number = Date.now,
  ) {
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > 60)
      throw new RangeError(`windowSeconds must be a whole number from 1 to 60, got ${windowSeconds}`);
    // One more slot than the window: the current second is still filling and is not summarized.
    this.slots = Array.from({ length: windowSeconds + 1 }, () => ({ second: -1, operations: emptyOperations() }));
  }

  /** Counts one answered request of `operation` with its HTTP `status` and duration. */
  record(operation: KvOperation, status: number, seconds: number): void {
    const slot = this.slotOf(Math.floor(this.nowMs() / 1000));
    const op = slot.operations[operation];
    op.count += 1;
    if (status >= 500) op.errors += 1;
    op.buckets[bucketOf(seconds)]! += 1;
  }

  /** Rates and p99 latencies over the last `windowSeconds` whole seconds (the current one excluded). */
  summary(): RequestSummary {
    const now = Math.floor(this.nowMs() / 1000);
    const recent = this.slots.filter((slot) => slot.second < now && slot.second >= now - this.windowSeconds);
    const operations = {} as Record<KvOperation, OperationSummary>;
    for (const operation of OPERATIONS) {
      let count = 0;
      let errors = 0;
      const buckets = new Uint32Array(BUCKET_COUNT);
      for (const slot of recent) {
        const op = slot.operations[operation];
        count += op.count;
        errors += op.errors;
        for (let i = 0; i < BUCKET_COUNT; i += 1) buckets[i]! += op.buckets[i]!;
      }
      operations[operation] = {
        perSecond: count / this.windowSeconds,
        errorsPerSecond: errors / this.windowSeconds,
        p99Seconds: percentile(buckets, count, 0.99),
      };
    }
    return { windowSeconds: this.windowSeconds, operations };
  }

  /** The slot of `second`, cleared first if it last counted an older second. */
  private slotOf(second: number): Slot {
    const slot = this.slots[second % this.slots.length]!;
    if (slot.second !== second) {
      slot.second = second;
      for (const operation of OPERATIONS) {
        const op = slot.operations[operation];
        op.count = 0;
        op.errors = 0;
        op.buckets.fill(0);
      }
    }
    return slot;
  }
}

function emptyOperations(): Record<KvOperation, OperationSlot> {
  const slot = (): OperationSlot => ({ count: 0, errors: 0, buckets: new Uint32Array(BUCKET_COUNT) });
  return { get: slot(), put: slot(), delete: slot() };
}

/** The bucket whose bound is the first at or above `seconds` (the last one for anything slower). */
function bucketOf(seconds: number): number {
  if (!(seconds > FIRST_BOUND_S)) return 0;
  const index = Math.ceil(Math.log(seconds / FIRST_BOUND_S) / Math.log(BOUND_FACTOR) - 1e-9);
  return Math.min(BUCKET_COUNT - 1, index);
}

/** The upper bound of the bucket holding the `q` quantile of `count` observations, or null for none. */
function percentile(buckets: Uint32Array, count: number, q: number): number | null {
  if (count === 0) return null;
  const rank = Math.ceil(q * count);
  let seen = 0;
  for (let i = 0; i < BUCKET_COUNT; i += 1) {
    seen += buckets[i]!;
    if (seen >= rank) return BOUNDS_S[i]!;
  }
  return BOUNDS_S[BUCKET_COUNT - 1]!;
}
