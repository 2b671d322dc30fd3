/**
 * An open-loop RESP load generator: it sends GETs or SETs at a fixed rate over a set of
 * connections, whatever the server's answers do, and measures each request's latency from the
 * moment it was due, not from when it went out. A closed-loop tool (redis-benchmark) waits for an
 * answer before it sends the next request, so a slow server is sent less and its queueing delay
 * never shows (coordinated omission); at a fixed rate it shows in the tail, as users would see it.
 */
import { Redis } from 'ioredis';
import { benchmarkKey } from '../lib/replica.js';

/** What to send and how fast. */
export interface PacedLoad {
  readonly port: number;
  readonly test: 'get' | 'set';
  /** Requests per second, spread evenly over time and round-robin over the connections. */
  readonly rate: number;
  readonly seconds: number;
  readonly connections: number;
  /** Keys are `key:<12 digits>` (redis-benchmark's `-r` form) below this count. */
  readonly keys: number;
  readonly valueBytes: number;
}

/** Latency percentiles in ms of the requests answered, and what was not. */
export interface PacedResult {
  readonly sent: number;
  readonly answered: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

/** A connection with more requests than this unanswered means the server cannot keep up with the rate: the run stops. */
const MAX_OUTSTANDING_PER_CONNECTION = 10_000;
/** How long the answers to the last requests may take after the last one was due. */
const DRAIN_MS = 10_000;

/** A connected client that never queues or retries: a failure is the server's, counted as such. */
async function open(port: number): Promise<Redis> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  await client.connect();
  return client;
}

/** Writes every key below `keys` once, pipelined, so that GETs find values. */
export async function preload(port: number, keys: number, valueBytes: number): Promise<void> {
  const client = await open(port);
  const value = Buffer.alloc(valueBytes, 0x78);
  let errors = 0;
  try {
    for (let from = 0; from < keys; from += 1000) {
      const pipeline = client.pipeline();
      for (let i = from; i < Math.min(keys, from + 1000); i += 1) pipeline.set(benchmarkKey(i), value);
      errors += ((await pipeline.exec()) ?? []).filter(([error]) => error !== null).length;
    }
  } finally {
    client.disconnect();
  }
  if (errors > 0) throw new Error(`preloading ${keys} keys: ${errors} SETs answered an error`);
}

/** Runs one paced load and answers its latencies. */
export async function runPaced(load: PacedLoad): Promise<PacedResult> {
  const clients = await Promise.all(Array.from({ length: load.connections }, () => open(load.port)));
  const total = Math.round(load.rate * load.seconds);
  const latencies = new Float64Array(total);
  const value = Buffer.alloc(load.valueBytes, 0x79);
  const outstanding = clients.map(() => 0);
  let sent = 0;
  let answered = 0;
  let errors = 0;
  let failure: Error | null = null;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const answer = (c: number, due: number, isError: boolean): void => {
    latencies[answered] = performance.now() - due;
    answered += 1;
    outstanding[c]! -= 1;
    if (isError) errors += 1;
    if (answered === total) finish();
  };
  const start = performance.now() + 50;
  const intervalMs = 1000 / load.rate;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        const c = sent % clients.length;
        if (outstanding[c]! > MAX_OUTSTANDING_PER_CONNECTION) {
          failure = new Error(
            `the server fell more than ${MAX_OUTSTANDING_PER_CONNECTION} requests behind on a connection at ${load.rate}/s`,
          );
          resolve();
          return;
        }
        const due = start + sent * intervalMs;
        const key = benchmarkKey(sent % load.keys);
        const request = load.test === 'get' ? clients[c]!.get(key) : clients[c]!.set(key, value);
        outstanding[c]! += 1;
        request.then(
          () => answer(c, due, false),
          () => answer(c, due, true),
        );
        sent += 1;
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  const drained =
    failure === null &&
    (await Promise.race([finished.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), DRAIN_MS).unref())]));
  for (const client of clients) client.disconnect();
  if (failure !== null) throw failure;
  if (!drained) throw new Error(`${total - answered} of ${total} requests unanswered ${DRAIN_MS} ms after the last was due`);
  const sorted = latencies.subarray(0, answered).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { sent, answered, errors, p50Ms: at(0.5), p99Ms: at(0.99), p999Ms: at(0.999), maxMs: sorted[sorted.length - 1] ?? Number.NaN };
}
