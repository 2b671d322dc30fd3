/**
 * A seeded random source for simulations and tests: xoshiro128** (Blackman and Vigna, 2018,
 * https://prng.di.unimi.it/xoshiro128starstar.c) whose 128-bit state is filled by splitmix32, as
 * the authors recommend, so that nearby seeds give unrelated streams.
 */
import type { Rng } from '@dkv/core';

const TWO_POW_32 = 2 ** 32;
const TWO_POW_53 = 2 ** 53;

/** One step of splitmix32 (a 32-bit variant of Steele, Lea and Flood's SplitMix): returns [output, next state]. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [z >>> 0, next];
}

/** FNV-1a over the UTF-16 code units of `text`: a stable 32-bit hash of a fork label. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Throws unless `seed` is an integer from 0 to 2^32 - 1: the seeds that DKV_SEED can name. */
export function assertSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed >= TWO_POW_32) {
    throw new RangeError(`seed must be an integer from 0 to ${TWO_POW_32 - 1}, got ${String(seed)}`);
  }
}

/**
 * A deterministic {@link Rng}: the same seed gives the same sequence on every machine and run.
 *
 * {@link SeededRng.fork} derives an independent stream from the root seed and a path of labels,
 * not from how many numbers this stream has drawn. So the network's stream does not change when
 * a test draws one more number elsewhere, and a seed keeps replaying the same faults after
 * unrelated code changes. Forking the same label twice gives the same stream, by design.
 */
export class SeededRng implements Rng {
  /** The root seed this stream descends from (what DKV_SEED replays). */
  readonly seed: number;
  /** The fork path from the root, e.g. `root/network/latency`; for error messages and traces. */
  readonly path: string;
  private readonly streamKey: number;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number, path = 'root', streamKey = seed) {
    assertSeed(seed);
    this.seed = seed;
    this.path = path;
    this.streamKey = streamKey >>> 0;
    let state = this.streamKey;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [word, next] = splitmix32(state);
      words.push(word);
      state = next;
    }
    [this.s0, this.s1, this.s2, this.s3] = words as [number, number, number, number];
    // splitmix32 never yields four zero words in a row, but the all-zero state would be a fixed
    // point of xoshiro, so guard it anyway.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9);
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /** A float in [0, 1) with 53 random bits (two draws). */
  next(): number {
    const high = this.uint32() >>> 5; // 27 bits
    const low = this.uint32() >>> 6; // 26 bits
    return (high * 2 ** 26 + low) / TWO_POW_53;
  }

  /** An integer in [0, maxExclusive); 0 when `maxExclusive` is 1 or less, like `SystemRng`. */
  int(maxExclusive: number): number {
    if (!(maxExclusive > 1)) return 0;
    if (maxExclusive <= TWO_POW_32 && Number.isInteger(maxExclusive)) {
      // Rejection sampling: draws at or above the largest multiple of maxExclusive below 2^32
      // would bias the remainder, so they are redrawn (at most half the draws, usually none).
      const limit = TWO_POW_32 - (TWO_POW_32 % maxExclusive);
      for (;;) {
        const draw = this.uint32();
        if (draw < limit) return draw % maxExclusive;
      }
    }
    return Math.floor(this.next() * maxExclusive);
  }

  /** An integer in [min, max], both included. */
  range(min: number, max: number): number {
    if (max < min) throw new RangeError(`range needs min <= max, got ${min} > ${max}`);
    return min + this.int(max - min + 1);
  }

  /** True with probability `probability` (0 never draws true, 1 always does). */
  chance(probability: number): boolean {
    return this.next() < probability;
  }

  /** One element of `items`, uniformly. Throws on an empty array, which is a bug in the caller. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick needs at least one item');
    return items[this.int(items.length)] as T;
  }

  /** A new array with the elements of `items` in a uniformly random order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const result = items.slice();
    for (let i = result.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [result[i], result[j]] = [result[j] as T, result[i] as T];
    }
    return result;
  }

  /**
   * An independent stream named `label`, derived from this stream's identity (root seed and fork
   * path) and not from its position: see the class comment for why.
   */
  fork(label: string): SeededRng {
    const [key] = splitmix32((this.streamKey ^ fnv1a(label)) >>> 0);
    return new SeededRng(this.seed, `${this.path}/${label}`, key);
  }
}
