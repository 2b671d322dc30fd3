/**
 * The loopback clients of the Redis-door path drivers (door-path.ts, node-path.ts): GETs or SETs
 * of 2 KB values (keys `key:000000001234`, 10,000 of them) prepared as frames ahead and cycled
 * through, sent by a number of connections that each send their next command once the reply to
 * their last has come, as redis-benchmark does with -P 1. The clients only write prepared frames
 * and count reply bytes, so their share of a run is the same for every server they drive.
 */
import { connect, type Socket } from 'node:net';
import { PerformanceObserver } from 'node:perf_hooks';
import { benchmarkKey } from '../lib/replica.js';

export const VALUE_BYTES = 2048;
export const KEY_SPACE = 10_000;
/** Frames prepared ahead, cycled through (a frame per key would hold 20 MB of SETs). */
export const FRAMES = 1000;

/** A command as RESP multibulk bytes. */
export function respFrame(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** What the clients send: the frames, the keys they name (frame i names key i), the value a SET writes, and the bytes of each reply. */
export interface PreparedCommands {
  readonly mode: 'get' | 'set';
  readonly value: Buffer;
  readonly keys: readonly string[];
  readonly frames: readonly Buffer[];
  /** `$2048\r\n<value>\r\n` for a GET, `+OK\r\n` for a SET. */
  readonly replyBytes: number;
}

export function prepareCommands(mode: 'get' | 'set'): PreparedCommands {
  const value = Buffer.alloc(VALUE_BYTES, 120);
  const keys = Array.from({ length: FRAMES }, (_, i) => benchmarkKey((i * 7919) % KEY_SPACE));
  const frames = keys.map((key) => (mode === 'get' ? respFrame(['GET', key]) : respFrame(['SET', key, value])));
  const replyBytes = mode === 'get' ? `$${VALUE_BYTES}\r\n`.length + VALUE_BYTES + 2 : 5;
  return { mode, value, keys, frames, replyBytes };
}

/**
 * Opens `clients` connections to `port` and sends `count` of the prepared commands over them (0:
 * only opens them, the baseline of a run); resolves with the sockets once all are answered, and
 * rejects on a reply that is not the expected one (an error, a nil).
 */
export function driveConnections(port: number, commands: PreparedCommands, clients: number, count: number): Promise<Socket[]> {
  const { frames, replyBytes } = commands;
  const expectedFirstByte = commands.mode === 'get' ? 0x24 : 0x2b;
  let sent = 0;
  let done = 0;
  const sockets: Socket[] = [];
  return new Promise<Socket[]>((resolve, reject) => {
    if (count === 0) {
      // The same connections, opened and closed, with no command: the baseline.
      let open = 0;
      for (let c = 0; c < clients; c += 1) {
        const socket = connect({ host: '127.0.0.1', port, noDelay: true }, () => {
          open += 1;
          if (open === clients) resolve(sockets);
        });
        sockets.push(socket);
      }
      return;
    }
    for (let c = 0; c < clients; c += 1) {
      let pending = 0;
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      const sendNext = (): void => {
        if (sent >= count) return;
        socket.write(frames[sent % frames.length] as Buffer);
        sent += 1;
        pending += replyBytes;
      };
      socket.on('data', (chunk: Buffer) => {
        // A GET's reply starts with `$2048`, a SET's is `+OK`: anything else is a failed run.
        if (pending === replyBytes && chunk[0] !== expectedFirstByte) {
          reject(new Error(`unexpected reply: ${chunk.toString('latin1', 0, Math.min(chunk.length, 120))}`));
          return;
        }
        pending -= chunk.length;
        if (pending > 0) return;
        done += 1;
        if (done === count) resolve(sockets);
        else sendNext();
      });
      socket.on('connect', sendNext);
      sockets.push(socket);
    }
  });
}

/**
 * Runs `warmup` commands (on connections closed before the counted run), collects their garbage
 * (under `node --expose-gc`), then the counted run of `total`, and prints what it cost: wall time,
 * CPU, and the heap it allocated with the collections during it. Resolves once the run's sockets
 * are closed.
 */
export async function measureRun(
  label: string,
  clients: number,
  total: number,
  warmup: number,
  drive: (count: number) => Promise<Socket[]>,
): Promise<void> {
  if (warmup > 0) for (const socket of await drive(warmup)) socket.destroy();
  (globalThis as { gc?: () => void }).gc?.();
  let collections = 0;
  const collectionCounter = new PerformanceObserver((list) => {
    collections += list.getEntries().length;
  });
  collectionCounter.observe({ entryTypes: ['gc'] });
  const heapStarted = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  const cpuStarted = process.cpuUsage();
  const sockets = await drive(total);
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpuStarted);
  const heapGrowth = process.memoryUsage().heapUsed - heapStarted;
  // The observer hears of a collection after it: one turn later, every collection of the run is counted.
  await new Promise((resolve) => setImmediate(resolve));
  collectionCounter.disconnect();
  for (const socket of sockets) socket.destroy();
  process.stdout.write(
    `${label} ${total} commands over ${clients} connections: ${elapsedMs.toFixed(0)} ms, cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms` +
      (total > 0 ? `, ${((cpu.user + cpu.system) / total).toFixed(2)} µs/command (client included)` : '') +
      `; heap +${heapGrowth} B${total > 0 ? ` (${(heapGrowth / total).toFixed(0)} B/command)` : ''} with ${collections} collections during the run` +
      '\n',
  );
}
