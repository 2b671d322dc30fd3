/**
 * A small flag parser for the benchmark scripts: `--name value`, `--name=value` and bare
 * `--flag` booleans, checked against the flags a script declares, so a typo stops the run at
 * once instead of silently measuring the defaults.
 */

/** The flags a script accepts: name to "number", "string" or "boolean". */
export type FlagSpec = Readonly<Record<string, 'number' | 'string' | 'boolean'>>;

/** Parsed flags by name; absent flags are absent. */
export type Flags = Record<string, number | string | boolean>;

/** Parses `argv` (without node and script) against `spec`; throws with a usage hint on anything unknown or malformed. */
export function parseFlags(argv: readonly string[], spec: FlagSpec, usage: string): Flags {
  const flags: Flags = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    const name = match?.[1];
    const type = name === undefined ? undefined : spec[name];
    if (name === undefined || type === undefined) throw new Error(`unknown argument ${JSON.stringify(arg)}\n${usage}`);
    if (type === 'boolean') {
      flags[name] = match?.[2] === undefined ? true : match[2] !== 'false';
      continue;
    }
    const raw = match?.[2] ?? argv[(i += 1)];
    if (raw === undefined) throw new Error(`--${name} needs a value\n${usage}`);
    if (type === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number >= 0, got ${JSON.stringify(raw)}`);
      flags[name] = value;
    } else {
      flags[name] = raw;
    }
  }
  return flags;
}

/**
 * A comma-separated list flag (`--targets a,b`), each item one of `all`; every item of `all` when
 * the flag is absent. Throws naming the flag and what it takes on an unknown item or an empty list.
 */
export function listFlag(flags: Flags, name: string, all: readonly string[]): string[] {
  const value = flags[name];
  const given = value === undefined ? [...all] : String(value).split(',');
  if (given.length === 0 || given.some((v) => !all.includes(v)))
    throw new Error(`--${name} takes a comma-separated list of ${all.join(', ')}; got ${String(value)}`);
  return given;
}

/** A file-name-safe timestamp, e.g. 2026-11-25T06-25-38Z. */
export function stamp(date: Date = new Date()): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
}

/** A number with thousands separators and `digits` decimals. */
export function fmt(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Renders rows as a Markdown table (also readable on a terminal); cells are right-aligned except the first two. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, c) => (c < 2 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (c < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
