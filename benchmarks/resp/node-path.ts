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
 * With `nodes3` last, the driver starts THREE such nodes in this process instead, as `dkv cluster
 * up --topology nodes --nodes 3` does (n1..n3, each `--coordinate --n 3 --w 2 --r 2`, `--members`
 * naming the three on free 127.0.0.1 ports, the in-memory engine), waits until each node's ring
 * has the three up and alive, pre-loads the keys through n1, and sends every command to n1 only
 * (its door or its backend): n1 reads its own replica and asks a peer over the binary internode
 * protocol (a SET writes all three and waits for two), so the count holds the coordinating node's
 * work and both peers', internode sockets included, as `bench:resp`'s nodes3 target sums the
 * three processes' CPU. The nodes gossip with each other every second in both runs:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/nodes3-get.out \
 *     node --expose-gc /tmp/node-path.mjs get 20000 50 5000 backend nodes3
 *
 * Under callgrind on a loaded machine the `nodes3` difference of K and 0 was not yet a figure to
 * compare versions by: each run took 20-40 minutes of wall time, through which the three nodes'
 * gossip and heartbeats tick, and the 10,000 pre-loaded keys of 2 KB on three replicas bring
 * major collections whose place varies (two runs of nearly the same sources, K = 10,000 with 3,000
 * warm-up GETs: 219,801 and 90,118 instructions per GET; their runs of 0 alone differed by 7.0
 * billion). Until the driver quiets those, compare versions by what does not depend on time:
 * promises per command (`async_hooks`' PROMISE inits in a run of K minus a run of 0), and bytes
 * allocated per command with a new space large enough that the counted run collects little
 * (`node --expose-gc --max-semi-space-size=256 --min-semi-space-size=256 ... get 20000 50 5000
 * backend nodes3`: the heap growth it prints).
 *
 * Flags after the topology go to every node, to measure a variant against the defaults (`nodes3
 * --read-fanout quorum`: n1 asks its own replica and one peer instead of all three).
 *
 * Usage: node-path.ts get|set <commands> [connections] [warm-up commands] [door|backend] [nodes1|nodes3 [node flags...]]
 */
import type { Socket } from 'node:net';
import { parseFlags } from '@dkv/app-config';
import { TOKENS } from '@dkv/composition';
import type { Coordinator } from '@dkv/coordination';
import { NODE_SETTINGS, NODE_TOKENS, parseNodeConfig, type RunningNode, startNode } from '@dkv/node';
import type { ElasticMember } from '@dkv/replication';
import type { RespBackend } from '@dkv/resp';
import { freePort, waitUntil } from '@dkv/testkit';
import type { Container } from 'inversify';
import { benchmarkKey } from '../lib/replica.js';
import { driveConnections, KEY_SPACE, measureRun, prepareCommands } from './loopback-clients.js';

const mode = process.argv[2];
const total = Number(process.argv[3] ?? '10000');
const clients = Number(process.argv[4] ?? '50');
const warmup = Number(process.argv[5] ?? '0');
const via = process.argv[6] ?? 'door';
const topology = process.argv[7] ?? 'nodes1';
/** Node flags of a variant to compare (`--read-fanout quorum`), given to every node after the topology's. */
const extraFlags = process.argv.slice(8);
if (
  (mode !== 'get' && mode !== 'set') ||
  !Number.isSafeInteger(total) ||
  total < 0 ||
  !(clients > 0) ||
  !Number.isSafeInteger(warmup) ||
  warmup < 0 ||
  (via !== 'door' && via !== 'backend') ||
  (topology !== 'nodes1' && topology !== 'nodes3')
) {
  process.stderr.write(
    'usage: node-path.ts get|set <commands> [connections] [warm-up commands] [door|backend] [nodes1|nodes3 [node flags...]]\n',
  );
  process.exit(2);
}

const commands = prepareCommands(mode);
const value = commands.value;

/** A started node with the parts of its graph the driver uses. */
interface StartedNode {
  readonly node: RunningNode;
  readonly backend: RespBackend;
  readonly member: ElasticMember;
  readonly coordinator: Coordinator;
}

/** Starts one node of `dkv cluster up --topology nodes` on 127.0.0.1, logging warnings only. */
async function startLocalNode(args: readonly string[]): Promise<StartedNode> {
  const { flags } = parseFlags(NODE_SETTINGS, ['--host', '127.0.0.1', '--resp-port', '0', '--coordinate', ...args, ...extraFlags]);
  const config = parseNodeConfig(flags, { DKV_LOG_LEVEL: 'warn' });
  let container: Container | null = null;
  const node = await startNode(config, (c) => {
    container = c;
  });
  if (node.redisUrl === null || container === null) throw new Error('the node opened no Redis door');
  const built = container as Container;
  const backend = built.get<{ readonly respBackend: RespBackend }>(NODE_TOKENS.coordination).respBackend;
  return { node, backend, member: built.get<ElasticMember>(TOKENS.member), coordinator: built.get<Coordinator>(TOKENS.coordinator) };
}

/**
 * Deadlines long enough for a run under callgrind (tens of times slower, and the JIT's pauses
 * longer still): a replica request's (1 s by default) and the heartbeats' (300 ms, 3 missed mark a
 * peer down) would otherwise fail writes and mark peers down mid-run. Each request sets its timer
 * all the same, so the work per command is that of the defaults.
 */
const PATIENT_UNDER_VALGRIND = [
  '--request-timeout-ms',
  '60000',
  '--heartbeat-timeout-ms',
  '10000',
  '--heartbeat-failure-threshold',
  '1000',
];

/**
 * `dkv cluster up --topology nodes --nodes <count>`'s nodes, on free ports (N = count, W = R =
 * a majority, as its local quorums), once every node's ring has them all up and alive.
 */
async function startCluster(count: number): Promise<StartedNode[]> {
  if (count === 1) return [await startLocalNode(['--id', 'n1', '--port', '0', '--n', '1', '--w', '1', '--r', '1'])];
  const ports: number[] = [];
  for (let i = 0; i < count; i += 1) ports.push(await freePort());
  const members = ports.map((port, i) => `n${i + 1}=127.0.0.1:${port}`).join(',');
  const majority = String(Math.floor(count / 2) + 1);
  const nodes = await Promise.all(
    ports.map((port, i) =>
      startLocalNode([
        '--id',
        `n${i + 1}`,
        '--port',
        String(port),
        '--members',
        members,
        '--n',
        String(count),
        '--w',
        majority,
        '--r',
        majority,
        ...PATIENT_UNDER_VALGRIND,
      ]),
    ),
  );
  await waitUntil(
    `a ring of the ${count} nodes on each of them`,
    () => {
      for (const { member, coordinator } of nodes) {
        const listed = member.gossiper.current().nodes;
        if (listed.length !== count) return undefined;
        // Up in the document, alive to gossip, and up to the coordinator's heartbeats (a peer that
        // refused a connection while it was still starting is down until a heartbeat answers).
        for (const n of listed) {
          if (n.status !== 'up' || member.gossiper.livenessOf(n.id) !== 'alive' || coordinator.nodeManager.statusOf(n.id) !== 'up')
            return undefined;
        }
      }
      return true;
    },
    { deadlineMs: 60_000 },
  );
  return nodes;
}

const nodes = await startCluster(topology === 'nodes3' ? 3 : 1);
const first = nodes[0] as StartedNode;
const port = Number(new URL(first.node.redisUrl ?? '').port);
const backend = first.backend;
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

await measureRun(`${topology} ${mode}`, clients, total, warmup, (count) =>
  via === 'backend' ? driveBackend(count) : driveConnections(port, commands, clients, count),
);
// Read repairs or digest fetches in a run of GETs of keys written to all replicas would mean a
// replica missed writes (a timeout under valgrind): a run that is not the common path.
const stats = first.coordinator.quorum.stats;
process.stdout.write(
  `quorum: ${stats.readRepairs} read repairs, ${stats.digestFetches} digest fetches, ${stats.hedgedReads} hedged reads, ` +
    `${stats.quorumFailures.read + stats.quorumFailures.write} failures; ${first.coordinator.replication.queueDepth} hints queued\n`,
);
for (const { node } of nodes) await node.close();
