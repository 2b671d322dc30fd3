/**
 * The HTTP benchmark of dkv's public API against a bare-Fastify baseline, in one run.
 *
 *   npx nx run-many -t build --outputStyle=static && npx tsx benchmarks/http/bench.ts [--quick]
 *
 * It starts the baseline (benchmarks/http/baseline-server.ts: the same routes over a Map) and a
 * dkv cluster through the CLI (`dkv cluster up --nodes 3 --port 0`: 3 storage nodes and a
 * coordinator, N=3 W=2 R=2), and with `--topology nodes|both` a cluster of coordinating nodes
 * (`--topology nodes`: no coordinator, every node serves the public API; the load is spread over
 * all of them), preloads the same sessions into each, then for each scenario
 * (GET, PUT, session mix) and each target runs: a closed loop for peak throughput, autocannon's
 * `overallRate` at half that peak, and a true open loop at half that peak (latency from each
 * request's due time, free of coordinated omission). With `redis-server` and `redis-benchmark`
 * on PATH it adds a redis-benchmark reference row. Results go to
 * benchmarks/results/http-<stamp>[-topology-<t>].{json,md}; a full run that includes the
 * coordinator topology also to http-latest.{json,md} (quick and profiled runs, and runs with DKV_* settings, never). See
 * benchmarks/README.md.
 *
 * On a machine with 2 or more cores the servers are pinned to CPU 0 and this process (the load
 * generator) to CPU 1 (`--no-pin` to turn that off), so every throughput is a one-core figure and
 * CPU taken by the load generator or by anything else running is measured, not guessed.
 *
 * `--floor` adds the HTTP floor (benchmarks/http/floor-server.ts in front of the RESP floor's
 * peers, none of dkv's code): `floor-nodes3`, a coordinating node holding a replica and 2 peers,
 * and `floor-coord3`, a coordinator without storage and 3 peers, each preloaded and run like the
 * others, and a section setting dkv's per-core figures against them: what the architecture can do
 * at best in Node.js on the same HTTP stack, on this machine, in this run.
 *
 * `--security` adds, after the plain runs, the coordinator topology twice more, one cluster at a
 * time: with authentication (an auth file; every request carries HTTP Basic) and with TLS
 * (`dkv cluster up --tls`: its throwaway development CA, https on the public API and mutual TLS
 * between the processes; autocannon trusting that CA). Each gets the closed loop of every scenario,
 * reported as a ratio of the plain cluster's per core of server CPU (issue 13: the cost of each).
 */
import { writeFileSync, mkdirSync, mkdtempSync, copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localQuorums } from '@dkv/cli';
import { fmt, parseFlags, stamp, table } from '../lib/args.js';
import { machineInfo, startCostMeter, type MachineInfo, type PidGroup, type RunCost } from '../lib/measure.js';
import { cpuPin, onPath, pinnedCommand, pinSelf, reniceSelf, ProcessRegistry, type CpuPin, type Started } from '../lib/processes.js';
import { dkvEnvironment, runRedisBenchmark, startDkvCluster, startRedisServer, type RedisBenchmarkRow } from '../lib/servers.js';
import { startFloor } from '../resp/floor/start.js';
import { SESSION_VALUE_BYTES, sessionValuePool } from '@dkv/testkit';
import { summarizeProfiles, type ProfileSummary } from '../lib/cpuprofile.js';
import {
  autocannonAtRate,
  closedLoop,
  openLoop,
  preload,
  type LoadResult,
  type Scenario,
  type TargetAccess,
  type Workload,
} from './load.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RESULTS_DIR = join(ROOT, 'benchmarks/results');
const BUILT_APPS = ['apps/cli/dist/main.js', 'apps/node/dist/main.js', 'apps/coordinator/dist/main.js'];

const USAGE = `usage: npx tsx benchmarks/http/bench.ts [--quick] [--duration s] [--open-duration s] [--warmup s] [--rounds n] [--connections c]
       [--keys n] [--nodes n] [--topology coordinator|nodes|both] [--floor] [--no-pin] [--no-nice] [--profile] [--max-minutes m]
  --quick          smoke run (~40 s): 2 s per run, 10k sessions; never written as http-latest
  --duration       seconds of each closed-loop run (default 10, quick 2)
  --open-duration  seconds of each rate-limited run (default 8, quick 2)
  --warmup         seconds of session mix each target runs after its preload, not recorded (default 3, quick 1)
  --rounds         closed-loop rounds of each scenario per target (default 3, quick 1), interleaved: round 1 of every
                   target, then round 2 of every target...; the round of median req/core-s is the figure of record
  --connections    connections of every load generator (default 32)
  --keys           distinct sessions preloaded and drawn from (default 100000, quick 10000)
  --nodes          dkv storage nodes (default 3)
  --topology       coordinator (default): nodes behind one coordinator (target "dkv");
                   nodes: every node coordinates, no coordinator, load spread over all nodes (target "dkv-nodes");
                   both: the two clusters side by side
  --floor          also run the HTTP floor (none of dkv's code): "floor-nodes3", a coordinating node with a replica
                   and 2 peers, and "floor-coord3", a coordinator and 3 peers; reported beside dkv, per core
  --no-pin         do not pin servers to CPU 0 and the load generator to CPU 1
  --no-nice        do not raise the priority of the servers and load generator (nice -10, as root)
  --profile        profile dkv's processes (V8 CPU profiler, as --cpu-prof) and summarize where their CPU went
                   (figures of a profiled run are not quoted: it writes http-profile-<stamp>.*)
  --max-minutes    abort (stopping everything) after this long (default 8, quick 3; with both topologies 13, quick 4;
                   --security adds 6, quick 3; --floor adds 4, quick 2)
  --security       also run the coordinator topology with authentication (HTTP Basic) and with TLS (cluster up --tls),
                   closed loops only, reported as ratios of the plain run per core`;

