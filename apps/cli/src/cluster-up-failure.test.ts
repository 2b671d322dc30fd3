// Goal: `dkv cluster up` never leaves processes behind when the cluster cannot go on: if the
// coordinator dies, it says so, stops every other child it started and exits 1; and it never
// takes a stranger listening on a port it chose for its own child (a fresh-clone CI run once
// printed "ready" for another test's process on the coordinator's port).
// Method: spawn the built CLI with one storage node on a free port, SIGKILL the coordinator by
// the pid it announced on stderr, and check the exit code and that every announced pid is gone;
// then start it on a port a stranger HTTP server holds (answering 200 to everything, /readyz
// included) and check it exits 1 naming the coordinator, without a ready line.
// Then, in this process, `clusterUp` whose port chooser first gives a node ports a stranger holds:
// it must start again on other ports and become ready (a fresh-clone CI run once lost a node's
// chosen port to another test's server between the choice and the bind, and `cluster up` exited).
// And `clusterUp` whose port chooser offers the coordinator's own ports (free until it binds them)
// must not give them to a node: the coordinator would then fail to bind and the cluster stop.
// They run side by side (it.concurrent), each with its own `cluster up` and pids. Every wait
// has a deadline, and a wait that gives up prints what `cluster up` wrote; afterAll kills leftovers by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { clusterUp as clusterUpHere, LOCAL_HOST, START_ATTEMPTS } from './cluster-up.js';
import { isAlive, waitUntil } from './e2e-support.js';
import { findFreePorts } from './ports.js';

const CLI = fileURLToPath(new URL('../bin/dkv.js', import.meta.url));
/** Every `cluster up` started, and every pid any of them announced, for afterAll. */
const started: ChildProcess[] = [];
const announced: number[] = [];
const strangers: Server[] = [];

