/**
 * Microbenchmark of each NodeClient adapter: how many requests per second, and how much CPU per
 * request, it costs a coordinator to talk to one storage node.
 *
 * For HTTP and TCP the storage node runs in a child process (server.ts, forked, stopped by its pid
 * at the end): a real StorageService over an InMemoryStorageEngine with preloaded keys. The
 * InMemory adapter has no wire, so its handler runs in this process and all its CPU is client CPU.
 * Each case is a closed loop of `concurrency` requests always in flight, 80% GET and 20% PUT of
 * 2 KiB values, for a fixed time after a warm-up. Client and server CPU come from
 * `process.cpuUsage()` deltas of each process; latency percentiles from an HDR histogram (µs).
 *
 * Run: npx tsx --conditions=development benchmarks/node-clients/bench.ts
 * `BENCH_ADAPTERS=tcp-stack` adds the production data client: `createWireStack` (circuit breaker and
 * retries, as both apps build it) around `createWireClient`'s TCP adapter, to show what the
 * decorators cost per request.
 * Results: benchmarks/results/node-clients-<timestamp>.{json,md} and node-clients-latest.{json,md}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Node, NodeClient, StorageRequest } from '@dkv/core';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { clientSettingsFrom, COORDINATOR_TUNING_SETTINGS, parseSettings } from '@dkv/app-config';
import { DEFAULT_COORDINATOR_CONFIG } from '@dkv/coordination';
import { SystemClock, SystemRng, TimerScheduler } from '@dkv/runtime';
import { createWireClient, createWireStack, HttpNodeClient, InMemoryNodeClient, TcpNodeClient } from '@dkv/transport';
import * as hdr from 'hdr-histogram-js';
import { keyOf, preload, recordOf, valueOf } from './workload.js';

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, '..', 'results');

/** The knobs of a run; environment variables override them for a quick look. */
const config = {
  keyCount: Number(process.env.BENCH_KEYS ?? 10_000),
  valueBytes: Number(process.env.BENCH_VALUE_BYTES ?? 2048),
  putShare: Number(process.env.BENCH_PUT_SHARE ?? 0.2),
  warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 1_000),
  durationMs: Number(process.env.BENCH_DURATION_MS ?? 3_000),
  concurrencies: (process.env.BENCH_CONCURRENCY ?? '64,256').split(',').map(Number),
  adapters: (process.env.BENCH_ADAPTERS ?? 'inmemory,http,tcp').split(',') as AdapterName[],
  requestTimeoutMs: 5_000,
};

type AdapterName = 'inmemory' | 'http' | 'tcp' | 'tcp-stack';

interface CaseResult {
  adapter: AdapterName;
  concurrency: number;
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  clientCpuUsPerRequest: number;
  serverCpuUsPerRequest: number | null;
  totalCpuUsPerRequest: number;
  requestsPerCpuSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  vsHttpRequestsPerSecond: number | null;
  vsHttpRequestsPerCpuSecond: number | null;
}

/** A storage node in a child process, and how to ask it for its CPU time. */
class ServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(adapter: 'http' | 'tcp'): Promise<ServerProcess> {
    const child = fork(join(here, 'server.ts'), [adapter, String(config.keyCount), String(config.valueBytes)], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the ${adapter} server did not start within 20 s`)), 20_000);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the ${adapter} server exited with code ${String(code)}`)));
      child.on('message', (message: { type?: string; port?: number }) => {
        if (message.type !== 'ready' || message.port === undefined) return;
        clearTimeout(timer);
        resolve(message.port);
      });
    });
    return new ServerProcess(child, port);
  }

  /** The child's own `process.cpuUsage()`, in µs of user + system time. */
  cpuMicros(): Promise<number> {
    return new Promise((resolve) => {
      const onMessage = (message: { type?: string; usage?: NodeJS.CpuUsage }): void => {
        if (message.type !== 'cpu' || message.usage === undefined) return;
        this.child.off('message', onMessage);
        resolve(message.usage.user + message.usage.system);
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'cpu' });
    });
  }

  /** Stops the child by its pid and waits for it to exit. */
  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    process.kill(pid, 'SIGTERM');
    await exited;
  }
}