/** The security variants `--security` runs beside the plain cluster. */
type Security = 'auth' | 'tls';
/** The user the benchmark authenticates as with `--security` (a throwaway auth file of its own). */
const BENCH_USER = { name: 'bench', password: 'bench-password-5d1c8a', role: 'readwrite' };

/** The dkv topologies a run can measure (`dkv cluster up --topology`), and the target name of each. */
type Topology = 'coordinator' | 'nodes';
const TARGET_OF_TOPOLOGY = { coordinator: 'dkv', nodes: 'dkv-nodes' } as const satisfies Record<Topology, string>;
/** The HTTP floor's topologies (`--floor`), and the target name of each. */
const FLOOR_TOPOLOGIES = ['nodes3', 'coord3'] as const;
type FloorTopology = (typeof FLOOR_TOPOLOGIES)[number];
const TARGET_OF_FLOOR = { nodes3: 'floor-nodes3', coord3: 'floor-coord3' } as const satisfies Record<FloorTopology, string>;
/** Each dkv target beside the floor target of the same architecture, for the report's floor section. */
const FLOOR_OF_TARGET = { dkv: 'floor-coord3', 'dkv-nodes': 'floor-nodes3' } as const;
/** Every target, in the order of the report. */
const TARGET_NAMES = ['baseline', 'dkv', 'dkv-nodes', 'floor-nodes3', 'floor-coord3'] as const;
type TargetName = (typeof TARGET_NAMES)[number];

/** The scenarios in the order they run: GET first, while every key still holds its preloaded value. */
const SCENARIOS: readonly Scenario[] = ['get', 'put', 'mix'];
/** The open-loop and `overallRate` runs offer this fraction of the target's closed-loop peak. */
const OPEN_LOOP_FRACTION = 0.5;
/** TTL of the preloaded sessions: longer than any run, so no GET finds an expired key. */
const PRELOAD_TTL_SECONDS = 3600;
/** A load generator above this many cores is probably what limits the throughput. */
const LOAD_GENERATOR_BOUND_CORES = 0.9;
/** The priority the benchmark's processes run at when it runs as root: ahead of builds and tests sharing the machine. */
const BENCH_NICE = -10;
/** CPU used by other processes above this (cores, average over a run) marks the run as disturbed. */
const FOREIGN_CORES_WARNING = 0.25;

interface Settings {
  readonly quick: boolean;
  readonly durationSeconds: number;
  readonly openDurationSeconds: number;
  readonly warmupSeconds: number;
  /** Closed-loop rounds of each scenario per target, interleaved across targets (`--rounds`). */
  readonly rounds: number;
  readonly connections: number;
  readonly keys: number;
  readonly nodes: number;
  /** The dkv clusters to measure, in order. */
  readonly topologies: readonly Topology[];
  readonly valueBytes: number;
  readonly preloadConcurrency: number;
  readonly pin: CpuPin | null;
  /** Scheduling priority of the servers and the load generator (null: unchanged). */
  readonly nice: number | null;
  readonly profile: boolean;
  readonly maxMinutes: number;
  /** Also measure the coordinator topology with authentication and with TLS (`--security`). */
  readonly security: boolean;
  /** Also measure the HTTP floor's targets (`--floor`). */
  readonly floor: boolean;
}

/** A server under test: where it answers and which pids to account CPU to. */
interface Target {
  readonly name: TargetName;
  /** Where clients send requests: one URL, or every coordinating node's (the load is spread over them). */
  readonly urls: readonly string[];
  readonly groups: readonly PidGroup[];
  /** Credentials and CA when the target runs with `--security`'s authentication or TLS. */
  readonly access?: TargetAccess;
}

/** The closed loop of one scenario on a cluster run with authentication or TLS. */
interface SecurityResult {
  readonly scenario: Scenario;
  readonly security: Security;
  readonly closed: Measured;
}

/** One run of a generator with what it cost. */
interface Measured extends LoadResult {
  readonly cost: RunCost;
  /** HTTP requests per second of server CPU: the per-core figure the capacity model uses. */
  readonly requestsPerServerCoreSecond: number;
  /** Loopback bytes per answered request (client traffic, plus internode traffic for dkv). */
  readonly loopbackBytesPerRequest: number | null;
}

interface ScenarioResult {
  readonly scenario: Scenario;
  readonly target: TargetName;
  /** The closed-loop round of median throughput per core: the figure of record, and the rate-limited runs' reference. */
  readonly closed: Measured;
  /** Every closed-loop round, in the order they ran (`--rounds`), interleaved with the other targets' rounds. */
  readonly closedRounds: readonly Measured[];
  readonly autocannonRate: Measured;
  readonly open: Measured;
}

type RedisRow = RedisBenchmarkRow;

const t0 = performance.now();
function log(line: string): void {
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
}

