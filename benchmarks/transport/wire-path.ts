/**
 * What the internode wire costs each end per request: a real `TcpStorageServer` (the replica
 * handler built as `apps/node/src/node.composition.ts` builds it: compact engine, `StorageService`,
 * refusal counter and request metrics, as `benchmarks/storage/node-path.ts` does) and a real
 * `TcpNodeClient` on 127.0.0.1, sending GET, HEAD or PUT of `--value-bytes` values as a
 * coordinator does: `--inflight` requests outstanding (50: a loaded coordinator; 1: the paced
 * case, one request per event-loop turn), each answer sending the next.
 *
 * `--multiplexed` serves through the port a node really listens on (`bindMultiplexed` of
 * `multiplexed-port.ts`, as `apps/node/src/node.composition.ts` binds it, with an HTTP server that
 * gets no connection here): each connection is sniffed there and adopted by the storage server.
 * Without it the storage server listens itself.
 *
 * By default the server runs in a child process (`--role server`, inheriting the parent's CPU
 * pinning) and the parent is the client; each of `--runs` runs reports the CPU µs per request
 * of both processes (`process.cpuUsage`, the server's read over its stdin/stdout), then the
 * medians. `--server-prefix` runs that child under a command, e.g. callgrind, for the server
 * end's instructions alone: run with `--ops K` and `--ops 0` (same `--warmup` and `--runs`) and
 * divide the difference of the child's totals by K times the runs. `--role both` runs server and client in one process, for callgrind: run it with
 * `--ops K` and `--ops 0` and divide the difference of the totals by K (instructions of both
 * ends together, without the kernel's part).
 *
 *   taskset -c 1 node --conditions=development --import tsx benchmarks/transport/wire-path.ts --kind put --inflight 50
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/wp.out \
 *     node --conditions=development --import tsx benchmarks/transport/wire-path.ts --role both --kind get --ops 20000
 */
import { spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createInterface } from 'node:readline';
import { LOGICAL_BITS, VERSION_EPOCH_MS, type Node, type StorageRequest, type VersionedValue } from '@dkv/core';
import { SystemClock } from '@dkv/runtime';
import { DEFAULT_FRAME_LIMIT_BYTES } from '../../packages/transport/src/internal-routes.js';
import { bindMultiplexed } from '../../packages/transport/src/multiplexed-port.js';
import { TcpNodeClient } from '../../packages/transport/src/tcp-node-client.js';
import { TcpStorageServer } from '../../packages/transport/src/tcp-storage-server.js';
import { parseFlags } from '../lib/args.js';
import { benchmarkKey, replicaHandler } from '../lib/replica.js';

const USAGE =
  'usage: wire-path.ts [--role parent|server|both] --kind get|head|put [--inflight N] [--ops K] [--warmup W] [--runs R] [--keys N] [--value-bytes B] [--multiplexed] [--server-prefix "CMD ARGS"] [--timeout-ms T]';
const flags = parseFlags(
  process.argv.slice(2),
  {
    role: 'string',
    kind: 'string',
    inflight: 'number',
    ops: 'number',
    warmup: 'number',
    runs: 'number',
    keys: 'number',
    'value-bytes': 'number',
    multiplexed: 'boolean',
    'server-prefix': 'string',
    'timeout-ms': 'number',
  },
  USAGE,
);
const role = String(flags.role ?? 'parent');
const kind = String(flags.kind ?? 'get').toUpperCase();
if (kind !== 'GET' && kind !== 'HEAD' && kind !== 'PUT') throw new Error(`--kind must be get, head or put\n${USAGE}`);
const inflight = Math.max(1, Number(flags.inflight ?? 50));
const ops = Number(flags.ops ?? 100_000);
const warmup = Number(flags.warmup ?? 20_000);
const runs = Math.max(1, Number(flags.runs ?? 5));
const keyCount = Number(flags.keys ?? 10_000);
const valueBytes = Number(flags['value-bytes'] ?? 2048);
const multiplexed = flags.multiplexed === true;
// A server under callgrind answers its first requests slowly (it compiles under the simulator).
const timeoutMs = Number(flags['timeout-ms'] ?? 5000);
const serverPrefix = String(flags['server-prefix'] ?? '')
  .split(' ')
  .filter((word) => word.length > 0);

const clock = new SystemClock();
const keys = Array.from({ length: keyCount }, (_, i) => benchmarkKey(i));
const value = new Uint8Array(valueBytes).fill(0x78);
const startMs = clock.now();
// Versions as the coordinators' hybrid logical clocks issue them: now, then one more per write.
let nextVersion = (startMs - VERSION_EPOCH_MS) * 2 ** LOGICAL_BITS;
const recordOf = (version: number, writerId: string): VersionedValue => ({
  value,
  version,
  writerId,
  createdAt: startMs,
  updatedAt: startMs,
  expiresAt: null,
  tombstone: false,
});

