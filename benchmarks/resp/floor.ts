/**
 * `npm run bench:resp-floor`: the floor of a replicated Redis-protocol path in Node.js on this
 * machine. Issue 11 sets dkv's Redis door targets per core of server CPU as a ratio to Redis (a
 * 3-replica GET at 0.3x, SET at 0.2x, one node at 0.5x) and measured only the ceiling of one bare
 * Node process (a RESP server over a Map: 0.66-0.73x). Those targets can only be judged against
 * what a Node.js implementation of the same architecture can do at best; this measures that, with
 * none of dkv's code: minimal servers (benchmarks/resp/floor/server.ts) with the least a
 * replicated request must do (parse, store or read, send to the peers over one persistent
 * connection each with a small binary framing, wait for the quorum, reply), batched per
 * event-loop turn, callbacks and a Map of pending ids, no promises per request.
 *
 * Targets, each run as bench.ts runs dkv (same redis-benchmark settings, servers pinned to CPU 0,
 * redis-benchmark to the others, server CPU from /proc):
 * - `redis`: redis-server, the baseline of every ratio;
 * - `map1`: a RESP server over a Map, GET and SET only (the issue's ceiling of one process);
 * - `nodes3`: a coordinating node and two peers (dkv's nodes topology, N=3 R=2 W=2): the node
 *   holds a replica, reads its own copy and asks both peers for a digest (the version), replies on
 *   the first peer's answer; stores with a version and sends to both, replies on the first ack;
 * - `coord3`: a coordinator without storage and three nodes (what `npm start` runs): GET sends
 *   one value read and two digest reads and replies after two answers (one the value), SET sends
 *   to all three and replies after two acks.
 * Each target is checked first (redis-cli SET then GET of a value through it), and after its runs
 * its counters (INFO) show how many frames went to the peers and came back per client request.
 *
 * Usage: npm run bench:resp-floor -- [flags], i.e.
 *   npx tsx --conditions=development benchmarks/resp/floor.ts [--quick] [--requests n]
 *   [--connections c] [--keys k] [--targets redis,map1,nodes3,coord3] [--pipelines 1,16]
 *   [--tests set,get] [--no-pin]
 * No build is needed (the servers use node: only). `--quick`: 10,000 requests per test instead of
 * 100,000 (measured: a full run took 37 s on a quiet machine, 4 min under load 17, its servers
 * getting 0.2-0.5 of their core). Writes benchmarks/results/resp-floor-<stamp>.{json,md}, with the load average at the start
 * and the end and, per run, the cores busy with anything else: on a shared machine that says how
 * far to trust the figures (nice does not protect a run: with the kernel's autogroups, each
 * session gets its share whatever its processes' nice). Every process started is stopped by pid.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SESSION_VALUE_BYTES } from '@dkv/testkit';
import { fmt, parseFlags, stamp, table, listFlag } from '../lib/args.js';
import { machineInfo, startCostMeter, type PidGroup } from '../lib/measure.js';
import { cpuPin, ProcessRegistry, type CpuPin, type Started } from '../lib/processes.js';
import { runRedisBenchmark, startRedisServer } from '../lib/servers.js';
import { startFloor } from './floor/start.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RESULTS = join(ROOT, 'benchmarks/results');
const USAGE =
  'usage: npx tsx --conditions=development benchmarks/resp/floor.ts [--quick] [--requests n] [--connections c] [--keys k] [--targets redis,map1,nodes3,coord3] [--pipelines 1,16] [--tests set,get] [--no-pin]';
const TARGETS = ['redis', 'map1', 'nodes3', 'coord3'] as const;
type Target = (typeof TARGETS)[number];
const LABELS: Record<Target, string> = {
  redis: 'redis',
  map1: 'map1 (RESP over a Map)',
  nodes3: 'nodes3 (node + 2 peers)',
  coord3: 'coord3 (coordinator + 3)',
};

interface Row {
  readonly target: Target;
  readonly test: string;
  readonly pipeline: number;
  readonly requestsPerSecond: number;
  readonly serverCores: number;
  readonly perCore: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** CPU microseconds per request of each group of server processes. */
  readonly cpuUsPerRequest: Record<string, number>;
  /** Cores busy with anything but the servers and this process during the run (the lead's work on the shared machine). */
  readonly foreignCores: number;
}

/** A floor server's INFO counters after its runs. */
interface Counters {
  readonly target: Target;
  readonly values: Record<string, number>;
}

interface Running {
  readonly port: number;
  readonly groups: PidGroup[];
  readonly procs: Started[];
}

let pin: CpuPin | null = null;

function log(line: string): void {
  process.stderr.write(`bench:resp-floor: ${line}\n`);
}