function settingsFrom(argv: readonly string[]): Settings {
  const flags = parseFlags(
    argv,
    {
      quick: 'boolean',
      duration: 'number',
      'open-duration': 'number',
      warmup: 'number',
      rounds: 'number',
      connections: 'number',
      keys: 'number',
      nodes: 'number',
      topology: 'string',
      'no-pin': 'boolean',
      'no-nice': 'boolean',
      profile: 'boolean',
      'max-minutes': 'number',
      security: 'boolean',
      floor: 'boolean',
    },
    USAGE,
  );
  const quick = flags['quick'] === true;
  const num = (name: string, fallback: number): number => (typeof flags[name] === 'number' ? (flags[name] as number) : fallback);
  const topology = flags['topology'] ?? 'coordinator';
  if (topology !== 'coordinator' && topology !== 'nodes' && topology !== 'both')
    throw new Error(`--topology must be coordinator, nodes or both, got ${JSON.stringify(topology)}\n${USAGE}`);
  const rounds = Math.max(1, Math.round(num('rounds', quick ? 1 : 3)));
  return {
    quick,
    durationSeconds: num('duration', quick ? 2 : 10),
    openDurationSeconds: num('open-duration', quick ? 2 : 8),
    warmupSeconds: Math.max(0, num('warmup', quick ? 1 : 3)),
    rounds,
    connections: Math.max(1, Math.round(num('connections', 32))),
    keys: Math.max(1, Math.round(num('keys', quick ? 10_000 : 100_000))),
    nodes: Math.max(1, Math.round(num('nodes', 3))),
    topologies: topology === 'both' ? ['coordinator', 'nodes'] : [topology],
    valueBytes: SESSION_VALUE_BYTES,
    preloadConcurrency: 64,
    pin: cpuPin(flags['no-pin'] !== true),
    nice: flags['no-nice'] !== true && process.getuid?.() === 0 ? BENCH_NICE : null,
    profile: flags['profile'] === true,
    // Each extra dkv cluster adds its preload and its runs of every scenario.
    maxMinutes: num(
      'max-minutes',
      (quick ? 3 : 8) +
        // Each round beyond the first adds a closed loop of every scenario on every target.
        (rounds - 1) * (topology === 'both' ? 2 : 1) * (flags['floor'] === true ? 2 : 1) +
        (topology === 'both' ? (quick ? 1 : 5) : 0) +
        (flags['security'] === true ? (quick ? 3 : 6) : 0) +
        (flags['floor'] === true ? (quick ? 2 : 4) : 0),
    ),
    security: flags['security'] === true,
    floor: flags['floor'] === true,
  };
}

/** The last lines the children printed, shown when something fails. */
const childLog: string[] = [];
function remember(prefix: string, line: string): void {
  childLog.push(`${prefix} ${line}`);
  if (childLog.length > 60) childLog.shift();
}

async function startBaseline(registry: ProcessRegistry, settings: Settings): Promise<Target> {
  const [command, args] = pinnedCommand(settings.pin?.servers ?? null, process.execPath, [
    '--import',
    'tsx',
    join(ROOT, 'benchmarks/http/baseline-server.ts'),
  ]);
  let proc: Started | undefined;
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error('the baseline server did not print its ready line within 20 s')), 20_000);
    proc = registry.start('baseline', command, args, { cwd: ROOT, detached: true }, (stream, line) => {
      remember('[baseline]', line);
      const match = /^baseline ready at (http:\/\/\S+)$/.exec(line);
      if (stream === 'out' && match?.[1]) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    void proc.exited.then(() => reject(new Error('the baseline server exited during start-up')));
  });
  log(`baseline (bare Fastify + Map) pid ${proc?.pid} at ${url}`);
  return { name: 'baseline', urls: [url], groups: [{ name: 'baseline', pids: [proc?.pid ?? 0] }] };
}

/** Starts an HTTP floor target (`--floor`): floor-server.ts in front of the RESP floor's peers, pinned with the other servers. */
async function startHttpFloor(registry: ProcessRegistry, settings: Settings, topology: FloorTopology): Promise<Target> {
  const name = TARGET_OF_FLOOR[topology];
  const floor = await startFloor(registry, topology, settings.pin?.servers ?? null, (line) => remember(`[${name}]`, line), 'http');
  const url = `http://127.0.0.1:${floor.port}`;
  log(`${name} (HTTP floor, none of dkv's code) at ${url}: ${floor.groups.map((g) => `${g.name} pid ${g.pids.join(' ')}`).join(', ')}`);
  return { name, urls: [url], groups: floor.groups };
}

/**
 * Starts a dkv cluster of `topology` through the CLI, pinned with the other servers. With the
 * `nodes` topology every node serves the public API, and the target is all of their URLs: the
 * load generators spread connections and requests evenly over them, as clients (or a load
 * balancer) picking any node would, so each node coordinates a third of the requests; sending
 * everything to one node would make it coordinate alone, a hotspot no deployment would choose.
 */
async function startCluster(
  registry: ProcessRegistry,
  settings: Settings,
  profileDir: string | null,
  topology: Topology,
  extraArgs: readonly string[] = [],
): Promise<Target & { readonly caPath: string | null; readonly cli: Started }> {
  const { cli, children, url, caPath } = await startDkvCluster(registry, {
    root: ROOT,
    cpus: settings.pin?.servers ?? null,
    nodes: settings.nodes,
    topology,
    profileDir,
    // The Redis door on a free port: this benchmark does not use it, and 6380 may be taken (by a Redis, another cluster).
    extraArgs: ['--resp-port', '0', ...extraArgs],
    onLine: (line) => remember('[dkv]', line),
  });
  const pidsOf = (role: string): number[] => children.filter((c) => c.role === role).map((c) => c.pid);
  const name = TARGET_OF_TOPOLOGY[topology];
  const urls = topology === 'nodes' ? children.filter((c) => c.role === 'node').map((c) => `http://${c.address}`) : [url];
  log(
    `${name} (topology ${topology}) cluster pid ${cli.pid}, clients use ${urls.join(' ')}: ${children.map((c) => `${c.role} ${c.id} pid ${c.pid}`).join(', ')}`,
  );
  return {
    name,
    urls,
    caPath,
    cli,
    groups: [
      ...(topology === 'coordinator' ? [{ name: 'coordinator', pids: pidsOf('coordinator') }] : []),
      { name: 'nodes', pids: pidsOf('node') },
      { name: 'cli', pids: [cli.pid] },
    ],
  };
}

