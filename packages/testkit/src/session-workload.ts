import type { KVStore } from '@dkv/core';

/**
 * dkv's one workload generator (STYLE.md: the same generator drives the simulation and the
 * benchmarks): the session key space, session values, and the mix of operations clients issue.
 *
 * - The benchmarks draw `sessionKey`s with {@link XorShift32} and send values from a
 *   {@link sessionValuePool} (about 2 KiB of JSON-ish text, as a web application stores a
 *   logged-in user's session), built before the run so the load generator spends its CPU on
 *   requests, not on values. Everything derives from a seed, so two runs send the same bytes.
 * - The simulation's clients (`runSessionClient` in `@dkv/simulation`) and the fault-injection
 *   tests with real processes (`runScenario` in apps/cli) draw operations from a
 *   {@link SessionWorkload}: the same key space, a mix of GET, PUT (some with a TTL) and DELETE, and
 *   a value unique to each write (`c<client>-<op>`), which gives the history checkers their
 *   sharpest checks (`checkHistory`).
 */

/** What a {@link SessionWorkload} draws from: a `SeededRng` in tests, any uniform source otherwise. */
export interface WorkloadRandom {
  /** A number in [0, 1). */
  next(): number;
  /** A whole number in `0 .. maxExclusive - 1`. */
  int(maxExclusive: number): number;
}

/** Shares of the operations: `get` and `put` (the rest are deletes), and the share of puts with a TTL. */
export interface SessionMix {
  readonly get: number;
  readonly put: number;
  readonly ttlShare: number;
}

/** The simulation's mix: 50% GET, 38% PUT of which a fifth with a one-hour TTL, 12% DELETE. */
export const SIMULATION_MIX: SessionMix = { get: 0.5, put: 0.38, ttlShare: 0.2 };

/** The TTL of the puts that have one: an hour, longer than any run, so expiry is judged but rarely reached. */
export const SESSION_TTL_SECONDS = 3600;

/** One operation a client issues. */
export type SessionOperation =
  | { readonly type: 'get'; readonly key: string }
  | { readonly type: 'put'; readonly key: string; readonly value: Buffer; readonly ttlSeconds: number | undefined }
  | { readonly type: 'delete'; readonly key: string };

/** The settings of a {@link SessionWorkload}. */
export interface SessionWorkloadOptions {
  /** Keys `<prefix>:0` .. `<prefix>:<keys - 1>`, picked uniformly. */
  readonly keys: number;
  /** Default `session`. */
  readonly keyPrefix?: string;
  /** Default {@link SIMULATION_MIX}. */
  readonly mix?: SessionMix;
}

/**
 * The operations of session clients: each call of {@link next} draws a key, then the kind, then
 * (for a put) whether it has a TTL, always in that order, so a seeded source replays the same run.
 */
export class SessionWorkload {
  private readonly prefix: string;
  private readonly mix: SessionMix;

  constructor(private readonly options: SessionWorkloadOptions) {
    if (!Number.isInteger(options.keys) || options.keys < 1)
      throw new Error(`a workload's keys must be a whole number of at least 1, got ${options.keys}`);
    this.mix = options.mix ?? SIMULATION_MIX;
    const { get, put, ttlShare } = this.mix;
    if (!(get >= 0 && put >= 0 && get + put <= 1 && ttlShare >= 0 && ttlShare <= 1))
      throw new Error(`a workload's mix needs get, put >= 0 with get + put <= 1 and ttlShare in 0..1, got ${JSON.stringify(this.mix)}`);
    this.prefix = options.keyPrefix ?? 'session';
  }

  /** Every key of the workload, in index order (for final reads and convergence checks). */
  keys(): string[] {
    return Array.from({ length: this.options.keys }, (_, index) => sessionKey(index, this.prefix));
  }

  /** The `op`-th operation of client `client`; a put's value `c<client>-<op>` is unique to it. */
  next(random: WorkloadRandom, client: number, op: number): SessionOperation {
    const key = sessionKey(random.int(this.options.keys), this.prefix);
    const roll = random.next();
    if (roll < this.mix.get) return { type: 'get', key };
    if (roll < this.mix.get + this.mix.put) {
      const ttlSeconds = this.mix.ttlShare > 0 && random.next() < this.mix.ttlShare ? SESSION_TTL_SECONDS : undefined;
      return { type: 'put', key, value: Buffer.from(`c${client}-${op}`), ttlSeconds };
    }
    return { type: 'delete', key };
  }
}

/** Issues `operation` through `store`. */
export function performSessionOperation(store: KVStore, operation: SessionOperation): Promise<unknown> {
  if (operation.type === 'get') return store.get(operation.key);
  if (operation.type === 'put') return store.put(operation.key, operation.value, operation.ttlSeconds);
  return store.delete(operation.key);
}

/** The size of a session value in bytes (the "~2 KB sessions"). */
export const SESSION_VALUE_BYTES = 2048;

/** The key of session `index`, as an application would name it: `session:<index>`, or `<prefix>:<index>`. */
export function sessionKey(index: number, prefix = 'session'): string {
  return `${prefix}:${index}`;
}

/**
 * A small, fast, seeded PRNG (xorshift32): the load generators draw a key per request, and
 * `Math.random` would make runs unrepeatable for no gain.
 */
export class XorShift32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  /** A whole number in `0 .. bound - 1` (bound at most 2^32; the modulo bias is irrelevant here). */
  below(bound: number): number {
    return this.nextU32() % bound;
  }
}

const WORDS = [
  'cart',
  'item',
  'locale',
  'theme',
  'dark',
  'light',
  'en-GB',
  'fr-FR',
  'checkout',
  'viewed',
  'wishlist',
  'promo',
  'referrer',
  'search',
];

/**
 * A session document of exactly `bytes` bytes of ASCII JSON: user id, timestamps, a CSRF token,
 * preferences, a cart and a browsing history padded to size. It parses as JSON; only its size and
 * its variety (so nothing along the path can deduplicate values) matter to the benchmarks.
 */
export function sessionValue(index: number, bytes: number = SESSION_VALUE_BYTES): Buffer {
  const rng = new XorShift32(index * 2654435761 + 1);
  const token = Array.from({ length: 4 }, () => rng.nextU32().toString(16).padStart(8, '0')).join('');
  const cart = Array.from({ length: 1 + rng.below(4) }, () => ({ sku: `SKU-${rng.below(1_000_000)}`, qty: 1 + rng.below(3) }));
  const head = {
    userId: index,
    createdAt: 1_764_000_000_000 + rng.below(86_400_000),
    csrf: token,
    prefs: { locale: WORDS[6 + rng.below(2)], theme: WORDS[4 + rng.below(2)] },
    cart,
  };
  let text = `${JSON.stringify(head).slice(0, -1)},"history":[`;
  const close = ']}';
  let first = true;
  for (;;) {
    const word = WORDS[rng.below(WORDS.length)] ?? 'item';
    const entry = `${first ? '' : ','}"/${word}/${rng.below(100_000)}"`;
    if (text.length + entry.length + close.length > bytes) break;
    text += entry;
    first = false;
  }
  // Pad the last few bytes inside the array with spaces, which JSON allows, to hit `bytes` exactly.
  text += ' '.repeat(Math.max(0, bytes - text.length - close.length)) + close;
  return Buffer.from(text, 'latin1');
}

/** A fixed set of distinct session values to draw request bodies from (building one per request would cost the load generator CPU). */
export function sessionValuePool(count: number, bytes: number = SESSION_VALUE_BYTES): Buffer[] {
  return Array.from({ length: count }, (_, i) => sessionValue(i, bytes));
}
