// Goal: versions only grow, stay above anything observed, and clock skew cannot order a later
// write below an earlier one; a version from a clock beyond the tolerated offset (or forged near
// 2^53) is refused instead of dragging the clock there (issue 10, finding 5).
// Method: a hand-driven clock, including clocks that jump back.
import { VersionTooFarAheadError } from '@dkv/core';
import { describe, expect, it } from 'vitest';
import { LOGICAL_BITS, VERSION_EPOCH_MS, VersionGenerator } from './version-generator.js';

function clockAt(ms: number) {
  return { now: () => ms, set: (next: number) => (ms = next) };
}

describe('VersionGenerator', () => {
  it('follows the wall clock when clocks agree', () => {
    const clock = clockAt(VERSION_EPOCH_MS + 1000);
    const versions = new VersionGenerator(clock);
    const v1 = versions.next();
    clock.set(VERSION_EPOCH_MS + 2000);
    const v2 = versions.next();
    expect(v1).toBe(1000 * 2 ** LOGICAL_BITS);
    expect(v2).toBe(2000 * 2 ** LOGICAL_BITS);
    expect(VersionGenerator.physicalMsOf(v2)).toBe(VERSION_EPOCH_MS + 2000);
  });

  it('never goes back when the clock does', () => {
    const clock = clockAt(VERSION_EPOCH_MS + 5000);
    const versions = new VersionGenerator(clock);
    const v1 = versions.next();
    clock.set(VERSION_EPOCH_MS + 1000);
    expect(versions.next()).toBe(v1 + 1);
  });

  it('issues above an observed version from a coordinator whose clock is minutes ahead', () => {
    const fast = new VersionGenerator(clockAt(VERSION_EPOCH_MS + 10 * 60_000));
    const slow = new VersionGenerator(clockAt(VERSION_EPOCH_MS + 1000));
    const early = fast.next();
    const later = slow.next(early);
    expect(later).toBeGreaterThan(early);
    slow.observe(later + 100);
    expect(slow.next()).toBe(later + 101);
  });

  it('stays a safe integer for a century of wall clock', () => {
    const versions = new VersionGenerator(clockAt(VERSION_EPOCH_MS + 69 * 365 * 86_400_000));
    expect(Number.isSafeInteger(versions.next())).toBe(true);
  });

  it('refuses to issue a version above 2^53 - 1', () => {
    const versions = new VersionGenerator(clockAt(VERSION_EPOCH_MS + 70 * 365 * 86_400_000), Number.MAX_SAFE_INTEGER);
    expect(() => versions.next(Number.MAX_SAFE_INTEGER)).toThrow(/version space exhausted/);
  });

  it('ignores an observed version near 2^53: later versions of every key stay at the wall clock', () => {
    const clock = clockAt(VERSION_EPOCH_MS + 1000);
    const versions = new VersionGenerator(clock, 60_000);
    versions.observe(Number.MAX_SAFE_INTEGER - 5);
    expect(versions.refusedCount()).toBe(1);
    expect(VersionGenerator.physicalMsOf(versions.next())).toBe(VERSION_EPOCH_MS + 1000);
  });

  it('refuses to issue above a version from a clock years ahead, with VERSION_TOO_FAR_AHEAD, and stays usable', () => {
    const clock = clockAt(VERSION_EPOCH_MS + 1000);
    const versions = new VersionGenerator(clock, 60_000);
    const yearsAhead = new VersionGenerator(clockAt(VERSION_EPOCH_MS + 3 * 365 * 86_400_000)).next();
    expect(() => versions.next(yearsAhead)).toThrow(VersionTooFarAheadError);
    expect(() => versions.next(yearsAhead)).toThrow(/ahead of this process's clock; at most 60000 ms/);
    expect(VersionGenerator.physicalMsOf(versions.next())).toBe(VERSION_EPOCH_MS + 1000);
    // Within the tolerated offset, a faster clock's version is adopted as before.
    const aMinuteAhead = new VersionGenerator(clockAt(VERSION_EPOCH_MS + 60_000)).next();
    expect(versions.next(aMinuteAhead)).toBe(aMinuteAhead + 1);
  });
});
