/**
 * The durability benchmark: what the durable log costs beside the compact engine, at the storage
 * engine (one process, no network) and at a real node over its port, and what start-up and the
 * disk cost.
 *
 *   npm run bench:durability -- [--sessions 1000000] [--ops 100000] [--dir /tmp] [--batch 64]
 *     [--requests 50000] [--connections 50] [--no-node]
 *
 * Measured, side by side, with 2048-byte values under `session:<n>` keys:
 * 1. fsync cost on `--dir`: one 2 KiB write then fdatasync, 100 times (the floor of `--fsync always`).
 * 2. apply (what a PUT does at the replica) of `--ops` new sessions: the compact engine alone, and
 *    the durable engine with `--fsync never`, `100` (the default) and `always` (writes applied in
 *    turns of `--batch`, each turn waiting for its group commit, as concurrent PUTs do); after a
 *    warm-up, the engines in turn for three rounds, medians reported (see `engineLevel`).
 * 3. get (what a GET does at the replica) of the same keys, on each of those engines.
 * 4. restart: `--sessions` sessions written through a durable engine that is then dropped, and a
 *    new engine opens the directory and replays; the replay time, and the growth of the process's
 *    resident memory from before the writes to after the replay, per session, against the
 *    payload (key + value bytes): an upper bound of the replayed engine's memory.
 * 5. disk: every session overwritten once (the log holds twice the live data), a merge run to its
 *    end, then the log's bytes per session against the payload.
 * 6. the floor of a restart on this machine: the CPU time to write as many bytes of memory the
 *    process never touched as the replayed sessions hold (every value is copied into new memory).
 * 7. node level (`--no-node` skips it): PUT (SET) and GET through a real one-node cluster's Redis
 *    door from redis-benchmark (`--requests`, `--connections`, 2048-byte values), the node in
 *    memory, with `--data-dir` (default fsync) and with `--fsync always`: requests per second per
 *    core of the node's CPU, and the ratios to the in-memory node (see `node-level.ts`).
 *
 * The engine-level rows isolate the engine, the whole cost of a PUT there; the node-level rows
 * are what a user sees, where the network and the protocol are most of a request's cost.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { NodeLogDirectory, SystemClock, TimerScheduler } from '@dkv/runtime';
import { CompactStorageEngine, DurableStorageEngine, type FsyncPolicy } from '@dkv/storage';
import type { VersionedValue } from '@dkv/core';
import { parseFlags } from '../lib/args.js';
import { nodeLevelRows } from './node-level.js';

const USAGE =
  'npm run bench:durability -- [--sessions 1000000] [--ops 100000] [--dir /tmp] [--batch 64] [--requests 50000] [--connections 50] [--no-node]';
const flags = parseFlags(
  process.argv.slice(2),
  { sessions: 'number', ops: 'number', dir: 'string', batch: 'number', requests: 'number', connections: 'number', 'no-node': 'boolean' },
  USAGE,
);
const sessions = Number(flags.sessions ?? 1_000_000);
const ops = Number(flags.ops ?? 100_000);
const batch = Number(flags.batch ?? 64);
const root = mkdtempSync(join(String(flags.dir ?? '/tmp'), 'dkv-durability-bench-'));
const clock = new SystemClock();
const scheduler = new TimerScheduler();
const VALUE_BYTES = 2048;
const value = Buffer.alloc(VALUE_BYTES, 7);
const record = (version: number): VersionedValue => ({
  value,
  version,
  writerId: 'c1',
  createdAt: 1,
  updatedAt: 1,
  expiresAt: null,
  tombstone: false,
});
const key = (i: number): string => `session:${i}`;
const lines: string[] = [];
const report = (line: string): void => {
  lines.push(line);
  console.log(line);
};

function compact(): CompactStorageEngine {
  return new CompactStorageEngine({ clock, tombstoneGraceMs: 3_600_000 });
}

function durable(name: string, fsync: FsyncPolicy, extra: { mergeMinBytes?: number } = {}): DurableStorageEngine<CompactStorageEngine> {
  return DurableStorageEngine.open({
    engine: compact(),
    directory: new NodeLogDirectory(join(root, name)),
    nodeId: 'bench',
    fsync,
    clock,
    scheduler,
    ...extra,
  });
}

function perSecond(count: number, startedMs: number): number {
  return Math.round(count / ((performance.now() - startedMs) / 1000));
}

async function applyRate(engine: {
  apply(k: string, r: VersionedValue): unknown;
  persisted?: () => Promise<void> | null;
}): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < ops; i += batch) {
    for (let j = i; j < Math.min(ops, i + batch); j += 1) engine.apply(key(j), record(1));
    const waiting = engine.persisted?.();
    if (waiting) await waiting;
  }
  return perSecond(ops, started);
}

function getRate(engine: { peek?(k: string): unknown; get(k: string): unknown }): number {
  const started = performance.now();
  for (let i = 0; i < ops; i += 1) (engine.peek ?? engine.get).call(engine, key(i));
  return perSecond(ops, started);
}

function fsyncMs(): number {
  const fd = openSync(join(root, 'fsync-probe'), 'w');
  const started = performance.now();
  for (let i = 0; i < 100; i += 1) {
    writeSync(fd, value);
    fdatasyncSync(fd);
  }
  closeSync(fd);
  return (performance.now() - started) / 100;
}

/**
 * CPU time to write 256 MiB of memory the process never touched, per GiB, in 1 MiB arrays as the
 * compact engine's slabs are: the floor of a restart, which must copy every value into new
 * memory. On a virtual machine whose host hands pages over lazily (a Firecracker VM with free
 * page reporting, say) this is about 20 times a warm copy, and it dominates the replay.
 */
