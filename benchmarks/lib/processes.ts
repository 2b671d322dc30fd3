/**
 * Child processes of a benchmark and what the kernel says about them. Every process a benchmark
 * starts is registered in a {@link ProcessRegistry} and stopped by its pid (SIGTERM, then SIGKILL
 * after a deadline) when the benchmark ends, fails, runs out of time or gets Ctrl-C; nothing is
 * ever stopped by name.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { isAlive } from '@dkv/testkit';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/** One started process: its pid and a promise that settles when it has exited. */
export interface Started {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  hasExited: boolean;
}

/** How long a process may take to stop after SIGTERM before it gets SIGKILL. */
const STOP_DEADLINE_MS = 15_000;

/** The processes a benchmark started, stopped in reverse order of start. */
export class ProcessRegistry {
  private readonly started: Started[] = [];
  /** Pids that belong to a registered process (e.g. `cluster up`'s children), killed only if still alive after their parent stopped. */
  private readonly orphans = new Map<number, string>();

  /** Starts `command args` and registers it; stdout and stderr lines go to `onLine`. */
  start(
    name: string,
    command: string,
    args: readonly string[],
    options: SpawnOptions,
    onLine: (stream: 'out' | 'err', line: string) => void,
  ): Started {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new Error(`cannot start ${name} (${command})`);
    const proc: Started = {
      name,
      pid: child.pid,
      child,
      hasExited: false,
      exited: new Promise<void>((resolve) => {
        child.once('exit', () => {
          proc.hasExited = true;
          resolve();
        });
      }),
    };
    child.once('error', (error) => onLine('err', `${name}: ${error.message}`));
    if (child.stdout) createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => onLine('out', line));
    if (child.stderr) createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => onLine('err', line));
    this.started.push(proc);
    return proc;
  }

  /** Records a pid that a registered process started, to be killed if its parent failed to stop it. */
  adopt(pid: number, name: string): void {
    this.orphans.set(pid, name);
  }

  /** Stops one process by pid: SIGTERM, then SIGKILL after the deadline. */
  async stop(proc: Started): Promise<void> {
    if (proc.hasExited) return;
    signal(proc.pid, 'SIGTERM');
    const result = await Promise.race([
      proc.exited.then(() => 'exited' as const),
      sleep(STOP_DEADLINE_MS, 'deadline' as const, { ref: false }),
    ]);
    if (result === 'deadline') {
      process.stderr.write(`bench: ${proc.name} (pid ${proc.pid}) ignored SIGTERM for ${STOP_DEADLINE_MS} ms; killing it\n`);
      signal(proc.pid, 'SIGKILL');
      await Promise.race([proc.exited, sleep(2000, undefined, { ref: false })]);
    }
  }

  /** Stops everything still running, newest first, then any adopted pid that outlived its parent. */
  /**
   * Stops every registered process and exits on SIGINT (130), SIGTERM (143) or once `maxMinutes`
   * have passed (1), logging why; the benchmark clears the returned timer when it ends normally.
   */
  stopOnSignalsOrDeadline(maxMinutes: number, log: (line: string) => void): NodeJS.Timeout {
    let stopping = false;
    const abort = (why: string, code: number): void => {
      if (stopping) return;
      stopping = true;
      log(`${why}: stopping every process this benchmark started`);
      void this.stopAll().then(() => process.exit(code));
    };
    process.once('SIGINT', () => abort('interrupted (SIGINT)', 130));
    process.once('SIGTERM', () => abort('terminated (SIGTERM)', 143));
    const deadline = setTimeout(() => abort(`time limit of ${maxMinutes} min reached`, 1), maxMinutes * 60_000);
    deadline.unref();
    return deadline;
  }

  async stopAll(): Promise<void> {
    for (const proc of [...this.started].reverse()) await this.stop(proc);
    for (const [pid, name] of this.orphans) {
      if (!isAlive(pid)) continue;
      process.stderr.write(`bench: ${name} (pid ${pid}) outlived its parent; stopping it\n`);
      signal(pid, 'SIGTERM');
      for (let i = 0; i < 50 && isAlive(pid); i += 1) await sleep(100);
      if (isAlive(pid)) signal(pid, 'SIGKILL');
    }
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** Clock ticks per second of /proc times (USER_HZ, 100 on Linux unless told otherwise). */
export const CLOCK_TICKS = (() => {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(result.stdout?.trim());
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
})();

/** CPU seconds (user + system, all threads) a process has used so far, or null when it cannot be read. */
export function cpuSecondsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** Resident set size of a process in bytes (VmRSS), or null when it cannot be read. */
export function rssBytesOf(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Bytes received on the loopback interface so far (every byte sent on lo is received on lo), or null. */
export function loopbackBytes(): number | null {
  try {
    const line = readFileSync('/proc/net/dev', 'utf8')
      .split('\n')
      .find((l) => l.trim().startsWith('lo:'));
    if (!line) return null;
    const fields = line.trim().slice(3).trim().split(/\s+/);
    return Number(fields[0]);
  } catch {
    return null;
  }
}

/** Whether `command` is an executable on PATH. */
export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * CPU pinning on a 2-core machine: the servers under test get one set of cores and the load
 * generator (this process, all its threads) another, so neither steals the other's CPU and the
 * servers' throughput is a per-core figure. Returns what was done, for the report.
 */
export function pinSelf(cpus: string): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/**
 * The command that starts `command args` pinned to `cpus` (taskset) and at scheduling priority
 * `nice` (lower runs first; negative needs root), either or both off when null. The prefixes exec
 * the command, so the pid spawned is the command's own pid.
 */
export function pinnedCommand(
  cpus: string | null,
  command: string,
  args: readonly string[],
  nice: number | null = null,
): [string, string[]] {
  const prefix = [...(nice === null ? [] : ['nice', '-n', String(nice)]), ...(cpus === null ? [] : ['taskset', '-c', cpus])];
  const [first, ...rest] = [...prefix, command, ...args];
  return [first ?? command, rest];
}

/**
 * Raises this process's scheduling priority to `nice` (all its threads), so that a build or test
 * run started beside the benchmark on the same cores takes what the benchmark leaves, instead of
 * half of it. Returns whether it worked (it needs root for a negative value).
 */
export function reniceSelf(nice: number): boolean {
  const tids = (() => {
    try {
      return readdirSync(`/proc/${process.pid}/task`).map(Number);
    } catch {
      return [process.pid];
    }
  })();
  let ok = true;
  for (const tid of tids) {
    try {
      setPriority(tid, nice);
    } catch {
      ok = false;
    }
  }
  return ok;
}

/** CPUs the servers and the load generator run on (taskset lists), or null when not pinned. */
export interface CpuPin {
  readonly servers: string;
  readonly loadGenerator: string;
}

/**
 * How the benchmarks pin: servers to CPU 0 and the load generator to every other CPU, so a
 * server works at saturation on its core as it would at load; null (no pinning) when `wanted` is
 * false, the machine has one CPU, or taskset is missing.
 */
export function cpuPin(wanted: boolean): CpuPin | null {
  const count = cpus().length;
  return wanted && count >= 2 && onPath('taskset') ? { servers: '0', loadGenerator: `1-${count - 1}` } : null;
}
