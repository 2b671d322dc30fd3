/**
 * Redis's glob-style pattern matching (`stringmatchlen` in redis's `src/util.c`), the rule behind
 * `SCAN ... MATCH` and `KEYS`: `*` any run of bytes, `?` any one byte, `[abc]` one of a set,
 * `[^abc]` one byte outside it, `[a-z]` a range (ends in either order), a backslash escapes the
 * next byte, inside a set too. Matching is over the UTF-8 bytes of pattern and key, as Redis
 * matches over the bytes of its strings, so a `?` stands for one byte, not one character.
 *
 * Ported step by step rather than rewritten so that edge cases answer as Redis does: an unclosed
 * `[` takes the rest of the pattern as its set, a trailing backslash is a literal backslash,
 * byte comparisons in ranges are of C's signed `char` (bytes from 0x80 sort below ASCII), and
 * both of Redis's guards against abusive patterns are kept: nesting of `*` stops at 1000 levels
 * (no match), and once the tail after a `*` fails from every position, earlier `*`s do not try
 * longer runs (the search stays polynomial).
 */
export function globMatch(pattern: string, subject: string): boolean {
  const p = Buffer.from(pattern, 'utf8');
  const s = Buffer.from(subject, 'utf8');
  return matchFrom(p, 0, s, 0, { skipLongerMatches: false }, 0);
}

/** The most levels of `*` one match recurses through (Redis's own bound). */
const MAX_NESTING = 1000;
const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const BACKSLASH = 0x5c;
const DASH = 0x2d;

/** The byte at `i`, or 0 past the end: Redis's strings are NUL-terminated and it reads that NUL. */
function at(bytes: Uint8Array, i: number): number {
  return i < bytes.length ? (bytes[i] as number) : 0;
}

/** A byte as C's signed `char`, which is how Redis compares the ends of a `[a-z]` range. */
function signed(byte: number): number {
  return byte >= 0x80 ? byte - 0x100 : byte;
}

function matchFrom(p: Uint8Array, pi: number, s: Uint8Array, si: number, state: { skipLongerMatches: boolean }, nesting: number): boolean {
  if (nesting > MAX_NESTING) return false;
  let patternLen = p.length - pi;
  let stringLen = s.length - si;
  while (patternLen > 0 && stringLen > 0) {
    switch (at(p, pi)) {
      case STAR: {
        while (patternLen > 0 && at(p, pi + 1) === STAR) {
          pi += 1;
          patternLen -= 1;
        }
        if (patternLen === 1) return true;
        while (stringLen > 0) {
          if (matchFrom(p, pi + 1, s, si, state, nesting + 1)) return true;
          if (state.skipLongerMatches) return false;
          si += 1;
          stringLen -= 1;
        }
        state.skipLongerMatches = true;
        return false;
      }
      case QUESTION:
        si += 1;
        stringLen -= 1;
        break;
      case OPEN: {
        pi += 1;
        patternLen -= 1;
        const not = at(p, pi) === CARET;
        if (not) {
          pi += 1;
          patternLen -= 1;
        }
        let match = false;
        const c = at(s, si);
        for (;;) {
          if (at(p, pi) === BACKSLASH && patternLen >= 2) {
            pi += 1;
            patternLen -= 1;
            if (at(p, pi) === c) match = true;
          } else if (at(p, pi) === CLOSE) {
            break;
          } else if (patternLen === 0) {
            pi -= 1;
            patternLen += 1;
            break;
          } else if (patternLen >= 3 && at(p, pi + 1) === DASH) {
            let start = signed(at(p, pi));
            let end = signed(at(p, pi + 2));
            if (start > end) [start, end] = [end, start];
            pi += 2;
            patternLen -= 2;
            if (signed(c) >= start && signed(c) <= end) match = true;
          } else if (at(p, pi) === c) {
            match = true;
          }
          pi += 1;
          patternLen -= 1;
        }
        if (not) match = !match;
        if (!match) return false;
        si += 1;
        stringLen -= 1;
        break;
      }
      case BACKSLASH:
        if (patternLen >= 2) {
          pi += 1;
          patternLen -= 1;
        }
        if (at(p, pi) !== at(s, si)) return false;
        si += 1;
        stringLen -= 1;
        break;
      default:
        if (at(p, pi) !== at(s, si)) return false;
        si += 1;
        stringLen -= 1;
        break;
    }
    pi += 1;
    patternLen -= 1;
    if (stringLen === 0) {
      while (at(p, pi) === STAR) {
        pi += 1;
        patternLen -= 1;
      }
      break;
    }
  }
  return patternLen === 0 && stringLen === 0;
}
