/**
 * The memory benchmark: resident memory per stored 2 KiB session in each storage engine, and the
 * ratio of resident memory to payload (key + value bytes). The target is 1.15x.
 *
 *   npx tsx benchmarks/memory/bench.ts [--keys 1000000] [--engines map,compact] [--alloc own,pool] [--node-keys 100000]
 *
 * Two measurements, each for every engine of `--engines` (`map`: InMemoryStorageEngine, a Map of
 * record objects; `compact`: CompactStorageEngine, slabs and typed arrays), same keys and values:
 *
 * 1. In one process per engine and allocation mode (a child started with `node --expose-gc
 *    --conditions=development --import tsx`, so `@dkv/storage` runs from source and every figure
 *    is taken after a full GC): the engine filled with `--keys` records of `session:<n>` keys and
 *    2048-byte values, built up in layers so each layer's cost is its own delta (see
 *    engine-child.ts): for `map`, key strings, value bytes, record objects, then the engine's own
 *    structures (`apply`), which are then taken apart by building each shape alone at the same
 *    count (Map entries, per-key objects, the scan-bucket Sets, the TTL heap's arrays); for
 *    `compact`, key strings, then `apply` (which copies each value into a slab), split by kind.
 *    `--alloc` chooses how values are allocated: `own` (each value in its own exact-size
 *    ArrayBuffer: what the internode codec hands a replica, since it copies request values out of
 *    the frame) and/or `pool` (`Buffer.from`, which carves values under 4 KiB out of Node's shared
 *    8 KiB slabs).
 * 2. Through a real storage node process (`--node-keys`, 0 to skip): `dkv cluster up --nodes 1`
 *    (N=W=R=1) with `DKV_ENGINE` set to the engine, sessions written through the public API, the
 *    node's RSS (from /proc) before and after. Needs the built apps (`npx nx run-many -t build`).
 *
 * Results: benchmarks/results/memory-<stamp>.{json,md} and memory-latest.{json,md}.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, parseFlags, stamp, table } from '../lib/args.js';
import { machineInfo, type MachineInfo } from '../lib/measure.js';
import { ProcessRegistry, rssBytesOf, type Started } from '../lib/processes.js';
import { SESSION_VALUE_BYTES, sessionValuePool } from '@dkv/testkit';
import { preload } from '../http/load.js';
import type { EngineResult } from './engine-child.js';
import { ENGINE_CLASS, type EngineKind } from './engine-kinds.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RESULTS_DIR = join(ROOT, 'benchmarks/results');
const CLI = join(ROOT, 'apps/cli/bin/dkv.js');
const TARGET_RATIO = 1.15;

const USAGE = `usage: npx tsx benchmarks/memory/bench.ts [--keys n] [--engines map,compact] [--alloc own,pool] [--node-keys n] [--max-minutes m]
  --keys        sessions stored in the in-process engine (default 1000000)
  --engines     engines to measure, comma-separated: map (InMemoryStorageEngine), compact (CompactStorageEngine) (default both)
  --alloc       value allocation modes to measure, comma-separated: own, pool (default own)
  --node-keys   sessions written through a real 1-node cluster (default 100000; 0 skips it)
  --max-minutes abort after this long, stopping everything (default 10)`;

const t0 = performance.now();
function log(line: string): void {
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
}

/** What a node-process measurement found. */
interface NodeResult {
  readonly engine: EngineKind;
  readonly keys: number;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
  readonly bytesPerKey: number;
  readonly payloadBytesPerKey: number;
  readonly ratio: number;
  readonly loadSeconds: number;
}

/** Runs one engine measurement in a child process with --expose-gc; resolves its result. */
function runEngineChild(registry: ProcessRegistry, keys: number, alloc: string, engine: EngineKind): Promise<EngineResult> {
  const label = `${engine}, ${alloc}`;
  return new Promise((resolveResult, reject) => {
    let result: EngineResult | null = null;
    const child = registry.start(
      `engine child (${label})`,
      process.execPath,
      [
        '--expose-gc',
        '--max-old-space-size=16384',
        '--conditions=development',
        '--import',
        'tsx',
        join(ROOT, 'benchmarks/memory/engine-child.ts'),
        String(keys),
        alloc,
        engine,
      ],
      { cwd: ROOT },
      (stream, line) => {
        if (stream === 'out' && line.startsWith('RESULT ')) result = JSON.parse(line.slice(7)) as EngineResult;
        else log(`  [${label}] ${line}`);
      },
    );
    void child.exited.then(() =>
      result ? resolveResult(result) : reject(new Error(`the engine child (${label}) exited without a result`)),
    );
  });
}

