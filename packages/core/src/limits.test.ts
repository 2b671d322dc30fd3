// Goal: every bad input gets a clear error naming what is allowed. Method: table cases.
import { describe, expect, it } from 'vitest';
import { DkvError } from './errors.js';
import { validateConsistency, validateKey, validateTtlSeconds, validateValueSize } from './limits.js';

function codeOf(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    return error instanceof DkvError ? error.code : 'not a DkvError';
  }
}

describe('limits', () => {
  it.each([
    ['', 'INVALID_KEY'],
    ['a', null],
    ['é'.repeat(256), null],
    ['é'.repeat(257), 'INVALID_KEY'],
    ['x'.repeat(512), null],
    ['x'.repeat(513), 'INVALID_KEY'],
    ['\ud800', 'INVALID_KEY'],
  ])('key %#', (key, code) => expect(codeOf(() => validateKey(key))).toBe(code));

  it.each([
    [0, 'INVALID_TTL'],
    [1, null],
    [1.5, 'INVALID_TTL'],
    [31_536_000, null],
    [31_536_001, 'INVALID_TTL'],
    [Number.NaN, 'INVALID_TTL'],
  ])('ttl %s', (ttl, code) => expect(codeOf(() => validateTtlSeconds(ttl))).toBe(code));

  it.each([
    [0, 'INVALID_CONSISTENCY'],
    [1, null],
    [3, null],
    [4, 'INVALID_CONSISTENCY'],
  ])('consistency %s of N=3', (level, code) => expect(codeOf(() => validateConsistency('w', level, 3))).toBe(code));

  it('names the limit in the message', () => {
    expect(() => validateValueSize(11, 10)).toThrow('value is 11 bytes; the limit is 10 bytes');
    expect(() => validateKey('')).toThrow(/1 to 512 bytes/);
  });
});
