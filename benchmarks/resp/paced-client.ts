/**
 * An open-loop RESP load generator: it sends GETs or SETs at a fixed rate over a set of
 * connections, whatever the server's answers do, and measures each request's latency from the
 * moment it was due, not from when it went out. A closed-loop tool (redis-benchmark) waits for an
 * answer before it sends the next request, so a slow server is sent less and its queueing delay
 * never shows (coordinated omission); at a fixed rate it shows in the tail, as users would see it.
 *
 * The client must not be the tail it measures. It writes prepared frames on plain sockets and
 * counts replies off the byte stream (no client library, no promise or string per request), and it
 * paces on `setImmediate`, not on a 1 ms timer: the timer sent requests in bursts up to a
 * millisecond late. Against a redis-server at 8,000-16,000 requests per second (2 KB values, 50
 * connections), the ioredis client this replaced measured a p99 of 6-24 ms and a p50 of 0.9-1.5 ms
 * of its own making; this one 3-6 ms and 0.05 ms on the same loaded machine. Pacing on
 * `setImmediate` keeps the client's core busy: it must have a core of its own (latency.ts pins it).
 */
import { connect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { benchmarkKey } from '../lib/replica.js';
import { respFrame } from './loopback-clients.js';
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

/** A connected ioredis client that never queues or retries (the preload's). */
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

/**
 * Counts the complete RESP2 replies in a connection's byte stream: simple strings, errors,
 * integers, bulk strings (nil included). That is every reply GET and SET have; a reply of another
 * type (an array) is not expected and would be miscounted.
 */
export class ReplyCounter {
  /** Bytes of a bulk string's payload and its CRLF still to come. */
  private skip = 0;
  /** Whether the bytes coming are a reply's first line, after its type byte. */
  private inLine = false;
  private type = 0;
  private length = 0;
  private negative = false;

  /** Reads `chunk`, calling `onReply(isError)` once for each reply it completes. */
  feed(chunk: Buffer, onReply: (isError: boolean) => void): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        this.skip -= take;
        i += take;
        if (this.skip === 0) onReply(false);
        continue;
      }
      const b = chunk[i]!;
      i += 1;
      if (!this.inLine) {
        this.inLine = true;
        this.type = b;
        this.length = 0;
        this.negative = false;
      } else if (b === 0x0a) {
        this.inLine = false;
        if (this.type !== 0x24) onReply(this.type === 0x2d);
        else if (this.negative) onReply(false);
        else this.skip = this.length + 2;
      } else if (this.type === 0x24) {
        if (b === 0x2d) this.negative = true;
        else if (b >= 0x30 && b <= 0x39) this.length = this.length * 10 + (b - 0x30);
      }
    }
  }
}

/** A plain socket to 127.0.0.1:`port`, connected. */
function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Runs one paced load and answers its latencies. */
export async function runPaced(load: PacedLoad): Promise<PacedResult> {
  const sockets = await Promise.all(Array.from({ length: load.connections }, () => openSocket(load.port)));
  const total = Math.round(load.rate * load.seconds);
  const latencies = new Float64Array(total);
  const value = Buffer.alloc(load.valueBytes, 0x79);
  const frames = Array.from({ length: Math.min(load.keys, total) }, (_, k) =>
    load.test === 'get' ? respFrame(['GET', benchmarkKey(k)]) : respFrame(['SET', benchmarkKey(k), value]),
  );
  // Each connection's requests in flight, as the times they were due, in order: a ring per
  // connection, larger than the most a connection may have in flight.
  const ring = 16_384;
  const dues = sockets.map(() => new Float64Array(ring));
  const heads = new Array<number>(sockets.length).fill(0);
  const tails = new Array<number>(sockets.length).fill(0);
  let sent = 0;
  let answered = 0;
  let errors = 0;
  let failure: Error | null = null;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  sockets.forEach((socket, c) => {
    const counter = new ReplyCounter();
    const onReply = (isError: boolean): void => {
      latencies[answered] = performance.now() - dues[c]![heads[c]! % ring]!;
      heads[c]! += 1;
      answered += 1;
      if (isError) errors += 1;
      if (answered === total) finish();
    };
    socket.on('data', (chunk: Buffer) => counter.feed(chunk, onReply));
    socket.on('error', (error) => {
      failure ??= new Error(`connection ${c} failed: ${error.message}`);
    });
  });
  const start = performance.now() + 50;
  const intervalMs = 1000 / load.rate;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        const c = sent % sockets.length;
        if (failure !== null || tails[c]! - heads[c]! >= MAX_OUTSTANDING_PER_CONNECTION) {
          failure ??= new Error(
            `the server fell more than ${MAX_OUTSTANDING_PER_CONNECTION} requests behind on a connection at ${load.rate}/s`,
          );
          resolve();
          return;
        }
        dues[c]![tails[c]! % ring] = start + sent * intervalMs;
        tails[c]! += 1;
        sockets[c]!.write(frames[sent % frames.length]!);
        sent += 1;
      }
      if (sent < total) setImmediate(tick);
      else resolve();
    };
    tick();
  });
  const drained =
    failure === null &&
    (await Promise.race([finished.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), DRAIN_MS).unref())]));
  for (const socket of sockets) socket.destroy();
  if (failure !== null) throw failure;
  if (!drained) throw new Error(`${total - answered} of ${total} requests unanswered ${DRAIN_MS} ms after the last was due`);
  const sorted = latencies.subarray(0, answered).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { sent, answered, errors, p50Ms: at(0.5), p99Ms: at(0.99), p999Ms: at(0.999), maxMs: sorted[sorted.length - 1] ?? Number.NaN };
}