function measured(result: LoadResult, cost: RunCost): Measured {
  return {
    ...result,
    cost,
    requestsPerServerCoreSecond: cost.serverCoresTotal > 0 ? result.requestsPerSecond / cost.serverCoresTotal : 0,
    loopbackBytesPerRequest: cost.loopbackBytes === null || result.requests === 0 ? null : cost.loopbackBytes / result.requests,
  };
}

async function measure(
  target: Target,
  label: string,
  run: (onTick: (answered: number, elapsed: number) => void) => Promise<LoadResult>,
): Promise<Measured> {
  const stop = startCostMeter(target.groups);
  let lastLogged = 0;
  const result = await run((answered, elapsed) => {
    if (elapsed - lastLogged >= 4.5) {
      lastLogged = elapsed;
      log(`  ${label}: ${fmt(answered)} answered in ${elapsed.toFixed(0)} s`);
    }
  });
  const m = measured(result, stop());
  const lgBound = m.cost.loadGeneratorCores > LOAD_GENERATOR_BOUND_CORES ? ' LOAD-GENERATOR-BOUND' : '';
  log(
    `  ${label}: ${fmt(m.requestsPerSecond)} req/s, p50 ${m.latency.p50Ms.toFixed(2)} p99 ${m.latency.p99Ms.toFixed(2)} p99.9 ${m.latency.p999Ms.toFixed(2)} ms, ` +
      `non-2xx ${m.non2xx}, errors ${m.errors}, server ${m.cost.serverCoresTotal.toFixed(2)} cores, load gen ${m.cost.loadGeneratorCores.toFixed(2)}, other ${m.cost.foreignCores.toFixed(2)}${lgBound}`,
  );
  return m;
}

/**
 * `--security`: the coordinator topology with authentication, then with TLS, one cluster at a
 * time (preloaded and warmed up as the plain one), the closed loop of every scenario on each.
 */
async function runSecurityVariants(registry: ProcessRegistry, settings: Settings, workload: Workload): Promise<SecurityResult[]> {
  const authDir = mkdtempSync(join(tmpdir(), 'dkv-bench-auth-'));
  const authFile = join(authDir, 'auth.json');
  writeFileSync(authFile, JSON.stringify({ users: [BENCH_USER], clusterSecret: 'bench-cluster-secret-0b1e6f2a9c' }), { mode: 0o600 });
  const results: SecurityResult[] = [];
  try {
    for (const security of ['auth', 'tls'] as const) {
      const cluster = await startCluster(
        registry,
        settings,
        null,
        'coordinator',
        security === 'auth' ? ['--auth-file', authFile] : ['--tls'],
      );
      if (security === 'tls' && cluster.caPath === null) throw new Error('dkv cluster up --tls printed no "dkv tls ca at" line');
      const access: TargetAccess =
        security === 'auth'
          ? { authorization: `Basic ${Buffer.from(`${BENCH_USER.name}:${BENCH_USER.password}`).toString('base64')}` }
          : { ca: readFileSync(cluster.caPath ?? '') };
      const target: Target = { ...cluster, name: 'dkv', access };
      log(`dkv +${security}: preloading ${fmt(settings.keys)} sessions`);
      await preload(target.urls, workload, settings.preloadConcurrency, PRELOAD_TTL_SECONDS, () => undefined, access);
      await warmUp(target, workload, settings);
      for (const scenario of SCENARIOS) {
        const closed = await closedRound(target, scenario, workload, settings, null, `dkv +${security}`);
        results.push({ scenario, security, closed });
      }
      await registry.stop(cluster.cli);
    }
  } finally {
    rmSync(authDir, { recursive: true, force: true });
  }
  return results;
}

/**
 * The `--floor` section of the report: per core of server CPU (closed loop), each floor target
 * against the baseline, and each dkv target against the floor target of its architecture.
 */
function floorSection(results: readonly ScenarioResult[]): string[] {
  const perCore = (scenario: Scenario, target: TargetName): number | undefined =>
    results.find((r) => r.scenario === scenario && r.target === target)?.closed.requestsPerServerCoreSecond;
  const us = (value: number | undefined): string => (value === undefined || value <= 0 ? '-' : (1e6 / value).toFixed(1));
  const rows: string[][] = [];
  for (const scenario of SCENARIOS) {
    const base = perCore(scenario, 'baseline');
    for (const [dkv, floor] of Object.entries(FLOOR_OF_TARGET) as Array<[TargetName, TargetName]>) {
      const floorPerCore = perCore(scenario, floor);
      if (floorPerCore === undefined || base === undefined) continue;
      const dkvPerCore = perCore(scenario, dkv);
      rows.push([
        scenario,
        floor,
        fmt(floorPerCore),
        us(floorPerCore),
        ratio(floorPerCore, base),
        dkv,
        dkvPerCore === undefined ? '-' : fmt(dkvPerCore),
        us(dkvPerCore),
        dkvPerCore === undefined ? '-' : ratio(dkvPerCore, base),
        dkvPerCore === undefined ? '-' : ratio(dkvPerCore, floorPerCore),
      ]);
    }
  }
  if (rows.length === 0) return [];
  return [
    '',
    '## dkv against the HTTP floor (`--floor`), closed loop, per core of server CPU',
    '',
    "The floor (benchmarks/http/floor-server.ts, none of dkv's code): the same Fastify routes as the baseline in front of the RESP floor's peers and fan-out (benchmarks/resp/floor/), a coordinating node holding a replica with 2 peers (floor-nodes3: own copy and a digest from the peers, answer after R=2; write to all, answer after W=2) or a coordinator with 3 peers (floor-coord3: one value read and two digests, answer after 2; write to all, answer after 2), callbacks and a Map of pending ids, no promise per request. All clients talk to the floor's one front, where dkv-nodes spreads them over its 3 nodes; CPU is summed over every process either way. \"CPU µs/req\" = 1,000,000 ÷ req/core-s. The floor is a ceiling for GET only: its replicas keep values as Buffers in Maps, which with many sessions makes its PUT dearer than dkv's storage engine (benchmarks/README.md).",
    '',
    table(
      [
        'scenario',
        'floor',
        'floor req/core-s',
        'floor CPU µs/req',
        'floor x base',
        'dkv target',
        'dkv req/core-s',
        'dkv CPU µs/req',
        'dkv x base',
        'dkv x floor',
      ],
      rows,
    ),
  ];
}

