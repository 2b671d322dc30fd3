/**
 * `npm run bench:resp`: redis-benchmark against a real redis-server and against dkv's Redis door
 * in one run on this machine, GET and SET of 2 KB values, one request at a time per connection and
 * pipelined (-P 16), reported per core of server CPU as the HTTP benchmark reports (requests per
 * second divided by the cores the server processes were busy, from the kernel's counters), and
 * as a ratio to Redis. Targets: dkv with 3 storage nodes and a coordinator (N=3 W=2 R=2, what
 * `npm start` runs) and one node (N=1). redis-server and redis-benchmark come from Debian's
 * packages (tools/ensure-debian-tools.sh). Every process started is stopped by pid.
 *
 * Usage: npx tsx benchmarks/resp/bench.ts [--quick] [--requests n] [--connections c] [--keys k]
 *   [--targets redis,n3,n3nodes,n1,node] [--pipelines 1,16] [--tests set,get] [--profile] [--no-pin]
 * The servers (redis-server, every dkv process) run pinned to CPU 0 and redis-benchmark to the
 * other CPUs (taskset; `--no-pin` turns it off), as the HTTP benchmark does: a server then works
 * at saturation on its core, as it would at load, and batches what arrives together.
 * Targets: `redis`; `n3`, 3 storage nodes and a coordinator (N=3 W=2 R=2, what `npm start`
 * runs); `n3nodes`, 3 storage nodes that each coordinate (N=3 W=2 R=2, the deployment's topology,
 * `deploy/`: `dkv node --coordinate`; redis-benchmark talks to the first node, which with 3 nodes
 * holds a replica of every key and reads and writes it in-process); `n1`, one storage node and a
 * coordinator; `node`, one coordinating node alone (N=1, the one-node deployment: its reads and
 * writes go to its own replica in-process).
 * `--targets`, `--pipelines` and `--tests` run a subset (to iterate on one figure; a subset run
 * writes only its stamped result, never resp-latest; so does a run with DKV_* variables, which reach
 * every dkv process). `--profile` runs dkv's processes under V8's
 * CPU profiler (benchmarks/lib/cpu-profiler-preload.mjs) and prints where their CPU went, self time
 * per function; a profiled run's figures are not to be quoted (resp-profile-<stamp>.*).
 * `--security` runs each dkv target twice more, beside its plain run: with authentication (an auth
 * file, every connection sending `AUTH <user> <password>` first) and with TLS (`cluster up --tls`:
 * its throwaway development CA, `rediss://` on the door and mutual TLS between the processes;
 * redis-benchmark `--tls --cacert`), and reports each as a ratio of the plain run per core of server
 * CPU (issue 13: the cost of each).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, parseFlags, stamp, table, listFlag } from '../lib/args.js';
import { summarizeProfiles, type ProfileSummary } from '../lib/cpuprofile.js';
import { startCostMeter, type PidGroup } from '../lib/measure.js';
import { waitUntil } from '@dkv/testkit';
import { cpuPin, ProcessRegistry, type CpuPin, type Started } from '../lib/processes.js';
import { dkvEnvironment, runRedisBenchmark, startDkvCluster, startRedisServer } from '../lib/servers.js';
import { SESSION_VALUE_BYTES } from '@dkv/testkit';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RESULTS = join(ROOT, 'benchmarks/results');
const USAGE =
  'usage: npx tsx benchmarks/resp/bench.ts [--quick] [--requests n] [--connections c] [--keys k] [--targets redis,n3,n3nodes,n1,node] [--pipelines 1,16] [--tests set,get] [--profile] [--no-pin] [--security]';

/** How a dkv target is run: as is, with an auth file (AUTH per connection), or with TLS (`cluster up --tls`). */
type Security = 'plain' | 'auth' | 'tls';
/** The user the benchmark authenticates as with `--security` (a throwaway auth file of its own). */
const BENCH_USER = { name: 'bench', password: 'bench-password-5d1c8a', role: 'readwrite' };
/** What the load generator needs to reach a target run with `security`. */
interface Access {
  readonly user?: { readonly name: string; readonly password: string };
  readonly tlsCaPath?: string;
}

interface Row {
  readonly target: string;
  /** `plain`, or the security a dkv target ran with (`--security`). */
  readonly security: Security;
  readonly test: string;
  readonly pipeline: number;
  readonly requestsPerSecond: number;
  readonly serverCores: number;
  readonly perCore: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** CPU microseconds per request of each group of server processes (dkv: the coordinator, the nodes). */
  readonly cpuUsPerRequest: Record<string, number>;
}

