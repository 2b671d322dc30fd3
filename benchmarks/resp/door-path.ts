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
 *     --alias:@dkv/resp=./packages/resp/src/index.ts --outfile=/tmp/door.mjs --external:@node-rs/* \
 *     --banner:js="import {createRequire as __cr} from 'node:module'; const require = __cr(import.meta.url);"
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/door-set.out \
 *     node --expose-gc /tmp/door.mjs set 20000 50 door 5000
 *
 * (The bundle needs `node_modules` beside it, for @node-rs/xxhash: a symlink next to it will do;
 * the banner serves the bundled CommonJS modules' `require` of Node's own.)
 *
 * With `floor` after the connections, the same clients drive the floor's RESP server over a Map
 * instead (floor/server.ts `map1`, in this process: floor/resp.ts's parser and reply queue, no
 * promise, replies flushed at the end of each chunk read): what a GET or SET costs at the least
 * with the same sockets, to judge the door's figure against.
 *
 * Run under `node --expose-gc`, the driver collects the start-up's garbage before the clients
 * start, so that a full collection of it (about 10,000 instructions per command over 20,000
 * commands under callgrind, on some runs and not others) does not fall into the measured run.
 *
 * With a number of warm-up commands last, every run (the run of 0 too) first sends that many on
 * connections of their own, closed before the counted run: the JIT's compilation of the path
 * (15-20k instructions per command over 20,000 counted commands under callgrind) then falls on
 * both runs and cancels out.
 *
 * The heap the commands allocate (the clients' share included, as above) is the growth of the
 * used heap over the counted run, printed with the collections that ran during it: it is what the
 * run allocated only when none did. Give the young generation room, and keep the run short: V8
 * scavenges after some 15 MB of Buffers whatever the room (a GET's reply is 2 KB of them), so
 * 4,000 commands, and 0 for the connections' share, bundled as above:
 *
 *   node --expose-gc --max-semi-space-size=256 --min-semi-space-size=256 /tmp/door.mjs get 4000 50 door 5000
 *
 * Usage: door-path.ts get|set <commands> [connections] [door|floor] [warm-up commands]
 */
import { createServer, type Socket } from 'node:net';
import { benchmarkKey } from '../lib/replica.js';
import { bulkReply, commandName, EMPTY_ARRAY_REPLY, Flusher, newCommand, NIL_REPLY, OK_REPLY, RespClient } from './floor/resp.js';
import { driveConnections, KEY_SPACE, measureRun, prepareCommands } from './loopback-clients.js';
import { MapBackend, startMapDoor } from './map-door.js';

const mode = process.argv[2];
const total = Number(process.argv[3] ?? '10000');
const clients = Number(process.argv[4] ?? '50');
const target = process.argv[5] ?? 'door';
const warmup = Number(process.argv[6] ?? '0');
if (
  (mode !== 'get' && mode !== 'set') ||
  !Number.isSafeInteger(total) ||
  total < 0 ||
  !(clients > 0) ||
  (target !== 'door' && target !== 'floor') ||
  !Number.isSafeInteger(warmup) ||
  warmup < 0
) {
  process.stderr.write('usage: door-path.ts get|set <commands> [connections] [door|floor] [warm-up commands]\n');
  process.exit(2);
}

const commands = prepareCommands(mode);

const backend = new MapBackend();
if (mode === 'get')
  for (let i = 0; i < KEY_SPACE; i += 1)
    backend.map.set(benchmarkKey(i), { value: Buffer.from(commands.value), version: 1, expiresAt: null });

/** The floor's RESP server over `backend`'s Map (floor/server.ts `map1`, GET and SET only), on a free port of 127.0.0.1. */
async function startMapFloor(): Promise<{ port: number; close(): Promise<void> }> {
  const map = backend.map;
  const flusher = new Flusher();
  const cmd = newCommand();
  const sockets = new Set<Socket>();
  const listener = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    const client = new RespClient(socket, flusher);
    socket.on('data', (chunk: Buffer) => {
      client.feed(chunk, cmd, (c, command, seq) => {
        const name = commandName(command);
        const { buf, starts, ends } = command;
        if (name === 'get' && command.argc === 2) {
          const stored = map.get(buf.toString('latin1', starts[1], ends[1]));
          c.reply(seq, stored === undefined ? NIL_REPLY : bulkReply(stored.value as Buffer));
        } else if (name === 'set' && command.argc === 3) {
          const value = Buffer.allocUnsafe((ends[2] as number) - (starts[2] as number));
          buf.copy(value, 0, starts[2], ends[2]);
          map.set(buf.toString('latin1', starts[1], ends[1]), { value, version: 1, expiresAt: null });
          c.reply(seq, OK_REPLY);
        } else c.reply(seq, EMPTY_ARRAY_REPLY);
      });
      flusher.flush();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

const server = target === 'door' ? await startMapDoor(backend) : await startMapFloor();

await measureRun(`${target} ${mode}`, clients, total, warmup, (count) => driveConnections(server.port, commands, clients, count));
await server.close();
