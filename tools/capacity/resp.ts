/**
 * The capacity model's Redis-door section: the CPU each GET and SET cost dkv's processes through
 * the Redis protocol (`benchmarks/resp/bench.ts`, CPU microseconds per request of the coordinator
 * and of the storage nodes, N=3 W=2 R=2, one request at a time per connection), scaled to the
 * target load, beside the goal of at most 50 cores of this class. No I/O: the command (cli.ts)
 * reads the file and appends what {@link renderRespCapacity} writes.
 */
import type { CapacityOptions } from './model.js';

/** The target of the Redis benchmark the model plans with: the default cluster (`npm start`: a coordinator and storage nodes). */
export const RESP_TARGET = 'dkv N=3 W=2 R=2';
/**
 * The deployment's topology (`deploy/`: every storage node coordinates, `dkv node --coordinate`),
 * planned beside the default cluster when the result measured it (`--targets n3nodes`).
 */
export const RESP_NODES_TARGET = 'dkv N=3 W=2 R=2 every node coordinates';
/** The users' goal for the whole load, in cores of the measured class. */
export const RESP_GOAL_CORES = 50;

/** CPU microseconds per request, by process role. */
export interface RespRequestCpu {
  readonly coordinatorUs: number;
  readonly nodesUs: number;
}

/** What the model takes from a `resp-*.json` result. */
export interface RespRun {
  readonly file: string;
  readonly get: RespRequestCpu;
  readonly set: RespRequestCpu;
  /** Redis's own CPU per GET and SET in the same run (the reference), when measured. */
  readonly redisGetUs: number | null;
  readonly redisSetUs: number | null;
  /** CPU per GET and SET of every process of {@link RESP_NODES_TARGET} (its nodes coordinate), when measured. */
  readonly coordinatingNodes: { readonly getUs: number; readonly setUs: number } | null;
}

/** The Redis door's plan for the load of the options. */
export interface RespCapacity {
  readonly coordinatorCores: number;
  readonly nodeCores: number;
  readonly totalCores: number;
  readonly machines: number;
  /** The cores Redis itself would take for the same load at the same utilisation (one thread, for scale). */
  readonly redisCores: number | null;
  /** The same load on coordinating nodes (the deployment's topology), when the result measured it. */
  readonly coordinatingNodes: { readonly totalCores: number; readonly machines: number } | null;
}

interface RawRow {
  readonly target?: unknown;
  readonly test?: unknown;
  readonly pipeline?: unknown;
  readonly cpuUsPerRequest?: unknown;
}

/** The CPU µs per request by process group of a result's row of `target` and `test` at -P 1, or null. */
function cpuPerRequestOf(rows: readonly RawRow[], target: string, test: string): Record<string, number> | null {
  const cpu = rows.find((r) => r.target === target && r.test === test && r.pipeline === 1)?.cpuUsPerRequest;
  return cpu === null || typeof cpu !== 'object' ? null : (cpu as Record<string, number>);
}

/** Reads the rows the model needs from a Redis benchmark result; throws naming what is missing. */
export function parseRespRun(json: unknown, file: string): RespRun {
  const rows = (json as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows))
    throw new Error(`${file}: not a Redis benchmark result (no "rows"); produce one with npx tsx benchmarks/resp/bench.ts`);
  const find = (target: string, test: string): Record<string, number> | null => cpuPerRequestOf(rows as RawRow[], target, test);
  const roles = (test: string): RespRequestCpu => {
    const cpu = find(RESP_TARGET, test);
    const coordinatorUs = cpu?.['coordinator'];
    const nodesUs = cpu?.['nodes'];
    if (typeof coordinatorUs !== 'number' || typeof nodesUs !== 'number' || !(coordinatorUs >= 0) || !(nodesUs >= 0)) {
      throw new Error(
        `${file}: no CPU per request of the coordinator and nodes for "${RESP_TARGET}" ${test} -P 1 (run benchmarks/resp/bench.ts with the n3 target; older results lack cpuUsPerRequest)`,
      );
    }
    return { coordinatorUs, nodesUs };
  };
  const redis = (test: string): number | null => {
    const value = find('redis', test)?.['redis-server'];
    return typeof value === 'number' && value > 0 ? value : null;
  };
  const nodesUs = (test: string): number | null => {
    const value = find(RESP_NODES_TARGET, test)?.['nodes'];
    return typeof value === 'number' && value > 0 ? value : null;
  };
  const nodesGetUs = nodesUs('GET');
  const nodesSetUs = nodesUs('SET');
  return {
    file,
    get: roles('GET'),
    set: roles('SET'),
    redisGetUs: redis('GET'),
    redisSetUs: redis('SET'),
    coordinatingNodes: nodesGetUs === null || nodesSetUs === null ? null : { getUs: nodesGetUs, setUs: nodesSetUs },
  };
}