/** CPUs the servers and the load generator run on (null: not pinned), as the HTTP benchmark pins them. */
let pin: CpuPin | null = null;

function log(line: string): void {
  process.stderr.write(`bench:resp: ${line}\n`);
}

/** Runs redis-benchmark for one test against `port`, measuring the CPU of `groups`. */
function runBenchmark(
  target: string,
  port: number,
  groups: readonly PidGroup[],
  test: 'set' | 'get',
  pipeline: number,
  settings: { requests: number; connections: number; keys: number },
  security: Security = 'plain',
  access: Access = {},
): Row {
  const stop = startCostMeter(groups);
  const { rows, output } = runRedisBenchmark({
    port,
    cpus: pin?.loadGenerator ?? null,
    tests: test,
    valueBytes: SESSION_VALUE_BYTES,
    ...settings,
    pipeline,
    timeoutMs: 600_000,
    ...access,
  });
  const cost = stop();
  const row = rows[0];
  const requestsPerSecond = row?.requestsPerSecond ?? Number.NaN;
  const cpuUsPerRequest = Object.fromEntries(
    Object.entries(cost.serverCores).map(([group, cores]) => [group, (cores * cost.wallSeconds * 1e6) / settings.requests]),
  );
  if (!Number.isFinite(requestsPerSecond)) throw new Error(`redis-benchmark gave no figures for ${target} ${test}: ${output}`);
  return {
    target,
    security,
    test: test.toUpperCase(),
    pipeline,
    requestsPerSecond,
    serverCores: cost.serverCoresTotal,
    perCore: requestsPerSecond / Math.max(cost.serverCoresTotal, 0.01),
    p50Ms: row?.p50Ms ?? null,
    p99Ms: row?.p99Ms ?? null,
    cpuUsPerRequest,
  };
}

async function startRedis(registry: ProcessRegistry): Promise<{ port: number; groups: PidGroup[]; procs: Started[] }> {
  const { port, proc } = await startRedisServer(registry, ROOT, pin?.servers ?? null);
  return { port, groups: [{ name: 'redis-server', pids: [proc.pid] }], procs: [proc] };
}

