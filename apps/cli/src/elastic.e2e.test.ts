// Goal: an elastic cluster of real processes grows and shrinks online, as API.md promises: a
// node started with `dkv node --join` is added and data moves to it, `DELETE /v1/cluster/nodes/{id}`
// decommissions a node after its data moved, the coordinator follows by gossip, and every key
// written before stays readable throughout.
// Method: spawn three storage nodes (`--members`), a coordinator (`--join`), then a fourth node
// with `--join`, all on 127.0.0.1 from the built apps; drive them with fetch; every wait has a
// deadline; afterAll kills every process this test started, by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NODE_MAIN = fileURLToPath(new URL('../../node/dist/main.js', import.meta.url));
const COORDINATOR_MAIN = fileURLToPath(new URL('../../coordinator/dist/main.js', import.meta.url));
const KEYS = 200;
const DEADLINE_MS = 60_000;
/** Small rings and a short settle delay keep the test quick; the mechanism is the same. */
const NODE_FLAGS = ['--vnodes', '64', '--sync-settle-delay-ms', '500', '--log-level', 'warn'];

const processes: ChildProcess[] = [];
const output: string[] = [];
let url = '';
/** `host:port` of n1, the node a new node joins through. */
let seedAddress = '';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function start(main: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n').filter((line) => line.length > 0).slice(-20));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  processes.push(child);
  return child;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const giveUpAt = Date.now() + DEADLINE_MS;
  let last: unknown;
  while (Date.now() < giveUpAt) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (${String(last)})` : ''}\n${output.slice(-30).join('\n')}`);
}

interface ClusterView {
  readonly nodes: ReadonlyArray<{ id: string; status: string }>;
}

async function cluster(): Promise<ClusterView> {
  const res = await fetch(`${url}/v1/cluster`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as ClusterView;
}

async function readAll(): Promise<string[]> {
  const wrong: string[] = [];
  for (let i = 0; i < KEYS; i += 1) {
    const res = await fetch(`${url}/v1/kv/session%3A${i}`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    if (res.status !== 200 || text !== `value-${i}`) wrong.push(`session:${i} -> ${res.status} ${text.slice(0, 40)}`);
  }
  return wrong;
}

beforeAll(async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const members = ['n1', 'n2', 'n3'].map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
  ['n1', 'n2', 'n3'].forEach((id, i) => start(NODE_MAIN, ['--id', id, '--port', String(ports[i]), '--members', members, ...NODE_FLAGS]));
  start(COORDINATOR_MAIN, ['--id', 'c1', '--port', String(ports[3]), '--join', `127.0.0.1:${ports[0]}`, '--log-level', 'warn']);
  url = `http://127.0.0.1:${ports[3]}`;
  seedAddress = `127.0.0.1:${ports[0]}`;
  await waitFor('the coordinator to be ready', async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined));
  for (let i = 0; i < KEYS; i += 1) {
    const res = await fetch(`${url}/v1/kv/session%3A${i}`, { method: 'PUT', body: `value-${i}` });
    expect(res.status).toBe(200);
  }
}, DEADLINE_MS);

afterAll(async () => {
  for (const child of processes) if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
});

describe('elastic cluster of real processes', () => {
  it('adds a node started with --join: it becomes up and every key stays readable', async () => {
    const port = await freePort();
    start(NODE_MAIN, ['--id', 'n4', '--port', String(port), '--join', seedAddress, ...NODE_FLAGS]);
    await waitFor('n4 to join', async () => {
      const view = await cluster();
      return view.nodes.some((n) => n.id === 'n4' && n.status === 'up') && view.nodes.every((n) => n.status === 'up') ? view : undefined;
    });
    expect(await readAll()).toEqual([]);
  }, DEADLINE_MS * 2);

  it('decommissions a node with DELETE /v1/cluster/nodes/{id}: its data moves first, then it leaves', async () => {
    const res = await fetch(`${url}/v1/cluster/nodes/n2`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { status: string }).status).toBe('leaving');
    await waitFor('n2 to leave', async () => {
      const view = await cluster();
      return !view.nodes.some((n) => n.id === 'n2') ? view : undefined;
    });
    expect((await cluster()).nodes.map((n) => `${n.id}:${n.status}`).sort()).toEqual(['n1:up', 'n3:up', 'n4:up']);
    expect(await readAll()).toEqual([]);
    const distribution = (await (await fetch(`${url}/v1/cluster/distribution`)).json()) as Array<{ id: string; keys: number }>;
    expect(distribution.map((d) => d.id).sort()).toEqual(['n1', 'n3', 'n4']);
    expect(distribution.every((d) => d.keys > 0)).toBe(true);
  }, DEADLINE_MS * 2);
});
