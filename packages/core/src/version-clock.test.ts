// Goal: a version's physical part is the millisecond it was issued at, whatever its logical
// counter, and a version issued too far ahead is refused with a message naming the bound.
// Method: versions built from their parts (ms since the epoch × 2^LOGICAL_BITS + logical).
import { describe, expect, it } from 'vitest';
import { LOGICAL_BITS, physicalMsOfVersion, VERSION_EPOCH_MS, versionAheadProblem } from './version-clock.js';

const versionAt = (ms: number, logical: number): number => (ms - VERSION_EPOCH_MS) * 2 ** LOGICAL_BITS + logical;

describe('physicalMsOfVersion', () => {
  it('drops the logical counter, from its first value to its last', () => {
    const ms = Date.UTC(2026, 11, 4, 23, 59, 59, 999);
    expect(physicalMsOfVersion(versionAt(ms, 0))).toBe(ms);
    expect(physicalMsOfVersion(versionAt(ms, 2 ** LOGICAL_BITS - 1))).toBe(ms);
    expect(physicalMsOfVersion(versionAt(ms, 2 ** LOGICAL_BITS))).toBe(ms + 1);
  });
});

describe('versionAheadProblem', () => {
  it('accepts a version up to the bound ahead and refuses one a millisecond past it', () => {
    const now = Date.UTC(2026, 11, 4);
    expect(versionAheadProblem(versionAt(now + 1000, 4095), now, 1000)).toBeNull();
    expect(versionAheadProblem(versionAt(now + 1001, 0), now, 1000)).toMatch(/1001 ms ahead of this process's clock; at most 1000 ms/);
  });
});
