/**
 * `npx tsx benchmarks/idle/bench.ts`: what an idle dkv cluster costs. Starts `dkv cluster up`
 * (3 storage nodes and a coordinator by default), waits until it is ready and has settled, then
 * reads every process's CPU time from /proc/<pid>/stat over `--seconds` of wall time with no
 * request sent, and prints milliseconds of CPU per second per process. That CPU is spent on
 * gossip, range-sync and anti-entropy checks, the sweeper and timers whatever the load: at a few
 * thousand requests per second it is part of every request's cost. `--profile` runs the
 * processes under V8's CPU profiler and prints where the idle CPU went (figures of a profiled run
 * are not to be quoted). Every process started is stopped by pid.
 *
 * Usage: npx tsx benchmarks/idle/bench.ts [--nodes 3] [--topology coordinator|nodes] [--seconds 30]
 *   [--settle 10] [--keys 0] [--profile] [--baseline <checkout>]
 * `--baseline <dir>` starts the same cluster from another built checkout (e.g. a worktree of main)
 * beside this one and measures both in the same window: on a shared machine the load moves every
 * figure, so a before/after comparison is only fair side by side.
 * `--keys k` first writes most of k keys of 2 KiB through the Redis door (redis-benchmark SET, random
 * keys of a space of k): anti-entropy and cleanup walk the data, so their cost grows with it.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '@dkv/testkit';
import { fmt, parseFlags, stamp, table } from '../lib/args.js';
import { readFileSync } from 'node:fs';
import { categoryOf } from '../lib/cpuprofile.js';
import { cpuSecondsOf, ProcessRegistry } from '../lib/processes.js';
import { runRedisBenchmark, startDkvCluster, type DkvCluster } from '../lib/servers.js';
import { SESSION_VALUE_BYTES } from '@dkv/testkit';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const USAGE =
  'usage: npx tsx benchmarks/idle/bench.ts [--nodes 3] [--topology coordinator|nodes] [--seconds 30] [--settle 10] [--keys 0] [--profile] [--baseline <checkout>]';

function log(line: string): void {
  process.stderr.write(`bench:idle: ${line}\n`);
}

/** A process measured: what it is and its pid. */
interface Measured {
  readonly label: string;
  readonly pid: number;
}

/** CPU milliseconds per wall second of each process over `seconds`. */
async function measure(processes: readonly Measured[], seconds: number): Promise<Map<Measured, number>> {
  const before = new Map(processes.map((p) => [p, cpuSecondsOf(p.pid) ?? Number.NaN]));
  const startMs = performance.now();
  await sleep(seconds * 1000);
  const wallSeconds = (performance.now() - startMs) / 1000;
  return new Map(processes.map((p) => [p, (((cpuSecondsOf(p.pid) ?? Number.NaN) - (before.get(p) ?? Number.NaN)) * 1000) / wallSeconds]));
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** V8's profile clock: CLOCK_MONOTONIC in microseconds, as `process.hrtime` reads it. */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (url === '') return functionName || '(anonymous)';
  return `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1} [${categoryOf(node.callFrame)}]`;
}

/**
 * Where the CPU of the samples taken in [fromUs, toUs) went: self time by function, and total
 * time (the function and what it called) of dkv's own functions, which names the timer or loop
 * the time belongs to. Milliseconds per second of the window.
 */
function profileWindow(
  file: string,
  fromUs: number,
  toUs: number,
  top: number,
): { self: string[][]; total: string[][]; busyMsPerS: number } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at >= fromUs && at < toUs) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    busyUs += us;
    self.set(frameName(node), (self.get(frameName(node)) ?? 0) + us);
    const seen = new Set<string>();
    for (let cursor: number | undefined = id; cursor !== undefined; cursor = parent.get(cursor)) {
      const frame = byId.get(cursor);
      if (!frame || !/\/(packages|apps)\//.test(frame.callFrame.url) || frame.callFrame.url.includes('node_modules')) continue;
      const name = frameName(frame);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + us);
    }
  }
  const seconds = (toUs - fromUs) / 1e6;
  const rows = (m: Map<string, number>): string[][] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => [fmt(us / 1000 / seconds, 2), name]);
  return { self: rows(self), total: rows(total), busyMsPerS: busyUs / 1000 / seconds };
}

/** Writes most of `keys` keys of 2 KiB through the cluster's Redis door (redis-benchmark picks keys at random). */
async function writeKeys(cluster: DkvCluster, keys: number): Promise<void> {
  // The door answers once the nodes have heard from each other; a write right at start may find no quorum.
  await sleep(5000);
  log(`writing ${keys} keys of ${SESSION_VALUE_BYTES} bytes`);
  const { rows, output } = runRedisBenchmark({
    port: Number(new URL(cluster.redisUrl).port),
    cpus: null,
    tests: 'set',
    valueBytes: SESSION_VALUE_BYTES,
    connections: 16,
    requests: keys * 3,
    keys,
    pipeline: 4,
    timeoutMs: 600_000,
  });
  if (rows.length === 0) throw new Error(`redis-benchmark wrote nothing: ${output}`);
}

