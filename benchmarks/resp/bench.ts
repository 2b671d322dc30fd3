/**
 * `npm run bench:resp`: redis-benchmark against a real redis-server and against dkv's Redis door
 * in one run on this machine, GET and SET of 2 KB values, one request at a time per connection and
 * pipelined (-P 16), reported per core of server CPU as the HTTP benchmark reports (requests per
 * second divided by the cores the server processes were busy, from the kernel's counters), and
 * as a ratio to Redis. Targets: dkv with 3 storage nodes and a coordinator (N=3 W=2 R=2, what
 * `npm start` runs) and one node (N=1). redis-server and redis-benchmark come from Debian's
 * packages (tools/ensure-redis.sh). Every process started is stopped by pid.
 *
 * Usage: npx tsx benchmarks/resp/bench.ts [--quick] [--requests n] [--connections c]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, parseFlags, stamp, table } from '../lib/args.js';
import { startCostMeter, type PidGroup } from '../lib/measure.js';
import { ProcessRegistry, type Started } from '../lib/processes.js';
import { SESSION_VALUE_BYTES } from '../lib/workload.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'apps/cli/bin/dkv.js');
const RESULTS = join(ROOT, 'benchmarks/results');
const USAGE = 'usage: npx tsx benchmarks/resp/bench.ts [--quick] [--requests n] [--connections c] [--keys k]';

interface Row {
  readonly target: string;
  readonly test: string;
  readonly pipeline: number;
  readonly requestsPerSecond: number;
  readonly serverCores: number;
  readonly perCore: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

function log(line: string): void {
  process.stderr.write(`bench:resp: ${line}\n`);
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function waitFor<T>(what: string, deadlineMs: number, probe: () => T | undefined): Promise<T> {
  const giveUpAt = Date.now() + deadlineMs;
  while (Date.now() < giveUpAt) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Runs redis-benchmark for one test against `port`, measuring the CPU of `groups`. */
