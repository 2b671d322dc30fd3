/**
 * What a benchmark run costs, from the kernel's counters: CPU seconds of the servers under test,
 * of the load generator and of the whole machine (so CPU taken by anything else, e.g. another
 * build running on the same two cores, shows up as "foreign" instead of silently skewing the
 * figures), and bytes carried on the loopback interface.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as hdr from 'hdr-histogram-js';
import { CLOCK_TICKS, cpuSecondsOf, loopbackBytes } from './processes.js';

/** A group of server processes whose CPU is accounted together (e.g. "coordinator", "storage nodes"). */
export interface PidGroup {
  readonly name: string;
  readonly pids: readonly number[];
}

/** CPU and network used during one run, per second of wall time. */
export interface RunCost {
  readonly wallSeconds: number;
  /** Cores busy with each server group on average (CPU seconds / wall seconds). */
  readonly serverCores: Readonly<Record<string, number>>;
  /** Sum of {@link serverCores}. */
  readonly serverCoresTotal: number;
  /** Cores busy with this process (the load generator, all threads). */
  readonly loadGeneratorCores: number;
  /** Cores busy machine-wide minus servers and load generator: anything else that ran. */
  readonly foreignCores: number;
  /** Bytes received on loopback during the run, or null when /proc/net/dev is unreadable. */
  readonly loopbackBytes: number | null;
}

interface Snapshot {
  readonly atMs: number;
  readonly groups: Record<string, number>;
  readonly self: number;
  readonly machineBusy: number;
  readonly lo: number | null;
}

/** CPU seconds the whole machine spent busy (not idle or iowait), from /proc/stat. */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return (total - idle) / CLOCK_TICKS;
}

function snapshot(groups: readonly PidGroup[]): Snapshot {
  const usage = process.cpuUsage();
  return {
    atMs: performance.now(),
    groups: Object.fromEntries(groups.map((g) => [g.name, g.pids.reduce((sum, pid) => sum + (cpuSecondsOf(pid) ?? 0), 0)])),
    self: (usage.user + usage.system) / 1e6,
    machineBusy: machineBusySeconds(),
    lo: loopbackBytes(),
  };
}

/** Starts measuring; the returned function ends the measurement and gives the costs. */
export function startCostMeter(groups: readonly PidGroup[]): () => RunCost {
  const before = snapshot(groups);
  return () => {
    const after = snapshot(groups);
    const wallSeconds = (after.atMs - before.atMs) / 1000;
    const serverCores = Object.fromEntries(
      groups.map((g) => [g.name, ((after.groups[g.name] ?? 0) - (before.groups[g.name] ?? 0)) / wallSeconds]),
    );
    const serverCoresTotal = Object.values(serverCores).reduce((a, b) => a + b, 0);
    const loadGeneratorCores = (after.self - before.self) / wallSeconds;
    const machineCores = (after.machineBusy - before.machineBusy) / wallSeconds;
    return {
      wallSeconds,
      serverCores,
      serverCoresTotal,
      loadGeneratorCores,
      foreignCores: Math.max(0, machineCores - serverCoresTotal - loadGeneratorCores),
      loopbackBytes: before.lo === null || after.lo === null ? null : after.lo - before.lo,
    };
  };
}

/** A latency histogram in microseconds, 1 µs to 60 s at 3 significant digits. */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Percentiles of a microsecond histogram, in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

/** {@link LatencySummary} of `histogram` (all zero when it is empty). */
export function summarize(histogram: hdr.Histogram): LatencySummary {
  const at = (p: number): number => (histogram.totalCount === 0 ? 0 : histogram.getValueAtPercentile(p) / 1000);
  return {
    count: histogram.totalCount,
    p50Ms: at(50),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs: histogram.totalCount === 0 ? 0 : histogram.maxValue / 1000,
  };
}

/** What a result file says about the machine and the code it measured. */
export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly totalMemoryBytes: number;
  readonly node: string;
  readonly platform: string;
  readonly commit: string;
  /** Whether the work tree had uncommitted changes: the figures then describe code no commit holds. */
  readonly dirty: boolean;
}

/** The machine this runs on and the commit of the work tree in `cwd`. */
export function machineInfo(cwd: string): MachineInfo {
  const git = (args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    totalMemoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    commit: git(['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
  };
}
