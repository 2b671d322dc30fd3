/**
 * Real dkv processes for end-to-end tests, started through the `dkv` command on 127.0.0.1 with
 * the children's `DKV_*` settings: reading `cluster up`'s ready line, its
 * `dkv: node <id> pid <pid> at <address>` announcements and its Redis doors, waiting with
 * deadlines, and stopping every process started, by pid. Shared by the CLI's e2e tests and the
 * session store's framework tests, so that both start and stop clusters the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from './wait-until.js';

/** How long {@link CliProcesses.stopAll} lets processes stop on SIGTERM before it kills what is left. */
const TERM_GRACE_MS = 500;
/** How long {@link CliProcesses.stopAll} waits for killed processes to be reaped. */
const KILL_WAIT_MS = 5000;

/** Whether a process of ours is still running (signal 0 tests without touching it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The processes one test file started through the CLI, and what they announced. */
export class CliProcesses {
  readonly announced = new Map<string, { pid: number; address: string }>();
  /** The coordinators `cluster up` announced (`dkv: coordinator <id> pid <pid> at <address>`). */
  readonly coordinators = new Map<string, { pid: number; address: string }>();
  /** The coordinator URL from `cluster up`'s ready line, once printed. */
  url = '';
  /** The Redis door's URL from `cluster up`'s `dkv redis at` line, once printed. */
  redisUrl = '';
  /** Every node's Redis door, in node order, from `cluster up --topology nodes`'s line listing them. */
  redisUrls: string[] = [];
  private readonly processes: ChildProcess[] = [];
  /** The URL each process started here printed on its ready line. */
  private readonly readyLines = new Map<ChildProcess, string>();
  private readonly output: string[] = [];

  private readonly env: NodeJS.ProcessEnv;

  /**
   * @param cli the path of the `dkv` command's script (`apps/cli/bin/dkv.js`), run with this node
   * @param env the processes' environment; `DKV_RESP_PORT` defaults to 0 there, so clusters of
   *   tests running side by side do not all reach for the Redis door's default port
   */
  constructor(
    private readonly cli: string,
    env: NodeJS.ProcessEnv,
    private readonly deadlineMs: number,
  ) {
    this.env = { DKV_RESP_PORT: '0', ...env };
  }

  /**
   * Runs `dkv <args>` in the background, keeping the last lines of its output for error messages.
   * `via` is a command that runs it in turn and then becomes it (`ip netns exec <ns>` execs, so the
   * pid is still the dkv process's); by default node runs the CLI directly.
   */
  start(args: string[], via: readonly string[] = []): ChildProcess {
    const [command, ...prefix] = [...via, process.execPath];
    const child = spawn(command!, [...prefix, this.cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: this.env });
    const keep = (chunk: Buffer): void => {
      for (const line of chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l.length > 0)) {
        this.output.push(line);
        const match = /^dkv: node (\S+) pid (\d+) at (\S+)/.exec(line);
        if (match) this.announced.set(match[1]!, { pid: Number(match[2]), address: match[3]! });
        const coordinator = /^dkv: coordinator (\S+) pid (\d+) at (\S+)/.exec(line);
        if (coordinator) this.coordinators.set(coordinator[1]!, { pid: Number(coordinator[2]), address: coordinator[3]! });
        const ready = /^dkv ready at (\S+)/.exec(line);
        if (ready) {
          this.url = ready[1]!;
          this.readyLines.set(child, ready[1]!);
        }
        const redis = /^dkv redis at (\S+)/.exec(line);
        if (redis) this.redisUrl = redis[1]!;
        const doors = /^dkv: every node serves the Redis protocol: (.+)$/.exec(line);
        if (doors) this.redisUrls = doors[1]!.split(' ');
      }
      this.output.splice(0, Math.max(0, this.output.length - 200));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.processes.push(child);
    return child;
  }

  /** Polls `probe` until it returns a value, or fails after the deadline with the recent output. */
  waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    return waitUntil(what, probe, { deadlineMs: this.deadlineMs, context: () => this.output.slice(-30).join('\n') });
  }

  /**
   * Waits for `child` (a `cluster up` started here) to print its ready line and answers its URL;
   * fails as soon as the child exits without printing it (a coordinator that could not bind its
   * port, say), with the recent output, instead of at the deadline.
   */
  readyUrl(child: ChildProcess, what = 'the ready line'): Promise<string> {
    return waitUntil(what, () => this.readyLines.get(child), {
      deadlineMs: this.deadlineMs,
      context: () => this.output.slice(-30).join('\n'),
      hopeless: () => {
        if (child.exitCode !== null) return `dkv exited with code ${child.exitCode} before printing it`;
        if (child.signalCode !== null) return `dkv was stopped by ${child.signalCode} before printing it`;
        return undefined;
      },
    });
  }

  /**
   * SIGTERM to every process started, then SIGKILL to any left, announced children included; waits
   * (boundedly) until the processes started have exited, so that what they ran in can be removed.
   */
  async stopAll(): Promise<void> {
    const running = (child: ChildProcess): boolean => child.pid !== undefined && child.exitCode === null && child.signalCode === null;
    const exited = Promise.all(this.processes.filter(running).map((child) => new Promise((resolve) => child.once('exit', resolve))));
    for (const child of this.processes) if (running(child)) child.kill('SIGTERM');
    await Promise.race([exited, sleep(TERM_GRACE_MS, undefined, { ref: false })]);
    for (const child of this.processes) {
      if (!running(child)) continue;
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    for (const { pid } of [...this.announced.values(), ...this.coordinators.values()]) {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone: cluster up stopped its children.
      }
    }
    await Promise.race([exited, sleep(KILL_WAIT_MS, undefined, { ref: false })]);
  }
}
