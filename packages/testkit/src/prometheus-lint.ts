/**
 * A checker of Prometheus text exposition for the naming rules dkv follows (those of
 * `promtool check metrics` and the Prometheus naming guide), so that a test can hold a real
 * process's `/metrics` to them without a Prometheus binary: every family has `# HELP` and
 * `# TYPE`; names and label names are valid; counters end in `_total` and nothing else does;
 * units are base units (seconds, bytes) named as the last part of the name; histograms have their
 * `_bucket` (with `le`), `_sum` and `_count` series; and no label can carry a key or a value
 * (unbounded cardinality, and a leak of data into monitoring).
 */

/** One metric family as exposed: its name, type, help and the sample series seen. */
export interface MetricFamily {
  readonly name: string;
  readonly type: string | null;
  readonly help: string | null;
  /** Each sample's series name (with `_bucket`, `_sum`... suffixes) and label names. */
  readonly samples: ReadonlyArray<{ readonly series: string; readonly labels: readonly string[] }>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/;
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;
const SUMMARY_SUFFIXES = ['_sum', '_count'] as const;
/** Units that are not base units, with the base unit to use instead (as promtool words it). */
const NON_BASE_UNITS: ReadonlyArray<readonly [RegExp, string]> = [
  [/(^|_)(ms|milliseconds|microseconds|us|nanoseconds|ns|minutes|hours|days)(_|$)/, 'seconds'],
  [/(^|_)(kilobytes|megabytes|gigabytes|kb|mb|gb|kib|mib|gib|bits)(_|$)/, 'bytes'],
  [/(^|_)(percent|percentage)(_|$)/, 'a ratio (0..1)'],
];
/** Label names that would hold a key, a value or a secret: unbounded and private. */
const FORBIDDEN_LABELS = new Set(['key', 'keys', 'value', 'values', 'password', 'token', 'user', 'session']);

/** Parses the exposition text into families, in the order they appear. */
export function parseExposition(text: string): MetricFamily[] {
  const families = new Map<
    string,
    { name: string; type: string | null; help: string | null; samples: Array<{ series: string; labels: string[] }> }
  >();
  const family = (name: string) => {
    let entry = families.get(name);
    if (entry === undefined) {
      entry = { name, type: null, help: null, samples: [] };
      families.set(name, entry);
    }
    return entry;
  };
  const typed = (series: string): string => {
    if (families.has(series)) return series;
    for (const suffix of HISTOGRAM_SUFFIXES) {
      if (series.endsWith(suffix) && families.has(series.slice(0, -suffix.length))) return series.slice(0, -suffix.length);
    }
    return series;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)\s*(.*)$/.exec(line);
    if (meta) {
      const entry = family(meta[2]!);
      if (meta[1] === 'HELP') entry.help = meta[3] ?? '';
      else entry.type = (meta[3] ?? '').trim();
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = SAMPLE.exec(line);
    if (!sample) {
      family(`<unparsable line: ${line.slice(0, 80)}>`);
      continue;
    }
    const labels = [...(sample[3] ?? '').matchAll(/([^=,\s]+)="(?:[^"\\]|\\.)*"/g)].map((match) => match[1]!);
    family(typed(sample[1]!)).samples.push({ series: sample[1]!, labels });
  }
  return [...families.values()];
}

/** What is wrong with `text` by the rules above: one sentence per problem, naming the metric. Empty when it passes. */
export function lintExposition(text: string): string[] {
  const problems: string[] = [];
  for (const family of parseExposition(text)) problems.push(...lintFamily(family));
  return problems;
}

function lintFamily(family: MetricFamily): string[] {
  const { name, type } = family;
  const problems: string[] = [];
  if (!NAME.test(name)) return [`${name}: not a valid metric name`];
  if (family.help === null || family.help.trim() === '') problems.push(`${name}: no # HELP text`);
  if (type === null) problems.push(`${name}: no # TYPE line`);
  if (name !== name.toLowerCase()) problems.push(`${name}: names are snake_case`);
  if (type === 'counter' && !name.endsWith('_total')) problems.push(`${name}: a counter's name ends in _total`);
  if (type !== 'counter' && name.endsWith('_total'))
    problems.push(`${name}: only counters end in _total (this is a ${type ?? 'metric without a type'})`);
  for (const [pattern, base] of NON_BASE_UNITS) if (pattern.test(name)) problems.push(`${name}: use the base unit, ${base}`);
  const stem = name.replace(/_total$/, '');
  for (const unit of ['seconds', 'bytes']) {
    if (new RegExp(`(^|_)${unit}_`).test(stem) && !stem.endsWith(`_${unit}`))
      problems.push(`${name}: the unit (${unit}) is the last part of the name, before _total`);
  }
  for (const sample of family.samples) {
    for (const label of sample.labels) {
      if (!LABEL.test(label) || label.startsWith('__')) problems.push(`${name}: label ${label} is not a valid label name`);
      if (FORBIDDEN_LABELS.has(label)) problems.push(`${name}: label ${label} would carry keys, values or secrets`);
    }
    if (type === 'histogram') {
      const suffix = HISTOGRAM_SUFFIXES.find((s) => sample.series === `${name}${s}`);
      if (suffix === undefined) problems.push(`${name}: histogram series ${sample.series} is not _bucket, _sum or _count`);
      if (suffix === '_bucket' && !sample.labels.includes('le')) problems.push(`${name}: a _bucket series without le`);
    } else if (type === 'summary') {
      if (sample.series !== name && !SUMMARY_SUFFIXES.some((s) => sample.series === `${name}${s}`))
        problems.push(`${name}: summary series ${sample.series} is not the name, _sum or _count`);
    } else if (sample.series !== name) {
      problems.push(`${name}: series ${sample.series} does not match its family`);
    }
  }
  return problems;
}
