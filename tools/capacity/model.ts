/**
 * dkv's capacity model as a pure function: measured costs per request and per stored session in,
 * the cores, processes, memory, network and machines for a target load out. No I/O, so every
 * figure of docs/capacity.md can be checked against a hand calculation (model.test.ts).
 *
 * It plans for the coordinator topology (target "dkv": storage nodes behind coordinators) and,
 * when the HTTP result also measured it (`--topology both`), for the coordinating-node topology
 * (target "dkv-nodes": storage nodes that each coordinate, no coordinator) beside it.
 */
import type { EngineRun, HttpRun, Measured, MemoryRun, NodeRun } from './results.js';

/** The load and the machines to plan for; each field has a flag of the same name (see cli.ts). */
export interface CapacityOptions {
  readonly readsPerSecond: number;
  readonly writesPerSecond: number;
  /** Live sessions stored, each on {@link REPLICAS} replicas. */
  readonly sessions: number;
  /** The share of each core planned to be busy at the target load, above 0 and below 1. */
  readonly utilisation: number;
  readonly machineCores: number;
  readonly machineMemoryGiB: number;
  /** The share of a node's memory planned to hold sessions (the rest is headroom), above 0 and at most 1. */
  readonly memoryFill: number;
}

/** The users' target: 1M reads/s + 200k writes/s, ~50 million concurrent sessions, on 16-core 64 GiB machines. */
export const DEFAULT_CAPACITY_OPTIONS: CapacityOptions = {
  readsPerSecond: 1_000_000,
  writesPerSecond: 200_000,
  sessions: 50_000_000,
  utilisation: 0.5,
  machineCores: 16,
  machineMemoryGiB: 64,
  memoryFill: 0.7,
};

/** Replicas per key (N); dkv's default, which the benchmarks ran with. */
export const REPLICAS = 3;

/** The storage engine a node runs by default (`--engine`): the one the model plans memory for. */
export const DEFAULT_ENGINE = 'compact';

/**
 * CPU seconds one request cost each dkv process group, from the closed-loop run. `totalSeconds` is
 * every process of the target, the benchmark's idle `cluster up` parent included; the cores are
 * planned from the two roles a deployment runs (coordinator and storage nodes).
 */
export interface RequestCpu {
  readonly coordinatorSeconds: number;
  readonly nodesSeconds: number;
  readonly totalSeconds: number;
}

/**
 * The plan for the coordinating-node topology (target "dkv-nodes"): every process is a storage node
 * that also serves the public API and coordinates, so there is one process kind. It serves the
 * same load and stores the same sessions as the coordinator topology's plan beside it.
 */
export interface CoordinatingNodesPlan {
  /** CPU per request, all of it in the nodes: `coordinatorSeconds` is 0, there being no coordinator. */
  readonly cpu: { readonly get: RequestCpu; readonly put: RequestCpu };
  /** Loopback bytes per request beyond the client's share (the baseline's, as for the coordinator topology). */
  readonly bytes: { readonly internodeGet: number; readonly internodePut: number };
  /** Cores at the planned utilisation. */
  readonly cores: number;
  /** One event loop per core; never fewer than replicas. */
  readonly processes: number;
  /** The cluster's memory (the same N copies of every session) spread over all the processes. */
  readonly bytesPerProcess: number;
  /** No coordinator hop: clients' bytes and the internode bytes measured between the nodes. */
  readonly network: { readonly clientBitsPerSecond: number; readonly internodeBitsPerSecond: number };
  readonly machines: { readonly forCpu: number; readonly forMemory: number; readonly total: number };
  /** The open-loop runs at half of this topology's peak. */
  readonly openLoop: { readonly get: Measured; readonly put: Measured };
}

