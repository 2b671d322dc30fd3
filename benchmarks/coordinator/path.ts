/**
 * The coordinator's own path, as a coordinating storage node (`dkv node --coordinate`) runs it:
 * CoordinatorService, QuorumManager and its FanOut, the ring lookups, and the NodeClient stack
 * of such a node (LocalFirstNodeClient answering its own replica in-process, the circuit breaker
 * and the retries of the wire stack around the other replicas), over three in-process replicas
 * (StorageService with the compact engine). The wire under the stack answers from the replica's
 * handler through a resolved promise (`--wire direct`, the default: no socket, no codec, no timer,
 * so that what is measured is the coordinator's logic) or is the `InMemoryNodeClient` (`--wire
 * memory`: a timer and copies per request, as tests run it). The graph is built by the production
 * modules of `@dkv/composition` (transport, coordination) with the wire and the node client
 * rebound as `node.composition.ts` does.
 *
 * It stores `--keys` keys of 2 KB, runs `--warmup` operations of the kind measured (so that the
 * JIT has settled), then `--ops` operations, `--concurrency` at a time (1: each awaited before the
 * next; 50: as 50 clients would). Per-request cost in instructions, which do not depend on the
 * machine's load (the lead's rule): run once with `--ops K` and once with `--ops 0` under
 * callgrind and divide the difference by K:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/c.out node --import tsx \
 *     benchmarks/coordinator/path.ts --op get --ops 20000
 *
 * The packages are imported as built (`dist`, what a node runs; build them after a change:
 * `npx nx run-many -t build -p quorum coordination transport hashing`), not through
 * `--conditions=development`: tsx's transpile wraps every closure in a naming helper, which
 * alone was 7% of a GET's profile and is not in the built code. Under callgrind a bundle starts
 * several times faster than tsx (and freezes one state of the code, to compare states):
 *
 *   npx esbuild benchmarks/coordinator/path.ts --bundle --platform=node --format=esm \
 *     --external:@node-rs/* --outfile=node_modules/.cache/coord-path.mjs \
 *     --banner:js="import { createRequire as cr } from 'node:module'; const require = cr(import.meta.url);"
 *   valgrind --tool=callgrind node node_modules/.cache/coord-path.mjs --op get --ops 20000
 *
 * Without valgrind it also prints the CPU time per operation (`process.cpuUsage`).
 *
 * Usage: npx tsx benchmarks/coordinator/path.ts [--op get|set]
 *   [--ops n] [--warmup n] [--keys n] [--concurrency c] [--fanout all|quorum] [--wire direct|memory]
 */
import { coordinationModule, TOKENS, transportModule } from '@dkv/composition';
import { DEFAULT_COORDINATOR_CONFIG, type Coordinator, type CoordinatorConfig } from '@dkv/coordination';
import type { Clock, MembershipView, Node, NodeClient, RequestOptions, ResponseFor, Rng, Scheduler, StorageRequest } from '@dkv/core';
import { StaticMembershipView } from '@dkv/membership';
import { SystemClock, SystemRng, TimerScheduler } from '@dkv/runtime';
import { CompactStorageEngine, StorageService } from '@dkv/storage';
import { InMemoryNodeClient, LocalFirstNodeClient, type WireStackSettings } from '@dkv/transport';
import { Container } from 'inversify';
import { parseFlags } from '../lib/args.js';

const USAGE =
  'npx tsx benchmarks/coordinator/path.ts [--op get|set] [--ops n] [--warmup n] [--keys n] [--concurrency c] [--fanout all|quorum] [--wire direct|memory]';

const flags = parseFlags(
  process.argv.slice(2),
  {
    op: 'string',
    ops: 'number',
    warmup: 'number',
    keys: 'number',
    concurrency: 'number',
    fanout: 'string',
    wire: 'string',
  },
  USAGE,
);
const OP = String(flags.op ?? 'get');
const OPS = Number(flags.ops ?? 20_000);
const WARMUP = Number(flags.warmup ?? 5_000);
const KEYS = Number(flags.keys ?? 10_000);
const CONCURRENCY = Math.max(1, Number(flags.concurrency ?? 1));
const FANOUT = String(flags.fanout ?? 'all');
const WIRE = String(flags.wire ?? 'direct');
const VALUE = new Uint8Array(2048).fill(7);
const SELF = 'n1';

if (OP !== 'get' && OP !== 'set') throw new Error(`--op must be get or set\n${USAGE}`);
if (FANOUT !== 'all' && FANOUT !== 'quorum') throw new Error(`--fanout must be all or quorum\n${USAGE}`);
if (WIRE !== 'direct' && WIRE !== 'memory') throw new Error(`--wire must be direct or memory\n${USAGE}`);

