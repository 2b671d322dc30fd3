/**
 * The servers the benchmarks measure, started the same way by each: a dkv cluster through
 * `dkv cluster up` (its children adopted by pid, optionally under V8's CPU profiler), a
 * redis-server on a free port, and redis-benchmark against a port with its CSV read back. All
 * of them pinned as the caller says and registered in its {@link ProcessRegistry}.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort, waitUntil } from '@dkv/testkit';
import { pinnedCommand, type ProcessRegistry, type Started } from './processes.js';

/** A process `dkv cluster up` announced (`dkv: <role> <id> pid <pid> at <address>`). */
export interface ClusterChild {
  readonly role: 'node' | 'coordinator';
  readonly id: string;
  readonly pid: number;
  readonly address: string;
}

/** A running dkv cluster: the CLI process, its children, and the URLs it printed. */
export interface DkvCluster {
  readonly cli: Started;
  readonly children: readonly ClusterChild[];
  /** The public API's URL from the ready line. */
  readonly url: string;
  /** The Redis door's URL (`dkv redis at`), or '' when the cluster opened none. */
  readonly redisUrl: string;
  /** With `--tls`: the development CA `cluster up` made (`dkv tls ca at`); null otherwise. */
  readonly caPath: string | null;
}

/** How long `dkv cluster up` may take to print its ready line. */
const CLUSTER_READY_MS = 60_000;

/**
 * The `DKV_*` settings of this process's environment (the benchmarks' own profiling variable aside),
 * which {@link startDkvCluster} passes to every dkv process. A run with any of them is an A/B of a
 * setting, not the default configuration, so it never replaces a `-latest` result.
 */
export function dkvEnvironment(): string[] {
  return Object.entries(process.env)
    .filter(([name, value]) => name.startsWith('DKV_') && name !== 'DKV_CPU_PROFILE_DIR' && value !== undefined)
    .map(([name, value]) => `${name}=${String(value)}`)
    .sort();
}

/**
 * Starts `dkv cluster up --nodes <nodes> --topology <topology> --port 0 <extraArgs>` from `root`,
 * pinned to `cpus`, adopting each child it announces, and waits for its ready line. With
 * `profileDir`, every dkv process runs under V8's CPU profiler and writes its profile there
 * (`--cpu-prof` is not allowed in NODE_OPTIONS: a preload starts the same profiler instead).
 * `env` adds to this process's environment; `onLine` sees every line the CLI prints (for the
 * caller's error context).
 */
