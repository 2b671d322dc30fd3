/**
 * `npm run bench:resp-latency`: dkv's latency at half of its peak, next to Redis's at the same
 * rate (issue 11: "p99 at half of dkv's peak at most 10 ms, next to Redis's at the same rate").
 * For each dkv target: redis-benchmark finds its peak (GET or SET of 2 KB values, -P 1, 50
 * connections); then an open-loop client (paced-client.ts) sends that test at half the peak for
 * `--seconds` and measures each request from the moment it was due. A redis-server then gets the
 * same paced load at the same rates. Servers pinned to CPU 0, this process and redis-benchmark to
 * the others, as in bench.ts; every process started is stopped by pid.
 *
 * Usage: npx tsx benchmarks/resp/latency.ts [--targets n3,n3nodes,node] [--tests get,set] [--seconds 20]
 *   [--connections 50] [--keys 10000] [--requests 20000] [--no-pin]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, parseFlags, stamp, table, listFlag } from '../lib/args.js';
import { cpuPin, pinSelf, ProcessRegistry, type CpuPin } from '../lib/processes.js';
import { runRedisBenchmark, startDkvCluster, startRedisServer } from '../lib/servers.js';
import { SESSION_VALUE_BYTES } from '@dkv/testkit';
import { preload, runPaced, type PacedResult } from './paced-client.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RESULTS = join(ROOT, 'benchmarks/results');
const USAGE =
  'usage: npx tsx benchmarks/resp/latency.ts [--targets n3,n3nodes,node] [--tests get,set] [--seconds 20] [--connections 50] [--keys 10000] [--requests 20000] [--no-pin]';
const TARGETS = {
  n3: { label: 'dkv N=3 W=2 R=2', nodes: 3, topology: 'coordinator' },
  n3nodes: { label: 'dkv N=3 W=2 R=2 every node coordinates', nodes: 3, topology: 'nodes' },
  node: { label: 'dkv one node N=1', nodes: 1, topology: 'nodes' },
};

interface Row {
  readonly target: string;
  readonly test: string;
  readonly peak: number;
  readonly rate: number;
  readonly dkv: PacedResult;
  redis?: PacedResult;
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
      'no-pin': 'boolean',
    },
    USAGE,
  );
  const pin: CpuPin | null = cpuPin(flags['no-pin'] !== true);
  if (pin !== null) pinSelf(pin.loadGenerator);
  const targets = listFlag(flags, 'targets', Object.keys(TARGETS)) as Array<keyof typeof TARGETS>;
  const tests = listFlag(flags, 'tests', ['get', 'set']) as Array<'get' | 'set'>;
  const seconds = Number(flags['seconds'] ?? 20);
  const connections = Number(flags['connections'] ?? 50);
  const keys = Number(flags['keys'] ?? 10_000);
  const requests = Number(flags['requests'] ?? 20_000);
  const ensure = spawnSync(join(ROOT, 'tools/ensure-debian-tools.sh'), ['redis-server', 'redis-benchmark:redis-tools'], {
    stdio: 'inherit',
  });
  if (ensure.status !== 0) throw new Error('redis-server and redis-benchmark are needed (see tools/ensure-debian-tools.sh)');
  const registry = new ProcessRegistry();
  const deadline = registry.stopOnSignalsOrDeadline(30, log);
  const rows: Row[] = [];
  const paced = (port: number, test: 'get' | 'set', rate: number) =>
    runPaced({ port, test, rate, seconds, connections, keys, valueBytes: SESSION_VALUE_BYTES });
  try {
    for (const id of targets) {
      const target = TARGETS[id];
      log(`starting ${target.label}`);
      const cluster = await startDkvCluster(registry, {
        root: ROOT,
        cpus: pin?.servers ?? null,
        nodes: target.nodes,
        topology: target.topology,
        profileDir: null,
        extraArgs: ['--resp-port', '0'],
        env: { DKV_LOG_LEVEL: 'warn' },
      });
      const port = Number(new URL(cluster.redisUrl).port);
      await preload(port, keys, SESSION_VALUE_BYTES);
      for (const test of tests) {
        const { rows: found, output } = runRedisBenchmark({
          port,
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
        const rate = Math.max(1, Math.round(peak / 2));
        const dkv = await paced(port, test, rate);
        log(
          `${target.label} ${test.toUpperCase()}: peak ${fmt(peak)}/s; at ${fmt(rate)}/s p50 ${dkv.p50Ms.toFixed(2)} ms, p99 ${dkv.p99Ms.toFixed(2)} ms`,
        );
        rows.push({ target: target.label, test: test.toUpperCase(), peak, rate, dkv });
      }
      await registry.stop(cluster.cli);
    }
    log('starting redis');
    const redis = await startRedisServer(registry, ROOT, pin?.servers ?? null);
    await preload(redis.port, keys, SESSION_VALUE_BYTES);
    for (const row of rows) {
      row.redis = await paced(redis.port, row.test.toLowerCase() as 'get' | 'set', row.rate);
      log(`redis ${row.test} at ${fmt(row.rate)}/s: p99 ${row.redis.p99Ms.toFixed(2)} ms`);
    }
  } finally {
    clearTimeout(deadline);
    await registry.stopAll();
  }
  const ms = (v: number | undefined): string => (v === undefined ? '?' : v.toFixed(2));
  const md = [
    `# Redis protocol: latency at half of dkv's peak, dkv and Redis at the same rate (${new Date().toISOString()})`,
    '',
    `Peak: \`redis-benchmark -t <test> -d ${SESSION_VALUE_BYTES} -c ${connections} -n ${requests} -r ${keys} -P 1\`. Then an open-loop client sends that test at half the peak for ${seconds} s over ${connections} connections, latency counted from when each request was due. ${pin ? `Servers pinned to CPU ${pin.servers}, load generators to CPU ${pin.loadGenerator}` : 'Not pinned'}. Command: \`npx tsx benchmarks/resp/latency.ts ${process.argv.slice(2).join(' ')}\`.`,
    '',
    table(
      [
        'target',
        'test',
        'dkv peak req/s',
        'paced req/s',
        'dkv p50 ms',
        'dkv p99 ms',
        'dkv p99.9 ms',
        'redis p50 ms',
        'redis p99 ms',
        'errors',
      ],
      rows.map((r) => [
        r.target,
        r.test,
        fmt(r.peak),
        fmt(r.rate),
        ms(r.dkv.p50Ms),
        ms(r.dkv.p99Ms),
        ms(r.dkv.p999Ms),
        ms(r.redis?.p50Ms),
        ms(r.redis?.p99Ms),
        String(r.dkv.errors + (r.redis?.errors ?? 0)),
      ]),
    ),
    '',
  ].join('\n');
  mkdirSync(RESULTS, { recursive: true });
  const name = `resp-latency-${stamp()}`;
  writeFileSync(join(RESULTS, `${name}.md`), md);
  writeFileSync(join(RESULTS, `${name}.json`), `${JSON.stringify({ seconds, connections, keys, requests, rows }, null, 2)}\n`);
  process.stdout.write(md);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
