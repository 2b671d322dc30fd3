/**
 * The session workload of the HTTP and memory benchmarks (the RESP one takes only its value size:
 * redis-benchmark draws its own keys and values): `session:<n>` keys and values
 * of about 2 KiB of JSON-ish text, as a web application would store a logged-in user's session.
 * Everything is derived from a seed, so two runs send the same bytes. Values come from a pool
 * built before the run, so the load generator spends its CPU on requests, not on values.
 *
 * The simulation draws its own operations (`runSessionClient` in `@dkv/simulation`) over the same
 * `session:<n>` key space with a value unique to each write, which gives the history checkers
 * their sharpest checks (`checkHistory`) and which these pooled values are not. A shared generator (the aim of STYLE.md) would
 * need both; an earlier `SessionWorkload` in `@dkv/testkit` claimed to be it but ran nowhere and
 * was removed (issue 15).
 */

/** The size of a session value in bytes (the "~2 KB sessions"). */
export const SESSION_VALUE_BYTES = 2048;

/** The key of session `index`, as an application would name it. */
export function sessionKey(index: number): string {
  return `session:${index}`;
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