/** Writes `keys` sessions through a 1-node cluster whose node runs `engine` and measures the storage node's RSS. */
async function measureNode(registry: ProcessRegistry, keys: number, engine: EngineKind): Promise<NodeResult> {
  if (!existsSync(join(ROOT, 'apps/node/dist/main.js')))
    throw new Error('the apps are not built: run `npx nx run-many -t build` first, or pass --node-keys 0');
  // A node built before the --engine setting existed would ignore DKV_ENGINE and measure the default engine.
  if (engine !== 'map' && !readFileSync(join(ROOT, 'apps/node/dist/config.js'), 'utf8').includes('DKV_ENGINE'))
    throw new Error('the built node has no --engine setting: rebuild the apps (`npx nx run-many -t build`), or pass --node-keys 0');
  let nodePid = 0;
  let cli: Started | undefined;
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error('dkv cluster up did not get ready within 60 s')), 60_000);
    const env = { ...process.env, DKV_ENGINE: engine };
    cli = registry.start(
      'dkv cluster up',
      process.execPath,
      [CLI, 'cluster', 'up', '--nodes', '1', '--port', '0'],
      { cwd: ROOT, detached: true, env },
      (stream, line) => {
        const node = /^dkv: node \S+ pid (\d+) at /.exec(line);
        if (node?.[1]) {
          nodePid = Number(node[1]);
          registry.adopt(nodePid, 'dkv storage node');
        }
        const coordinator = /^dkv: coordinator \S+ pid (\d+) at /.exec(line);
        if (coordinator?.[1]) registry.adopt(Number(coordinator[1]), 'dkv coordinator');
        const ready = /^dkv ready at (http:\/\/\S+)$/.exec(line);
        if (stream === 'out' && ready?.[1]) {
          clearTimeout(timer);
          resolveUrl(ready[1]);
        }
      },
    );
    void cli.exited.then(() => reject(new Error('dkv cluster up exited during start-up')));
  });
  await new Promise((r) => setTimeout(r, 1000));
  const rssBeforeBytes = rssBytesOf(nodePid) ?? 0;
  log(
    `1-node cluster at ${url} (${engine} engine), storage node pid ${nodePid} RSS ${fmt(rssBeforeBytes / 2 ** 20, 1)} MiB; writing ${fmt(keys)} sessions`,
  );
  const values = sessionValuePool(256, SESSION_VALUE_BYTES);
  const loadSeconds = await preload(url, { keys, values, seed: 1 }, 64, 3600, (done) =>
    log(`  ${fmt(done)} / ${fmt(keys)} written, node RSS ${fmt((rssBytesOf(nodePid) ?? 0) / 2 ** 20, 0)} MiB`),
  );
  // Let the node finish in-flight work and its collector settle before reading RSS.
  await new Promise((r) => setTimeout(r, 3000));
  const rssAfterBytes = rssBytesOf(nodePid) ?? 0;
  if (cli) await registry.stop(cli);
  const payloadBytesPerKey = SESSION_VALUE_BYTES + `session:${keys >> 1}`.length;
  const bytesPerKey = (rssAfterBytes - rssBeforeBytes) / keys;
  return {
    engine,
    keys,
    rssBeforeBytes,
    rssAfterBytes,
    bytesPerKey,
    payloadBytesPerKey,
    ratio: bytesPerKey / payloadBytesPerKey,
    loadSeconds,
  };
}

function mib(bytes: number): string {
  return fmt(bytes / 2 ** 20, 1);
}

function renderReport(
  engines: readonly EngineResult[],
  nodes: readonly NodeResult[],
  machine: MachineInfo,
  command: string,
  elapsedSeconds: number,
): string {
  const parts = [
    '# Memory benchmark: resident bytes per stored session',
    '',
    `- command: \`${command}\``,
    `- commit ${machine.commit}${machine.dirty ? ' (work tree had uncommitted changes)' : ''}, ${machine.node}, ${machine.cpus} x ${machine.cpuModel}, ${machine.platform}; run took ${elapsedSeconds.toFixed(0)} s`,
    `- payload = key bytes + value bytes (\`session:<n>\` keys, ${SESSION_VALUE_BYTES}-byte values); target: resident ≤ ${TARGET_RATIO}x payload`,
    '',
    '## Each engine in one process (after full GC)',
    '',
    table(
      ['engine', 'values', 'keys', 'payload MiB', 'RSS delta MiB', 'RSS B/key', 'x payload', 'heap B/key', 'external B/key', 'fill s'],
      engines.map((e) => [
        ENGINE_CLASS[e.engine],
        e.alloc,
        fmt(e.keys),
        mib(e.payloadBytes),
        mib(e.total.rssBytes),
        fmt(e.total.rssBytes / e.keys),
        `${e.ratio.toFixed(3)}x`,
        fmt(e.total.heapBytes / e.keys),
        fmt(e.total.externalBytes / e.keys),
        e.fillSeconds.toFixed(1),
      ]),
    ),
  ];
  for (const e of engines) {
    parts.push(
      '',
      `### Where the bytes go (${ENGINE_CLASS[e.engine]}, ${e.alloc} values, ${fmt(e.keys)} keys; each layer measured as the delta it added)`,
      '',
      table(
        ['layer', 'what', 'RSS B/key', 'heap B/key', 'external B/key'],
        e.layers.map((l) => [l.name, l.what, fmt(l.rssBytes / e.keys, 1), fmt(l.heapBytes / e.keys, 1), fmt(l.externalBytes / e.keys, 1)]),
      ),
      '',
      ...(e.engine === 'map'
        ? [
            'The engine layer taken apart (each shape built alone at the same count, V8 heap delta after GC):',
            '',
            table(
              ['shape', 'what', 'heap B/key'],
              e.shapes.map((s) => [s.name, s.what, fmt(s.heapBytes / e.keys, 1)]),
            ),
          ]
        : [
            "The engine layer by kind of memory (value slabs from the engine's stats; the rest of its external delta; its V8 heap delta):",
            '',
            table(
              ['part', 'what', 'heap B/key', 'external B/key'],
              e.shapes.map((s) => [s.name, s.what, fmt(s.heapBytes / e.keys, 1), fmt(s.externalBytes / e.keys, 1)]),
            ),
          ]),
    );
  }
  if (nodes.length > 0) {
    parts.push(
      '',
      '## Through a real storage node process (1-node cluster, N=W=R=1, written through the public API)',
      '',
      table(
        ['engine', 'keys', 'RSS before MiB', 'RSS after MiB', 'RSS B/key', 'payload B/key', 'x payload', 'load s'],
        nodes.map((node) => [
          ENGINE_CLASS[node.engine],
          fmt(node.keys),
          mib(node.rssBeforeBytes),
          mib(node.rssAfterBytes),
          fmt(node.bytesPerKey),
          fmt(node.payloadBytesPerKey),
          `${node.ratio.toFixed(3)}x`,
          node.loadSeconds.toFixed(1),
        ]),
      ),
      '',
      'No forced GC in the node: its RSS includes whatever garbage and heap headroom V8 kept at that moment, as it would in operation.',
    );
  }
  return `${parts.join('\n')}\n`;
}