/** The cluster's processes to measure, labelled. */
function processesOf(cluster: DkvCluster, prefix: string): Measured[] {
  return [
    ...cluster.children.map((c) => ({ label: `${prefix}${c.role} ${c.id}`, pid: c.pid })),
    { label: `${prefix}cluster up (parent)`, pid: cluster.cli.pid },
  ];
}

async function main(): Promise<void> {
  const flags = parseFlags(
    process.argv.slice(2),
    { nodes: 'number', topology: 'string', seconds: 'number', settle: 'number', keys: 'number', profile: 'boolean', baseline: 'string' },
    USAGE,
  );
  const nodes = (flags['nodes'] as number | undefined) ?? 3;
  const topology = (flags['topology'] as string | undefined) ?? 'coordinator';
  const seconds = (flags['seconds'] as number | undefined) ?? 30;
  const settle = (flags['settle'] as number | undefined) ?? 10;
  const keys = (flags['keys'] as number | undefined) ?? 0;
  if (!(Number.isInteger(keys) && keys >= 0 && keys <= 1_000_000)) throw new Error(`--keys takes an integer in [0, 1000000]; got ${keys}`);
  if (topology !== 'coordinator' && topology !== 'nodes') throw new Error(`--topology takes coordinator or nodes; got ${topology}`);
  if (!(seconds > 0 && seconds <= 600)) throw new Error(`--seconds takes a number of seconds in (0, 600]; got ${seconds}`);
  const profileDir = flags['profile'] === true ? join(ROOT, 'benchmarks/results/profiles', `idle-${stamp()}`) : null;
  if (profileDir !== null) mkdirSync(profileDir, { recursive: true });
  const baseline = (flags['baseline'] as string | undefined) ?? null;
  const registry = new ProcessRegistry();
  const deadline = registry.stopOnSignalsOrDeadline(10 + Math.ceil((seconds + settle) / 60), log);
  try {
    const start = async (root: string, profile: string | null): Promise<DkvCluster> => {
      log(`starting cluster up --nodes ${nodes} --topology ${topology} from ${root}`);
      const cluster = await startDkvCluster(registry, {
        root,
        cpus: null,
        nodes,
        topology,
        profileDir: profile,
        extraArgs: ['--resp-port', '0'],
        env: { DKV_LOG_LEVEL: 'warn' },
      });
      if (keys > 0) await writeKeys(cluster, keys);
      return cluster;
    };
    const cluster = await start(ROOT, profileDir);
    const other = baseline === null ? null : await start(resolve(baseline), null);
    log(`ready; settling ${settle} s, then measuring ${seconds} s`);
    await sleep(settle * 1000);
    const load = loadavg();
    const processes: Measured[] = [
      ...processesOf(cluster, baseline === null ? '' : 'this tree: '),
      ...(other === null ? [] : processesOf(other, 'baseline: ')),
    ];
    const fromUs = monotonicUs();
    const cost = await measure(processes, seconds);
    const toUs = monotonicUs();
    const rows = processes.map((p) => [p.label, String(p.pid), fmt(cost.get(p) ?? Number.NaN, 1)]);
    const sum = (prefix: string): number => processes.filter((p) => p.label.startsWith(prefix)).reduce((a, p) => a + (cost.get(p) ?? 0), 0);
    const totals =
      baseline === null
        ? [['all', '', fmt(sum(''), 1)]]
        : [
            ['this tree: all', '', fmt(sum('this tree'), 1)],
            ['baseline: all', '', fmt(sum('baseline'), 1)],
          ];
    process.stdout.write(
      `${[
        `# Idle CPU of dkv cluster up --nodes ${nodes} --topology ${topology}, ${keys} keys written (${new Date().toISOString()})`,
        '',
        `CPU from /proc/<pid>/stat over ${seconds} s, no requests, after ${settle} s settling; load average ${load.map((l) => l.toFixed(2)).join(' ')}.${baseline === null ? '' : ` Baseline: the same cluster from ${resolve(baseline)}, measured in the same window.`} Command: \`npx tsx benchmarks/idle/bench.ts ${process.argv.slice(2).join(' ')}\`.`,
        '',
        table(['process', 'pid', 'CPU ms/s'], [...rows, ...totals]),
        '',
      ].join('\n')}\n`,
    );
    if (other !== null) await registry.stop(other.cli);
    await registry.stop(cluster.cli);
    if (profileDir !== null) {
      await waitUntil(
        'the profiles',
        () => (readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).length >= cluster.children.length ? true : undefined),
        { deadlineMs: 20_000 },
      ).catch(() => log('not every profile was written'));
      for (const file of readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'))) {
        const pid = Number(file.split('.')[1]);
        const child = cluster.children.find((c) => c.pid === pid);
        const window = profileWindow(join(profileDir, file), fromUs, toUs, 25);
        process.stdout.write(
          [
            `## ${child ? `${child.role} ${child.id}` : file}: ${fmt(window.busyMsPerS, 1)} ms/s sampled in the window (PROFILED, not to be quoted)`,
            '',
            table(['self ms/s', 'function'], window.self),
            '',
            table(['total ms/s', 'dkv function (and what it called)'], window.total),
            '',
            '',
          ].join('\n'),
        );
      }
    }
  } finally {
    clearTimeout(deadline);
    await registry.stopAll();
  }
}

main().catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