async function startDkv(
  registry: ProcessRegistry,
  nodes: number,
  profileDir: string | null,
  topology: 'coordinator' | 'nodes' = 'coordinator',
  security: { readonly kind: Security; readonly authFile: string } = { kind: 'plain', authFile: '' },
): Promise<{ port: number; groups: PidGroup[]; procs: Started[]; roles: PidGroup[]; access: Access }> {
  const securityArgs = security.kind === 'auth' ? ['--auth-file', security.authFile] : security.kind === 'tls' ? ['--tls'] : [];
  const cluster = await startDkvCluster(registry, {
    root: ROOT,
    cpus: pin?.servers ?? null,
    nodes,
    topology,
    profileDir,
    extraArgs: ['--resp-port', '0', ...securityArgs],
    env: { DKV_LOG_LEVEL: 'warn' },
  });
  const roles = (['coordinator', 'nodes'] as const).map((name) => ({
    name,
    pids: cluster.children.filter((c) => (c.role === 'node' ? 'nodes' : 'coordinator') === name).map((c) => c.pid),
  }));
  if (security.kind === 'tls' && cluster.caPath === null) throw new Error('dkv cluster up --tls printed no "dkv tls ca at" line');
  const access: Access =
    security.kind === 'auth'
      ? { user: BENCH_USER }
      : security.kind === 'tls' && cluster.caPath !== null
        ? { tlsCaPath: cluster.caPath }
        : {};
  return {
    port: Number(new URL(cluster.redisUrl).port),
    groups: roles.filter((r) => r.pids.length > 0),
    procs: [cluster.cli],
    roles,
    access,
  };
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
      profile: 'boolean',
      'no-pin': 'boolean',
      security: 'boolean',
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
  const allTargets = ['redis', 'n3', 'n3nodes', 'n1', 'node'];
  const chosenTargets = list('targets', allTargets);
  const pipelines = list('pipelines', ['1', '16']).map(Number);
  const tests = list('tests', ['set', 'get']) as Array<'set' | 'get'>;
  // A --security run, and an A/B of DKV_* settings, writes only its stamped result: resp-latest keeps
  // the plain rows of the default configuration that others compare with.
  const dkvEnv = dkvEnvironment();
  const stampedOnly =
    chosenTargets.length < allTargets.length || pipelines.length < 2 || tests.length < 2 || flags['security'] === true || dkvEnv.length > 0;
  const profile = flags['profile'] === true;
  const securities: Security[] = flags['security'] === true ? ['plain', 'auth', 'tls'] : ['plain'];
  const authDir = mkdtempSync(join(tmpdir(), 'dkv-bench-auth-'));
  const authFile = join(authDir, 'auth.json');
  writeFileSync(authFile, JSON.stringify({ users: [BENCH_USER], clusterSecret: 'bench-cluster-secret-0b1e6f2a9c' }), { mode: 0o600 });
  const ensure = spawnSync(join(ROOT, 'tools/ensure-debian-tools.sh'), ['redis-server', 'redis-benchmark:redis-tools'], {
    stdio: 'inherit',
  });
  if (ensure.status !== 0) throw new Error('redis-server and redis-benchmark are needed (see tools/ensure-debian-tools.sh)');
  const runStamp = stamp();
  const profileRoot = profile ? join(RESULTS, 'profiles', `resp-${runStamp}`) : null;
  const registry = new ProcessRegistry();
  const deadline = registry.stopOnSignalsOrDeadline(30, log);
  const rows: Row[] = [];
  const profiles: ProfileSummary[] = [];
  type Start = (
    dir: string | null,
    security: Security,
  ) => Promise<{ port: number; groups: PidGroup[]; procs: Started[]; roles?: PidGroup[]; access?: Access }>;
  const dkv =
    (nodes: number, topology: 'coordinator' | 'nodes'): Start =>
    (dir, kind) =>
      startDkv(registry, nodes, dir, topology, { kind, authFile });
  const targets: Array<[string, string, Start]> = [
    ['redis', 'redis', () => startRedis(registry)],
    ['n3', 'dkv N=3 W=2 R=2', dkv(3, 'coordinator')],
    ['n3nodes', 'dkv N=3 W=2 R=2 every node coordinates', dkv(3, 'nodes')],
    ['n1', 'dkv N=1', dkv(1, 'coordinator')],
    ['node', 'dkv one node N=1', dkv(1, 'nodes')],
  ];
  const runs = targets.flatMap(([id, target, start]) =>
    (id === 'redis' ? (['plain'] as Security[]) : securities).map((security) => ({ id, target, start, security })),
  );
  try {
    for (const { id, target, start, security } of runs) {
      if (!chosenTargets.includes(id)) continue;
      log(`starting ${target}${security === 'plain' ? '' : ` with ${security}`}`);
      const dir = profileRoot === null ? null : join(profileRoot, security === 'plain' ? id : `${id}-${security}`);
      if (dir !== null) mkdirSync(dir, { recursive: true });
      const { port, groups, procs, roles, access } = await start(dir, security);
      if (securities.length > 1) {
        // Variants are compared with each other: each cluster is warmed up alike first (JIT, connections), not recorded.
        for (const test of tests)
          runBenchmark(target, port, groups, test, 1, { ...settings, requests: settings.requests / 2 }, security, access);
      }
      for (const pipeline of pipelines) {
        for (const test of tests) {
          const row = runBenchmark(target, port, groups, test, pipeline, settings, security, access);
          log(
            `${target}${security === 'plain' ? '' : ` +${security}`} ${row.test} -P ${pipeline}: ${fmt(row.requestsPerSecond)} req/s on ${fmt(row.serverCores, 2)} cores = ${fmt(row.perCore)} per core (CPU µs per request: ${Object.entries(
              row.cpuUsPerRequest,
            )
              .map(([g, us]) => `${g} ${us.toFixed(1)}`)
              .join(', ')}), p99 ${row.p99Ms ?? '?'} ms`,
          );
          rows.push(row);
        }
      }
      for (const proc of procs) await registry.stop(proc);
      if (dir !== null && roles !== undefined) {
        // The children write their profiles as they exit, after their parent has gone.
        await waitUntil(
          'the profiles',
          () =>
            readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).length >= roles.reduce((n, r) => n + r.pids.length, 0)
              ? true
              : undefined,
          { deadlineMs: 20_000 },
        ).catch(() => log('not every profile was written'));
        for (const summary of summarizeProfiles(dir, roles)) profiles.push({ ...summary, label: `${target}: ${summary.label}` });
      }
    }
  } finally {
    clearTimeout(deadline);
    await registry.stopAll();
    rmSync(authDir, { recursive: true, force: true });
  }
  const redisPerCore = (test: string, pipeline: number): number | undefined =>
    rows.find((r) => r.target === 'redis' && r.test === test && r.pipeline === pipeline)?.perCore;
  const plainRow = (r: Row): Row | undefined =>
    rows.find((p) => p.target === r.target && p.security === 'plain' && p.test === r.test && p.pipeline === r.pipeline);
  const costs = (r: Row): string =>
    Object.entries(r.cpuUsPerRequest)
      .map(([g, us]) => `${g} ${us.toFixed(1)}`)
      .join(', ');
  const secured = rows.filter((r) => r.security !== 'plain');
  const md = [
    `# Redis protocol: redis-benchmark against redis-server and dkv (${new Date().toISOString()})`,
    '',
    `\`redis-benchmark -q --csv -t <test> -d ${SESSION_VALUE_BYTES} -c ${settings.connections} -n ${settings.requests} -r ${settings.keys} -P <1|16>\` on 127.0.0.1, one target at a time; server CPU from /proc (every dkv process of the cluster counted); ${pin ? `servers pinned to CPU ${pin.servers}, redis-benchmark to CPU ${pin.loadGenerator}` : 'not pinned'}. Command: \`${[...dkvEnv, 'npx tsx benchmarks/resp/bench.ts', ...process.argv.slice(2)].join(' ')}\`.`,
    '',
    table(
      ['target', 'test', 'pipeline', 'req/s', 'server cores', 'req/s per core', 'x Redis per core', 'p50 ms', 'p99 ms'],
      rows.map((r) => {
        const base = redisPerCore(r.test, r.pipeline);
        return [
          r.security === 'plain' ? r.target : `${r.target} +${r.security}`,
          r.test,
          `-P ${r.pipeline}`,
          fmt(r.requestsPerSecond),
          fmt(r.serverCores, 2),
          fmt(r.perCore),
          base === undefined ? '' : fmt(r.perCore / base, 2),
          r.p50Ms === null ? '' : fmt(r.p50Ms, 3),
          r.p99Ms === null ? '' : fmt(r.p99Ms, 3),
        ];
      }),
    ),
    '',
    ...(secured.length === 0
      ? []
      : [
          '## Cost of authentication and TLS (`--security`): each as a ratio of the plain run of the same target',
          '',
          'auth: an auth file, every connection sends `AUTH` first (redis-benchmark `--user -a`). tls: `cluster up --tls` (`rediss://` on the door, mutual TLS between the processes; redis-benchmark `--tls --cacert`).',
          '',
          table(
            [
              'target',
              'security',
              'test',
              'pipeline',
              'req/s per core',
              'x plain per core',
              'CPU µs per request',
              'plain CPU µs per request',
            ],
            secured.map((r) => {
              const plain = plainRow(r);
              return [
                r.target,
                r.security,
                r.test,
                `-P ${r.pipeline}`,
                fmt(r.perCore),
                plain === undefined ? '' : fmt(r.perCore / plain.perCore, 2),
                costs(r),
                plain === undefined ? '' : costs(plain),
              ];
            }),
          ),
          '',
        ]),
    ...(profile ? ['PROFILED RUN (V8 CPU profiler in every dkv process): do not quote these figures.', ''] : []),
    ...profiles.flatMap((p) => [
      `## ${p.label}: ${fmt(p.totalMs)} ms of CPU sampled (self time)`,
      '',
      table(
        ['share', 'category'],
        p.byCategory.map((r) => [`${(r.share * 100).toFixed(1)}%`, r.name]),
      ),
      '',
      table(
        ['share', 'function'],
        p.topFunctions.map((r) => [`${(r.share * 100).toFixed(1)}%`, r.name]),
      ),
      '',
    ]),
  ].join('\n');
  mkdirSync(RESULTS, { recursive: true });
  const name = `${profile ? 'resp-profile' : 'resp'}-${runStamp}`;
  const json = `${JSON.stringify({ settings, dkvEnvironment: dkvEnv, targets: chosenTargets, pipelines, tests, rows, profiles: profile ? profiles : undefined }, null, 2)}\n`;
  writeFileSync(join(RESULTS, `${name}.json`), json);
  writeFileSync(join(RESULTS, `${name}.md`), md);
  if (!profile && !stampedOnly) {
    writeFileSync(join(RESULTS, 'resp-latest.json'), json);
    writeFileSync(join(RESULTS, 'resp-latest.md'), md);
  }
  process.stdout.write(`${md}\n`);
}

main().catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
