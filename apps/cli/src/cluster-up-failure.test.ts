// Goal: `dkv cluster up` never leaves processes behind when the cluster cannot go on: if the
// coordinator dies, it says so, stops every other child it started and exits 1; and it never
// takes a stranger listening on a port it chose for its own child (a fresh-clone CI run once
// printed "ready" for another test's process on the coordinator's port).
// Method: spawn the built CLI with one storage node on a free port, SIGKILL the coordinator by
// the pid it announced on stderr, and check the exit code and that every announced pid is gone;
// then start it on a port a stranger HTTP server holds (answering 200 to everything, /readyz
// included) and check it exits 1 naming the coordinator, without a ready line.
// The two run side by side (it.concurrent), each with its own `cluster up` and pids. Every wait
// has a deadline; afterAll kills leftovers by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { isAlive } from './e2e-support.js';

const CLI = fileURLToPath(new URL('../bin/dkv.js', import.meta.url));
/** Every `cluster up` started, and every pid any of them announced, for afterAll. */
const started: ChildProcess[] = [];
const announced: number[] = [];
let stranger: Server | undefined;

async function until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

afterAll(() => {
  stranger?.close();
  for (const cli of started)
    if (cli.pid !== undefined && cli.exitCode === null && cli.signalCode === null) process.kill(cli.pid, 'SIGKILL');
  for (const pid of announced) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

/** Starts `dkv cluster up --nodes 1 --port <port>`; records every pid it announces. */
function clusterUp(port: number): { exit: Promise<number | null>; stderr: string[]; isReady: () => boolean; pids: Map<string, number> } {
  const cli = spawn(process.execPath, [CLI, 'cluster', 'up', '--nodes', '1', '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DKV_RESP_PORT: '0', DKV_LOG_LEVEL: 'warn' },
  });
  started.push(cli);
  const pids = new Map<string, number>();
  const exit = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
  const stderr: string[] = [];
  let ready = false;
  createInterface({ input: cli.stdout! }).on('line', (line) => (ready ||= line.startsWith('dkv ready at ')));
  createInterface({ input: cli.stderr! }).on('line', (line) => {
    stderr.push(line);
    const match = /^dkv: (?:node|coordinator) (\S+) pid (\d+) at /.exec(line);
    if (match) {
      pids.set(match[1]!, Number(match[2]));
      announced.push(Number(match[2]));
    }
  });
  return { exit, stderr, isReady: () => ready, pids };
}

it.concurrent(
  'stops the nodes and exits 1 when the coordinator dies',
  async () => {
    const { exit, stderr, isReady, pids } = clusterUp(0);
    await until('the ready line', 30_000, isReady);
    process.kill(pids.get('c1')!, 'SIGKILL');
    const code = await Promise.race([exit, sleep(20_000).then(() => 'timeout' as const)]);
    expect(code).toBe(1);
    expect(
      stderr.some((line) => /coordinator c1 \(pid \d+\) exited unexpectedly \(signal SIGKILL\); stopping the cluster/.test(line)),
    ).toBe(true);
    await until('every child to be gone', 5000, () => [...pids.values()].every((pid) => !isAlive(pid)));
  },
  60_000,
);

it.concurrent(
  'never takes a stranger on the coordinator port for its coordinator: exits 1 without a ready line',
  async () => {
    stranger = createServer((_req, res) => res.end('stranger'));
    await new Promise<void>((resolve) => stranger!.listen(0, '127.0.0.1', resolve));
    const { port } = stranger.address() as AddressInfo;
    const { exit, stderr, isReady, pids } = clusterUp(port);
    const code = await Promise.race([exit, sleep(30_000).then(() => 'timeout' as const)]);
    expect(isReady()).toBe(false);
    expect(code).toBe(1);
    expect(stderr.some((line) => /coordinator c1 \(pid \d+\) exited unexpectedly \(exit code 1\); stopping the cluster/.test(line))).toBe(
      true,
    );
    await until('every child to be gone', 5000, () => [...pids.values()].every((pid) => !isAlive(pid)));
  },
  60_000,
);
