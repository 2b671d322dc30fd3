/**
 * The durability benchmark's node-level part: PUTs and GETs as a user sends them, to a real
 * one-node cluster (`dkv cluster up --nodes 1 --topology nodes`: one storage node that
 * coordinates, N=1) over its Redis door, from redis-benchmark (`SET`/`GET -d 2048`), once with
 * the node in memory only, once with `--data-dir` and the default fsync, once with
 * `--fsync always`. Each figure is requests per second per core of the node's CPU (its CPU time
 * from /proc, so a loaded machine distorts it less than a rate), and CPU microseconds per request;
 * the ratios compare the durable runs with the in-memory one of the same run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCostMeter, type PidGroup } from '../lib/measure.js';
import { onPath, ProcessRegistry } from '../lib/processes.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'apps/cli/bin/dkv.js');

/** One redis-benchmark test against one node. */
export interface NodeLevelRow {
  readonly storage: string;
  readonly test: 'SET' | 'GET';
  readonly requestsPerSecond: number;
  /** Requests per second per core the node was busy. */
  readonly perCore: number;
  readonly cpuUsPerRequest: number;
}

/** What the node-level runs take: requests per test, redis-benchmark connections, keys. */
export interface NodeLevelSettings {
  readonly requests: number;
  readonly connections: number;
  readonly keys: number;
  readonly valueBytes: number;
  /** Where the durable nodes' data directories go. */
  readonly dir: string;
}

async function waitFor(what: string, deadlineMs: number, done: () => boolean): Promise<void> {
  const giveUpAt = Date.now() + deadlineMs;
  while (!done()) {
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((wake) => setTimeout(wake, 100));
  }
}

/** Starts a one-node cluster with `extra` arguments; resolves with its Redis port and the node's pid. */
async function startNode(registry: ProcessRegistry, extra: readonly string[]): Promise<{ port: number; node: PidGroup }> {
  const pids: number[] = [];
  let redisUrl = '';
  let ready = false;
  registry.start(
    'dkv cluster up',
    process.execPath,
    [CLI, 'cluster', 'up', '--nodes', '1', '--topology', 'nodes', '--port', '0', '--resp-port', '0', ...extra],
    { cwd: ROOT, detached: true, env: { ...process.env, DKV_LOG_LEVEL: 'warn' } },
    (_stream, line) => {
      const child = /^dkv: node (\S+) pid (\d+)/.exec(line);
      if (child) {
        pids.push(Number(child[2]));
        registry.adopt(Number(child[2]), `node ${child[1]}`);
      }
      const redis = /^dkv redis at (\S+)/.exec(line);
      if (redis) redisUrl = redis[1] as string;
      if (line.startsWith('dkv ready at ')) ready = true;
    },
  );
  await waitFor('the one-node cluster to be ready', 60_000, () => ready && redisUrl !== '' && pids.length > 0);
  return { port: Number(new URL(redisUrl).port), node: { name: 'node', pids } };
}

function runRedisBenchmark(storage: string, port: number, node: PidGroup, test: 'SET' | 'GET', settings: NodeLevelSettings): NodeLevelRow {
  const stop = startCostMeter([node]);
  const args = [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-q',
    '--csv',
    '-t',
    test.toLowerCase(),
    '-d',
    String(settings.valueBytes),
    '-c',
    String(settings.connections),
    '-n',
    String(settings.requests),
    '-r',
    String(settings.keys),
  ];
  const result = spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 600_000 });
  const cost = stop();
  const line = (result.stdout ?? '').split('\n').find((l) => l.startsWith('"') && !l.startsWith('"test"')) ?? '';
  const requestsPerSecond = Number(line.split(',')[1]?.replace(/"/g, ''));
  if (!Number.isFinite(requestsPerSecond) || requestsPerSecond <= 0)
    throw new Error(`redis-benchmark gave no figures for ${storage} ${test}: ${result.stdout}${result.stderr}`);
  const cores = Math.max(cost.serverCoresTotal, 0.01);
  return {
    storage,
    test,
    requestsPerSecond,
    perCore: requestsPerSecond / cores,
    cpuUsPerRequest: (cost.serverCoresTotal * cost.wallSeconds * 1e6) / settings.requests,
  };
}

/**
 * Runs SET then GET against a one-node cluster in memory, with `--data-dir` and the default
 * fsync, and with `--fsync always`, one after the other; every process started is stopped by pid.
 */
export async function nodeLevelRows(settings: NodeLevelSettings): Promise<NodeLevelRow[]> {
  if (!onPath('redis-benchmark'))
    throw new Error('the node-level runs need redis-benchmark (tools/ensure-redis.sh installs it); --no-node skips them');
  const storages: ReadonlyArray<readonly [string, readonly string[]]> = [
    ['in memory', []],
    ['--data-dir (default fsync)', ['--data-dir', '<dir>']],
    ['--data-dir --fsync always', ['--data-dir', '<dir>', '--fsync', 'always']],
  ];
  const rows: NodeLevelRow[] = [];
  for (const [storage, extra] of storages) {
    const dir = mkdtempSync(join(settings.dir, 'dkv-durability-node-'));
    const registry = new ProcessRegistry();
    try {
      const { port, node } = await startNode(
        registry,
        extra.map((arg) => (arg === '<dir>' ? dir : arg)),
      );
      // A fifth of the requests first, not counted: the node's code warms up and the GETs find keys.
      runRedisBenchmark(storage, port, node, 'SET', { ...settings, requests: Math.ceil(settings.requests / 5) });
      for (const test of ['SET', 'GET'] as const) rows.push(runRedisBenchmark(storage, port, node, test, settings));
    } finally {
      await registry.stopAll();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}