/** Scales the measured CPU per request to the reads and writes of `options`, at its utilisation. */
export function respCapacity(run: RespRun, options: CapacityOptions): RespCapacity {
  const { readsPerSecond: reads, writesPerSecond: writes, utilisation } = options;
  const coordinatorCores = (reads * run.get.coordinatorUs + writes * run.set.coordinatorUs) / 1e6 / utilisation;
  const nodeCores = (reads * run.get.nodesUs + writes * run.set.nodesUs) / 1e6 / utilisation;
  const totalCores = coordinatorCores + nodeCores;
  const redisCores =
    run.redisGetUs === null || run.redisSetUs === null ? null : (reads * run.redisGetUs + writes * run.redisSetUs) / 1e6 / utilisation;
  const nodes = run.coordinatingNodes;
  const nodesCores = nodes === null ? null : (reads * nodes.getUs + writes * nodes.setUs) / 1e6 / utilisation;
  return {
    coordinatorCores,
    nodeCores,
    totalCores,
    machines: Math.ceil(totalCores / options.machineCores),
    redisCores,
    coordinatingNodes: nodesCores === null ? null : { totalCores: nodesCores, machines: Math.ceil(nodesCores / options.machineCores) },
  };
}

const cores = (value: number): string => value.toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });

/** The Markdown section: inputs, the table, and the comparison with the goal. */
export function renderRespCapacity(run: RespRun, plan: RespCapacity, options: CapacityOptions): string {
  const us = (value: number): string => `${value.toFixed(1)} µs`;
  const verdictOf = (total: number): string =>
    total <= RESP_GOAL_CORES
      ? `within the goal of at most ${RESP_GOAL_CORES} cores`
      : `${(total / RESP_GOAL_CORES).toFixed(1)}x the goal of at most ${RESP_GOAL_CORES} cores: the goal is not met with these figures`;
  const verdict = verdictOf(plan.totalCores);
  const nodes = run.coordinatingNodes;
  const nodesPlan = plan.coordinatingNodes;
  return [
    '## Through the Redis door (RESP)',
    '',
    `From \`${run.file}\` (\`benchmarks/resp/bench.ts\`: redis-benchmark, 2 KB values, one request at a time per connection, ${RESP_TARGET}; CPU per request from /proc). Memory and network are as above: the door changes the CPU per request, not what is stored or moved between nodes.`,
    '',
    '| request | coordinator CPU | storage nodes CPU | total CPU | redis-server CPU (same run) |',
    '|:--|--:|--:|--:|--:|',
    `| GET | ${us(run.get.coordinatorUs)} | ${us(run.get.nodesUs)} | ${us(run.get.coordinatorUs + run.get.nodesUs)} | ${run.redisGetUs === null ? '-' : us(run.redisGetUs)} |`,
    `| SET | ${us(run.set.coordinatorUs)} | ${us(run.set.nodesUs)} | ${us(run.set.coordinatorUs + run.set.nodesUs)} | ${run.redisSetUs === null ? '-' : us(run.redisSetUs)} |`,
    '',
    `At ${options.readsPerSecond.toLocaleString('en-US')} GETs/s + ${options.writesPerSecond.toLocaleString('en-US')} SETs/s and ${Math.round(options.utilisation * 100)}% utilisation: coordinators ${cores(plan.coordinatorCores)} cores, storage nodes ${cores(plan.nodeCores)} cores, **${cores(plan.totalCores)} cores in all** (${plan.machines} machines of ${options.machineCores} cores for CPU), ${verdict}.${plan.redisCores === null ? '' : ` Redis's own CPU per request would need ${cores(plan.redisCores)} cores for the same load (one replica, no quorum: a scale, not a plan).`}`,
    ...(nodes === null || nodesPlan === null
      ? []
      : [
          '',
          `With every storage node coordinating (the deployment's topology, \`deploy/\`: \`dkv node --coordinate\`; "${RESP_NODES_TARGET}" in the same run, the client on one node, which with 3 nodes holds a replica of every key and reads and writes it in-process): ${us(nodes.getUs)} per GET and ${us(nodes.setUs)} per SET over all three nodes, **${cores(nodesPlan.totalCores)} cores in all** (${nodesPlan.machines} machines of ${options.machineCores} cores), ${verdictOf(nodesPlan.totalCores)}. In a larger cluster a node holds a replica of only N/nodes of the keys; a request for another key costs what a coordinator's does.`,
        ]),
    '',
    "These figures were measured on a shared 2-core machine whose processes were far from saturated: a process that is not busy pays a system call and a wake-up per request, where a loaded one batches a turn's requests into one write per peer. They are an upper bound of the cost per request at load.",
    '',
  ].join('\n');
}

/** The floor's targets the model plans with (benchmarks/resp/floor.ts): a node and 2 peers, a coordinator and 3 nodes. */
const FLOOR_TARGETS = { nodes3: 'a coordinating node and 2 peers', coord3: 'a coordinator and 3 nodes' } as const;

