/**
 * `npm run bench:resp-latency`: dkv's latency at half of its peak, next to Redis's at the same
 * rate (issue 11: "p99 at half of dkv's peak at most 10 ms, next to Redis's at the same rate").
 * For each dkv target: redis-benchmark finds its peak (GET or SET of 2 KB values, -P 1, 50
 * connections); then an open-loop client (paced-client.ts) sends that test at half the peak for
 * `--seconds` and measures each request from the moment it was due. A redis-server then gets the
 * same paced load at the same rates. Servers pinned to CPU 0, this process and redis-benchmark to
 * the others, as in bench.ts; every process started is stopped by pid.
 *
 * The floor's servers (floor/server.ts: none of dkv's code, the least a Node.js implementation of
 * the same architecture does) run as targets too (`floor-map1`, `floor-nodes3`, `floor-coord3`),
 * each at half of its own peak: a p99 that the floor cannot reach on this machine is not dkv's to
 * reach either. Each row also gives how busy the servers' core was during the paced run (server
 * CPU seconds per second): an open-loop client sends one request per event-loop turn, where
 * redis-benchmark's 50 clients at the peak arrive in batches, so half of the peak's rate can cost
 * well over half of the core.
 *
 * Usage: npx tsx benchmarks/resp/latency.ts [--targets n3,n3nodes,node,floor-map1,floor-nodes3,floor-coord3]
 *   [--tests get,set] [--seconds 20] [--fractions 0.5] [--connections 50] [--keys 10000]
 *   [--requests 20000] [--node-options opts] [--no-pin]
 * `--fractions`: the paced rates as fractions of the peak (0.25,0.5: a quarter and a half).
 * `--node-options`: NODE_OPTIONS for the dkv processes only (not this client, not the floor), to
 * compare V8 settings, e.g. `--node-options=--max-semi-space-size=64`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, parseFlags, stamp, table, listFlag } from '../lib/args.js';
import { startCostMeter, type PidGroup } from '../lib/measure.js';
import { cpuPin, pinSelf, ProcessRegistry, type CpuPin, type Started } from '../lib/processes.js';
import { runRedisBenchmark, startDkvCluster, startRedisServer } from '../lib/servers.js';
import { SESSION_VALUE_BYTES } from '@dkv/testkit';
import { startFloor, type FloorTopology } from './floor/start.js';
import { preload, runPaced, type PacedResult } from './paced-client.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RESULTS = join(ROOT, 'benchmarks/results');
const USAGE =
  'usage: npx tsx benchmarks/resp/latency.ts [--targets n3,n3nodes,node,floor-map1,floor-nodes3,floor-coord3] [--tests get,set] [--seconds 20] [--fractions 0.5] [--connections 50] [--keys 10000] [--requests 20000] [--node-options opts] [--no-pin]';
type Target = { readonly label: string } & (
  { readonly kind: 'dkv'; readonly nodes: number; readonly topology: string } | { readonly kind: 'floor'; readonly topology: FloorTopology }
);
const TARGETS: Record<string, Target> = {
  n3: { kind: 'dkv', label: 'dkv N=3 W=2 R=2', nodes: 3, topology: 'coordinator' },
  n3nodes: { kind: 'dkv', label: 'dkv N=3 W=2 R=2 every node coordinates', nodes: 3, topology: 'nodes' },
  node: { kind: 'dkv', label: 'dkv one node N=1', nodes: 1, topology: 'nodes' },
  'floor-map1': { kind: 'floor', label: 'floor: RESP over a Map', topology: 'map1' },
  'floor-nodes3': { kind: 'floor', label: 'floor: a node and 2 peers', topology: 'nodes3' },
  'floor-coord3': { kind: 'floor', label: 'floor: a coordinator and 3 nodes', topology: 'coord3' },
};

/** A paced run and how busy the servers were during it (CPU seconds per second, all their processes). */
interface Paced {
  readonly result: PacedResult;
  readonly serverCores: number;
}

interface Row {
  readonly target: string;
  readonly test: string;
  readonly peak: number;
  /** The paced rate as a fraction of the peak. */
  readonly fraction: number;
  readonly rate: number;
  readonly dkv: Paced;
  redis?: Paced;
}

