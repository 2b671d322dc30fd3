/**
 * Redis's glob patterns (`stringmatchlen` in src/util.c), as `KEYS`, `SCAN ... MATCH` and
 * `CONFIG GET` take them: `*` any run, `?` one character, `[abc]`, `[^a-z]` classes with ranges,
 * `\x` the character x itself. Matching is on characters of the key's text.
 */
export function globMatch(pattern: string, text: string): boolean {
  return matchFrom(pattern, 0, text, 0, 0);
}

/** Bounds the backtracking of `*`, as Redis bounds its recursion (a pattern of many stars cannot take forever). */
const MAX_NESTING = 1000;

function matchFrom(p: string, pi: number, s: string, si: number, nesting: number): boolean {
  if (nesting > MAX_NESTING) return false;
  while (pi < p.length) {
    const c = p[pi];
    if (c === '*') {
      while (p[pi + 1] === '*') pi += 1;
      if (pi + 1 === p.length) return true;
      for (let k = si; k <= s.length; k += 1) if (matchFrom(p, pi + 1, s, k, nesting + 1)) return true;
      return false;
    }
    if (si >= s.length) return false;
    if (c === '?') {
      pi += 1;
      si += 1;
      continue;
    }
    if (c === '[') {
      const end = classEnd(p, pi);
      if (!classMatches(p.slice(pi + 1, end), s[si] as string)) return false;
      pi = end + 1;
      si += 1;
      continue;
    }
    let literal = c;
    if (c === '\\' && pi + 1 < p.length) {
      pi += 1;
      literal = p[pi];
    }
    if (literal !== s[si]) return false;
    pi += 1;
    si += 1;
  }
  return si === s.length;
}

/** Index of the `]` closing the class opened at `start` (the pattern's end if unclosed, as Redis reads it). */
function classEnd(p: string, start: number): number {
  let i = start + 1;
  if (p[i] === '^') i += 1;
  for (; i < p.length; i += 1) {
    if (p[i] === '\\' && i + 1 < p.length) i += 1;
    else if (p[i] === ']') return i;
  }
  return p.length;
}

function classMatches(body: string, ch: string): boolean {
  let negate = false;
  let i = 0;
  if (body[0] === '^') {
    negate = true;
    i = 1;
  }
  let matched = false;
  for (; i < body.length; i += 1) {
    if (body[i] === '\\' && i + 1 < body.length) {
      i += 1;
      if (body[i] === ch) matched = true;
    } else if (i + 2 < body.length && body[i + 1] === '-') {
      let lo = body[i] as string;
      let hi = body[i + 2] as string;
      if (lo > hi) [lo, hi] = [hi, lo];
      if (ch >= lo && ch <= hi) matched = true;
      i += 2;
    } else if (body[i] === ch) {
      matched = true;
    }
  }
  return negate ? !matched : matched;
}
