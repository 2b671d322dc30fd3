// Goal: a started storage node serves the internal replica API, its static membership document,
// health, readiness and metrics, and expires TTL'd values actively. Method: startNode on
// 127.0.0.1:0 in this process, driven through the real HttpNodeClient and plain fetch.
import { DEFAULT_VNODES } from '@dkv/hashing';
import type { Node, VersionedValue } from '@dkv/core';
import { HttpNodeClient } from '@dkv/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from './config.js';
import { startNode, type RunningNode } from './node.composition.js';

let node: RunningNode;
let client: HttpNodeClient;
let self: Node;

const record = (over: Partial<VersionedValue> = {}): VersionedValue => ({
  value: Buffer.from('hello'),
  version: 5,
  writerId: 'c1',
  createdAt: Date.now(),
  updatedAt: Date.now(),
  expiresAt: null,
  tombstone: false,
  ...over,
});

beforeAll(async () => {
  node = await startNode(parseNodeConfig({ id: 'n1', port: '0', sweepIntervalMs: '20', logLevel: 'silent' }, {}));
  client = new HttpNodeClient();
  self = { id: 'n1', address: node.address, role: 'storage', status: 'up', vnodes: DEFAULT_VNODES, metadata: {} };
});

afterAll(async () => {
  await client.close();
  await node.close();
});

describe('storage node', () => {
  it('applies and serves records over the internal API', async () => {
    const put = await client.send(self, { type: 'PUT', key: 'k', record: record() }, { timeoutMs: 2000 });
    expect(put).toEqual({ type: 'PUT', applied: true, version: 5, previous: 0 });
    const got = await client.send(self, { type: 'GET', key: 'k' }, { timeoutMs: 2000 });
    expect(Buffer.from(got.record!.value).toString()).toBe('hello');
    const ping = await client.send(self, { type: 'PING' }, { timeoutMs: 2000 });
    expect(ping).toMatchObject({ nodeId: 'n1', ready: true, keys: 1 });
  });

  it('expires TTL values by its sweeper', async () => {
    await client.send(self, { type: 'PUT', key: 'ttl', record: record({ expiresAt: Date.now() + 50 }) }, { timeoutMs: 2000 });
    // The sweeper runs every --sweep-interval-ms: wait for its tombstone, not for a fixed time.
    const giveUpAt = Date.now() + 5_000;
    let text = '';
    while (!/dkv_storage_tombstones\{node="n1"\} [1-9]/.test(text) && Date.now() < giveUpAt) {
      text = await (await fetch(`${node.url}/metrics`)).text();
      if (!/dkv_storage_tombstones\{node="n1"\} [1-9]/.test(text)) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(text).toMatch(/dkv_storage_tombstones\{node="n1"\} [1-9]/);
    // The default compact engine reserves slab memory for the value it still holds ("k").
    expect(text).toMatch(/dkv_storage_value_store_bytes\{node="n1"\} [1-9]/);
    expect(text).toMatch(/dkv_storage_slabs_released_total\{node="n1"\} 0/);
  });

  it('serves its membership: itself alone at its bound address by default', async () => {
    const res = await fetch(`${node.url}/internal/v1/membership`);
    expect(res.status).toBe(200);
    // The gossiped document's view adds the read-ring weight and readability of each node.
    expect(await res.json()).toEqual({
      epoch: 1,
      nodes: [{ ...self, readVnodes: DEFAULT_VNODES, readable: true, zone: 'default', readZone: 'default' }],
    });
  });

  it('answers /livez, /readyz and /metrics', async () => {
    expect((await fetch(`${node.url}/livez`)).status).toBe(200);
    expect((await fetch(`${node.url}/readyz`)).status).toBe(200);
    const metrics = await fetch(`${node.url}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toContain('dkv_storage_keys{node="n1"} 1');
    expect(text).toMatch(/dkv_storage_bytes\{node="n1"\} \d+/);
    expect(text).toMatch(/dkv_storage_requests_total\{type="PUT",node="n1"\} [1-9]/);
  });

  it('answers unknown routes with 404 JSON', async () => {
    const res = await fetch(`${node.url}/v1/kv/x`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route GET /v1/kv/x' } });
  });
});