export async function startDkvCluster(
  registry: ProcessRegistry,
  options: {
    readonly root: string;
    readonly cpus: string | null;
    readonly nodes: number;
    readonly topology: string;
    readonly profileDir: string | null;
    readonly extraArgs?: readonly string[];
    readonly env?: Readonly<Record<string, string>>;
    readonly onLine?: (line: string) => void;
  },
): Promise<DkvCluster> {
  const { root, profileDir } = options;
  const cliArgs = [
    join(root, 'apps/cli/bin/dkv.js'),
    'cluster',
    'up',
    '--nodes',
    String(options.nodes),
    '--topology',
    options.topology,
    '--port',
    '0',
    ...(options.extraArgs ?? []),
  ];
  const [command, args] = pinnedCommand(options.cpus, process.execPath, cliArgs);
  const profiler = join(root, 'benchmarks/lib/cpu-profiler-preload.mjs');
  const env = {
    ...process.env,
    ...options.env,
    ...(profileDir === null
      ? {}
      : { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${profiler}`.trim(), DKV_CPU_PROFILE_DIR: profileDir }),
  };
  const children: ClusterChild[] = [];
  let redisUrl = '';
  let caPath: string | null = null;
  let cli: Started | undefined;
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`dkv cluster up did not print its ready line within ${CLUSTER_READY_MS / 1000} s`)),
      CLUSTER_READY_MS,
    );
    cli = registry.start('dkv cluster up', command, args, { cwd: root, detached: true, env }, (stream, line) => {
      options.onLine?.(line);
      const child = /^dkv: (node|coordinator) (\S+) pid (\d+) at (\S+)/.exec(line);
      if (child?.[1] && child[2] && child[3] && child[4]) {
        children.push({ role: child[1] as ClusterChild['role'], id: child[2], pid: Number(child[3]), address: child[4] });
        registry.adopt(Number(child[3]), `dkv ${child[1]} ${child[2]}`);
      }
      const redis = /^dkv redis at (\S+)/.exec(line);
      if (redis?.[1]) redisUrl = redis[1];
      const ca = /^dkv tls ca at (\S+)/.exec(line);
      if (ca?.[1]) caPath = ca[1];
      const ready = /^dkv ready at (https?:\/\/\S+)$/.exec(line);
      if (stream === 'out' && ready?.[1]) {
        clearTimeout(timer);
        resolveUrl(ready[1]);
      }
    });
    void cli.exited.then(() => reject(new Error('dkv cluster up exited during start-up')));
  });
  return { cli: cli!, children, url, redisUrl, caPath };
}

/** Starts a redis-server (no persistence) on a free port of 127.0.0.1, pinned to `cpus`, and waits until it answers PING. */
export async function startRedisServer(
  registry: ProcessRegistry,
  root: string,
  cpus: string | null,
  onLine: (line: string) => void = () => undefined,
): Promise<{ port: number; proc: Started }> {
  const port = await freePort();
  const [command, args] = pinnedCommand(cpus, 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  const proc = registry.start('redis-server', command, args, { cwd: root, detached: true }, (_stream, line) => onLine(line));
  await waitUntil(
    'redis-server to answer PING',
    () => (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.includes('PONG') ? true : undefined),
    { deadlineMs: 10_000 },
  );
  return { port, proc };
}

/** One test's line of redis-benchmark's CSV. */
export interface RedisBenchmarkRow {
  readonly test: string;
  readonly requestsPerSecond: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

/**
 * Runs `redis-benchmark -q --csv` against 127.0.0.1:`port` (pinned to `cpus`) for `tests`
 * (`set,get`), values of `valueBytes`, and answers its rows; stdout and stderr come along for
 * an error message when no row came back.
 */
export function runRedisBenchmark(options: {
  readonly port: number;
  readonly cpus: string | null;
  readonly tests: string;
  readonly valueBytes: number;
  readonly connections: number;
  readonly requests: number;
  readonly keys: number;
  readonly pipeline: number;
  readonly timeoutMs: number;
  /** A user of the server's auth file: every connection sends `AUTH <name> <password>` first. */
  readonly user?: { readonly name: string; readonly password: string };
  /** TLS (`rediss://`), trusting this CA file. */
  readonly tlsCaPath?: string;
}): { rows: RedisBenchmarkRow[]; output: string } {
  const [command, args] = pinnedCommand(options.cpus, 'redis-benchmark', [
    '-h',
    '127.0.0.1',
    '-p',
    String(options.port),
    '-q',
    '--csv',
    '-t',
    options.tests,
    '-d',
    String(options.valueBytes),
    '-c',
    String(options.connections),
    '-n',
    String(options.requests),
    '-r',
    String(options.keys),
    '-P',
    String(options.pipeline),
    ...(options.user === undefined ? [] : ['--user', options.user.name, '-a', options.user.password]),
    ...(options.tlsCaPath === undefined ? [] : ['--tls', '--cacert', options.tlsCaPath]),
  ]);
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: options.timeoutMs });
  const lines = (result.stdout ?? '').split('\n').filter((l) => l.startsWith('"'));
  const header = lines[0]?.startsWith('"test"')
    ? lines
        .shift()
        ?.split(',')
        .map((c) => c.replace(/"/g, ''))
    : undefined;
  const rows = lines.map((line) => {
    const cells = line.split(',').map((c) => c.replace(/"/g, ''));
    const col = (name: string): number | null => {
      const i = header?.indexOf(name) ?? -1;
      return i >= 0 && cells[i] !== undefined ? Number(cells[i]) : null;
    };
    return { test: cells[0] ?? '?', requestsPerSecond: Number(cells[1]), p50Ms: col('p50_latency_ms'), p99Ms: col('p99_latency_ms') };
  });
  return { rows, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}
