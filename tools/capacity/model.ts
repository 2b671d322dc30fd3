/**
 * dkv's capacity model as a pure function: measured costs per request and per stored session in,
 * the cores, processes, memory, network and machines for a target load out. No I/O, so every
 * figure of docs/capacity.md can be checked against a hand calculation (model.test.ts).
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

/** CPU seconds one request cost each dkv process group, from the closed-loop run. */
export interface RequestCpu {
  readonly coordinatorSeconds: number;
  readonly nodesSeconds: number;
  readonly totalSeconds: number;
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
  const forMemory = Math.ceil(clusterBytes / (options.machineMemoryGiB * 2 ** 30));
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
  };
}

/** CPU seconds one request of `scenario` cost each process group of `target`, from the closed-loop run. */
function requestCpu(run: HttpRun, scenario: 'get' | 'put', target: 'baseline' | 'dkv'): { cpu: RequestCpu; measured: Measured } {
  const result = run.results.find((r) => r.scenario === scenario && r.target === target);
  if (!result) throw new Error(`${scenario}/${target} is missing from the HTTP result${target === 'dkv' ? ' (the model needs a run of the coordinator topology: npm run bench, or -- --topology both)' : ''}`);
  const m = result.closed;
  const per = (cores: number): number => cores / m.requestsPerSecond;
  const totalSeconds = per(m.cost.serverCoresTotal);
  if (target === 'baseline') return { cpu: { coordinatorSeconds: totalSeconds, nodesSeconds: 0, totalSeconds }, measured: m };
  // A missing group would silently plan zero cores for it.
  const group = (name: string): number => {
    const cores = m.cost.serverCores[name];
    if (cores === undefined) throw new Error(`${scenario}/${target} in the HTTP result has no CPU for the ${name} (serverCores.${name})`);
    return cores;
  };
  return { cpu: { coordinatorSeconds: per(group('coordinator')), nodesSeconds: per(group('nodes')), totalSeconds }, measured: m };
}

/**
 * Resident bytes per stored session per replica, from the engine (after GC) and, when measured,
 * from a real node process running the same engine (as operated, garbage included): the larger
 * one is planned for. Newer results measure each engine; the default one is planned for.
 */
function memoryPerReplica(memory: MemoryRun): Pick<CapacityModel['memory'], 'engine' | 'node' | 'engineBytesPerKey' | 'bytesPerReplica' | 'payloadBytesPerKey'> {
  const engine =
    memory.engines.find((e) => e.engine === DEFAULT_ENGINE && e.alloc === 'own') ?? memory.engines.find((e) => e.alloc === 'own') ?? memory.engines[0];
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