/** Everything the capacity document states, before formatting. */
export interface CapacityModel {
  readonly options: CapacityOptions;
  /** The HTTP run's CPU per request: dkv (coordinator topology) and the bare-Fastify baseline. */
  readonly cpu: { readonly get: RequestCpu; readonly put: RequestCpu; readonly baselineGet: RequestCpu; readonly baselinePut: RequestCpu };
  /** Loopback bytes per request: the client's share (what the baseline moved) and the rest, internode. */
  readonly bytes: { readonly clientGet: number; readonly clientPut: number; readonly internodeGet: number; readonly internodePut: number };
  /** Cores at the planned utilisation (CPU at the target load divided by it). */
  readonly cores: { readonly coordinators: number; readonly nodes: number; readonly baseline: number };
  /** One event loop per core; never fewer storage nodes than replicas. */
  readonly processes: { readonly coordinators: number; readonly nodes: number; readonly total: number };
  readonly memory: {
    readonly engine: EngineRun;
    /** The real node process measured with the same engine, when there is one. */
    readonly node: NodeRun | null;
    readonly engineBytesPerKey: number;
    /** The larger of the engine's and the node's bytes per key: what is planned. */
    readonly bytesPerReplica: number;
    readonly payloadBytesPerKey: number;
    readonly clusterBytes: number;
    /** The cluster's memory if the engine met the 1.15x-of-payload target. */
    readonly atTargetBytes: number;
  };
  readonly network: { readonly clientBitsPerSecond: number; readonly internodeBitsPerSecond: number };
  readonly machines: { readonly forCpu: number; readonly forMemory: number; readonly total: number };
  /** The most cores other processes used during any measurement: above a quarter core the run was disturbed. */
  readonly foreignCoresMax: number;
  /** dkv's open-loop runs at half of peak, when the result has both. */
  readonly openLoop: { readonly get: Measured; readonly put: Measured } | null;
  /** The coordinating-node topology, when the HTTP result has the target "dkv-nodes"; null otherwise. */
  readonly coordinatingNodes: CoordinatingNodesPlan | null;
}

/** Scales the measured costs of `http` and `memory` to the load and machines of `options`. */
export function capacityModel(http: HttpRun, memory: MemoryRun, options: CapacityOptions): CapacityModel {
  const { readsPerSecond: reads, writesPerSecond: writes, utilisation } = options;
  const n = REPLICAS;
  const get = requestCpu(http, 'get', 'dkv');
  const put = requestCpu(http, 'put', 'dkv');
  const baselineGet = requestCpu(http, 'get', 'baseline');
  const baselinePut = requestCpu(http, 'put', 'baseline');

  // CPU: measured seconds per request, scaled to the load, divided by the utilisation we allow.
  const coordinatorCores = (reads * get.cpu.coordinatorSeconds + writes * put.cpu.coordinatorSeconds) / utilisation;
  const nodeCores = (reads * get.cpu.nodesSeconds + writes * put.cpu.nodesSeconds) / utilisation;
  const baselineCores = (reads * baselineGet.cpu.totalSeconds + writes * baselinePut.cpu.totalSeconds) / utilisation;
  const coordinatorProcesses = Math.ceil(coordinatorCores);
  const nodeProcesses = Math.max(n, Math.ceil(nodeCores));
  const totalProcesses = coordinatorProcesses + nodeProcesses;

  const memoryPlan = memoryPerReplica(memory);
  const clusterBytes = (options.sessions * n * memoryPlan.bytesPerReplica) / options.memoryFill;
  const atTargetBytes = (options.sessions * n * memoryPlan.payloadBytesPerKey * 1.15) / options.memoryFill;

  // Network: bytes per request on loopback (each byte counted once), split into the client's
  // share (what the baseline moved for the same request) and internode (the rest).
  const bytes = (m: Measured): number => m.loopbackBytesPerRequest ?? 0;
  const clientGet = bytes(baselineGet.measured);
  const clientPut = bytes(baselinePut.measured);
  const internodeGet = Math.max(0, bytes(get.measured) - clientGet);
  const internodePut = Math.max(0, bytes(put.measured) - clientPut);

  const forCpu = Math.ceil(totalProcesses / options.machineCores);
  const forMemory = memoryMachines(clusterBytes, options);
  const open = (scenario: string): Measured | undefined => http.results.find((r) => r.scenario === scenario && r.target === 'dkv')?.open;
  const getOpen = open('get');
  const putOpen = open('put');
  return {
    options,
    cpu: { get: get.cpu, put: put.cpu, baselineGet: baselineGet.cpu, baselinePut: baselinePut.cpu },
    bytes: { clientGet, clientPut, internodeGet, internodePut },
    cores: { coordinators: coordinatorCores, nodes: nodeCores, baseline: baselineCores },
    processes: { coordinators: coordinatorProcesses, nodes: nodeProcesses, total: totalProcesses },
    memory: { ...memoryPlan, clusterBytes, atTargetBytes },
    network: {
      clientBitsPerSecond: (reads * clientGet + writes * clientPut) * 8,
      internodeBitsPerSecond: (reads * internodeGet + writes * internodePut) * 8,
    },
    machines: { forCpu, forMemory, total: Math.max(forCpu, forMemory, n) },
    foreignCoresMax: Math.max(0, ...http.results.flatMap((r) => [r.closed, r.autocannonRate, r.open]).map((m) => m.cost.foreignCores)),
    openLoop: getOpen && putOpen ? { get: getOpen, put: putOpen } : null,
    coordinatingNodes: http.results.some((r) => r.target === 'dkv-nodes')
      ? coordinatingNodesPlan(http, options, clusterBytes, { get: clientGet, put: clientPut })
      : null,
  };
}