/** CPU per GET and SET of every process of one floor target. */
export interface FloorRequestCpu {
  readonly getUs: number;
  readonly setUs: number;
}

/** What the model takes from a `resp-floor-*.json` result: the floor's CPU per request, and Redis's in the same run. */
export interface RespFloorRun {
  readonly file: string;
  readonly nodes3: FloorRequestCpu;
  readonly coord3: FloorRequestCpu;
  readonly redis: FloorRequestCpu | null;
}

/**
 * Reads a floor result (`benchmarks/resp/floor.ts`): per target, the sum over its processes of
 * CPU µs per request at -P 1; throws naming what is missing.
 */
export function parseRespFloorRun(json: unknown, file: string): RespFloorRun {
  const rows = (json as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows)) throw new Error(`${file}: not a floor benchmark result (no "rows"); produce one with npm run bench:resp-floor`);
  const total = (target: string, test: string): number | null => {
    const cpu = cpuPerRequestOf(rows as RawRow[], target, test);
    if (cpu === null) return null;
    const values: unknown[] = Object.values(cpu);
    if (values.length === 0 || !values.every((v) => typeof v === 'number' && v >= 0)) return null;
    return (values as number[]).reduce((a, b) => a + b, 0);
  };
  const required = (target: keyof typeof FLOOR_TARGETS): FloorRequestCpu => {
    const getUs = total(target, 'GET');
    const setUs = total(target, 'SET');
    if (getUs === null || setUs === null)
      throw new Error(
        `${file}: no CPU per request of the floor's "${target}" GET and SET at -P 1 (run npm run bench:resp-floor with its default targets)`,
      );
    return { getUs, setUs };
  };
  const redisGet = total('redis', 'GET');
  const redisSet = total('redis', 'SET');
  return {
    file,
    nodes3: required('nodes3'),
    coord3: required('coord3'),
    redis: redisGet === null || redisSet === null ? null : { getUs: redisGet, setUs: redisSet },
  };
}

/** Cores for the load of `options` at the CPU per request `cpu`. */
function coresFor(cpu: FloorRequestCpu, options: CapacityOptions): number {
  return (options.readsPerSecond * cpu.getUs + options.writesPerSecond * cpu.setUs) / 1e6 / options.utilisation;
}

/**
 * The Markdown section on the floor: the same load planned with the CPU per request of minimal
 * Node.js servers of dkv's two topologies (none of dkv's code: parse, store, send to the peers,
 * wait for the quorum, reply), beside the goal. When even the floor needs more than the goal,
 * the goal is beyond any Node.js implementation of this architecture on this machine class, and
 * the section says so.
 */
export function renderRespFloor(floor: RespFloorRun, options: CapacityOptions): string {
  const us = (value: number): string => `${value.toFixed(1)} µs`;
  const plans = (Object.keys(FLOOR_TARGETS) as Array<keyof typeof FLOOR_TARGETS>).map((target) => ({
    target,
    cpu: floor[target],
    cores: coresFor(floor[target], options),
  }));
  const least = Math.min(...plans.map((p) => p.cores));
  const verdict =
    least <= RESP_GOAL_CORES
      ? `The floor fits within the goal of at most ${RESP_GOAL_CORES} cores: the goal is reachable in Node.js on this machine class, and dkv's distance from it is its own.`
      : `Even the floor needs ${(least / RESP_GOAL_CORES).toFixed(1)}x the goal of at most ${RESP_GOAL_CORES} cores: no Node.js implementation of this architecture reaches the goal on this machine class at ${Math.round(options.utilisation * 100)}% utilisation; it needs cores about ${(least / RESP_GOAL_CORES).toFixed(1)} times as fast, or fewer replicas read and written per request.`;
  return [
    '## The floor: what any Node.js implementation of this architecture would need',
    '',
    `From \`${floor.file}\` (\`benchmarks/resp/floor.ts\`: minimal Node.js servers of the same architecture, none of dkv's code, measured as dkv is with redis-benchmark, 2 KB values, one request at a time per connection; CPU of every process of a target per request).`,
    '',
    '| floor target | GET CPU | SET CPU | cores for the load |',
    '|:--|--:|--:|--:|',
    ...plans.map((p) => `| ${FLOOR_TARGETS[p.target]} | ${us(p.cpu.getUs)} | ${us(p.cpu.setUs)} | ${cores(p.cores)} |`),
    ...(floor.redis === null
      ? []
      : [
          `| redis-server, one replica (scale) | ${us(floor.redis.getUs)} | ${us(floor.redis.setUs)} | ${cores(coresFor(floor.redis, options))} |`,
        ]),
    '',
    `At ${options.readsPerSecond.toLocaleString('en-US')} GETs/s + ${options.writesPerSecond.toLocaleString('en-US')} SETs/s and ${Math.round(options.utilisation * 100)}% utilisation. ${verdict}`,
    '',
  ].join('\n');
}