async function startTarget(registry: ProcessRegistry, target: Target): Promise<Running> {
  if (target === 'redis') {
    const { port, proc } = await startRedisServer(registry, ROOT, pin?.servers ?? null);
    return { port, groups: [{ name: 'redis-server', pids: [proc.pid] }], procs: [proc] };
  }
  return startFloor(registry, target, pin?.servers ?? null, log);
}

function redisCli(port: number, args: readonly string[]): string {
  const result = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  if (result.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout.replace(/\n$/, '');
}

/** Checks that a value SET through `port` comes back from GET (and a missing key as nil). */
function check(target: Target, port: number): void {
  const value = `floor-check-${process.pid}-${Date.now()}-${'x'.repeat(100)}`;
  const set = redisCli(port, ['SET', 'floor:check', value]);
  const got = redisCli(port, ['GET', 'floor:check']);
  const missing = redisCli(port, ['GET', 'floor:missing']);
  if (set !== 'OK' || got !== value || missing !== '')
    throw new Error(
      `${target} failed its check: SET gave ${JSON.stringify(set)}, GET ${JSON.stringify(got)}, GET of a missing key ${JSON.stringify(missing)}`,
    );
}

/** A floor server's INFO counters (`name:value` lines). */
function counters(port: number): Record<string, number> {
  return Object.fromEntries(
    redisCli(port, ['INFO'])
      .split(/\r?\n/)
      .map((line) => line.split(':'))
      .filter((cells): cells is [string, string] => cells.length === 2)
      .map(([name, value]) => [name, Number(value)]),
  );
}

function runBenchmark(
  target: Target,
  running: Running,
  test: 'set' | 'get',
  pipeline: number,
  settings: { requests: number; connections: number; keys: number },
): Row {
  const stop = startCostMeter(running.groups);
  const { rows, output } = runRedisBenchmark({
    port: running.port,
    cpus: pin?.loadGenerator ?? null,
    tests: test,
    valueBytes: SESSION_VALUE_BYTES,
    ...settings,
    pipeline,
    timeoutMs: 120_000,
  });
  const cost = stop();
  const row = rows[0];
  const requestsPerSecond = row?.requestsPerSecond ?? Number.NaN;
  if (!Number.isFinite(requestsPerSecond)) throw new Error(`redis-benchmark gave no figures for ${target} ${test}: ${output}`);
  return {
    target,
    test: test.toUpperCase(),
    pipeline,
    requestsPerSecond,
    serverCores: cost.serverCoresTotal,
    perCore: requestsPerSecond / Math.max(cost.serverCoresTotal, 0.01),
    p50Ms: row?.p50Ms ?? null,
    p99Ms: row?.p99Ms ?? null,
    cpuUsPerRequest: Object.fromEntries(
      Object.entries(cost.serverCores).map(([group, cores]) => [group, (cores * cost.wallSeconds * 1e6) / settings.requests]),
    ),
    foreignCores: cost.foreignCores,
  };
}

function costs(row: Row): string {
  return Object.entries(row.cpuUsPerRequest)
    .map(([group, us]) => `${group} ${us.toFixed(1)}`)
    .join(', ');
}

function report(
  rows: readonly Row[],
  counted: readonly Counters[],
  settings: { requests: number; connections: number; keys: number },
  load: { start: number[]; end: number[] },
): string {
  const perCoreOf = (target: Target, test: string, pipeline: number): number | undefined =>
    rows.find((r) => r.target === target && r.test === test && r.pipeline === pipeline)?.perCore;
  const ratio = (row: Row, base: Target): string => {
    const of = perCoreOf(base, row.test, row.pipeline);
    return of === undefined ? '' : fmt(row.perCore / of, 2);
  };
  const loads = (l: number[]): string => l.map((v) => v.toFixed(2)).join(', ');
  return [
    `# The floor of a replicated Redis-protocol path in Node.js (${new Date().toISOString()})`,
    '',
    `\`redis-benchmark -q --csv -t <test> -d ${SESSION_VALUE_BYTES} -c ${settings.connections} -n ${settings.requests} -r ${settings.keys} -P <p>\` on 127.0.0.1, one target at a time; server CPU from /proc (every process of a target counted); ${pin ? `servers pinned to CPU ${pin.servers}, redis-benchmark to CPU ${pin.loadGenerator}` : 'not pinned'}. Load average (1, 5, 15 min) at the start: ${loads(load.start)}; at the end: ${loads(load.end)}. Command: \`npx tsx benchmarks/resp/floor.ts ${process.argv.slice(2).join(' ')}\`.`,
    '',
    'Targets (benchmarks/resp/floor/server.ts, none of dkv\'s code): map1, a RESP server over a Map; nodes3, a coordinating node holding a replica and 2 peers (R=2, W=2 counting itself); coord3, a coordinator without storage and 3 nodes (GET: one value read and two digests, reply after 2 answers; SET: reply after 2 acks). "other cores": CPU busy with anything else on the machine during the run.',
    '',
    table(
      [
        'target',
        'test',
        'pipeline',
        'req/s',
        'server cores',
        'req/s per core',
        'x Redis per core',
        'x map1 per core',
        'CPU µs per request',
        'p50 ms',
        'p99 ms',
        'other cores',
      ],
      rows.map((r) => [
        LABELS[r.target],
        r.test,
        `-P ${r.pipeline}`,
        fmt(r.requestsPerSecond),
        fmt(r.serverCores, 2),
        fmt(r.perCore),
        ratio(r, 'redis'),
        ratio(r, 'map1'),
        costs(r),
        r.p50Ms === null ? '' : fmt(r.p50Ms, 3),
        r.p99Ms === null ? '' : fmt(r.p99Ms, 3),
        fmt(r.foreignCores, 2),
      ]),
    ),
    '',
    "## Every request went to the peers: the floor servers' counters after their runs (INFO)",
    '',
    table(
      ['target', 'client GET+SET', 'frames to peers', 'answers back', 'frames per request', 'version mismatches'],
      counted.map((c) => {
        const requests = (c.values['gets'] ?? 0) + (c.values['sets'] ?? 0);
        const sent = c.values['peerRequests'] ?? 0;
        return [
          LABELS[c.target],
          fmt(requests),
          fmt(sent),
          fmt(c.values['peerAnswers'] ?? 0),
          requests === 0 ? '' : fmt(sent / requests, 2),
          fmt(c.values['mismatches'] ?? 0),
        ];
      }),
    ),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      quick: 'boolean',
      requests: 'number',
      connections: 'number',
      keys: 'number',
      targets: 'string',
      pipelines: 'string',
      tests: 'string',
      'no-pin': 'boolean',
    },
    USAGE,
  );
  pin = cpuPin(flags['no-pin'] !== true);
  const settings = {
    requests: (flags['requests'] as number | undefined) ?? (flags['quick'] ? 10_000 : 100_000),
    connections: (flags['connections'] as number | undefined) ?? 50,
    keys: (flags['keys'] as number | undefined) ?? 10_000,
  };
  const list = (name: string, all: readonly string[]): string[] => listFlag(flags, name, all);
  const targets = list('targets', TARGETS) as Target[];
  const pipelines = list('pipelines', ['1', '16']).map(Number);
  const tests = list('tests', ['set', 'get']) as Array<'set' | 'get'>;
  const ensure = spawnSync(
    join(ROOT, 'tools/ensure-debian-tools.sh'),
    ['redis-server', 'redis-benchmark:redis-tools', 'redis-cli:redis-tools'],
    {
      stdio: 'inherit',
    },
  );
  if (ensure.status !== 0) throw new Error('redis-server, redis-benchmark and redis-cli are needed (see tools/ensure-debian-tools.sh)');
  const runStamp = stamp();
  const load = { start: loadavg(), end: [] as number[] };
  const registry = new ProcessRegistry();
  const deadline = registry.stopOnSignalsOrDeadline(10, log);
  const rows: Row[] = [];
  const counted: Counters[] = [];
  try {
    for (const target of TARGETS) {
      if (!targets.includes(target)) continue;
      log(`starting ${LABELS[target]}`);
      const running = await startTarget(registry, target);
      check(target, running.port);
      for (const pipeline of pipelines) {
        for (const test of tests) {
          const row = runBenchmark(target, running, test, pipeline, settings);
          log(
            `${LABELS[target]} ${row.test} -P ${pipeline}: ${fmt(row.requestsPerSecond)} req/s on ${fmt(row.serverCores, 2)} cores = ${fmt(row.perCore)} per core (CPU µs per request: ${costs(row)}; other cores ${fmt(row.foreignCores, 2)})`,
          );
          rows.push(row);
        }
      }
      if (target !== 'redis') counted.push({ target, values: counters(running.port) });
      for (const proc of running.procs) await registry.stop(proc);
    }
  } finally {
    clearTimeout(deadline);
    await registry.stopAll();
  }
  load.end = loadavg();
  const md = report(rows, counted, settings, load);
  mkdirSync(RESULTS, { recursive: true });
  const name = `resp-floor-${runStamp}`;
  const json = { settings, targets, pipelines, tests, pin, load, machine: machineInfo(ROOT), rows, counters: counted };
  writeFileSync(join(RESULTS, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(RESULTS, `${name}.md`), md);
  // The capacity model (npm run capacity) plans with resp-floor-latest: only a full run replaces it.
  const full =
    flags['quick'] !== true &&
    ['redis', 'nodes3', 'coord3'].every((t) => targets.includes(t as Target)) &&
    pipelines.includes(1) &&
    tests.length === 2;
  if (full) {
    writeFileSync(join(RESULTS, 'resp-floor-latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(RESULTS, 'resp-floor-latest.md'), md);
  }
  process.stdout.write(`${md}\n`);
}

main().catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