/**
 * The other replicas as a wire that has just decoded their answer: the handler's answer through a
 * resolved promise, a throw as a rejection. What a TCP client adds (frames, sockets) is measured
 * elsewhere (benchmarks/node-clients).
 */
class DirectWire implements NodeClient {
  constructor(private readonly replicas: ReadonlyMap<string, StorageService>) {}

  send<R extends StorageRequest>(target: Node, request: R, _options: RequestOptions): Promise<ResponseFor<R>> {
    try {
      return Promise.resolve(this.replicas.get(target.id)!.handle(request) as ResponseFor<R>);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The coordinating node n1's graph, as `nodeContainer` binds it, over replicas n1..n3. */
function compose(): { coordinator: Coordinator; nodeClient: NodeClient } {
  const clock = new SystemClock();
  const nodes: Node[] = ['n1', 'n2', 'n3'].map((id) => ({
    id,
    address: `${id}:1`,
    role: 'storage',
    status: 'up',
    vnodes: 1024,
    metadata: {},
  }));
  const replicas = new Map(
    nodes.map((node) => [
      node.id,
      new StorageService({ nodeId: node.id, engine: new CompactStorageEngine({ clock, tombstoneGraceMs: 60_000 }), clock }),
    ]),
  );
  let wire: NodeClient;
  if (WIRE === 'memory') {
    const memory = new InMemoryNodeClient();
    for (const [id, service] of replicas) memory.register(id, service);
    wire = memory;
  } else {
    wire = new DirectWire(replicas);
  }
  const config: CoordinatorConfig = {
    ...DEFAULT_COORDINATOR_CONFIG,
    nodeId: SELF,
    localReplicaId: SELF,
    readFanout: FANOUT as 'all' | 'quorum',
  };
  const settings: WireStackSettings = {
    transport: 'tcp',
    connectionsPerNode: 4,
    maxInFlightPerNode: 512,
    maxValueBytes: config.maxValueBytes,
    nodeRetry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 200 },
    circuitBreaker: { failureThreshold: 5, openMs: 1000 },
    clusterSecret: null,
  };
  const c = new Container({ defaultScope: 'Singleton' });
  c.load(transportModule, coordinationModule);
  c.bind<Clock>(TOKENS.clock).toConstantValue(clock);
  c.bind<Scheduler>(TOKENS.scheduler).toConstantValue(new TimerScheduler());
  c.bind<Rng>(TOKENS.rng).toConstantValue(new SystemRng());
  c.bind<MembershipView>(TOKENS.membership).toConstantValue(new StaticMembershipView({ epoch: 1, nodes }));
  c.bind<CoordinatorConfig>(TOKENS.coordinatorConfig).toConstantValue(config);
  c.bind<WireStackSettings>(TOKENS.wireSettings).toConstantValue(settings);
  c.rebind<NodeClient>(TOKENS.wire).toConstantValue(wire);
  c.rebind<NodeClient>(TOKENS.nodeClient).toResolvedValue(
    (remote: NodeClient) => new LocalFirstNodeClient(SELF, replicas.get(SELF)!, remote),
    [TOKENS.remoteClient],
  );
  return { coordinator: c.get<Coordinator>(TOKENS.coordinator), nodeClient: c.get<NodeClient>(TOKENS.nodeClient) };
}

/** Runs `count` operations `op(i)` from `first` on, `CONCURRENCY` at a time. */
async function run(first: number, count: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = first;
  const end = first + count;
  const worker = async (): Promise<void> => {
    while (next < end) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, Math.max(1, count)) }, worker));
}

async function main(): Promise<void> {
  const { coordinator, nodeClient } = compose();
  const service = coordinator.service;
  const key = (i: number): string => `session:${i % KEYS}`;
  await run(0, KEYS, (i) => service.put(key(i), VALUE));
  const op =
    OP === 'get'
      ? async (i: number) => {
          const found = await service.get(key(i));
          if (found === null) throw new Error(`${key(i)} is missing`);
        }
      : (i: number) => service.put(key(i), VALUE);
  await run(0, WARMUP, op);
  const started = process.cpuUsage();
  const t0 = performance.now();
  await run(WARMUP, OPS, op);
  const cpu = process.cpuUsage(started);
  const elapsedMs = performance.now() - t0;
  if (OPS > 0) {
    const usPerOp = (cpu.user + cpu.system) / OPS;
    process.stdout.write(
      `${OP} fanout=${FANOUT} wire=${WIRE} concurrency=${CONCURRENCY}: ${usPerOp.toFixed(2)} µs CPU/op, ${((OPS / elapsedMs) * 1000).toFixed(0)} ops/s\n`,
    );
  }
  coordinator.stop();
  await nodeClient.close();
}

void main();
