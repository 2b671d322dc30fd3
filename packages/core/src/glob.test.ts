// Goal: globMatch answers as Redis's stringmatchlen does, including its edge cases (unclosed sets,
// trailing backslash, reversed ranges, bytes rather than characters, abusive patterns).
// Method: a table of (pattern, key, expected) cases, the expectations taken from Redis's own
// semantics in src/util.c and from its KEYS/SCAN MATCH behaviour.
import { describe, expect, it } from 'vitest';
import { globMatch } from './glob.js';

describe('globMatch', () => {
  it.each([
    ['*', 'anything', true],
    ['', '', true],
    ['', 'a', false],
    ['sess:*', 'sess:42', true],
    ['sess:*', 'sess:', true],
    ['sess:*', 'session', false],
    ['h?llo', 'hello', true],
    ['h?llo', 'hllo', false],
    ['h*llo', 'heeeello', true],
    ['h*llo', 'hllo', true],
    ['h[ae]llo', 'hello', true],
    ['h[ae]llo', 'hallo', true],
    ['h[ae]llo', 'hillo', false],
    ['h[^e]llo', 'hallo', true],
    ['h[^e]llo', 'hello', false],
    ['h[a-b]llo', 'hbllo', true],
    ['h[a-b]llo', 'hcllo', false],
    ['h[b-a]llo', 'hallo', true],
    ['h\\*llo', 'h*llo', true],
    ['h\\*llo', 'hello', false],
    ['h[\\]]llo', 'h]llo', true],
    ['h[\\-]llo', 'h-llo', true],
    ['a\\', 'a\\', true],
    ['a\\', 'a', false],
    ['[abc', 'a', true],
    ['[abc', 'd', false],
    ['[', 'a', false],
    ['[^', 'a', true],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXbYY', false],
    ['*a', 'bbba', true],
    ['a**', 'a', true],
    ['a*', 'a', true],
    ['?', 'é', false],
    ['??', 'é', true],
    ['*é', 'café', true],
  ])('%j against %j is %s', (pattern, key, expected) => {
    expect(globMatch(pattern, key)).toBe(expected);
  });

  it('stays fast on a pattern built to backtrack exponentially', () => {
    const pattern = `${'a*'.repeat(30)}b`;
    expect(globMatch(pattern, 'a'.repeat(60))).toBe(false);
  });
});