function freshMemoryCpuMsPerGiB(): number {
  const source = Buffer.alloc(1024 * 1024, 3);
  const kept: Uint8Array[] = [];
  const before = process.cpuUsage();
  for (let i = 0; i < 256; i += 1) {
    const slab = new Uint8Array(1024 * 1024);
    slab.set(source);
    kept.push(slab);
  }
  const cpu = process.cpuUsage(before);
  return ((cpu.user + cpu.system) / 1000) * 4 * (kept.length / 256);
}

/**
 * Writes the sessions of the restart measurement through an engine that is then dropped, so its
 * memory is not counted with the replayed one's. Replay reads the same bytes after a SIGKILL (they
 * are in the page cache); closing only stops this engine's timers, so that one engine works on
 * the directory.
 */
function writeSessions(): void {
  const writer = durable('restart', { mode: 'interval', intervalMs: 100 });
  for (let i = 0; i < sessions; i += 1) writer.apply(key(i), record(1));
  writer.close();
}

/** Section 7: PUT and GET through a real node, in memory against durable. */
async function nodeLevel(): Promise<void> {
  const settings = {
    requests: Number(flags.requests ?? 50_000),
    connections: Number(flags.connections ?? 50),
    keys: 10_000,
    valueBytes: VALUE_BYTES,
    dir: root,
  };
  const rows = await nodeLevelRows(settings);
  const base = (test: string) => rows.find((row) => row.storage === 'in memory' && row.test === test);
  report(
    `node level: one-node cluster (node --coordinate, N=1) over its Redis door, redis-benchmark -d ${VALUE_BYTES} -c ${settings.connections} -n ${settings.requests} -r ${settings.keys}; per core of the node's CPU`,
  );
  for (const row of rows) {
    const ratio = row.storage === 'in memory' ? '' : ` = ${(row.perCore / (base(row.test)?.perCore ?? Number.NaN)).toFixed(2)}x in memory`;
    report(
      `node level, ${row.test} ${row.storage}: ${Math.round(row.perCore)}/s per core (${Math.round(row.requestsPerSecond)}/s, ${row.cpuUsPerRequest.toFixed(0)} us of CPU per request)${ratio}`,
    );
  }
}

/** The engines of section 2 and 3, each made fresh on a directory of its own. */
const ENGINE_VARIANTS: readonly {
  name: string;
  make: (dir: string) => CompactStorageEngine | DurableStorageEngine<CompactStorageEngine>;
}[] = [
  { name: 'compact engine alone', make: () => compact() },
  { name: 'durable --fsync never', make: (dir) => durable(dir, { mode: 'never' }) },
  { name: 'durable --fsync 100 (default)', make: (dir) => durable(dir, { mode: 'interval', intervalMs: 100 }) },
  { name: 'durable --fsync always', make: (dir) => durable(dir, { mode: 'always' }) },
];
/** Rounds of section 2 and 3: every engine is measured once per round, in turn, and its median reported. */
const ENGINE_ROUNDS = 3;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * Sections 2 and 3. The engine measured first in a process pays for memory the process never
 * touched (see {@link freshMemoryCpuMsPerGiB}), the ones after it reuse what the collector freed:
 * measured once each in a fixed order, the compact baseline ran slower than the durable engine
 * wrapping it. So a warm-up engine is filled and dropped first, the engines are measured in turn
 * for {@link ENGINE_ROUNDS} rounds (each fresh, its log deleted after), and each one's median is
 * reported.
 */