function runBenchmark(target: string, port: number, groups: readonly PidGroup[], test: 'set' | 'get', pipeline: number, settings: { requests: number; connections: number; keys: number }): Row {
  const stop = startCostMeter(groups);
  const result = spawnSync(
    'redis-benchmark',
    ['-h', '127.0.0.1', '-p', String(port), '-q', '--csv', '-t', test, '-d', String(SESSION_VALUE_BYTES), '-c', String(settings.connections), '-n', String(settings.requests), '-r', String(settings.keys), '-P', String(pipeline)],
    { encoding: 'utf8', timeout: 600_000 },
  );
  const cost = stop();
  const lines = (result.stdout ?? '').split('\n').filter((l) => l.startsWith('"'));
  const header = lines[0]?.startsWith('"test"') ? lines.shift()?.split(',').map((c) => c.replace(/"/g, '')) : undefined;
  const cells = (lines[0] ?? '').split(',').map((c) => c.replace(/"/g, ''));
  const col = (name: string): number | null => {
    const i = header?.indexOf(name) ?? -1;
    return i >= 0 && cells[i] !== undefined ? Number(cells[i]) : null;
  };
  const requestsPerSecond = Number(cells[1]);
  if (!Number.isFinite(requestsPerSecond)) throw new Error(`redis-benchmark gave no figures for ${target} ${test}: ${result.stdout}${result.stderr}`);
  return { target, test: test.toUpperCase(), pipeline, requestsPerSecond, serverCores: cost.serverCoresTotal, perCore: requestsPerSecond / Math.max(cost.serverCoresTotal, 0.01), p50Ms: col('p50_latency_ms'), p99Ms: col('p99_latency_ms') };
}

async function startRedis(registry: ProcessRegistry): Promise<{ port: number; groups: PidGroup[]; procs: Started[] }> {
  const port = await freePort();
  const proc = registry.start('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { cwd: ROOT, detached: true }, () => undefined);
  await waitFor('redis-server', 10_000, () => (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.includes('PONG') ? true : undefined));
  return { port, groups: [{ name: 'redis-server', pids: [proc.pid] }], procs: [proc] };
}

async function startDkv(registry: ProcessRegistry, nodes: number): Promise<{ port: number; groups: PidGroup[]; procs: Started[] }> {
  const children = new Map<string, number>();
  let redisUrl = '';
  let ready = false;
  const proc = registry.start('dkv cluster up', process.execPath, [CLI, 'cluster', 'up', '--nodes', String(nodes), '--port', '0', '--resp-port', '0'], { cwd: ROOT, detached: true, env: { ...process.env, DKV_LOG_LEVEL: 'warn' } }, (_stream, line) => {
    const child = /^dkv: (node|coordinator) (\S+) pid (\d+)/.exec(line);
    if (child) {
      children.set(child[2] as string, Number(child[3]));
      registry.adopt(Number(child[3]), `${child[1]} ${child[2]}`);
    }
    const redis = /^dkv redis at (\S+)/.exec(line);
    if (redis) redisUrl = redis[1] as string;
    if (line.startsWith('dkv ready at ')) ready = true;
  });
  await waitFor('dkv ready', 60_000, () => (ready ? true : undefined));
  return { port: Number(new URL(redisUrl).port), groups: [{ name: 'dkv', pids: [...children.values()] }], procs: [proc] };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { quick: 'boolean', requests: 'number', connections: 'number', keys: 'number' }, USAGE);
  const settings = { requests: (flags['requests'] as number | undefined) ?? (flags['quick'] ? 10_000 : 100_000), connections: (flags['connections'] as number | undefined) ?? 50, keys: (flags['keys'] as number | undefined) ?? 10_000 };
  const ensure = spawnSync(join(ROOT, 'tools/ensure-redis.sh'), { stdio: 'inherit' });
  if (ensure.status !== 0) throw new Error('redis-server and redis-benchmark are needed (see tools/ensure-redis.sh)');
  const registry = new ProcessRegistry();
  const deadline = registry.stopOnSignalsOrDeadline(30, log);
  const rows: Row[] = [];
  const targets: Array<[string, () => Promise<{ port: number; groups: PidGroup[]; procs: Started[] }>]> = [
    ['redis', () => startRedis(registry)],
    ['dkv N=3 W=2 R=2', () => startDkv(registry, 3)],
    ['dkv N=1', () => startDkv(registry, 1)],
  ];
  try {
    for (const [target, start] of targets) {
      log(`starting ${target}`);
      const { port, groups, procs } = await start();
      for (const pipeline of [1, 16]) {
        for (const test of ['set', 'get'] as const) {
          const row = runBenchmark(target, port, groups, test, pipeline, settings);
          log(`${target} ${row.test} -P ${pipeline}: ${fmt(row.requestsPerSecond)} req/s on ${fmt(row.serverCores, 2)} cores = ${fmt(row.perCore)} per core, p99 ${row.p99Ms ?? '?'} ms`);
          rows.push(row);
        }
      }
      for (const proc of procs) await registry.stop(proc);
    }
  } finally {
    clearTimeout(deadline);
    await registry.stopAll();
  }
  const redisPerCore = (test: string, pipeline: number): number | undefined => rows.find((r) => r.target === 'redis' && r.test === test && r.pipeline === pipeline)?.perCore;
  const md = [
    `# Redis protocol: redis-benchmark against redis-server and dkv (${new Date().toISOString()})`,
    '',
    `\`redis-benchmark -q --csv -t <test> -d ${SESSION_VALUE_BYTES} -c ${settings.connections} -n ${settings.requests} -r ${settings.keys} -P <1|16>\` on 127.0.0.1, one target at a time; server CPU from /proc (every dkv process of the cluster counted).`,
    '',
    table(
      ['target', 'test', 'pipeline', 'req/s', 'server cores', 'req/s per core', 'x Redis per core', 'p50 ms', 'p99 ms'],
      rows.map((r) => {
        const base = redisPerCore(r.test, r.pipeline);
        return [r.target, r.test, `-P ${r.pipeline}`, fmt(r.requestsPerSecond), fmt(r.serverCores, 2), fmt(r.perCore), base === undefined ? '' : fmt(r.perCore / base, 2), r.p50Ms === null ? '' : fmt(r.p50Ms, 3), r.p99Ms === null ? '' : fmt(r.p99Ms, 3)];
      }),
    ),
    '',
  ].join('\n');
  mkdirSync(RESULTS, { recursive: true });
  const name = `resp-${stamp()}`;
  writeFileSync(join(RESULTS, `${name}.json`), `${JSON.stringify({ settings, rows }, null, 2)}\n`);
  writeFileSync(join(RESULTS, `${name}.md`), md);
  writeFileSync(join(RESULTS, 'resp-latest.json'), `${JSON.stringify({ settings, rows }, null, 2)}\n`);
  writeFileSync(join(RESULTS, 'resp-latest.md'), md);
  process.stdout.write(`${md}\n`);
}

main().catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