/**
 * The coordinating-node topology under the same load, sessions and machines: its CPU per request
 * scaled as the coordinator topology's, one process kind, the same cluster memory spread over
 * those processes, and its loopback bytes split at the same client share.
 */
function coordinatingNodesPlan(
  http: HttpRun,
  options: CapacityOptions,
  clusterBytes: number,
  client: { get: number; put: number },
): CoordinatingNodesPlan {
  const { readsPerSecond: reads, writesPerSecond: writes, utilisation } = options;
  const n = REPLICAS;
  const get = requestCpu(http, 'get', 'dkv-nodes');
  const put = requestCpu(http, 'put', 'dkv-nodes');
  const cores = (reads * get.cpu.nodesSeconds + writes * put.cpu.nodesSeconds) / utilisation;
  const processes = Math.max(n, Math.ceil(cores));
  // The clients send the same requests and read the same answers in both topologies; what the
  // nodes add beyond that is internode, with no coordinator hop in between.
  const internodeGet = Math.max(0, (get.measured.loopbackBytesPerRequest ?? 0) - client.get);
  const internodePut = Math.max(0, (put.measured.loopbackBytesPerRequest ?? 0) - client.put);
  const forCpu = Math.ceil(processes / options.machineCores);
  const forMemory = memoryMachines(clusterBytes, options);
  return {
    cpu: { get: get.cpu, put: put.cpu },
    bytes: { internodeGet, internodePut },
    cores,
    processes,
    bytesPerProcess: clusterBytes / processes,
    network: {
      clientBitsPerSecond: (reads * client.get + writes * client.put) * 8,
      internodeBitsPerSecond: (reads * internodeGet + writes * internodePut) * 8,
    },
    machines: { forCpu, forMemory, total: Math.max(forCpu, forMemory, n) },
    openLoop: { get: get.result.open, put: put.result.open },
  };
}

/** Machines whose memory holds `clusterBytes` (already divided by the fill). */
function memoryMachines(clusterBytes: number, options: CapacityOptions): number {
  return Math.ceil(clusterBytes / (options.machineMemoryGiB * 2 ** 30));
}