async function engineLevel(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  await applyRate(compact());
  gc?.();
  const applies = ENGINE_VARIANTS.map(() => [] as number[]);
  const gets = ENGINE_VARIANTS.map(() => [] as number[]);
  for (let round = 0; round < ENGINE_ROUNDS; round += 1) {
    for (const [i, variant] of ENGINE_VARIANTS.entries()) {
      const dir = `engine-${i}-${round}`;
      const engine = variant.make(dir);
      applies[i]!.push(await applyRate(engine));
      gets[i]!.push(getRate(engine));
      if (engine instanceof DurableStorageEngine) engine.close();
      rmSync(join(root, dir), { recursive: true, force: true });
      gc?.();
    }
  }
  const baseApply = median(applies[0]!);
  const baseGet = median(gets[0]!);
  report(
    `engine level: ${ops} new sessions applied (turns of ${batch}, each waiting for its commit) then read, median of ${ENGINE_ROUNDS} rounds, engines in turn`,
  );
  for (const [i, variant] of ENGINE_VARIANTS.entries()) {
    const apply = median(applies[i]!);
    const get = median(gets[i]!);
    const ratios = i === 0 ? '' : ` (apply ${(apply / baseApply).toFixed(2)}x, get ${(get / baseGet).toFixed(2)}x the compact engine)`;
    report(`engine level, ${variant.name}: apply ${apply}/s, get ${get}/s${ratios}`);
  }
}

async function main(): Promise<void> {
  // The engine's timers are unref'd (a node's servers keep it alive); this keeps the benchmark alive while it waits for them.
  const keepAlive = setInterval(() => undefined, 1000);
  report(`durability bench: ${sessions} sessions, ${ops} ops, 2048-byte values, dir ${root}, node ${process.version}`);
  report(`fsync (2 KiB write + fdatasync): ${fsyncMs().toFixed(2)} ms`);
  if (flags['no-node'] !== true) await nodeLevel();
  await engineLevel();
  const payloadPerSession = Buffer.byteLength(key(sessions - 1)) + VALUE_BYTES;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  // The baseline is taken before the sessions are written: the writer's memory, once dropped, is
  // reused by the replayed engine rather than given back to the system.
  const rssBefore = process.memoryUsage().rss;
  writeSessions();
  // The writer's last turn of appends is written from setImmediate, which holds the writer until
  // it runs: one turn lets it go, so that its memory is reused by the replayed engine.
  await new Promise((resolveTurn) => setImmediate(resolveTurn));
  gc?.();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const reopened = durable('restart', { mode: 'interval', intervalMs: 100 }, { mergeMinBytes: 0 });
  const replayMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  // CPU time is the figure a loaded shared machine distorts least: wall time includes waiting for a core.
  const replayCpuMs = (cpu.user + cpu.system) / 1000;
  gc?.();
  const rssPerSession = (process.memoryUsage().rss - rssBefore) / sessions;
  report(
    `restart: replayed ${reopened.durability().recoveredEntries} sessions in ${(replayMs / 1000).toFixed(2)} s (${(replayCpuMs / 1000).toFixed(2)} s of CPU); resident memory of the replayed engine ${Math.round(rssPerSession)} bytes per session = ${(rssPerSession / payloadPerSession).toFixed(3)}x the payload (${payloadPerSession} bytes)${gc ? '' : ' (run with --expose-gc for a figure after GC)'}`,
  );
  for (let i = 0; i < sessions; i += 1) reopened.apply(key(i), record(2));
  const before = reopened.durability().diskBytes;
  while (reopened.durability().merges === 0) {
    reopened.mergeStep();
    if (reopened.durability().mergesFailed > 0) throw new Error('the merge failed');
  }
  const after = reopened.durability().diskBytes;
  report(
    `disk: ${(before / sessions).toFixed(0)} bytes per session with every session written twice, ${(after / sessions).toFixed(0)} after the merge = ${(after / sessions / payloadPerSession).toFixed(3)}x the payload`,
  );
  reopened.close();
  // Measured last, so that its memory is not counted in the restart's resident figure.
  const touch = freshMemoryCpuMsPerGiB();
  const floorCpuMs = (touch * sessions * payloadPerSession) / 2 ** 30;
  report(
    `fresh memory: writing new memory costs ${touch.toFixed(0)} ms of CPU per GiB here; the replayed payload alone would cost ${(floorCpuMs / 1000).toFixed(2)} s of CPU, so the restart took ${(replayCpuMs / floorCpuMs).toFixed(2)}x that floor`,
  );
  clearInterval(keepAlive);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => rmSync(root, { recursive: true, force: true }));
