/**
 * dkv's capacity model, regenerated from measured results:
 *
 *   npx tsx tools/capacity.ts benchmarks/results/http-latest.json benchmarks/results/memory-latest.json > docs/capacity.md
 *
 * From the HTTP benchmark it takes the CPU that each GET and each PUT cost the coordinator and the
 * storage nodes (server CPU seconds per request, measured from /proc during the closed-loop runs)
 * and the bytes each moved (loopback bytes per request, client and internode), and from the
 * memory benchmark the resident bytes per stored session. It scales them to the target load
 * (default 1M reads/s + 200k writes/s of 2 KB sessions at N=3) and prints Markdown: cores,
 * processes, machines, memory and network, with every assumption and the headroom stated.
 *
 * Flags (after the two files): --reads n --writes n --sessions n --utilisation u
 * --machine-cores c --machine-memory-gib g --memory-fill f.
 */
import { readFileSync } from 'node:fs';
import { fmt, parseFlags, table } from '../benchmarks/lib/args.js';

/** The fields of an http-*.json result the model reads. */
interface HttpRun {
  readonly command: string;
  readonly startedAt: string;
  readonly machine: { readonly commit: string; readonly dirty: boolean; readonly cpus: number; readonly cpuModel: string; readonly node: string };
  readonly settings: { readonly connections: number; readonly nodes: number; readonly valueBytes: number; readonly pin: unknown; readonly quick: boolean };
  readonly results: ReadonlyArray<{
    readonly scenario: 'get' | 'put' | 'mix';
    readonly target: 'baseline' | 'dkv';
    readonly closed: Measured;
    readonly autocannonRate: Measured;
    readonly open: Measured;
  }>;
}

interface Measured {
  readonly requestsPerSecond: number;
  readonly requestsPerServerCoreSecond: number;
  readonly loopbackBytesPerRequest: number | null;
  readonly latency: { readonly p50Ms: number; readonly p99Ms: number; readonly p999Ms: number };
  readonly targetRate: number | null;
  readonly cost: { readonly serverCores: Readonly<Record<string, number>>; readonly serverCoresTotal: number; readonly foreignCores: number };
}

/** The fields of a memory-*.json result the model reads. */
interface MemoryRun {
  readonly command: string;
  readonly startedAt: string;
  readonly machine: { readonly commit: string; readonly dirty: boolean };
  readonly engines: ReadonlyArray<{ readonly engine?: string; readonly alloc: string; readonly keys: number; readonly payloadBytes: number; readonly total: { readonly rssBytes: number }; readonly ratio: number }>;
  /** One real node per engine (newer results); `node` alone in older ones. */
  readonly nodes?: ReadonlyArray<{ readonly engine: string; readonly keys: number; readonly bytesPerKey: number; readonly ratio: number }>;
  readonly node: { readonly keys: number; readonly bytesPerKey: number; readonly ratio: number } | null;
}

/** The storage engine a node runs by default (`--engine`): the one the model plans memory for. */
const DEFAULT_ENGINE = 'compact';

const USAGE = `usage: npx tsx tools/capacity.ts <http-result.json> <memory-result.json> [--reads 1000000] [--writes 200000]
       [--sessions 50000000] [--utilisation 0.5] [--machine-cores 16] [--machine-memory-gib 64] [--memory-fill 0.7]`;

/** CPU seconds one request of `scenario` cost each dkv process group, from the closed-loop run. */
function cpuPerRequest(run: HttpRun, scenario: 'get' | 'put', target: 'baseline' | 'dkv'): { coordinator: number; nodes: number; total: number; measured: Measured } {
  const result = run.results.find((r) => r.scenario === scenario && r.target === target);
  if (!result) throw new Error(`${scenario}/${target} is missing from the HTTP result`);
  const m = result.closed;
  const per = (cores: number | undefined): number => (cores ?? 0) / m.requestsPerSecond;
  if (target === 'baseline') return { coordinator: per(m.cost.serverCoresTotal), nodes: 0, total: per(m.cost.serverCoresTotal), measured: m };
  return { coordinator: per(m.cost.serverCores['coordinator']), nodes: per(m.cost.serverCores['nodes']), total: per(m.cost.serverCoresTotal), measured: m };
}

function us(seconds: number): string {
  return `${(seconds * 1e6).toFixed(0)} µs`;
}