interface Target {
  readonly client: NodeClient;
  readonly node: Node;
  readonly server: ServerProcess | null;
}

async function startTarget(adapter: AdapterName): Promise<Target> {
  const node = (address: string): Node => ({ id: 'bench-node', address, role: 'storage', status: 'up', vnodes: 16, metadata: {} });
  if (adapter === 'inmemory') {
    const engine = new InMemoryStorageEngine({ clock: { now: () => Date.now() }, tombstoneGraceMs: 3_600_000 });
    preload(engine, config.keyCount, config.valueBytes);
    const client = new InMemoryNodeClient();
    client.register('bench-node', new StorageService({ nodeId: 'bench-node', engine }));
    return { client, node: node('bench-node.memory:1'), server: null };
  }
  const server = await ServerProcess.start(adapter === 'tcp-stack' ? 'tcp' : adapter);
  const client = adapter === 'http' ? new HttpNodeClient() : adapter === 'tcp' ? new TcpNodeClient() : productionStack();
  return { client, node: node(`127.0.0.1:${server.port}`), server };
}

/** The coordinator's data client with its default settings (parsed as the apps parse them), built as the apps build it. */
function productionStack(): NodeClient {
  const client = clientSettingsFrom(parseSettings(COORDINATOR_TUNING_SETTINGS, {}, {}));
  const wire = createWireClient({
    transport: 'tcp',
    ...client,
    maxValueBytes: DEFAULT_COORDINATOR_CONFIG.maxValueBytes,
    clusterSecret: null,
  });
  return createWireStack(wire, client, { clock: new SystemClock(), scheduler: new TimerScheduler(), rng: new SystemRng() });
}

