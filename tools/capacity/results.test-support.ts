// Small hand-made benchmark results for the capacity tests, shaped like the real files
// (benchmarks/results/http-latest.json and memory-latest.json, fields the model ignores included)
// but with round figures, so that every expected number in the tests can be worked out by hand.
// Each call returns a fresh object that a test may break as it likes. Test code only.

/** The figures of one measurement; the rest of its fields are derived as the benchmark does. */
interface MeasurementFigures {
  readonly requestsPerSecond: number;
  /** Cores each server process group used, e.g. `{ coordinator: 0.1, nodes: 0.05 }`. */
  readonly serverCores: Readonly<Record<string, number>>;
  readonly loopbackBytesPerRequest: number;
  readonly foreignCores?: number;
  readonly p99Ms?: number;
  readonly targetRate?: number | null;
}

function measurement(kind: 'closed' | 'autocannon-rate' | 'open', figures: MeasurementFigures) {
  const durationSeconds = 10;
  const requests = figures.requestsPerSecond * durationSeconds;
  const serverCoresTotal = Object.values(figures.serverCores).reduce((sum, cores) => sum + cores, 0);
  const latency = { count: requests, p50Ms: 1, p99Ms: figures.p99Ms ?? 5, p999Ms: 9, maxMs: 12 };
  return {
    kind,
    targetRate: figures.targetRate ?? null,
    durationSeconds,
    requests,
    requestsPerSecond: figures.requestsPerSecond,
    non2xx: 0,
    errors: 0,
    latency,
    autocannonLatency: kind === 'open' ? null : { p50Ms: 1, p99Ms: 5, p999Ms: 9 },
    sessionLatency: null,
    scheduleLag: kind === 'open' ? latency : null,
    statusCodes: {},
    cost: {
      wallSeconds: durationSeconds,
      serverCores: { ...figures.serverCores },
      serverCoresTotal,
      loadGeneratorCores: 0.9,
      foreignCores: figures.foreignCores ?? 0.1,
      loopbackBytes: figures.loopbackBytesPerRequest * requests,
    },
    requestsPerServerCoreSecond: figures.requestsPerSecond / serverCoresTotal,
    loopbackBytesPerRequest: figures.loopbackBytesPerRequest,
  };
}

/** One scenario against one target: the same figures for its closed loop and, at half the rate, its two paced runs. */
function scenario(
  name: 'get' | 'put' | 'mix',
  target: 'baseline' | 'dkv' | 'dkv-nodes',
  figures: MeasurementFigures,
  open: { p99Ms: number } = { p99Ms: 20 },
) {
  const half = figures.requestsPerSecond / 2;
  const paced = { ...figures, requestsPerSecond: half, targetRate: half };
  return {
    scenario: name,
    target,
    closed: measurement('closed', figures),
    autocannonRate: measurement('autocannon-rate', paced),
    open: measurement('open', { ...paced, p99Ms: open.p99Ms }),
  };
}

/**
 * An HTTP result of both topologies (`--topology both`). Per closed-loop request (cores / requests
 * per second):
 *
 * | scenario       | coordinator          | storage nodes        | total     | loopback bytes |
 * |----------------|----------------------|----------------------|-----------|----------------|
 * | GET, dkv       | 0.1002 / 1000 = 100.2 µs | 0.0501 / 1000 = 50.1 µs | 150.3 µs | 9000 |
 * | GET, dkv-nodes | -                    | 0.16 / 2000 = 80 µs  | (0.16 + 0.002 cli) / 2000 = 81 µs | 6800 |
 * | GET, baseline  | -                    | -                    | 0.0401 / 2000 = 20.05 µs | 2500 |
 * | PUT, dkv       | 0.06 / 500 = 120 µs  | 0.02 / 500 = 40 µs   | 160 µs    | 9500 |
 * | PUT, dkv-nodes | -                    | 0.15 / 1000 = 150 µs | (0.15 + 0.001 cli) / 1000 = 151 µs | 7000 |
 * | PUT, baseline  | -                    | -                    | 0.03 / 1000 = 30 µs | 2600 |
 *
 * The mix carries other figures that the model must not pick up. Open loop at half of peak: dkv
 * GET p99 12.34 ms at 500 req/s, PUT p99 20 ms at 250; dkv-nodes GET p99 30 ms, PUT p99 15 ms.
 */
