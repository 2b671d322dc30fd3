/**
 * An open-loop RESP load generator: it sends GETs or SETs at a fixed rate over a set of
 * connections, whatever the server's answers do, and measures each request's latency from the
 * moment it was due, not from when it went out. A closed-loop tool (redis-benchmark) waits for an
 * answer before it sends the next request, so a slow server is sent less and its queueing delay
 * never shows (coordinated omission); at a fixed rate it shows in the tail, as users would see it.
 */
import { connect, type Socket } from 'node:net';

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

/** The key of index `i`, as redis-benchmark -r names them. */
export function benchmarkKey(i: number): string {
  return `key:${String(i).padStart(12, '0')}`;
}

/** The RESP command for one request. */
function command(test: 'get' | 'set', key: string, value: Buffer | null): Buffer {
  const keyBytes = Buffer.byteLength(key);
  if (test === 'get') return Buffer.from(`*2\r\n$3\r\nGET\r\n$${keyBytes}\r\n${key}\r\n`);
  const head = Buffer.from(`*3\r\n$3\r\nSET\r\n$${keyBytes}\r\n${key}\r\n$${value!.length}\r\n`);
  return Buffer.concat([head, value!, Buffer.from('\r\n')]);
}

/**
 * Counts complete replies in a byte stream: simple strings, errors, integers and bulk strings
 * (the replies GET and SET have). Keeps only the bytes of an incomplete reply between chunks.
 */
class ReplyCounter {
  private pending: Buffer = Buffer.alloc(0);

  /** Feeds a chunk; calls `onReply(isError)` for each reply completed by it. */
  feed(chunk: Buffer, onReply: (isError: boolean) => void): void {
    let buffer = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', offset);
      if (lineEnd < 0) break;
      const type = buffer[offset];
      if (type === 0x24 /* $ */) {
        const length = Number(buffer.toString('latin1', offset + 1, lineEnd));
        const end = length < 0 ? lineEnd + 2 : lineEnd + 2 + length + 2;
        if (end > buffer.length) break;
        offset = end;
        onReply(false);
      } else if (type === 0x2b /* + */ || type === 0x3a /* : */ || type === 0x2d /* - */) {
        offset = lineEnd + 2;
        onReply(type === 0x2d);
      } else {
        throw new Error(`unexpected reply type ${String.fromCharCode(type ?? 0)} from the server`);
      }
    }
    buffer = buffer.subarray(offset);
    this.pending = Buffer.from(buffer);
  }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes every key below `keys` once, pipelined, so that GETs find values. */
export async function preload(port: number, keys: number, valueBytes: number): Promise<void> {
  const socket = await open(port);
  const value = Buffer.alloc(valueBytes, 0x78);
  const counter = new ReplyCounter();
  let answered = 0;
  let errors = 0;
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) =>
      counter.feed(chunk, (isError) => {
        answered += 1;
        if (isError) errors += 1;
        if (answered === keys) resolve();
      }),
    );
    socket.once('error', reject);
  });
  for (let i = 0; i < keys; i += 1) {
    if (!socket.write(command('set', benchmarkKey(i), value))) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await done;
  socket.destroy();
  if (errors > 0) throw new Error(`preloading ${keys} keys: ${errors} SETs answered an error`);
}

/** Runs one paced load and answers its latencies. */
export async function runPaced(load: PacedLoad): Promise<PacedResult> {
  const sockets = await Promise.all(Array.from({ length: load.connections }, () => open(load.port)));
  const total = Math.round(load.rate * load.seconds);
  const latencies = new Float64Array(total);
  const value = load.test === 'set' ? Buffer.alloc(load.valueBytes, 0x79) : null;
  let sent = 0;
  let answered = 0;
  let errors = 0;
  let failure: Error | null = null;
  const dueTimes = sockets.map(() => [] as number[]);
  const heads = sockets.map(() => 0);
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  for (const [c, socket] of sockets.entries()) {
    const counter = new ReplyCounter();
    socket.on('data', (chunk: Buffer) => {
      const now = performance.now();
      counter.feed(chunk, (isError) => {
        const due = dueTimes[c]![heads[c]!]!;
        heads[c]! += 1;
        latencies[answered] = now - due;
        answered += 1;
        if (isError) errors += 1;
      });
      if (heads[c]! > 4096) {
        dueTimes[c]!.splice(0, heads[c]!);
        heads[c] = 0;
      }
      if (answered === total) finish();
    });
    socket.on('error', (error) => {
      failure ??= error;
      finish();
    });
  }
  const start = performance.now() + 50;
  const intervalMs = 1000 / load.rate;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        const c = sent % sockets.length;
        if (dueTimes[c]!.length - heads[c]! > MAX_OUTSTANDING_PER_CONNECTION) {
          failure ??= new Error(
            `the server fell more than ${MAX_OUTSTANDING_PER_CONNECTION} requests behind on a connection at ${load.rate}/s`,
          );
          resolve();
          return;
        }
        dueTimes[c]!.push(start + sent * intervalMs);
        sockets[c]!.write(command(load.test, benchmarkKey(sent % load.keys), value));
        sent += 1;
      }
      if (sent < total && failure === null) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  const drained = await Promise.race([finished.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), DRAIN_MS).unref())]);
  for (const socket of sockets) socket.destroy();
  if (failure !== null) throw failure;
  if (!drained) throw new Error(`${total - answered} of ${total} requests unanswered ${DRAIN_MS} ms after the last was due`);
  const sorted = latencies.subarray(0, answered).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { sent, answered, errors, p50Ms: at(0.5), p99Ms: at(0.99), p999Ms: at(0.999), maxMs: sorted[sorted.length - 1] ?? Number.NaN };
}