/** Runs `concurrency` closed loops until `durationMs` has passed; counts and times each request. */
async function closedLoop(
  target: Target,
  concurrency: number,
  durationMs: number,
  histogram: hdr.Histogram | null,
  nextVersion: () => number,
) {
  const value = valueOf(config.valueBytes);
  const options = { timeoutMs: config.requestTimeoutMs };
  const endAt = performance.now() + durationMs;
  let requests = 0;
  let errors = 0;
  let seed = 0x9e3779b9 ^ concurrency;
  const random = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const loop = async (): Promise<void> => {
    while (performance.now() < endAt) {
      const key = keyOf(Math.floor(random() * config.keyCount));
      const request: StorageRequest =
        random() < config.putShare ? { type: 'PUT', key, record: recordOf(value, nextVersion(), Date.now()) } : { type: 'GET', key };
      const started = performance.now();
      try {
        await target.client.send(target.node, request, options);
        requests += 1;
      } catch {
        errors += 1;
      }
      histogram?.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { requests, errors };
}

async function runCase(target: Target, adapter: AdapterName, concurrency: number, nextVersion: () => number): Promise<CaseResult> {
  await closedLoop(target, concurrency, config.warmupMs, null, nextVersion);
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const serverBefore = (await target.server?.cpuMicros()) ?? 0;
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const { requests, errors } = await closedLoop(target, concurrency, config.durationMs, histogram, nextVersion);
  const seconds = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(clientBefore);
  const serverAfter = (await target.server?.cpuMicros()) ?? 0;
  const clientCpuUs = clientCpu.user + clientCpu.system;
  const serverCpuUs = target.server === null ? null : serverAfter - serverBefore;
  const totalCpuUs = clientCpuUs + (serverCpuUs ?? 0);
  const done = Math.max(1, requests);
  return {
    adapter,
    concurrency,
    requests,
    errors,
    seconds: round(seconds, 2),
    requestsPerSecond: Math.round(requests / seconds),
    clientCpuUsPerRequest: round(clientCpuUs / done, 1),
    serverCpuUsPerRequest: serverCpuUs === null ? null : round(serverCpuUs / done, 1),
    totalCpuUsPerRequest: round(totalCpuUs / done, 1),
    requestsPerCpuSecond: Math.round((requests / totalCpuUs) * 1e6),
    latencyP50Ms: round(histogram.getValueAtPercentile(50) / 1000, 3),
    latencyP99Ms: round(histogram.getValueAtPercentile(99) / 1000, 3),
    latencyMaxMs: round(histogram.maxValue / 1000, 3),
    vsHttpRequestsPerSecond: null,
    vsHttpRequestsPerCpuSecond: null,
  };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function markdownTable(results: CaseResult[]): string {
  const ratio = (value: number | null): string => (value === null ? 'n/a' : `${value.toFixed(2)}x`);
  const lines = [
    '| adapter | in flight | req/s | vs HTTP | client CPU µs/req | server CPU µs/req | total CPU µs/req | req per CPU-s | vs HTTP | p50 ms | p99 ms | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.adapter} | ${r.concurrency} | ${r.requestsPerSecond.toLocaleString('en-US')} | ${ratio(r.vsHttpRequestsPerSecond)} | ${r.clientCpuUsPerRequest} | ${r.serverCpuUsPerRequest ?? 'in-process'} | ${r.totalCpuUsPerRequest} | ${r.requestsPerCpuSecond.toLocaleString('en-US')} | ${ratio(r.vsHttpRequestsPerCpuSecond)} | ${r.latencyP50Ms} | ${r.latencyP99Ms} | ${r.errors} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const results: CaseResult[] = [];
  for (const adapter of config.adapters) {
    const target = await startTarget(adapter);
    let version = 1;
    const nextVersion = (): number => (version += 1);
    try {
      for (const concurrency of config.concurrencies) {
        const result = await runCase(target, adapter, concurrency, nextVersion);
        results.push(result);
        console.log(
          `${adapter.padEnd(8)} c=${String(concurrency).padStart(3)}: ${result.requestsPerSecond} req/s, ${result.totalCpuUsPerRequest} CPU µs/req, p99 ${result.latencyP99Ms} ms, ${result.errors} errors`,
        );
      }
    } finally {
      await target.client.close();
      await target.server?.stop();
    }
  }
  for (const result of results) {
    const http = results.find((r) => r.adapter === 'http' && r.concurrency === result.concurrency);
    if (http === undefined) continue;
    result.vsHttpRequestsPerSecond = round(result.requestsPerSecond / http.requestsPerSecond, 2);
    result.vsHttpRequestsPerCpuSecond = round(result.requestsPerCpuSecond / http.requestsPerCpuSecond, 2);
  }

  const environment = {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
  };
  const table = markdownTable(results);
  console.log(`\n${table}\n`);
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const json = JSON.stringify({ startedAt: startedAt.toISOString(), environment, config, results }, null, 2);
  const markdown = [
    `# NodeClient microbenchmark, ${startedAt.toISOString()}`,
    '',
    `Node ${environment.node}, ${environment.platform}, ${environment.cores} × ${environment.cpu}. Loopback, server in a child process`,
    `(InMemory: in-process, so all its CPU is client CPU). ${config.keyCount} keys of ${config.valueBytes} bytes,`,
    `${Math.round((1 - config.putShare) * 100)}% GET / ${Math.round(config.putShare * 100)}% PUT, closed loop, ${config.warmupMs} ms warm-up then ${config.durationMs} ms measured per case.`,
    '"req per CPU-s" is requests per second of client + server CPU: throughput per core.',
    '',
    'Command: `npx tsx --conditions=development benchmarks/node-clients/bench.ts`',
    '',
    table,
    '',
  ].join('\n');
  mkdirSync(resultsDir, { recursive: true });
  for (const name of [`node-clients-${stamp}`, 'node-clients-latest']) {
    writeFileSync(join(resultsDir, `${name}.json`), `${json}\n`);
    writeFileSync(join(resultsDir, `${name}.md`), markdown);
  }
  console.log(`results written to ${join(resultsDir, `node-clients-${stamp}.{json,md}`)} and node-clients-latest.{json,md}`);
}

await main();