export function httpResult() {
  return {
    kind: 'http',
    startedAt: '2026-01-02T03:04:05.678Z',
    elapsedSeconds: 120,
    command: 'npx tsx benchmarks/http/bench.ts --topology both',
    settings: {
      quick: false,
      durationSeconds: 10,
      openDurationSeconds: 8,
      warmupSeconds: 3,
      connections: 32,
      keys: 100000,
      nodes: 3,
      topologies: ['coordinator', 'nodes'],
      valueBytes: 2048,
      preloadConcurrency: 64,
      pin: { servers: '0', loadGenerator: '1-1' },
      nice: -10,
      profile: false,
      maxMinutes: 13,
    },
    machine: {
      cpus: 2,
      cpuModel: 'Test CPU',
      totalMemoryBytes: 8 * 2 ** 30,
      node: 'v20.0.0',
      platform: 'linux',
      commit: 'abc1234',
      dirty: false,
    },
    preloadSeconds: { baseline: 1, dkv: 2, 'dkv-nodes': 2 },
    results: [
      scenario('get', 'baseline', { requestsPerSecond: 2000, serverCores: { baseline: 0.0401 }, loopbackBytesPerRequest: 2500 }),
      scenario(
        'get',
        'dkv',
        { requestsPerSecond: 1000, serverCores: { coordinator: 0.1002, nodes: 0.0501 }, loopbackBytesPerRequest: 9000 },
        { p99Ms: 12.34 },
      ),
      scenario(
        'get',
        'dkv-nodes',
        { requestsPerSecond: 2000, serverCores: { nodes: 0.16, cli: 0.002 }, loopbackBytesPerRequest: 6800 },
        { p99Ms: 30 },
      ),
      scenario('put', 'baseline', { requestsPerSecond: 1000, serverCores: { baseline: 0.03 }, loopbackBytesPerRequest: 2600 }),
      scenario('put', 'dkv', { requestsPerSecond: 500, serverCores: { coordinator: 0.06, nodes: 0.02 }, loopbackBytesPerRequest: 9500 }),
      scenario(
        'put',
        'dkv-nodes',
        { requestsPerSecond: 1000, serverCores: { nodes: 0.15, cli: 0.001 }, loopbackBytesPerRequest: 7000 },
        { p99Ms: 15 },
      ),
      scenario('mix', 'baseline', { requestsPerSecond: 5000, serverCores: { baseline: 0.5 }, loopbackBytesPerRequest: 1000 }),
      scenario('mix', 'dkv', { requestsPerSecond: 5000, serverCores: { coordinator: 0.5, nodes: 0.5 }, loopbackBytesPerRequest: 1000 }),
      scenario('mix', 'dkv-nodes', { requestsPerSecond: 5000, serverCores: { nodes: 0.9, cli: 0 }, loopbackBytesPerRequest: 1000 }),
    ],
    redis: [],
    profileDir: null,
    profiles: null,
  };
}

/**
 * The same HTTP result as run with the coordinator topology alone (the default `npm run bench`):
 * no `dkv-nodes` target, so the document has no section for coordinating nodes.
 */
export function coordinatorOnlyHttpResult() {
  const result = httpResult();
  const { 'dkv-nodes': _nodes, ...preloadSeconds } = result.preloadSeconds;
  return {
    ...result,
    command: 'npx tsx benchmarks/http/bench.ts',
    settings: { ...result.settings, topologies: ['coordinator'] },
    preloadSeconds,
    results: result.results.filter((r) => r.target !== 'dkv-nodes'),
  };
}

/** One storage engine measured in one process: `keys` keys of `payloadBytesPerKey`, `rssBytesPerKey` resident. */
function engine(name: string | undefined, keys: number, payloadBytesPerKey: number, rssBytesPerKey: number) {
  const rssBytes = keys * rssBytesPerKey;
  const payloadBytes = keys * payloadBytesPerKey;
  return {
    ...(name === undefined ? {} : { engine: name }),
    alloc: 'own',
    keys,
    payloadBytes,
    total: { rssBytes, heapBytes: rssBytes / 10, externalBytes: rssBytes / 2 },
    ratio: rssBytes / payloadBytes,
    fillSeconds: 1,
    layers: [],
    shapes: [],
  };
}

/** One real storage node process holding `keys` keys at `bytesPerKey` each. */
function node(name: string | undefined, keys: number, bytesPerKey: number) {
  return {
    ...(name === undefined ? {} : { engine: name }),
    keys,
    rssBeforeBytes: 100_000_000,
    rssAfterBytes: 100_000_000 + keys * bytesPerKey,
    bytesPerKey,
    payloadBytesPerKey: 2062,
    ratio: bytesPerKey / 2062,
    loadSeconds: 10,
  };
}

/**
 * A memory result: 1000 keys of 2062 payload bytes each (key + value). The compact engine (the
 * default, planned for) holds 2400 B per key in one process and 2500 B in a real node; the map
 * engine, which the model must not pick, 3000 B and 3100 B. `node` (older results' single node)
 * is the map one, as in the real file.
 */
export function memoryResult() {
  const mapNode = node('map', 1000, 3100);
  return {
    kind: 'memory',
    startedAt: '2026-01-02T01:00:00.000Z',
    elapsedSeconds: 60,
    command: 'npx tsx benchmarks/memory/bench.ts --node-keys 1000',
    machine: {
      cpus: 2,
      cpuModel: 'Test CPU',
      totalMemoryBytes: 8 * 2 ** 30,
      node: 'v20.0.0',
      platform: 'linux',
      commit: 'def5678',
      dirty: true,
    },
    targetRatio: 1.15,
    engines: [engine('map', 1000, 2062, 3000), engine('compact', 1000, 2062, 2400)],
    nodes: [mapNode, node('compact', 1000, 2500)],
    node: mapNode,
  };
}

/** A memory result as written before the engines were measured one by one: no engine names, one node. */
export function legacyMemoryResult() {
  const result = memoryResult();
  return {
    kind: result.kind,
    startedAt: result.startedAt,
    elapsedSeconds: result.elapsedSeconds,
    command: result.command,
    machine: result.machine,
    targetRatio: result.targetRatio,
    engines: [engine(undefined, 1000, 2062, 2800), { ...engine(undefined, 1000, 2062, 2600), alloc: 'pool' }],
    node: node(undefined, 100, 2900),
  };
}
