// Goal: one seed names one sequence, forks are independent and stable, and the seed plumbing
// (DKV_SEED) replays what a failing run printed. Method: fixed seeds, properties with fast-check.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeSeed, seedForTest, seedFromEnv } from './seed.js';
import { SeededRng } from './seeded-rng.js';

function draw(rng: SeededRng, count: number): number[] {
  return Array.from({ length: count }, () => rng.uint32());
}

describe('SeededRng', () => {
  it('gives the same sequence for the same seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (seed) => {
        expect(draw(new SeededRng(seed), 20)).toEqual(draw(new SeededRng(seed), 20));
      }),
    );
  });

  it('is pinned: xoshiro128** over splitmix32 gives these first outputs for seed 1', () => {
    // The expected values come from an independent transcription of the reference C code (in
    // Python, with explicit 32-bit masking). A change here would silently change every replayed
    // run, so change them only on purpose.
    expect(draw(new SeededRng(1), 4)).toEqual([2442144158, 3238099751, 3819917871, 2104621829]);
  });

  it('gives different sequences for neighbouring seeds', () => {
    expect(draw(new SeededRng(1), 8)).not.toEqual(draw(new SeededRng(2), 8));
  });

  it('keeps next() in [0, 1) and int() in [0, max)', () => {
    const rng = new SeededRng(3);
    let outOfRange = 0;
    for (let i = 0; i < 10_000; i++) {
      const value = rng.next();
      const n = rng.int(7);
      if (!(value >= 0 && value < 1) || !(Number.isInteger(n) && n >= 0 && n < 7)) outOfRange++;
    }
    expect(outOfRange).toBe(0);
    expect(rng.int(1)).toBe(0);
    expect(rng.int(0)).toBe(0);
    expect(rng.range(5, 5)).toBe(5);
  });

  it('spreads int() evenly enough', () => {
    const rng = new SeededRng(4);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[rng.int(10)]! += 1;
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });

  it('forks are deterministic, independent of the parent position, and differ by label', () => {
    const parent = new SeededRng(5);
    const before = draw(parent.fork('network'), 10);
    draw(parent, 100);
    expect(draw(parent.fork('network'), 10)).toEqual(before);
    expect(draw(parent.fork('workload'), 10)).not.toEqual(before);
    expect(draw(parent.fork('network').fork('x'), 10)).not.toEqual(draw(parent.fork('workload').fork('x'), 10));
    expect(parent.fork('network').fork('latency').path).toBe('root/network/latency');
    expect(draw(new SeededRng(6).fork('network'), 10)).not.toEqual(before);
  });

  it('drawing from a fork does not move its parent', () => {
    const a = new SeededRng(8);
    const b = new SeededRng(8);
    draw(a.fork('child'), 50);
    expect(draw(a, 10)).toEqual(draw(b, 10));
  });

  it('shuffle and pick are deterministic permutations and members', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const shuffled = new SeededRng(9).shuffle(items);
    expect(new SeededRng(9).shuffle(items)).toEqual(shuffled);
    expect(shuffled.slice().sort((x, y) => x - y)).toEqual(items);
    expect(items).toContain(new SeededRng(9).pick(items));
  });

  it('rejects seeds DKV_SEED cannot name', () => {
    expect(() => new SeededRng(-1)).toThrow(RangeError);
    expect(() => new SeededRng(2 ** 32)).toThrow(RangeError);
    expect(() => new SeededRng(1.5)).toThrow(RangeError);
  });
});

describe('seeds from the environment', () => {
  it('reads DKV_SEED as a decimal integer', () => {
    expect(seedFromEnv({ DKV_SEED: '12345' })).toBe(12345);
    expect(seedFromEnv({ DKV_SEED: ' 7 ' })).toBe(7);
    expect(seedFromEnv({ DKV_SEED: '4294967295' })).toBe(4294967295);
  });

  it('refuses a malformed DKV_SEED, naming it', () => {
    expect(() => seedFromEnv({ DKV_SEED: '0x10' })).toThrow(/DKV_SEED must be a decimal integer/);
    expect(() => seedFromEnv({ DKV_SEED: '4294967296' })).toThrow(/DKV_SEED/);
    expect(() => seedFromEnv({ DKV_SEED: '-1' })).toThrow(/DKV_SEED/);
  });

  it('picks a valid random seed when DKV_SEED is unset or empty', () => {
    for (const env of [{}, { DKV_SEED: '' }]) {
      const seed = seedFromEnv(env);
      expect(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32).toBe(true);
    }
  });

  it('prints the replay line once', () => {
    const lines: string[] = [];
    expect(seedForTest({ env: { DKV_SEED: '31' }, log: (line) => lines.push(line) })).toBe(31);
    expect(lines).toEqual(['seed=31 (replay with DKV_SEED=31)']);
    expect(describeSeed(31)).toBe(lines[0]);
  });
});
