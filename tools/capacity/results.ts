/**
 * The two benchmark result files the capacity model reads, validated with zod at the edge. Only
 * the fields the model uses are checked (older and newer results of a kind both parse); a file of
 * the other kind, or one missing a field, is refused with the file's name and the field at fault
 * instead of failing later on an `undefined` halfway through the arithmetic.
 */
import { z } from 'zod';

/** One load measurement of an HTTP result (closed loop, autocannon at a rate, or open loop). */
const measuredSchema = z.object({
  requestsPerSecond: z.number().nonnegative(),
  loopbackBytesPerRequest: z.number().nonnegative().nullable(),
  latency: z.object({ p99Ms: z.number() }),
  targetRate: z.number().nullable(),
  cost: z.object({
    serverCores: z.record(z.string(), z.number().nonnegative()),
    serverCoresTotal: z.number().nonnegative(),
    foreignCores: z.number(),
  }),
});

const httpRunSchema = z.object({
  kind: z.literal('http'),
  command: z.string(),
  startedAt: z.string(),
  machine: z.object({ commit: z.string(), dirty: z.boolean(), cpus: z.number(), cpuModel: z.string(), node: z.string() }),
  settings: z.object({ valueBytes: z.number(), quick: z.boolean() }),
  results: z.array(
    z.object({
      scenario: z.string(),
      target: z.string(),
      // The model divides by the closed loop's rate: a run that answered nothing cannot be scaled.
      closed: measuredSchema.extend({ requestsPerSecond: z.number().positive() }),
      autocannonRate: measuredSchema,
      open: measuredSchema,
    }),
  ),
});

const nodeRunSchema = z.object({
  /** Absent in results from before the engines were measured one by one. */
  engine: z.string().optional(),
  keys: z.number().int().positive(),
  bytesPerKey: z.number().nonnegative(),
  ratio: z.number(),
});

const memoryRunSchema = z.object({
  kind: z.literal('memory'),
  command: z.string(),
  startedAt: z.string(),
  machine: z.object({ commit: z.string(), dirty: z.boolean() }),
  engines: z
    .array(
      z.object({
        engine: z.string().optional(),
        alloc: z.string(),
        keys: z.number().int().positive(),
        payloadBytes: z.number().nonnegative(),
        total: z.object({ rssBytes: z.number().nonnegative() }),
        ratio: z.number(),
      }),
    )
    .min(1, 'no storage engine was measured'),
  /** One real node per engine (newer results); `node` alone in older ones. */
  nodes: z.array(nodeRunSchema).optional(),
  node: nodeRunSchema.nullable(),
});

/** The fields of an http-*.json result (benchmarks/http/bench.ts) the model reads. */
export type HttpRun = z.infer<typeof httpRunSchema>;

/** One load measurement of an {@link HttpRun}. */
export type Measured = z.infer<typeof measuredSchema>;

/** The fields of a memory-*.json result (benchmarks/memory/bench.ts) the model reads. */
export type MemoryRun = z.infer<typeof memoryRunSchema>;

/** One storage engine measured in a single process, after GC. */
export type EngineRun = MemoryRun['engines'][number];

/** One real storage node process holding the keys, as operated. */
export type NodeRun = z.infer<typeof nodeRunSchema>;

/** Checks that `value` (parsed from `source`) is an HTTP benchmark result; throws a message naming the file otherwise. */
export function parseHttpRun(value: unknown, source: string): HttpRun {
  return parseRun(httpRunSchema, value, source, { kind: 'http', what: 'an HTTP benchmark result', from: 'benchmarks/http/bench.ts' });
}

/** Checks that `value` (parsed from `source`) is a memory benchmark result; throws a message naming the file otherwise. */
export function parseMemoryRun(value: unknown, source: string): MemoryRun {
  return parseRun(memoryRunSchema, value, source, {
    kind: 'memory',
    what: 'a memory benchmark result',
    from: 'benchmarks/memory/bench.ts',
  });
}

/** At most this many field problems are listed, so one wrong file does not flood the terminal. */
const ISSUES_SHOWN_MAX = 5;

function parseRun<T>(schema: z.ZodType<T>, value: unknown, source: string, expected: { kind: string; what: string; from: string }): T {
  // The kind first: handing over the other result file (or the files swapped) is the likely
  // mistake, and deserves one plain sentence rather than a list of every field that differs.
  const kind = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { kind?: unknown }).kind : undefined;
  if (kind !== expected.kind) {
    const found = kind === undefined ? 'no "kind" field' : `"kind": ${JSON.stringify(kind)}`;
    throw new Error(`${source}: expected ${expected.what} ("kind": "${expected.kind}", written by ${expected.from}), found ${found}`);
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, ISSUES_SHOWN_MAX)
    .map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  const more = parsed.error.issues.length > ISSUES_SHOWN_MAX ? `; and ${parsed.error.issues.length - ISSUES_SHOWN_MAX} more` : '';
  throw new Error(`${source}: not a valid ${expected.what.replace(/^an? /, '')}: ${issues.join('; ')}${more}`);
}