/** The replica of `nodeContainer`, preloaded with every key, serving on a free port (multiplexed or its own). */
async function startServer(): Promise<{ close: () => Promise<void>; port: number }> {
  const { handler } = replicaHandler(clock, 'node-1');
  // Preloaded an hour in the past: the client's versions (of its own process's clock) are newer.
  let version = (startMs - 3_600_000 - VERSION_EPOCH_MS) * 2 ** LOGICAL_BITS;
  for (const key of keys) handler.handle({ type: 'PUT', key, record: recordOf((version += 1), 'node-1') });
  const server = new TcpStorageServer(handler, { onWarning: (message) => process.stderr.write(`${message}\n`) });
  if (!multiplexed) {
    const { port } = await server.listen(0, '127.0.0.1');
    return { close: () => server.close(), port };
  }
  const bound = await bindMultiplexed({ host: '127.0.0.1', port: 0, maxFrameBytes: DEFAULT_FRAME_LIMIT_BYTES });
  bound.serve({ tcp: server, http: createHttpServer() });
  return {
    close: async () => {
      await bound.close();
      await server.close();
    },
    port: bound.port,
  };
}

/** Sends `count` requests with `inflight` outstanding; resolves when all are answered. */
function drive(client: TcpNodeClient, target: Node, count: number): Promise<void> {
  if (count === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = 0;
    let failed = 0;
    const options = { timeoutMs };
    const sendOne = (): void => {
      const key = keys[sent % keyCount] as string;
      sent += 1;
      // As a coordinator builds them: a fresh request object (and for a PUT, a fresh record) each time.
      const request: StorageRequest =
        kind === 'PUT' ? { type: 'PUT', key, record: recordOf((nextVersion += 1), 'node-2') } : { type: kind as 'GET', key };
      client.send(target, request, options).then(onAnswer, onFailure);
    };
    const onAnswer = (response: { type: string; applied?: boolean }): void => {
      if (response.type === 'PUT' && response.applied !== true) {
        failed += 1;
        if (failed === 1) process.stderr.write(`wire-path: a PUT was not applied: ${JSON.stringify(response)}\n`);
      }
      after();
    };
    const onFailure = (error: unknown): void => {
      failed += 1;
      if (failed === 1) process.stderr.write(`wire-path: ${String(error)}\n`);
      after();
    };
    const after = (): void => {
      answered += 1;
      if (answered === count) {
        if (failed > 0) reject(new Error(`${failed} of ${count} requests failed`));
        else resolve();
      } else if (sent < count) sendOne();
    };
    for (let i = 0; i < Math.min(inflight, count); i += 1) sendOne();
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function cpuUs(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

async function serverRole(): Promise<void> {
  const { port } = await startServer();
  process.stdout.write(`port ${port}\n`);
  // Each line on stdin asks for the process's CPU time so far.
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'cpu') process.stdout.write(`cpu ${cpuUs(process.cpuUsage())}\n`);
    else process.exit(0);
  });
  // The parent gone (its stdin closed) ends the server too.
  process.stdin.on('end', () => process.exit(0));
}

async function bothRole(): Promise<void> {
  const server = await startServer();
  const client = new TcpNodeClient();
  const target: Node = { id: 'node-1', address: `127.0.0.1:${server.port}`, role: 'storage', status: 'up', vnodes: 16, metadata: {} };
  await drive(client, target, warmup);
  const before = process.cpuUsage();
  await drive(client, target, ops);
  const spent = cpuUs(process.cpuUsage(before));
  process.stdout.write(
    `${kind} inflight=${inflight} ops=${ops}${multiplexed ? ' multiplexed' : ''} both ends: ${ops === 0 ? '-' : (spent / ops).toFixed(2)} µs/request\n`,
  );
  await client.close();
  await server.close();
}

async function parentRole(): Promise<void> {
  const [command, ...prefixArgs] = [...serverPrefix, process.execPath];
  const child = spawn(
    command as string,
    [
      ...prefixArgs,
      ...process.execArgv,
      process.argv[1] as string,
      '--role',
      'server',
      '--kind',
      kind.toLowerCase(),
      '--keys',
      String(keyCount),
      '--value-bytes',
      String(valueBytes),
      ...(multiplexed ? ['--multiplexed'] : []),
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const nextLine = (): Promise<string> => new Promise((resolve) => waiting.push(resolve));
  const port = Number((await nextLine()).split(' ')[1]);
  const serverCpu = async (): Promise<number> => {
    const line = nextLine();
    child.stdin.write('cpu\n');
    return Number((await line).split(' ')[1]);
  };
  const client = new TcpNodeClient();
  const target: Node = { id: 'node-1', address: `127.0.0.1:${port}`, role: 'storage', status: 'up', vnodes: 16, metadata: {} };
  await drive(client, target, warmup);
  const serverUs: number[] = [];
  const clientUs: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const serverBefore = await serverCpu();
    const before = process.cpuUsage();
    await drive(client, target, ops);
    const clientSpent = cpuUs(process.cpuUsage(before));
    const serverSpent = (await serverCpu()) - serverBefore;
    serverUs.push(serverSpent / ops);
    clientUs.push(clientSpent / ops);
  }
  const show = (values: number[]): string => values.map((v) => v.toFixed(2)).join(' ');
  process.stdout.write(
    `${kind} value=${valueBytes}B inflight=${inflight}${multiplexed ? ' multiplexed' : ''} ops=${ops}x${runs}: server ${median(serverUs).toFixed(2)} µs/request ` +
      `(${show(serverUs)}), client ${median(clientUs).toFixed(2)} µs/request (${show(clientUs)})\n`,
  );
  await client.close();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.write('exit\n');
  await exited;
}

const main = role === 'server' ? serverRole : role === 'both' ? bothRole : parentRole;
main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
