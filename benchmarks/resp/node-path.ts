/**
 * A one-node dkv's whole cost per command: the real one-node composition (`startNode` of
 * apps/node with the flags `dkv cluster up --topology nodes --nodes 1` gives its node: `--coordinate
 * --n 1 --w 1 --r 1`, the default in-memory engine, a Redis door on a free port), in this process,
 * driven by the same 50 loopback connections as door-path.ts (each sends its next GET or SET of a
 * 2 KB value once the reply to its last has come, as redis-benchmark does with -P 1; keys
 * `key:000000001234`, 10,000 of them, pre-loaded through the coordinator before a GET run). A GET
 * goes through the door, the coordinator's Redis backend, CoordinatorService, QuorumManager, the
 * node's own replica in-process (LocalFirstNodeClient over the metered StorageService) and the
 * engine, as in `bench:resp`'s `node` target.
 *
 * Measure instructions per command under callgrind: a run of K commands and a run of 0 (the same
 * start-up, connections opened and closed), the difference divided by K; door-path.ts measured
 * the same way gives the door's own part (the door over a Map), and the difference of the two is
 * what the coordinator and the storage cost. Build one bundle per version of the sources (their
 * TypeScript, through the `development` condition: no package needs building first) and run it
 * with plain node:
 *
 *   npx esbuild benchmarks/resp/node-path.ts --bundle --platform=node --format=esm \
 *     --conditions=development --outfile=/tmp/node-path.mjs --external:@node-rs/* \
 *     --external:pino --external:thread-stream --external:fastify --external:prom-client \
 *     --banner:js="import {createRequire as __cr} from 'node:module'; const require = __cr(import.meta.url);"
 *   ln -sfn "$PWD/node_modules" /tmp/node_modules
 *   ln -sfn "$PWD/packages/public-api/src/ui" /tmp/ui   # the dashboard's files, read beside the bundle
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/node-get.out \
 *     node --expose-gc /tmp/node-path.mjs get 20000 50 5000
 *
 * The node's own timers (gossip, the sweeper, heartbeats) run in both runs; a run of K lasts
 * longer under valgrind than the run of 0, so their ticks add a little to the difference (a
 * single node's gossip round has no peer to call). As in door-path.ts, `--expose-gc` lets the
 * driver collect the start-up's garbage before the counted run, and the warm-up commands (last
 * argument) are sent by every run first, on connections of their own, so that the JIT's
 * compilation falls on both runs.
 *
 * With `backend` last, the commands go straight to the door's backend (the coordinator's RESP
 * adapter), as many at a time as there would be connections, with no socket and no door: the
 * coordinator's and the storage's part alone, with less of the sockets' and the GC's noise.
 *
 * Compare versions in the `backend` mode. Through the door, a GET was 66,540 instructions
 * (door-path.ts's door over a Map: 61,927, so the coordinator and the storage were about a
 * tenth), but TurboFan's work in the counted run (10,700-16,800 per GET from one run to the
 * next) and the GC's (-4,500 to +6,600: the run of 0 collected more on some runs) moved the
 * total by more than that whole share. In the `backend` mode the same GET was 16,819 (12,538
 * without the compiler's functions) before the commits that introduced this driver's figures.
 *
 * Usage: node-path.ts get|set <commands> [connections] [warm-up commands] [door|backend]
 */
import type { Socket } from 'node:net';
import { parseFlags } from '@dkv/app-config';
import { NODE_SETTINGS, NODE_TOKENS, parseNodeConfig, startNode } from '@dkv/node';
import type { RespBackend } from '@dkv/resp';
import type { Container } from 'inversify';
import { benchmarkKey } from '../lib/replica.js';
import { driveConnections, KEY_SPACE, measureRun, prepareCommands } from './loopback-clients.js';

const mode = process.argv[2];
const total = Number(process.argv[3] ?? '10000');
const clients = Number(process.argv[4] ?? '50');
const warmup = Number(process.argv[5] ?? '0');
const via = process.argv[6] ?? 'door';
if (
  (mode !== 'get' && mode !== 'set') ||
  !Number.isSafeInteger(total) ||
  total < 0 ||
  !(clients > 0) ||
  !Number.isSafeInteger(warmup) ||
  warmup < 0 ||
  (via !== 'door' && via !== 'backend')
) {
  process.stderr.write('usage: node-path.ts get|set <commands> [connections] [warm-up commands] [door|backend]\n');
  process.exit(2);
}

const commands = prepareCommands(mode);
const value = commands.value;

// The node `dkv cluster up --topology nodes --nodes 1` starts, on free ports, logging warnings only.
const { flags } = parseFlags(NODE_SETTINGS, [
  '--id',
  'n1',
  '--host',
  '127.0.0.1',
  '--port',
  '0',
  '--resp-port',
  '0',
  '--coordinate',
  '--n',
  '1',
  '--w',
  '1',
  '--r',
  '1',
]);
const config = parseNodeConfig(flags, { DKV_LOG_LEVEL: 'warn' });
let container: Container | null = null;
const node = await startNode(config, (c) => {
  container = c;
});
if (node.redisUrl === null || container === null) throw new Error('the node opened no Redis door');
const port = Number(new URL(node.redisUrl).port);
const backend = (container as Container).get<{ readonly respBackend: RespBackend }>(NODE_TOKENS.coordination).respBackend;
// Through the coordinator, as a SET through the door writes: versions and metadata as the node keeps them.
if (mode === 'get') for (let i = 0; i < KEY_SPACE; i += 1) await backend.put(benchmarkKey(i), Buffer.from(value), null);
/** The keys of the frames, made into a string of their own per command as the door's parser does. */
const keys = commands.keys.map((key) => Buffer.from(key, 'latin1'));

/**
 * `backend`: the same commands straight to the door's backend (the coordinator's RESP adapter),
 * `clients` at a time, without sockets or the door: what the coordinator and the storage cost.
 */
async function driveBackend(count: number): Promise<Socket[]> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const key = (keys[next % keys.length] as Buffer).toString('latin1');
      next += 1;
      if (mode === 'get') {
        if ((await backend.get(key)) === null) throw new Error(`${key} is missing`);
      } else {
        await backend.put(key, Buffer.from(value), null);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  return [];
}

await measureRun(`node ${mode}`, clients, total, warmup, (count) =>
  via === 'backend' ? driveBackend(count) : driveConnections(port, commands, clients, count),
);
await node.close();