/** What to run when a target's scenario is missing from the HTTP result. */
const MISSING_TARGET_HINT = {
  baseline: '',
  dkv: ' (the model needs a run of the coordinator topology: npm run bench, or -- --topology both)',
  'dkv-nodes':
    ' (the result has other dkv-nodes runs; the plan for coordinating nodes needs both GET and PUT: npm run bench -- --topology both)',
} as const;

/** The process groups the benchmark records for coordinating nodes: the nodes, and its idle `cluster up` parent. */
const COORDINATING_NODE_GROUPS: readonly string[] = ['nodes', 'cli'];

type HttpResult = HttpRun['results'][number];

/** CPU seconds one request of `scenario` cost each process group of `target`, from the closed-loop run. */
function requestCpu(
  run: HttpRun,
  scenario: 'get' | 'put',
  target: 'baseline' | 'dkv' | 'dkv-nodes',
): { cpu: RequestCpu; measured: Measured; result: HttpResult } {
  const result = run.results.find((r) => r.scenario === scenario && r.target === target);
  if (!result) throw new Error(`${scenario}/${target} is missing from the HTTP result${MISSING_TARGET_HINT[target]}`);
  const m = result.closed;
  const per = (cores: number): number => cores / m.requestsPerSecond;
  const totalSeconds = per(m.cost.serverCoresTotal);
  if (target === 'baseline') return { cpu: { coordinatorSeconds: totalSeconds, nodesSeconds: 0, totalSeconds }, measured: m, result };
  // A missing group would silently plan zero cores for it.
  const group = (name: string): number => {
    const cores = m.cost.serverCores[name];
    if (cores === undefined) throw new Error(`${scenario}/${target} in the HTTP result has no CPU for the ${name} (serverCores.${name})`);
    return cores;
  };
  if (target === 'dkv')
    return { cpu: { coordinatorSeconds: per(group('coordinator')), nodesSeconds: per(group('nodes')), totalSeconds }, measured: m, result };
  // Coordinating nodes are planned from the nodes alone: CPU recorded for any other group (a
  // coordinator this topology does not have) would be left out of the plan without a word.
  const unknown = Object.keys(m.cost.serverCores).filter((name) => !COORDINATING_NODE_GROUPS.includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `${scenario}/${target} in the HTTP result has CPU for ${unknown.map((name) => `serverCores.${name}`).join(', ')}; coordinating nodes have only the groups ${COORDINATING_NODE_GROUPS.join(' and ')}`,
    );
  }
  return { cpu: { coordinatorSeconds: 0, nodesSeconds: per(group('nodes')), totalSeconds }, measured: m, result };
}

/**
 * Resident bytes per stored session per replica, from the engine (after GC) and, when measured,
 * from a real node process running the same engine (as operated, garbage included): the larger
 * one is planned for. Newer results measure each engine; the default one is planned for.
 */
function memoryPerReplica(
  memory: MemoryRun,
): Pick<CapacityModel['memory'], 'engine' | 'node' | 'engineBytesPerKey' | 'bytesPerReplica' | 'payloadBytesPerKey'> {
  const engine =
    memory.engines.find((e) => e.engine === DEFAULT_ENGINE && e.alloc === 'own') ??
    memory.engines.find((e) => e.alloc === 'own') ??
    memory.engines[0];
  if (!engine) throw new Error('the memory result has no engine measurement');
  // Older results have one `node` and engines without names; newer ones a node per named engine.
  // A node of another engine than the one planned for is not used (its bytes would be mislabelled).
  const nodeRuns = memory.nodes ?? (memory.node ? [memory.node] : []);
  const node = nodeRuns.find((run) => run.engine === engine.engine) ?? null;
  const engineBytesPerKey = engine.total.rssBytes / engine.keys;
  return {
    engine,
    node,
    engineBytesPerKey,
    bytesPerReplica: Math.max(engineBytesPerKey, node?.bytesPerKey ?? 0),
    payloadBytesPerKey: engine.payloadBytes / engine.keys,
  };
}