async function main(): Promise<number> {
  const flags = parseFlags(
    process.argv.slice(2),
    { keys: 'number', engines: 'string', alloc: 'string', 'node-keys': 'number', 'max-minutes': 'number' },
    USAGE,
  );
  const keys = Math.max(1000, Math.round((flags['keys'] as number | undefined) ?? 1_000_000));
  const engineKinds = String(flags['engines'] ?? 'map,compact')
    .split(',')
    .filter(Boolean);
  for (const engine of engineKinds)
    if (engine !== 'map' && engine !== 'compact') throw new Error(`--engines takes map and/or compact, got ${JSON.stringify(engine)}`);
  const allocs = String(flags['alloc'] ?? 'own')
    .split(',')
    .filter(Boolean);
  for (const alloc of allocs)
    if (alloc !== 'own' && alloc !== 'pool') throw new Error(`--alloc takes own and/or pool, got ${JSON.stringify(alloc)}`);
  const nodeKeys = Math.round((flags['node-keys'] as number | undefined) ?? 100_000);
  const maxMinutes = (flags['max-minutes'] as number | undefined) ?? 10;
  const command = `npx tsx benchmarks/memory/bench.ts ${process.argv.slice(2).join(' ')}`.trim();
  const machine = machineInfo(ROOT);
  const registry = new ProcessRegistry();
  const deadline = registry.stopOnSignalsOrDeadline(maxMinutes, log);
  try {
    const engines: EngineResult[] = [];
    for (const engine of engineKinds as EngineKind[]) {
      for (const alloc of allocs) {
        log(`${ENGINE_CLASS[engine]}: ${fmt(keys)} sessions, ${alloc} values`);
        engines.push(await runEngineChild(registry, keys, alloc, engine));
      }
    }
    const nodes: NodeResult[] = [];
    if (nodeKeys > 0) for (const engine of engineKinds as EngineKind[]) nodes.push(await measureNode(registry, nodeKeys, engine));
    await registry.stopAll();
    const elapsedSeconds = (performance.now() - t0) / 1000;
    const report = renderReport(engines, nodes, machine, command, elapsedSeconds);
    const runStamp = stamp();
    mkdirSync(RESULTS_DIR, { recursive: true });
    // `node` (one result) is what tools/capacity.ts reads: the default engine's (map) node run.
    // It also takes the first `own` run of `engines`, which is the map engine's when it was measured.
    const node = nodes.find((n) => n.engine === 'map') ?? null;
    const json = {
      kind: 'memory',
      startedAt: new Date(Date.now() - elapsedSeconds * 1000).toISOString(),
      elapsedSeconds,
      command,
      machine,
      targetRatio: TARGET_RATIO,
      engines,
      nodes,
      node,
    };
    writeFileSync(join(RESULTS_DIR, `memory-${runStamp}.json`), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(RESULTS_DIR, `memory-${runStamp}.md`), report);
    copyFileSync(join(RESULTS_DIR, `memory-${runStamp}.json`), join(RESULTS_DIR, 'memory-latest.json'));
    copyFileSync(join(RESULTS_DIR, `memory-${runStamp}.md`), join(RESULTS_DIR, 'memory-latest.md'));
    process.stdout.write(`\n${report}\n`);
    log(`wrote benchmarks/results/memory-${runStamp}.json and .md (and memory-latest.*)`);
    return 0;
  } catch (error) {
    process.stderr.write(`memory bench: ${error instanceof Error ? error.message : String(error)}\n`);
    await registry.stopAll();
    return 1;
  } finally {
    clearTimeout(deadline);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`memory bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