/** A started target: its Redis-protocol port, its processes, and how to stop it. */
interface Running {
  readonly port: number;
  readonly groups: readonly PidGroup[];
  readonly stop: () => Promise<void>;
}

/** Cores busy as a percentage of one core. */
function percent(cores: number): string {
  return `${(cores * 100).toFixed(0)}%`;
}

/** Stops processes one at a time in the order given (a floor's front before its peers). */
async function stopInOrder(registry: ProcessRegistry, procs: readonly Started[]): Promise<void> {
  for (const proc of procs) await registry.stop(proc);
}

function log(line: string): void {
  process.stderr.write(`bench:resp-latency: ${line}\n`);
}

async function main(): Promise<void> {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      targets: 'string',
      tests: 'string',
      seconds: 'number',
      connections: 'number',
      keys: 'number',
      requests: 'number',
      fractions: 'string',
      'node-options': 'string',
      'no-pin': 'boolean',
    },
    USAGE,
  );
  const pin: CpuPin | null = cpuPin(flags['no-pin'] !== true);
  if (pin !== null) pinSelf(pin.loadGenerator);
  const targets = listFlag(flags, 'targets', Object.keys(TARGETS)) as Array<keyof typeof TARGETS>;
  const tests = listFlag(flags, 'tests', ['get', 'set']) as Array<'get' | 'set'>;
  const seconds = Number(flags['seconds'] ?? 20);
  const fractions = String(flags['fractions'] ?? '0.5')
    .split(',')
    .map(Number);
  if (fractions.some((f) => !(f > 0 && f <= 1)))
    throw new Error(
      `--fractions takes a comma-separated list of numbers above 0 and at most 1, e.g. 0.25,0.5; got ${String(flags['fractions'])}\n${USAGE}`,
    );
  const connections = Number(flags['connections'] ?? 50);
  const keys = Number(flags['keys'] ?? 10_000);
  const requests = Number(flags['requests'] ?? 20_000);
  const nodeOptions: Record<string, string> = flags['node-options'] === undefined ? {} : { NODE_OPTIONS: String(flags['node-options']) };
  const ensure = spawnSync(join(ROOT, 'tools/ensure-debian-tools.sh'), ['redis-server', 'redis-benchmark:redis-tools'], {
    stdio: 'inherit',
  });
  if (ensure.status !== 0) throw new Error('redis-server and redis-benchmark are needed (see tools/ensure-debian-tools.sh)');
  const registry = new ProcessRegistry();
  const deadline = registry.stopOnSignalsOrDeadline(30, log);
  const rows: Row[] = [];
  const paced = async (running: Running, test: 'get' | 'set', rate: number): Promise<Paced> => {
    const stop = startCostMeter(running.groups);
    const result = await runPaced({ port: running.port, test, rate, seconds, connections, keys, valueBytes: SESSION_VALUE_BYTES });
    return { result, serverCores: stop().serverCoresTotal };
  };
  const start = async (target: Target): Promise<Running> => {
    if (target.kind === 'floor') {
      const floor = await startFloor(registry, target.topology, pin?.servers ?? null, log);
      return { port: floor.port, groups: floor.groups, stop: () => stopInOrder(registry, floor.procs) };
    }
    const cluster = await startDkvCluster(registry, {
      root: ROOT,
      cpus: pin?.servers ?? null,
      nodes: target.nodes,
      topology: target.topology,
      profileDir: null,
      extraArgs: ['--resp-port', '0'],
      env: { DKV_LOG_LEVEL: 'warn', ...nodeOptions },
    });
    return {
      port: Number(new URL(cluster.redisUrl).port),
      groups: [{ name: 'dkv', pids: [cluster.cli.pid, ...cluster.children.map((c) => c.pid)] }],
      stop: () => registry.stop(cluster.cli),
    };
  };
  try {
    for (const id of targets) {
      const target = TARGETS[id]!;
      log(`starting ${target.label}`);
      const running = await start(target);
      await preload(running.port, keys, SESSION_VALUE_BYTES);
      for (const test of tests) {
        const { rows: found, output } = runRedisBenchmark({
          port: running.port,
          cpus: pin?.loadGenerator ?? null,
          tests: test,
          valueBytes: SESSION_VALUE_BYTES,
          connections,
          requests,
          keys,
          pipeline: 1,
          timeoutMs: 600_000,
        });
        const peak = found[0]?.requestsPerSecond;
        if (peak === undefined || !Number.isFinite(peak))
          throw new Error(`redis-benchmark gave no peak for ${target.label} ${test}: ${output}`);
        for (const fraction of fractions) {
          const rate = Math.max(1, Math.round(peak * fraction));
          const dkv = await paced(running, test, rate);
          log(
            `${target.label} ${test.toUpperCase()}: peak ${fmt(peak)}/s; at ${fmt(rate)}/s p50 ${dkv.result.p50Ms.toFixed(2)} ms, p99 ${dkv.result.p99Ms.toFixed(2)} ms, servers ${percent(dkv.serverCores)} of a core`,
          );
          rows.push({ target: target.label, test: test.toUpperCase(), peak, fraction, rate, dkv });
        }
      }
      await running.stop();
    }
    log('starting redis');
    const redis = await startRedisServer(registry, ROOT, pin?.servers ?? null);
    const redisRunning: Running = {
      port: redis.port,
      groups: [{ name: 'redis', pids: [redis.proc.pid] }],
      stop: () => registry.stop(redis.proc),
    };
    await preload(redis.port, keys, SESSION_VALUE_BYTES);
    for (const row of rows) {
      row.redis = await paced(redisRunning, row.test.toLowerCase() as 'get' | 'set', row.rate);
      log(`redis ${row.test} at ${fmt(row.rate)}/s: p99 ${row.redis.result.p99Ms.toFixed(2)} ms`);
    }
  } finally {
    clearTimeout(deadline);
    await registry.stopAll();
  }
  const ms = (v: number | undefined): string => (v === undefined ? '?' : v.toFixed(2));
  const md = [
    `# Redis protocol: latency at a fraction of each target's peak, and Redis's at the same rate (${new Date().toISOString()})`,
    '',
    `Peak: \`redis-benchmark -t <test> -d ${SESSION_VALUE_BYTES} -c ${connections} -n ${requests} -r ${keys} -P 1\`. Then an open-loop client sends that test at ${fractions.join(', ')} of the peak for ${seconds} s over ${connections} connections, latency counted from when each request was due; "busy" is the servers' CPU seconds per second during it (1.00: one core). ${pin ? `Servers pinned to CPU ${pin.servers}, load generators to CPU ${pin.loadGenerator}` : 'Not pinned'}. Command: \`npx tsx benchmarks/resp/latency.ts ${process.argv.slice(2).join(' ')}\`.`,
    '',
    table(
      [
        'target',
        'test',
        'peak req/s',
        'of peak',
        'paced req/s',
        'busy',
        'p50 ms',
        'p99 ms',
        'p99.9 ms',
        'redis busy',
        'redis p50 ms',
        'redis p99 ms',
        'errors',
      ],
      rows.map((r) => [
        r.target,
        r.test,
        fmt(r.peak),
        String(r.fraction),
        fmt(r.rate),
        r.dkv.serverCores.toFixed(2),
        ms(r.dkv.result.p50Ms),
        ms(r.dkv.result.p99Ms),
        ms(r.dkv.result.p999Ms),
        r.redis === undefined ? '?' : r.redis.serverCores.toFixed(2),
        ms(r.redis?.result.p50Ms),
        ms(r.redis?.result.p99Ms),
        String(r.dkv.result.errors + (r.redis?.result.errors ?? 0)),
      ]),
    ),
    '',
  ].join('\n');
  mkdirSync(RESULTS, { recursive: true });
  const name = `resp-latency-${stamp()}`;
  writeFileSync(join(RESULTS, `${name}.md`), md);
  writeFileSync(
    join(RESULTS, `${name}.json`),
    `${JSON.stringify({ seconds, fractions, connections, keys, requests, pin, rows }, null, 2)}\n`,
  );
  process.stdout.write(md);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