/** The `--security` section of the report: each variant's closed loop as a ratio of the plain cluster's, per core. */
function securitySection(results: readonly ScenarioResult[], security: readonly SecurityResult[]): string[] {
  if (security.length === 0) return [];
  const rows = security.map((r) => {
    const plain = results.find((p) => p.scenario === r.scenario && p.target === 'dkv')?.closed;
    const perCore = r.closed.requestsPerServerCoreSecond;
    const usPerRequest = (m: Measured): string =>
      m.requestsPerServerCoreSecond > 0 ? (1e6 / m.requestsPerServerCoreSecond).toFixed(0) : '-';
    return [
      r.scenario.toUpperCase(),
      r.security,
      fmt(perCore),
      plain === undefined ? '-' : fmt(plain.requestsPerServerCoreSecond),
      plain === undefined ? '-' : ratio(perCore, plain.requestsPerServerCoreSecond),
      usPerRequest(r.closed),
      plain === undefined ? '-' : usPerRequest(plain),
      ms(r.closed.latency.p99Ms),
    ];
  });
  return [
    '',
    '## Cost of authentication and TLS (`--security`), coordinator topology, closed loop',
    '',
    'auth: an auth file, every request carries HTTP Basic. tls: `dkv cluster up --tls` (https on the public API, mutual TLS between the processes), autocannon trusting its CA.',
    '',
    table(
      [
        'scenario',
        'security',
        'req/s per core',
        'plain req/s per core',
        'x plain per core',
        'server CPU µs per request',
        'plain CPU µs per request',
        'p99 ms',
      ],
      rows,
    ),
  ];
}

/** `--warmup` seconds of session mix on `target` (keys drawn with a seed of their own), not recorded. */
async function warmUp(target: Target, workload: Workload, settings: Settings): Promise<void> {
  if (settings.warmupSeconds === 0) return;
  log(`warming up ${target.name} (${settings.warmupSeconds} s of session mix, not recorded)`);
  await closedLoop({
    url: target.urls,
    scenario: 'mix',
    workload: { ...workload, seed: 7 },
    connections: settings.connections,
    durationSeconds: settings.warmupSeconds,
    ...(target.access === undefined ? {} : { access: target.access }),
  });
}

/**
 * The closed loop of `scenario` on `target`, logged as `label`; `round` (of `settings.rounds`)
 * is named in the label when there are several.
 */
function closedRound(
  target: Target,
  scenario: Scenario,
  workload: Workload,
  settings: Settings,
  round: number | null,
  label: string = target.name,
): Promise<Measured> {
  const of = round !== null && settings.rounds > 1 ? `, round ${round} of ${settings.rounds}` : '';
  return measure(target, `${label} ${scenario} closed loop (${settings.connections} conns, ${settings.durationSeconds} s${of})`, (onTick) =>
    closedLoop({
      url: target.urls,
      scenario,
      workload,
      connections: settings.connections,
      durationSeconds: settings.durationSeconds,
      onTick,
      ...(target.access === undefined ? {} : { access: target.access }),
    }),
  );
}

/** The round of median throughput per core (the lower middle one of an even count). */
function medianRound(rounds: readonly Measured[]): Measured {
  const sorted = [...rounds].sort((a, b) => a.requestsPerServerCoreSecond - b.requestsPerServerCoreSecond);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (median === undefined) throw new Error('no closed-loop round to choose from');
  return median;
}

/**
 * The rate-limited runs of `scenario` on `target` at half of its median closed-loop round's
 * throughput, and the result with every round.
 */
async function runRateLimited(
  target: Target,
  scenario: Scenario,
  workload: Workload,
  settings: Settings,
  closedRounds: readonly Measured[],
): Promise<ScenarioResult> {
  const base = { url: target.urls, scenario, workload, connections: settings.connections };
  const closed = medianRound(closedRounds);
  const rate = Math.max(1, closed.requestsPerSecond * OPEN_LOOP_FRACTION);
  const autocannonRate = await measure(target, `${target.name} ${scenario} autocannon overallRate ${fmt(rate)}/s`, (onTick) =>
    autocannonAtRate({ ...base, durationSeconds: settings.openDurationSeconds, onTick }, rate),
  );
  const open = await measure(target, `${target.name} ${scenario} open loop ${fmt(rate)}/s`, (onTick) =>
    openLoop({ ...base, durationSeconds: settings.openDurationSeconds, rate, onTick }),
  );
  return { scenario, target: target.name, closed, closedRounds, autocannonRate, open };
}