function main(): void {
  const [httpFile, memoryFile, ...rest] = process.argv.slice(2);
  if (!httpFile || !memoryFile) throw new Error(USAGE);
  const flags = parseFlags(
    rest,
    { reads: 'number', writes: 'number', sessions: 'number', utilisation: 'number', 'machine-cores': 'number', 'machine-memory-gib': 'number', 'memory-fill': 'number' },
    USAGE,
  );
  const num = (name: string, fallback: number): number => (typeof flags[name] === 'number' ? (flags[name] as number) : fallback);
  const reads = num('reads', 1_000_000);
  const writes = num('writes', 200_000);
  const sessions = num('sessions', 50_000_000);
  const utilisation = num('utilisation', 0.5);
  const machineCores = num('machine-cores', 16);
  const machineMemoryGiB = num('machine-memory-gib', 64);
  const memoryFill = num('memory-fill', 0.7);
  const n = 3;
  const http = JSON.parse(readFileSync(httpFile, 'utf8')) as HttpRun;
  const memory = JSON.parse(readFileSync(memoryFile, 'utf8')) as MemoryRun;

  const get = cpuPerRequest(http, 'get', 'dkv');
  const put = cpuPerRequest(http, 'put', 'dkv');
  const baseGet = cpuPerRequest(http, 'get', 'baseline');
  const basePut = cpuPerRequest(http, 'put', 'baseline');

  // CPU: measured seconds per request, scaled to the load, divided by the utilisation we allow.
  const coordinatorCores = (reads * get.coordinator + writes * put.coordinator) / utilisation;
  const nodeCores = (reads * get.nodes + writes * put.nodes) / utilisation;
  const baselineCores = (reads * baseGet.total + writes * basePut.total) / utilisation;
  const coordinatorProcesses = Math.ceil(coordinatorCores);
  const nodeProcesses = Math.max(n, Math.ceil(nodeCores));

  // Memory: resident bytes per stored session per replica, from the engine (after GC) and, when
  // measured, from a real node process (as operated, garbage included): the larger one is used.
  // Newer results measure each engine; the default one is planned for.
  const engine =
    memory.engines.find((e) => e.engine === DEFAULT_ENGINE && e.alloc === 'own') ?? memory.engines.find((e) => e.alloc === 'own') ?? memory.engines[0];
  if (!engine) throw new Error('the memory result has no engine measurement');
  const node = memory.nodes?.find((n) => n.engine === (engine.engine ?? DEFAULT_ENGINE)) ?? memory.node;
  const engineBytesPerKey = engine.total.rssBytes / engine.keys;
  const nodeBytesPerKey = node?.bytesPerKey ?? 0;
  const bytesPerReplica = Math.max(engineBytesPerKey, nodeBytesPerKey);
  const payloadPerKey = engine.payloadBytes / engine.keys;
  const memoryBytes = (sessions * n * bytesPerReplica) / memoryFill;
  const memoryAtTargetBytes = (sessions * n * payloadPerKey * 1.15) / memoryFill;

  // Network: bytes per request on loopback (each byte counted once), split into the client's
  // share (what the baseline moved for the same request) and internode (the rest).
  const bytes = (m: Measured): number => m.loopbackBytesPerRequest ?? 0;
  const clientGet = bytes(baseGet.measured);
  const clientPut = bytes(basePut.measured);
  const internodeGet = Math.max(0, bytes(get.measured) - clientGet);
  const internodePut = Math.max(0, bytes(put.measured) - clientPut);
  const clientBitsPerSecond = (reads * clientGet + writes * clientPut) * 8;
  const internodeBitsPerSecond = (reads * internodeGet + writes * internodePut) * 8;
  const gbit = (bits: number): string => `${(bits / 1e9).toFixed(1)} Gbit/s`;

  const totalProcessCores = coordinatorProcesses + nodeProcesses;
  const machinesForCpu = Math.ceil(totalProcessCores / machineCores);
  const machinesForMemory = Math.ceil(memoryBytes / (machineMemoryGiB * 2 ** 30));
  const machines = Math.max(machinesForCpu, machinesForMemory, n);
  const openP99 = (scenario: 'get' | 'put', target: 'baseline' | 'dkv'): Measured | undefined => http.results.find((r) => r.scenario === scenario && r.target === target)?.open;
  const foreignMax = Math.max(0, ...http.results.flatMap((r) => [r.closed, r.autocannonRate, r.open]).map((m) => m.cost.foreignCores));
  const getOpen = openP99('get', 'dkv');
  const putOpen = openP99('put', 'dkv');

  const lines = [
    '# dkv capacity model',
    '',
    `Generated by \`npx tsx tools/capacity.ts ${httpFile} ${memoryFile}${rest.length ? ` ${rest.join(' ')}` : ''}\` — do not edit by hand; rerun the benchmarks and regenerate.`,
    '',
    '## Inputs',
    '',
    `- HTTP: \`${http.command}\` at ${http.startedAt}, commit ${http.machine.commit}${http.machine.dirty ? ' (uncommitted changes)' : ''}, ${http.machine.cpus} x ${http.machine.cpuModel}, ${http.machine.node}${http.settings.quick ? ' — a --quick run: short runs, read the figures as rough' : ''}.`,
    ...(foreignMax > 0.25 ? [`- **The HTTP run was disturbed**: other processes used up to ${foreignMax.toFixed(2)} cores during its measurements. CPU per request (what this model scales) is measured per process and holds up better; its latencies do not.`] : []),
    `- Memory: \`${memory.command}\` at ${memory.startedAt}, commit ${memory.machine.commit}${memory.machine.dirty ? ' (uncommitted changes)' : ''}.`,
    `- Target load: ${fmt(reads)} reads/s + ${fmt(writes)} writes/s of ${http.settings.valueBytes}-byte sessions, N=${n} W=2 R=2; ${fmt(sessions)} live sessions (the users' ~50 million concurrent sessions; pass --sessions).`,
    '',
    '## Measured per request (dkv cluster of 3 storage nodes + 1 coordinator on one pinned core)',
    '',
    'CPU is user+system time of each process group during the closed-loop run, divided by the requests answered: it includes the work of every replica the request touched (today a GET asks all N=3 replicas for the full value and answers on the R-th; a PUT, with the default optimistic versioning, sends the record to all N at once and answers on the W-th that applied it over a lower version). Bytes are loopback bytes per request; the client share is what the bare-Fastify baseline moved for the same request, the rest is internode.',
    '',
    table(
      ['request', 'target', 'coordinator CPU', 'storage nodes CPU', 'total CPU', 'req/core-s', 'client bytes', 'internode bytes'],
      [
        ['GET', 'dkv', us(get.coordinator), us(get.nodes), us(get.total), fmt(1 / get.total), fmt(clientGet), fmt(internodeGet)],
        ['GET', 'bare Fastify', us(baseGet.total), '-', us(baseGet.total), fmt(1 / baseGet.total), fmt(clientGet), '0'],
        ['PUT', 'dkv', us(put.coordinator), us(put.nodes), us(put.total), fmt(1 / put.total), fmt(clientPut), fmt(internodePut)],
        ['PUT', 'bare Fastify', us(basePut.total), '-', us(basePut.total), fmt(1 / basePut.total), fmt(clientPut), '0'],
      ],
    ),
    '',
    `Per replica touched (÷ ${n}): a GET costs a storage node ${us(get.nodes / n)}, a PUT ${us(put.nodes / n)}. If GETs asked only R=2 replicas for values, storage CPU per GET would fall to about ${us((get.nodes * 2) / n)} and internode GET bytes to about ${fmt((internodeGet * 2) / n)}.`,
    '',
    '## Cores and processes',
    '',
    `Each dkv process is one Node.js event loop, so one core per process. Cores are planned at ${(utilisation * 100).toFixed(0)}% utilisation at the target load (headroom ${(1 / utilisation).toFixed(2)}x): the latency figures below were measured at 50% of peak, and queueing delay grows steeply beyond that.`,
    '',
    table(
      ['role', 'CPU at target load', 'cores at ' + `${(utilisation * 100).toFixed(0)}%`, 'processes'],
      [
        ['coordinators', `${fmt(coordinatorCores * utilisation, 1)} cores`, fmt(coordinatorCores, 1), fmt(coordinatorProcesses)],
        ['storage nodes', `${fmt(nodeCores * utilisation, 1)} cores`, fmt(nodeCores, 1), fmt(nodeProcesses)],
        ['total dkv', `${fmt((coordinatorCores + nodeCores) * utilisation, 1)} cores`, fmt(coordinatorCores + nodeCores, 1), fmt(totalProcessCores)],
        ['for comparison: bare Fastify + Map (no replication)', `${fmt(baselineCores * utilisation, 1)} cores`, fmt(baselineCores, 1), fmt(Math.ceil(baselineCores))],
      ],
    ),
    '',
    `dkv needs ${(((coordinatorCores + nodeCores) / baselineCores) || 0).toFixed(1)}x the cores of an unreplicated Fastify server for the same load.`,
    '',
    '## Memory',
    '',
    table(
      ['measure', 'bytes per session per replica', 'x payload'],
      [
        [`${engine.engine ?? 'map'} engine in one process (${engine.alloc} values, ${fmt(engine.keys)} keys, after GC)`, fmt(engineBytesPerKey), `${engine.ratio.toFixed(3)}x`],
        ...(node ? [[`real storage node process, ${engine.engine ?? 'map'} engine (${fmt(node.keys)} keys, as operated)`, fmt(node.bytesPerKey), `${node.ratio.toFixed(3)}x`]] : []),
        ['payload (key + value)', fmt(payloadPerKey), '1.000x'],
      ],
    ),
    '',
    `${fmt(sessions)} sessions x ${n} replicas x ${fmt(bytesPerReplica)} B, with nodes filled to ${(memoryFill * 100).toFixed(0)}% of their memory (the rest for V8 heap headroom, GC, buffers and tombstones kept for the grace period): **${fmt(memoryBytes / 2 ** 30, 1)} GiB** across the cluster, ${fmt(memoryBytes / 2 ** 30 / nodeProcesses, 2)} GiB per storage node process over ${fmt(nodeProcesses)} processes. At the 1.15x target it would be ${fmt(memoryAtTargetBytes / 2 ** 30, 1)} GiB. Per million sessions: ${fmt((1e6 * n * bytesPerReplica) / memoryFill / 2 ** 30, 2)} GiB.`,
    '',
    '## Network',
    '',
    table(
      ['traffic', 'per second at target load'],
      [
        ['clients ↔ coordinators', gbit(clientBitsPerSecond)],
        ['coordinators ↔ storage nodes', gbit(internodeBitsPerSecond)],
        ['total', gbit(clientBitsPerSecond + internodeBitsPerSecond)],
      ],
    ),
    '',
    `Loopback counts each byte once; on a real network the same bytes leave one machine and enter another. Spread over ${machines} machines, each NIC carries about ${gbit((clientBitsPerSecond + internodeBitsPerSecond) / machines)} each way on average (more where coordinators sit).`,
    '',
    '## Machines',
    '',
    `With ${machineCores}-core, ${machineMemoryGiB} GiB machines (pass --machine-cores and --machine-memory-gib): ${machinesForCpu} for CPU, ${machinesForMemory} for memory, at least ${n} for N=${n} replicas on distinct machines: **${machines} machines**.`,
    '',
    '## Latency at half of peak (open loop, from each request\'s due time)',
    '',
    getOpen && putOpen
      ? `GET p99 ${getOpen.latency.p99Ms.toFixed(1)} ms at ${fmt(getOpen.targetRate ?? 0)} req/s, PUT p99 ${putOpen.latency.p99Ms.toFixed(1)} ms at ${fmt(putOpen.targetRate ?? 0)} req/s (target: 10 ms). Measured with all four dkv processes sharing one core, so each hop may wait for the scheduler: a deployment with a core per process should do better; the model does not assume it.`
      : 'No open-loop figures in the HTTP result.',
    '',
    '## Assumptions',
    '',
    '- CPU per request scales linearly with the number of processes (no shared bottleneck but the network); coordinators are stateless and added freely behind a load balancer.',
    '- Per-request CPU measured on this machine\'s cores; another CPU model scales it by its single-thread speed.',
    '- The load-balancer and TLS cost are not included; neither is the CPU of anti-entropy, hinted handoff or rebalancing.',
    '- Every read finds its key (a miss costs less); writes carry TTLs; values are 2 KB.',
    `- ${(1 / utilisation).toFixed(2)}x CPU headroom and ${(1 / memoryFill).toFixed(2)}x memory headroom as stated above; one machine lost leaves ${machines - 1} machines, which the CPU headroom absorbs when machines ≥ ${Math.ceil(1 / (1 - utilisation))}.`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

try {
  main();
} catch (error) {
  process.stderr.write(`capacity: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