/** Waits for `check`; at the deadline fails with what `cluster up` wrote to stderr so far. */
async function until(what: string, timeoutMs: number, check: () => boolean, stderr: readonly string[] = []): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr:\n${stderr.join('\n')}`);
    await sleep(50);
  }
}

/** An HTTP server on a free 127.0.0.1 port answering 200 "stranger" to everything. */
async function startStranger(): Promise<number> {
  const server = createServer((_req, res) => res.end('stranger'));
  strangers.push(server);
  await new Promise<void>((resolve) => server.listen(0, LOCAL_HOST, resolve));
  return (server.address() as AddressInfo).port;
}

afterAll(() => {
  for (const server of strangers) server.close();
  for (const cli of started)
    if (cli.pid !== undefined && cli.exitCode === null && cli.signalCode === null) process.kill(cli.pid, 'SIGKILL');
  for (const pid of announced) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

/** Starts `dkv cluster up --nodes 1 --port <port>`; records every pid it announces. */
function clusterUp(port: number): {
  exit: Promise<number | null>;
  stderr: string[];
  isReady: () => boolean;
  hasExited: () => boolean;
  pids: Map<string, number>;
} {
  const cli = spawn(process.execPath, [CLI, 'cluster', 'up', '--nodes', '1', '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DKV_RESP_PORT: '0', DKV_LOG_LEVEL: 'warn' },
  });
  started.push(cli);
  const pids = new Map<string, number>();
  let exited = false;
  const exit = new Promise<number | null>((resolve) =>
    cli.on('exit', (code) => {
      exited = true;
      resolve(code);
    }),
  );
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
  return { exit, stderr, isReady: () => ready, hasExited: () => exited, pids };
}

it.concurrent(
  'stops the nodes and exits 1 when the coordinator dies',
  async () => {
    const { exit, stderr, isReady, hasExited, pids } = clusterUp(0);
    await until('the ready line', 30_000, () => isReady() || hasExited(), stderr);
    expect(isReady(), stderr.join('\n')).toBe(true);
    process.kill(pids.get('c1')!, 'SIGKILL');
    const code = await Promise.race([exit, sleep(20_000).then(() => 'timeout' as const)]);
    expect(code).toBe(1);
    expect(
      stderr.some((line) => /coordinator c1 \(pid \d+\) exited unexpectedly \(signal SIGKILL\); stopping the cluster/.test(line)),
    ).toBe(true);
    await until('every child to be gone', 5000, () => [...pids.values()].every((pid) => !isAlive(pid)), stderr);
  },
  60_000,
);

it.concurrent(
  'never takes a stranger on the coordinator port for its coordinator: exits 1 without a ready line',
  async () => {
    const port = await startStranger();
    const { exit, stderr, isReady, pids } = clusterUp(port);
    const code = await Promise.race([exit, sleep(30_000).then(() => 'timeout' as const)]);
    expect(isReady()).toBe(false);
    expect(code).toBe(1);
    expect(stderr.some((line) => /coordinator c1 \(pid \d+\) exited unexpectedly \(exit code 1\); stopping the cluster/.test(line))).toBe(
      true,
    );
    await until('every child to be gone', 5000, () => [...pids.values()].every((pid) => !isAlive(pid)), stderr);
  },
  60_000,
);

it.concurrent(
  'starts again on other ports when a port it chose for a node is taken before the node binds it',
  async () => {
    const taken = await startStranger();
    let choices = 0;
    const stop = new AbortController();
    const out: string[] = [];
    const err: string[] = [];
    const running = clusterUpHere(
      { nodes: 2, port: 0, respPort: 0, topology: 'nodes', logLevel: 'warn', readyTimeoutMs: 30_000 },
      { out: (line) => out.push(line), err: (line) => err.push(line) },
      {
        signal: stop.signal,
        execArgv: [],
        // The first choice gives n2 the stranger's port, as if another process took it after the choice.
        choosePorts: async (count, host) => {
          choices += 1;
          const free = await findFreePorts(count, host);
          return choices === 1 ? [free[0]!, taken, ...free.slice(2)] : free;
        },
      },
    );
    let code: number | undefined;
    void running.then((c) => (code = c));
    try {
      await until('the ready line', 45_000, () => out.some((line) => line.startsWith('dkv ready at ')) || code !== undefined, err);
      expect(code, err.join('\n')).toBeUndefined();
      expect(choices).toBe(2);
      expect(
        err.some((line) =>
          line.includes(`node n2 found port ${taken} taken by another process; starting again on other ports (try 2 of ${START_ATTEMPTS})`),
        ),
      ).toBe(true);
      // The ready node answers on a port other than the stranger's.
      const ready = out.find((line) => line.startsWith('dkv ready at '))!;
      expect(ready).not.toContain(`:${taken}`);
      // dkv's own answer, not the stranger's ("stranger", 200, to everything). Two nodes need each
      // other for their quorums, so on a loaded machine one missed heartbeat can make a node answer
      // 503 for a moment after the ready line (a fresh-clone CI run saw it): polled, bounded.
      const body = await waitUntil(
        'the ready node to answer /readyz with 200',
        async () => {
          const res = await fetch(`${ready.slice('dkv ready at '.length)}/readyz`, { signal: AbortSignal.timeout(2000) });
          return res.status === 200 ? res.text() : undefined;
        },
        { deadlineMs: 20_000 },
      );
      expect(JSON.parse(body)).toEqual({ status: 'ready' });
    } finally {
      stop.abort();
      expect(await running).toBe(0);
    }
    for (const line of err) {
      const match = /^dkv: node \S+ pid (\d+) at /.exec(line);
      if (match) expect(isAlive(Number(match[1]))).toBe(false);
    }
  },
  60_000,
);

it.concurrent(
  'never gives a node the port or the Redis port asked for the coordinator, even when the system offers them as free',
  async () => {
    const [asked, askedResp] = await findFreePorts(2, LOCAL_HOST);
    const stop = new AbortController();
    const out: string[] = [];
    const err: string[] = [];
    const running = clusterUpHere(
      { nodes: 2, port: asked!, respPort: askedResp!, topology: 'coordinator', logLevel: 'warn', readyTimeoutMs: 30_000 },
      { out: (line) => out.push(line), err: (line) => err.push(line) },
      {
        signal: stop.signal,
        execArgv: [],
        // Both ports are free until the coordinator binds them, so the system may well offer them for the nodes.
        choosePorts: async (count, host) => [asked!, askedResp!, ...(await findFreePorts(count, host))].slice(0, count),
      },
    );
    let code: number | undefined;
    void running.then((c) => (code = c));
    try {
      await until('the ready line', 45_000, () => out.some((line) => line.startsWith('dkv ready at ')) || code !== undefined, err);
      expect(code, err.join('\n')).toBeUndefined();
      expect(out).toContain(`dkv redis at redis://${LOCAL_HOST}:${askedResp}`);
      expect(out).toContain(`dkv ready at http://${LOCAL_HOST}:${asked}`);
      const nodes = err.filter((line) => /^dkv: node \S+ pid \d+ at /.test(line));
      expect(nodes).toHaveLength(2);
      for (const line of nodes) expect(line).not.toMatch(new RegExp(`:(${asked}|${askedResp})\\b`));
    } finally {
      stop.abort();
      expect(await running).toBe(0);
    }
  },
  60_000,
);
