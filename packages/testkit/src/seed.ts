/**
 * Where a simulation's seed comes from, and how a failing run tells you how to replay it: every
 * seeded test prints `seed=<n> (replay with DKV_SEED=<n>)`, and `DKV_SEED=<n> npm test` replays it.
 */
import { assertSeed } from './seeded-rng.js';

/** The environment variable that fixes the seed of every seeded test. */
export const SEED_ENV_VAR = 'DKV_SEED';

/**
 * The seed named by `DKV_SEED` (a decimal integer from 0 to 2^32 - 1), or a fresh random one when
 * it is unset or empty, so that runs explore new seeds and any failure can still be replayed.
 * A malformed value throws with a message naming the variable: a typo must not silently pick a
 * random seed while you think you are replaying one.
 */
export function seedFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const raw = env[SEED_ENV_VAR]?.trim();
  if (raw === undefined || raw === '') return Math.floor(Math.random() * 2 ** 32);
  if (!/^\d+$/.test(raw)) {
    throw new RangeError(`${SEED_ENV_VAR} must be a decimal integer from 0 to ${2 ** 32 - 1}, got '${raw}'`);
  }
  const seed = Number(raw);
  try {
    assertSeed(seed);
  } catch {
    throw new RangeError(`${SEED_ENV_VAR} must be a decimal integer from 0 to ${2 ** 32 - 1}, got '${raw}'`);
  }
  return seed;
}

/** The line that lets a reader replay a run: `seed=<n> (replay with DKV_SEED=<n>)`. */
export function describeSeed(seed: number): string {
  return `seed=${seed} (replay with ${SEED_ENV_VAR}=${seed})`;
}

/**
 * Picks the seed of one test (see {@link seedFromEnv}) and prints {@link describeSeed} once, so
 * the test's output always says how to replay it. Call it once at the start of each seeded test.
 */
export function seedForTest(options: { env?: Readonly<Record<string, string | undefined>>; log?: (line: string) => void } = {}): number {
  const seed = seedFromEnv(options.env);
  (options.log ?? console.log)(describeSeed(seed));
  return seed;
}
