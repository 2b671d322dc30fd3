/**
 * A seeded stream of session-store operations, meant to be the one workload that simulation tests
 * and benchmarks share, so that a benchmark measures the workload the simulation proved correct and
 * one seed names one workload. Neither runs it yet: the simulation's clients are
 * `runSessionClient` (`@dkv/simulation`) and the benchmarks draw keys and values in
 * `benchmarks/lib/workload.ts` (issue 15).
 */
import { validateTtlSeconds, type Rng } from '@dkv/core';

/** One operation of a workload, in the shape of the `KVStore` port's calls. */
export interface WorkloadOperation {
  readonly op: 'get' | 'put' | 'delete';
  readonly key: string;
  /** For `put`: the value's bytes (JSON text of exactly `valueBytes` bytes, when that fits). */
  readonly value?: Uint8Array;
  /** For `put`, when the workload has a TTL. */
  readonly ttlSeconds?: number;
}

/** Options of a {@link SessionWorkload}. */
export interface SessionWorkloadOptions {
  /** Draws every choice; give it its own fork (`rng.fork('workload')`). */
  readonly rng: Rng;
  /** How many distinct keys (`session:0` .. `session:<keys - 1>`); 1 .. 10,000,000. */
  readonly keys: number;
  /** The size of every value in bytes; 0 .. 16 MiB. */
  readonly valueBytes: number;
  /** The fraction of operations that are reads, in [0, 1]. */
  readonly readRatio: number;
  /** The fraction of writes that are deletes, in [0, 1]. Default 0.1: sessions mostly get written, sometimes end. */
  readonly deleteRatio?: number;
  /** The TTL every put carries; absent means no expiry. */
  readonly ttlSeconds?: number;
  /**
   * Zipf exponent of key popularity: 0 (the default) picks keys uniformly; about 1 gives the
   * usual hot-session skew, where `session:0` is the most popular.
   */
  readonly zipfExponent?: number;
}

const MAX_KEYS = 10_000_000;
const MAX_VALUE_BYTES = 16 * 1024 * 1024;
const PAD_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** Padding repeats a random chunk of this length: random enough to defeat compression tricks, cheap for large values. */
const PAD_CHUNK_CHARS = 64;

/** The key of session `n`: `session:<n>`. */
export function sessionKey(n: number): string {
  return `session:${n}`;
}

function checkFraction(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${String(value)}`);
  return value;
}

/**
 * A deterministic, unending stream of operations: the same rng seed and options give the same
 * operations in the same order. Keys look like `session:<n>`; values are JSON session documents
 * padded to exactly `valueBytes` bytes (below about 60 bytes they are plain padding, not JSON).
 */
export class SessionWorkload {
  private readonly rng: Rng;
  private readonly keys: number;
  private readonly valueBytes: number;
  private readonly readRatio: number;
  private readonly deleteRatio: number;
  private readonly ttlSeconds: number | undefined;
  /** Cumulative popularity of keys 0..n for Zipf picks; null for uniform picks. */
  private readonly zipfCdf: Float64Array | null;
  private readonly encoder = new TextEncoder();
  private sequence = 0;

  constructor(options: SessionWorkloadOptions) {
    if (!Number.isInteger(options.keys) || options.keys < 1 || options.keys > MAX_KEYS) {
      throw new RangeError(`keys must be an integer from 1 to ${MAX_KEYS}, got ${String(options.keys)}`);
    }
    if (!Number.isInteger(options.valueBytes) || options.valueBytes < 0 || options.valueBytes > MAX_VALUE_BYTES) {
      throw new RangeError(`valueBytes must be an integer from 0 to ${MAX_VALUE_BYTES}, got ${String(options.valueBytes)}`);
    }
    this.rng = options.rng;
    this.keys = options.keys;
    this.valueBytes = options.valueBytes;
    this.readRatio = checkFraction('readRatio', options.readRatio);
    this.deleteRatio = checkFraction('deleteRatio', options.deleteRatio ?? 0.1);
    if (options.ttlSeconds !== undefined) validateTtlSeconds(options.ttlSeconds);
    this.ttlSeconds = options.ttlSeconds;
    const exponent = options.zipfExponent ?? 0;
    this.zipfCdf = exponent > 0 ? zipfCdf(this.keys, exponent) : null;
  }

  /** The next operation. */
  next(): WorkloadOperation {
    this.sequence++;
    const key = sessionKey(this.pickKeyIndex());
    if (this.rng.next() < this.readRatio) return { op: 'get', key };
    if (this.rng.next() < this.deleteRatio) return { op: 'delete', key };
    const value = this.makeValue(key);
    return this.ttlSeconds === undefined ? { op: 'put', key, value } : { op: 'put', key, value, ttlSeconds: this.ttlSeconds };
  }

  /** The next `count` operations. */
  take(count: number): WorkloadOperation[] {
    const operations: WorkloadOperation[] = [];
    for (let i = 0; i < count; i++) operations.push(this.next());
    return operations;
  }

  private pickKeyIndex(): number {
    if (this.zipfCdf === null) return this.rng.int(this.keys);
    const target = this.rng.next() * (this.zipfCdf[this.keys - 1] as number);
    let low = 0;
    let high = this.keys - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((this.zipfCdf[middle] as number) <= target) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private makeValue(key: string): Uint8Array {
    const user = `user-${this.rng.int(1_000_000)}`;
    const skeleton = JSON.stringify({ sessionId: key, userId: user, seq: this.sequence, data: '' });
    const padChars = this.valueBytes - skeleton.length;
    if (padChars < 0) return this.encoder.encode(this.padding(this.valueBytes));
    const json = JSON.stringify({ sessionId: key, userId: user, seq: this.sequence, data: this.padding(padChars) });
    return this.encoder.encode(json);
  }

  /** `length` ASCII letters and digits: a random chunk, repeated. */
  private padding(length: number): string {
    let chunk = '';
    for (let i = 0; i < Math.min(length, PAD_CHUNK_CHARS); i++) chunk += PAD_ALPHABET[this.rng.int(PAD_ALPHABET.length)];
    return length <= PAD_CHUNK_CHARS ? chunk : chunk.repeat(Math.ceil(length / PAD_CHUNK_CHARS)).slice(0, length);
  }
}

function zipfCdf(keys: number, exponent: number): Float64Array {
  const cdf = new Float64Array(keys);
  let total = 0;
  for (let rank = 0; rank < keys; rank++) {
    total += 1 / (rank + 1) ** exponent;
    cdf[rank] = total;
  }
  return cdf;
}