/** The optional reference row: redis-benchmark GET/SET of 2 KB values against a redis-server started here, if both are on PATH. */
async function redisReference(registry: ProcessRegistry, settings: Settings): Promise<RedisRow[] | null> {
  if (!onPath('redis-server') || !onPath('redis-benchmark')) {
    log('redis reference skipped: redis-server and redis-benchmark are not both on PATH');
    return null;
  }
  let server: { port: number; proc: Started };
  try {
    server = await startRedisServer(registry, ROOT, settings.pin?.servers ?? null, (line) => remember('[redis]', line));
  } catch (error) {
    log(`redis reference skipped: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
  try {
    const requests = settings.quick ? 20_000 : 200_000;
    log(
      `redis reference: redis-benchmark -q --csv -t get,set -d ${settings.valueBytes} -c ${settings.connections} -n ${requests} -r ${settings.keys} (redis-server pid ${server.proc.pid})`,
    );
    return runRedisBenchmark({
      port: server.port,
      cpus: settings.pin?.loadGenerator ?? null,
      tests: 'set,get',
      valueBytes: settings.valueBytes,
      connections: settings.connections,
      requests,
      keys: settings.keys,
      pipeline: 1,
      timeoutMs: 120_000,
    }).rows;
  } finally {
    await registry.stop(server.proc);
  }
}

/** Every round's throughput per core, with its ratio to the baseline's round of the same number; '-' for one round. */
function roundsCell(rounds: readonly Measured[], baseRounds: readonly Measured[]): string {
  if (rounds.length < 2) return '-';
  return rounds
    .map((m, i) => {
      const base = baseRounds[i];
      return `${fmt(m.requestsPerServerCoreSecond)} (${base ? ratio(m.requestsPerServerCoreSecond, base.requestsPerServerCoreSecond) : 'n/a'})`;
    })
    .join(' · ');
}

function ratio(value: number, baseline: number): string {
  return baseline > 0 ? `${(value / baseline).toFixed(2)}x` : 'n/a';
}

function ms(value: number): string {
  return value.toFixed(2);
}

/** The quorums the cluster runs with: `cluster up`'s own ({@link localQuorums}), each unless a DKV_N/W/R variable sets it. */
function effectiveQuorums(nodes: number): string {
  const local = localQuorums(nodes);
  return `N=${process.env['DKV_N'] ?? local.n} W=${process.env['DKV_W'] ?? local.w} R=${process.env['DKV_R'] ?? local.r}`;
}

/** The Markdown (and terminal) report of a run. */
function renderReport(
  results: readonly ScenarioResult[],
  redis: RedisRow[] | null,
  settings: Settings,
  machine: MachineInfo,
  command: string,
  elapsedSeconds: number,
  profiles: ProfileSummary[] | null,
  security: readonly SecurityResult[] = [],
): string {
  const byKey = new Map(results.map((r) => [`${r.scenario}/${r.target}`, r]));
  const peakRows: string[][] = [];
  const latencyRows: string[][] = [];
  for (const scenario of SCENARIOS) {
    const base = byKey.get(`${scenario}/baseline`);
    for (const target of TARGET_NAMES) {
      const r = byKey.get(`${scenario}/${target}`);
      if (!r || !base) continue;
      const c = r.closed;
      peakRows.push([
        scenario,
        target,
        fmt(c.requestsPerSecond),
        ratio(c.requestsPerSecond, base.closed.requestsPerSecond),
        `${ms(c.latency.p50Ms)} / ${ms(c.latency.p99Ms)} / ${ms(c.latency.p999Ms)}`,
        `${c.non2xx} / ${c.errors}`,
        c.cost.serverCoresTotal.toFixed(2),
        fmt(c.requestsPerServerCoreSecond),
        ratio(c.requestsPerServerCoreSecond, base.closed.requestsPerServerCoreSecond),
        roundsCell(r.closedRounds, base.closedRounds),
        c.cost.loadGeneratorCores.toFixed(2) + (c.cost.loadGeneratorCores > LOAD_GENERATOR_BOUND_CORES ? ' (bound)' : ''),
        c.cost.foreignCores.toFixed(2),
        c.loopbackBytesPerRequest === null ? 'n/a' : fmt(c.loopbackBytesPerRequest),
      ]);
      const o = r.open;
      const a = r.autocannonRate;
      latencyRows.push([
        scenario,
        target,
        fmt(o.targetRate ?? 0),
        fmt(o.requestsPerSecond),
        `${ms(o.latency.p50Ms)} / ${ms(o.latency.p99Ms)} / ${ms(o.latency.p999Ms)}`,
        ratio(o.latency.p99Ms, base.open.latency.p99Ms),
        o.sessionLatency ? ms(o.sessionLatency.p99Ms) : '-',
        o.scheduleLag ? ms(o.scheduleLag.p99Ms) : '-',
        `${o.non2xx} / ${o.errors}`,
        `${fmt(a.requestsPerSecond)}: ${ms(a.latency.p50Ms)} / ${ms(a.latency.p99Ms)} / ${ms(a.latency.p999Ms)}`,
        a.autocannonLatency ? `${ms(a.autocannonLatency.p99Ms)}` : '-',
        `${a.non2xx} / ${a.errors}`,
      ]);
    }
  }
  const pin =
    (settings.pin
      ? `servers pinned to CPU ${settings.pin.servers}, load generator to CPU ${settings.pin.loadGenerator}`
      : 'not pinned: servers and load generator share all cores') + (settings.nice === null ? '' : `, both at nice ${settings.nice}`);
  const runs = results.flatMap((r) => [r.closed, r.autocannonRate, r.open]);
  const foreignMax = Math.max(0, ...runs.map((m) => m.cost.foreignCores));
  const foreignMean = runs.reduce((sum, m) => sum + m.cost.foreignCores, 0) / Math.max(1, runs.length);
  const disturbed =
    foreignMax > FOREIGN_CORES_WARNING
      ? `- **Disturbed run**: other processes on this machine used up to ${foreignMax.toFixed(2)} cores (mean ${foreignMean.toFixed(2)}) during the measurements ("other cores" below). Raw req/s and latencies are then low and noisy; the per-core figures (req/core-s) and the ratios hold up better, since both targets ran under the same conditions.`
      : `- other processes used at most ${foreignMax.toFixed(2)} cores during the measurements`;
  const quorums = effectiveQuorums(settings.nodes);
  const dkvEnv = dkvEnvironment();
  const parts = [
    `# HTTP benchmark: dkv vs bare Fastify${settings.topologies.includes('nodes') ? ` (topology: ${settings.topologies.join(' and ')})` : ''}`,
    '',
    `- command: \`${dkvEnv.length > 0 ? `${dkvEnv.join(' ')} ` : ''}${command}\``,
    `- commit ${machine.commit}${machine.dirty ? ' (work tree had uncommitted changes)' : ''}, ${machine.node}, ${machine.cpus} x ${machine.cpuModel}, ${(machine.totalMemoryBytes / 2 ** 30).toFixed(0)} GiB, ${machine.platform}`,
    `- ${settings.connections} connections, pipelining 1; closed loop ${settings.durationSeconds} s, rate-limited runs ${settings.openDurationSeconds} s at ${OPEN_LOOP_FRACTION * 100}% of each target's own closed-loop peak; ${fmt(settings.keys)} sessions of ${settings.valueBytes} B, writes with ttl=1800`,
    ...settings.topologies.map((topology) =>
      topology === 'coordinator'
        ? `- dkv: ${settings.nodes} storage nodes + 1 coordinator (\`dkv cluster up\`), ${quorums}, clients send to the coordinator`
        : `- dkv-nodes: ${settings.nodes} storage nodes that each coordinate, no coordinator (\`dkv cluster up --topology nodes\`), ${quorums}, clients spread evenly over every node's URL; each node reads and writes its own replica in-process`,
    ),
    `- baseline: the same routes on Fastify over a Map, one process; "server cores" of a dkv target is the CPU of all its processes (nodes, coordinator if any, and the idle \`cluster up\` parent)`,
    `- ${pin}; run took ${elapsedSeconds.toFixed(0)} s${settings.profile ? '; PROFILED RUN (--cpu-prof on every dkv process): do not quote these figures' : ''}`,
    disturbed,
    '',
    '## Peak throughput (closed loop)',
    '',
    `Ratios are to the baseline of the same scenario in this run. "server cores" is the CPU the target used (user+sys, all its processes) per second of wall time; "req/core-s" = req/s ÷ server cores, the per-core figure. ${settings.rounds > 1 ? `Each target ran ${settings.rounds} closed-loop rounds of each scenario, interleaved with the other targets' (round 1 of every target, then round 2...); the row shows its round of median req/core-s, and "rounds" every round with its ratio to the baseline's round of the same number. ` : ''}"lo B/req" = bytes carried on loopback per request (client ↔ server, plus internode for dkv). "other" = CPU used by anything else on the machine during the run.`,
    '',
    table(
      [
        'scenario',
        'target',
        'req/s',
        'x base',
        'p50 / p99 / p99.9 ms',
        'non-2xx / err',
        'server cores',
        'req/core-s',
        'x base',
        'rounds: req/core-s (x base)',
        'load gen cores',
        'other cores',
        'lo B/req',
      ],
      peakRows,
    ),
    '',
    `## Latency at ${OPEN_LOOP_FRACTION * 100}% of each target's peak`,
    '',
    'Open loop: requests due at fixed intervals, latency from the due time to the answer (no coordinated omission). "session p99" (mix): a user\'s GET then PUT, from the GET\'s due time. "gen lag p99": how late the load generator itself handed requests to its HTTP client (timers, its own GC); latencies near it are the generator\'s. The autocannon columns are its `overallRate` run at the same rate: autocannon refills a per-connection budget once a second, so that load is bursty, and its latency (ours from its per-response events, and autocannon\'s own p99) is measured from when a request was sent: it suffers coordinated omission and is shown for reference only.',
    '',
    table(
      [
        'scenario',
        'target',
        'rate req/s',
        'achieved',
        'open p50 / p99 / p99.9 ms',
        'p99 x base',
        'session p99 ms',
        'gen lag p99 ms',
        'non-2xx / err',
        'autocannon rate: req/s: p50 / p99 / p99.9 ms',
        'autocannon own p99',
        'non-2xx / err',
      ],
      latencyRows,
    ),
  ];
  parts.push(...floorSection(results));
  parts.push(...securitySection(results, security));
  if (redis) {
    parts.push(
      '',
      '## Reference: redis-benchmark (2 KB values, same connections)',
      '',
      table(
        ['test', 'target', 'req/s', 'p50 ms', 'p99 ms'],
        redis.map((r) => [
          r.test,
          'redis',
          fmt(r.requestsPerSecond),
          r.p50Ms === null ? '-' : ms(r.p50Ms),
          r.p99Ms === null ? '-' : ms(r.p99Ms),
        ]),
      ),
    );
  } else {
    parts.push('', 'Redis reference: skipped (redis-server / redis-benchmark not on PATH).');
  }
  if (profiles) {
    parts.push('', "## Where dkv's CPU went (--cpu-prof, self time)");
    for (const p of profiles) {
      parts.push(
        '',
        `### ${p.label} (${(p.totalMs / 1000).toFixed(1)} s sampled)`,
        '',
        table(
          ['share', 'where', 'self ms'],
          p.byCategory.map((c) => [`${(c.share * 100).toFixed(1)}%`, c.name, fmt(c.selfMs)]),
        ),
      );
      parts.push(
        '',
        table(
          ['share', 'function', 'self ms'],
          p.topFunctions.map((c) => [`${(c.share * 100).toFixed(1)}%`, c.name, fmt(c.selfMs)]),
        ),
      );
    }
  }
  return `${parts.join('\n')}\n`;
}

async function main(): Promise<number> {
  const settings = settingsFrom(process.argv.slice(2));
  const command = `npx tsx benchmarks/http/bench.ts ${process.argv.slice(2).join(' ')}`.trim();
  const missing = BUILT_APPS.filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length > 0)
    throw new Error(
      `the apps are not built (${missing.join(', ')} missing): run \`npx nx run-many -t build\` first (\`npm run bench\` does)`,
    );
  if (settings.pin && !pinSelf(settings.pin.loadGenerator))
    throw new Error('taskset could not pin the load generator; rerun with --no-pin');
  // Every process started from here on inherits this priority (and taskset's prefix overrides the affinity).
  if (settings.nice !== null && !reniceSelf(settings.nice))
    throw new Error(`could not set this process's priority to nice ${settings.nice}; rerun with --no-nice`);
  const machine = machineInfo(ROOT);
  const runStamp = stamp();
  const profileDir = settings.profile ? join(RESULTS_DIR, 'profiles', `http-${runStamp}`) : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  log(
    `dkv HTTP benchmark${settings.quick ? ' (quick)' : ''}: commit ${machine.commit}, ${machine.cpus} cpus, ${machine.node}; ${settings.pin ? `servers on CPU ${settings.pin.servers}, load generator on CPU ${settings.pin.loadGenerator}` : 'no pinning'}`,
  );

  const registry = new ProcessRegistry();
  const deadline = registry.stopOnSignalsOrDeadline(settings.maxMinutes, log);

  try {
    const workload: Workload = { keys: settings.keys, values: sessionValuePool(256, settings.valueBytes), seed: 42 };
    const baseline = await startBaseline(registry, settings);
    const clusters: Target[] = [];
    for (const topology of settings.topologies) clusters.push(await startCluster(registry, settings, profileDir, topology));
    const floors: Target[] = [];
    if (settings.floor) for (const topology of FLOOR_TOPOLOGIES) floors.push(await startHttpFloor(registry, settings, topology));
    const targets = [baseline, ...clusters, ...floors];
    const preloadSeconds: Record<string, number> = {};
    for (const target of targets) {
      log(`preloading ${fmt(settings.keys)} sessions into ${target.name} (${settings.preloadConcurrency} concurrent PUTs)`);
      preloadSeconds[target.name] = await preload(target.urls, workload, settings.preloadConcurrency, PRELOAD_TTL_SECONDS, (done) =>
        log(`  ${target.name}: ${fmt(done)} / ${fmt(settings.keys)}`),
      );
      log(`  ${target.name}: preloaded in ${preloadSeconds[target.name]?.toFixed(1)} s`);
      await warmUp(target, workload, settings);
    }
    const results: ScenarioResult[] = [];
    for (const scenario of SCENARIOS) {
      // Interleaved rounds: a machine whose speed drifts (a shared VM) then moves every target's
      // rounds alike, and the median round of each leaves out one slow or fast window.
      const rounds = new Map<Target, Measured[]>(targets.map((target) => [target, []]));
      for (let round = 1; round <= settings.rounds; round += 1) {
        for (const target of targets) {
          log(`${scenario.toUpperCase()} on ${target.name}${settings.rounds > 1 ? ` (round ${round} of ${settings.rounds})` : ''}`);
          rounds.get(target)?.push(await closedRound(target, scenario, workload, settings, round));
        }
      }
      for (const target of targets) results.push(await runRateLimited(target, scenario, workload, settings, rounds.get(target) ?? []));
    }
    const security = settings.security ? await runSecurityVariants(registry, settings, workload) : [];
    const redis = await redisReference(registry, settings);
    log('stopping the servers');
    await registry.stopAll();
    const profiles = profileDir
      ? clusters.flatMap((cluster) =>
          summarizeProfiles(profileDir, cluster.groups).map((p) =>
            clusters.length > 1 ? { ...p, label: `${cluster.name}: ${p.label}` } : p,
          ),
        )
      : null;
    const elapsedSeconds = (performance.now() - t0) / 1000;
    const report = renderReport(results, redis, settings, machine, command, elapsedSeconds, profiles, security);
    const dkvEnv = dkvEnvironment();
    const json = {
      kind: 'http',
      startedAt: new Date(Date.now() - elapsedSeconds * 1000).toISOString(),
      elapsedSeconds,
      command,
      dkvEnvironment: dkvEnv,
      settings,
      machine,
      preloadSeconds,
      results,
      security,
      redis,
      profileDir,
      profiles,
    };
    mkdirSync(RESULTS_DIR, { recursive: true });
    const topologySuffix =
      settings.topologies.length === 1 && settings.topologies[0] === 'coordinator'
        ? ''
        : `-topology-${settings.topologies.length > 1 ? 'both' : settings.topologies[0]}`;
    const name = `${settings.profile ? 'http-profile' : 'http'}-${runStamp}${topologySuffix}`;
    writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(RESULTS_DIR, `${name}.md`), report);
    // http-latest is what the README and the capacity model quote: a full, unprofiled run with the
    // coordinator topology (target "dkv") in its default configuration. A quick run is a smoke test
    // and a run with DKV_* settings an A/B: neither replaces it.
    const latest =
      !settings.profile && !settings.quick && !settings.security && settings.topologies.includes('coordinator') && dkvEnv.length === 0;
    if (latest) {
      copyFileSync(join(RESULTS_DIR, `${name}.json`), join(RESULTS_DIR, 'http-latest.json'));
      copyFileSync(join(RESULTS_DIR, `${name}.md`), join(RESULTS_DIR, 'http-latest.md'));
    }
    process.stdout.write(`\n${report}\n`);
    log(
      `wrote benchmarks/results/${name}.json and .md${settings.profile ? ` (profiles in ${profileDir}: ${readdirSync(profileDir ?? '.').length} files)` : latest ? ' (and http-latest.*)' : ' (not http-latest: quick, --security, DKV_* settings or without the coordinator topology)'}`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    if (childLog.length > 0) process.stderr.write(`last lines from the servers:\n${childLog.join('\n')}\n`);
    await registry.stopAll();
    return 1;
  } finally {
    clearTimeout(deadline);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
