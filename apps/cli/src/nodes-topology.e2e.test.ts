// Goal: `dkv cluster up --topology nodes` runs a cluster without a coordinator process in which
// every storage node serves the public API (issue #3, "any node can coordinate"): a write through
// any node is read through every other, a delete through one is a 404 through the rest, each
// node answers /v1/cluster, reads and writes keep working through the survivors when a node is
// killed, and SIGTERM stops every process with exit 0.
// Method: spawn the built CLI on 127.0.0.1 with --port 0 (e2e-support), take the ready line's URL
// and the nodes' pids and addresses from its announcements, talk to each node with fetch and the
// SDK, kill a node by pid. Every wait is a bounded poll; afterAll kills whatever is left, by pid.
import { KVStoreClient } from '@dkv/client';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses, isAlive } from './e2e-support.js';

const DEADLINE_MS = 45_000;
const NODES = ['n1', 'n2', 'n3'] as const;
const cli = new CliProcesses({ ...process.env, DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);
let clusterUp: ChildProcess;
let exited: Promise<number | null>;
const urls = new Map<string, string>();

function nodeUrl(id: string): string {
  const url = urls.get(id);
  if (url === undefined) throw new Error(`node ${id} was not announced`);
  return url;
}

async function request(id: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${nodeUrl(id)}${path}`, { method, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(5000) });
  return { status: res.status, text: await res.text() };
}

beforeAll(async () => {
  clusterUp = cli.start(['cluster', 'up', '--topology', 'nodes', '--nodes', '3', '--port', '0']);
  exited = new Promise((resolve) => clusterUp.once('exit', (code) => resolve(code)));
  await cli.readyUrl(clusterUp);
  for (const id of NODES)
    urls.set(id, `http://${(await cli.waitFor(`node ${id} to be announced`, async () => cli.announced.get(id))).address}`);
}, DEADLINE_MS + 5000);

afterAll(async () => {
  await cli.stopAll();
}, 30_000);

describe('dkv cluster up --topology nodes', () => {
  it('names the first node on the ready line, and every node is ready to coordinate', async () => {
    expect(cli.url).toBe(nodeUrl('n1'));
    for (const id of NODES) expect((await request(id, 'GET', '/readyz')).status).toBe(200);
    // A node whose first heartbeat to a peer was refused (the peer still starting) holds it down
    // until its next heartbeat answers, so the view is awaited, within a few heartbeats.
    const view = async () =>
      JSON.parse((await request('n3', 'GET', '/v1/cluster')).text) as {
        replication: unknown;
        nodes: Array<{ id: string; status: string }>;
      };
    const states = async () => (await view()).nodes.map((node) => `${node.id}:${node.status}`);
    expect((await view()).replication).toEqual({ n: 3, w: 2, r: 2 });
    await expect.poll(states, { timeout: 5000, interval: 100 }).toEqual(['n1:up', 'n2:up', 'n3:up']);
  });

  it('reads through every node what was written through any node', async () => {
    for (const writer of NODES) {
      const put = await request(writer, 'PUT', `/v1/kv/${encodeURIComponent(`session:${writer}`)}?ttl=600`, `{"by":"${writer}"}`);
      expect(put.status, put.text).toBe(200);
    }
    for (const reader of NODES) {
      for (const writer of NODES) {
        const get = await request(reader, 'GET', `/v1/kv/${encodeURIComponent(`session:${writer}`)}`);
        expect(get.status).toBe(200);
        expect(get.text).toBe(`{"by":"${writer}"}`);
      }
    }
  });

  it('deletes through one node, and the key is gone through the others', async () => {
    expect((await request('n2', 'PUT', '/v1/kv/doomed', 'x')).status).toBe(200);
    expect((await request('n3', 'DELETE', '/v1/kv/doomed')).status).toBe(204);
    for (const reader of NODES) {
      // r=3 needs every replica: on a loaded machine a heartbeat can miss and hold one down for a
      // moment (503), which says nothing about the delete; the key must read as gone once all answer.
      await expect
        .poll(async () => (await request(reader, 'GET', '/v1/kv/doomed?r=3')).status, { timeout: 10_000, interval: 200 })
        .toBe(404);
      const get = await request(reader, 'GET', '/v1/kv/doomed?r=3');
      expect((JSON.parse(get.text) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
  });

  it('serves the SDK from any node', async () => {
    const writer = new KVStoreClient({ url: nodeUrl('n2'), timeoutMs: 5000 });
    const reader = new KVStoreClient({ url: nodeUrl('n3'), timeoutMs: 5000 });
    try {
      const { version } = await writer.put('sdk:1', 'hello', 60);
      const read = await reader.get('sdk:1');
      expect(read?.version).toBe(version);
      expect(Buffer.from(read?.value ?? new Uint8Array()).toString()).toBe('hello');
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  it('keeps reading and writing through the survivors when a node is killed', async () => {
    const victim = cli.announced.get('n3');
    expect(victim).toBeDefined();
    process.kill(victim!.pid, 'SIGKILL');
    await cli.waitFor('n3 to be gone', async () => (isAlive(victim!.pid) ? undefined : true));
    for (const writer of ['n1', 'n2'] as const) {
      const put = await cli.waitFor(`a write through ${writer}`, async () => {
        const res = await request(writer, 'PUT', `/v1/kv/after-kill-${writer}`, writer);
        return res.status === 200 ? res : undefined;
      });
      expect(put.status).toBe(200);
    }
    expect((await request('n1', 'GET', '/v1/kv/after-kill-n2')).text).toBe('n2');
    expect((await request('n2', 'GET', '/v1/kv/after-kill-n1')).text).toBe('n1');
    expect((await request('n1', 'GET', `/v1/kv/${encodeURIComponent('session:n3')}`)).status).toBe(200);
  });

  it('stops every process on SIGTERM and exits 0', async () => {
    clusterUp.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000).unref())]);
    expect(code).toBe(0);
    for (const { pid } of cli.announced.values()) await cli.waitFor(`pid ${pid} to exit`, async () => (isAlive(pid) ? undefined : true));
  }, 30_000);
});
