/**
 * The Redis door's own cost per command, without the coordinator: dkv's door (@dkv/resp, with the
 * bounds apps/node gives it) over a backend that answers at once, driven by 50 loopback
 * connections each sending its next GET or SET of a 2 KB value once the reply to its last has
 * come, as redis-benchmark does with -P 1 (keys `key:000000001234`, 10,000 of them). The clients
 * run in the same process and only write prepared frames and count reply bytes: their share (and
 * that of the sockets' both ends) is in every figure, the same for every version of the door.
 *
 * Measure instructions per command under callgrind: a run of K commands and a run of 0 (the same
 * start-up, connections opened and closed), the difference divided by K. It runs the built
 * package, as the apps do (build resp first; `--conditions=development` runs its sources).
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/door.out \
 *     node --import tsx benchmarks/resp/door-path.ts set 10000
 *
 * Under tsx the loader thread adds about 2 billion instructions of its own to each run; the
 * figures in the commits came from one bundle per version of the sources, run by plain node:
 *
 *   npx esbuild benchmarks/resp/door-path.ts --bundle --platform=node --format=esm \
 *     --alias:@dkv/resp=./packages/resp/src/index.ts --outfile=/tmp/door.mjs
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/door-set.out node /tmp/door.mjs set 20000
 *
 * Usage: door-path.ts get|set <commands> [connections]
 */
import { connect, type Socket } from 'node:net';
import { benchmarkKey } from '../lib/replica.js';
import { MapBackend, startMapDoor } from './map-door.js';

const mode = process.argv[2];
const total = Number(process.argv[3] ?? '10000');
const clients = Number(process.argv[4] ?? '50');
if ((mode !== 'get' && mode !== 'set') || !Number.isSafeInteger(total) || total < 0 || !(clients > 0)) {
  process.stderr.write('usage: door-path.ts get|set <commands> [connections]\n');
  process.exit(2);
}

const VALUE_BYTES = 2048;
const KEY_SPACE = 10_000;
/** Frames prepared ahead, cycled through (a frame per key would hold 20 MB of SETs). */
const FRAMES = 1000;

const bulk = (text: string | Buffer): Buffer[] => {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  return [Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n')];
};
const frame = (args: (string | Buffer)[]): Buffer => Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.flatMap(bulk)]);

const value = Buffer.alloc(VALUE_BYTES, 120);
const frames: Buffer[] = [];
for (let i = 0; i < FRAMES; i += 1) {
  const key = benchmarkKey((i * 7919) % KEY_SPACE);
  frames.push(mode === 'get' ? frame(['GET', key]) : frame(['SET', key, value]));
}
/** Reply bytes per command: `$2048\r\n<value>\r\n` or `+OK\r\n`. */
const replyBytes = mode === 'get' ? `$${VALUE_BYTES}\r\n`.length + VALUE_BYTES + 2 : 5;

const backend = new MapBackend();
if (mode === 'get')
  for (let i = 0; i < KEY_SPACE; i += 1) backend.map.set(benchmarkKey(i), { value: Buffer.from(value), version: 1, expiresAt: null });

const server = await startMapDoor(backend);

let sent = 0;
let done = 0;
const sockets: Socket[] = [];
const started = process.hrtime.bigint();
const cpuStarted = process.cpuUsage();
await new Promise<void>((resolve) => {
  if (total === 0) {
    // The same connections, opened and closed, with no command: the baseline.
    let open = 0;
    for (let c = 0; c < clients; c += 1) {
      const socket = connect({ host: '127.0.0.1', port: server.port, noDelay: true }, () => {
        open += 1;
        if (open === clients) resolve();
      });
      sockets.push(socket);
    }
    return;
  }
  for (let c = 0; c < clients; c += 1) {
    let pending = 0;
    const socket = connect({ host: '127.0.0.1', port: server.port, noDelay: true });
    const sendNext = (): void => {
      if (sent >= total) return;
      socket.write(frames[sent % FRAMES] as Buffer);
      sent += 1;
      pending += replyBytes;
    };
    socket.on('data', (chunk: Buffer) => {
      pending -= chunk.length;
      if (pending > 0) return;
      done += 1;
      if (done === total) resolve();
      else sendNext();
    });
    socket.on('connect', sendNext);
    sockets.push(socket);
  }
});
const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
const cpu = process.cpuUsage(cpuStarted);
for (const socket of sockets) socket.destroy();
await server.close();
process.stdout.write(
  `${mode} ${total} commands over ${clients} connections: ${elapsedMs.toFixed(0)} ms, cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms` +
    (total > 0 ? `, ${((cpu.user + cpu.system) / total).toFixed(2)} µs/command (client included)` : '') +
    '\n',
);
