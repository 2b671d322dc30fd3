// Goal: `dkv cluster up` never leaves processes behind when the cluster cannot go on: if the
// coordinator dies, it says so, stops every other child it started and exits 1.
// Method: spawn the built CLI with one storage node on a free port, SIGKILL the coordinator by
// the pid it announced on stderr, and check the exit code and that every announced pid is gone.
// Every wait has a deadline; afterAll kills leftovers by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { isAlive } from './e2e-support.js';

const CLI = fileURLToPath(new URL('../bin/dkv.js', import.meta.url));
const pids = new Map<string, number>();
let cli: ChildProcess | undefined;

async function until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

afterAll(() => {
  if (cli?.pid !== undefined && cli.exitCode === null && cli.signalCode === null) process.kill(cli.pid, 'SIGKILL');
  for (const pid of pids.values()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

it('stops the nodes and exits 1 when the coordinator dies', async () => {
  cli = spawn(process.execPath, [CLI, 'cluster', 'up', '--nodes', '1', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DKV_RESP_PORT: '0', DKV_LOG_LEVEL: 'warn' },
  });
  const exit = new Promise<number | null>((resolve) => cli!.on('exit', (code) => resolve(code)));
  const stderr: string[] = [];
  let ready = false;
  createInterface({ input: cli.stdout! }).on('line', (line) => (ready ||= line.startsWith('dkv ready at ')));
  createInterface({ input: cli.stderr! }).on('line', (line) => {
    stderr.push(line);
    const match = /^dkv: (?:node|coordinator) (\S+) pid (\d+) at /.exec(line);
    if (match) pids.set(match[1]!, Number(match[2]));
  });
  await until('the ready line', 30_000, () => ready);
  process.kill(pids.get('c1')!, 'SIGKILL');
  const code = await Promise.race([exit, sleep(20_000).then(() => 'timeout' as const)]);
  expect(code).toBe(1);
  expect(stderr.some((line) => /coordinator c1 \(pid \d+\) exited unexpectedly \(signal SIGKILL\); stopping the cluster/.test(line))).toBe(
    true,
  );
  await until('every child to be gone', 5000, () => [...pids.values()].every((pid) => !isAlive(pid)));
}, 60_000);
