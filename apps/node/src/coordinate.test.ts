// Goal: a storage node started with --coordinate serves the public API of API.md on its own port
// beside its internal API: PUT, GET and DELETE through any node with the statuses, headers and
// error bodies API.md gives, reads and writes reaching every replica, /v1/cluster from its own
// gossiped membership, one /metrics with both APIs' metrics, and its settings checked at start.
// Method: three nodes (N=3, W=2, R=2) started in this process with startNode on 127.0.0.1, each
// coordinating, driven over real HTTP with fetch; replicas inspected through the internal HTTP
// client; every wait is a bounded poll of a condition.
import { freePort } from '@dkv/testkit';
import { ConfigError } from '@dkv/app-config';
import type { Node } from '@dkv/core';
import { HttpNodeClient } from '@dkv/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from './config.js';
import { startNode, type RunningNode } from './node.composition.js';

const IDS = ['n1', 'n2', 'n3'] as const;
const WAIT = { timeout: 15_000, interval: 50 };

/** Polls `condition` until it holds, failing after WAIT.timeout (expect.poll is for test bodies only). */
async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  const giveUpAt = Date.now() + WAIT.timeout;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${WAIT.timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, WAIT.interval));
  }
}

describe('--coordinate settings', () => {
  it('is off by default, and on with the switch or DKV_COORDINATE', () => {
    expect(parseNodeConfig({ id: 'n1' }, {}).coordinator).toBeNull();
    expect(parseNodeConfig({ id: 'n1', coordinate: 'true' }, {}).coordinator).toMatchObject({ nodeId: 'n1', localReplicaId: 'n1', n: 3, w: 2, r: 2, requestTimeoutMs: 1000, readFanout: 'all', maxValueBytes: 1024 * 1024 });
    expect(parseNodeConfig({ id: 'n1', coordinate: 'true', readFanout: 'quorum' }, {}).coordinator).toMatchObject({ readFanout: 'quorum' });
    expect(parseNodeConfig({ id: 'n1', coordinate: 'true' }, {}).coordinator).toMatchObject({ writeQuorum: 'strict' });
    expect(parseNodeConfig({ id: 'n1', coordinate: 'true' }, { DKV_WRITE_QUORUM: 'sloppy' }).coordinator).toMatchObject({ writeQuorum: 'sloppy' });
    expect(parseNodeConfig({ id: 'n2', n: '1' }, { DKV_COORDINATE: '1', DKV_W: '1', DKV_R: '1' }).coordinator).toMatchObject({ nodeId: 'n2', n: 1, w: 1, r: 1 });
  });

  it.each([
    [{ coordinate: 'true', w: '4' }, '--w (DKV_W) must be at most N (3, --n (DKV_N)), got 4'],
    [{ coordinate: 'true', n: '1' }, '--r (DKV_R) must be at most N (1, --n (DKV_N)), got 2'],
    [{ coordinate: 'true', maxValueBytes: String(2 * 1024 * 1024) }, '--max-value-bytes (DKV_MAX_VALUE_BYTES) (2097152) must be at most --body-limit-bytes (DKV_BODY_LIMIT_BYTES) minus 65536'],
    [{ coordinate: 'maybe' }, '--coordinate (DKV_COORDINATE) must be true or false'],
  ])('rejects %j', (flags, message) => {
    expect(() => parseNodeConfig({ id: 'n1', ...flags }, {})).toThrow(ConfigError);
    expect(() => parseNodeConfig({ id: 'n1', ...flags }, {})).toThrow(message);
  });
});

describe('a cluster of coordinating nodes', () => {
  const nodes = new Map<string, RunningNode>();
  const internal = new HttpNodeClient();
  const url = (id: (typeof IDS)[number]): string => nodes.get(id)?.url ?? '';

  beforeAll(async () => {
    const ports = await Promise.all(IDS.map(() => freePort()));
    const members = IDS.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
    for (const [i, id] of IDS.entries()) {
      const config = parseNodeConfig({ id, port: String(ports[i]), members, coordinate: 'true', maxValueBytes: '4096', logLevel: 'silent' }, {});
      nodes.set(id, await startNode(config));
    }
    for (const id of IDS) await until(`${id} to be ready`, async () => (await fetch(`${url(id)}/readyz`)).status === 200);
  });

  afterAll(async () => {
    await internal.close();
    for (const node of nodes.values()) await node.close();
  });

  /** The record each node's replica holds for `key`, read over the internal API. */
  async function replicas(key: string): Promise<Array<number | null>> {
    return Promise.all(
      IDS.map(async (id) => {
        const target: Node = { id, address: nodes.get(id)?.address ?? '', role: 'storage', status: 'up', vnodes: 1, metadata: {} };
        const answer = await internal.send(target, { type: 'GET', key }, { timeoutMs: 2000 });
        return answer.record?.tombstone === false ? answer.record.version : null;
      }),
    );
  }

  it('writes through one node and reads through the others, with the headers of API.md', async () => {
    const put = await fetch(`${url('n1')}/v1/kv/session%3A42?ttl=3600`, { method: 'PUT', body: '{"user":42}' });
    expect(put.status).toBe(200);
    const body = (await put.json()) as { key: string; version: number; expiresAt: number };
    expect(body.key).toBe('session:42');
    expect(Number.isSafeInteger(body.version) && body.version > 0).toBe(true);
    expect(body.expiresAt).toBeGreaterThan(Date.now());
    for (const id of ['n2', 'n3', 'n1'] as const) {
      const get = await fetch(`${url(id)}/v1/kv/session%3A42${id === 'n3' ? '?r=3' : ''}`);
      expect(get.status).toBe(200);
      expect(await get.text()).toBe('{"user":42}');
      expect(get.headers.get('etag')).toBe(`"${body.version}"`);
      expect(get.headers.get('x-dkv-version')).toBe(String(body.version));
      expect(get.headers.get('x-dkv-expires-at')).toBe(String(body.expiresAt));
    }
    await expect.poll(() => replicas('session:42'), WAIT).toEqual([body.version, body.version, body.version]);
  });

  it('orders a write through another node after it, and deletes through a third', async () => {
    const first = (await (await fetch(`${url('n2')}/v1/kv/k1`, { method: 'PUT', body: 'a' })).json()) as { version: number };
    const second = (await (await fetch(`${url('n3')}/v1/kv/k1?w=3`, { method: 'PUT', body: 'b' })).json()) as { version: number };
    expect(second.version).toBeGreaterThan(first.version);
    expect(await (await fetch(`${url('n1')}/v1/kv/k1`)).text()).toBe('b');
    const del = await fetch(`${url('n1')}/v1/kv/k1`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const gone = await fetch(`${url('n2')}/v1/kv/k1?r=3`);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    expect((await fetch(`${url('n3')}/v1/kv/never-written`, { method: 'DELETE' })).status).toBe(204);
    await expect.poll(() => replicas('k1'), WAIT).toEqual([null, null, null]);
  });

  it('answers bad requests with the error codes of API.md', async () => {
    const expectError = async (response: Response, status: number, code: string): Promise<void> => {
      expect(response.status).toBe(status);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    };
    await expectError(await fetch(`${url('n1')}/v1/kv/k?ttl=0`, { method: 'PUT', body: 'v' }), 400, 'INVALID_TTL');
    await expectError(await fetch(`${url('n2')}/v1/kv/k?r=4`), 400, 'INVALID_CONSISTENCY');
    await expectError(await fetch(`${url('n3')}/v1/kv/%E0%A4%A`), 400, 'INVALID_KEY');
    await expectError(await fetch(`${url('n1')}/v1/kv/${'x'.repeat(513)}`), 400, 'INVALID_KEY');
    await expectError(await fetch(`${url('n2')}/v1/kv/big`, { method: 'PUT', body: Buffer.alloc(4097) }), 413, 'VALUE_TOO_LARGE');
    await expectError(await fetch(`${url('n3')}/nope`), 404, 'NOT_FOUND');
  });

  it('serves /v1/cluster from its gossiped membership, /livez, /readyz, and one /metrics for both APIs', async () => {
    const cluster = (await (await fetch(`${url('n2')}/v1/cluster`)).json()) as { replication: unknown; nodes: Array<{ id: string; status: string }> };
    expect(cluster.replication).toEqual({ n: 3, w: 2, r: 2 });
    expect(cluster.nodes.map((node) => [node.id, node.status])).toEqual(IDS.map((id) => [id, 'up']));
    const distribution = (await (await fetch(`${url('n3')}/v1/cluster/distribution`)).json()) as Array<{ id: string }>;
    expect(distribution.map((entry) => entry.id)).toEqual([...IDS]);
    expect((await fetch(`${url('n1')}/livez`)).status).toBe(200);
    expect(((await (await fetch(`${url('n1')}/readyz`)).json()) as { status: string }).status).toBe('ready');
    const membership = await fetch(`${url('n1')}/internal/v1/membership`);
    expect(membership.status).toBe(200);
    const metrics = await (await fetch(`${url('n1')}/metrics`)).text();
    expect(metrics).toMatch(/dkv_requests_total\{operation="put",status="200",node="n1"\} [1-9]/);
    expect(metrics).toMatch(/dkv_storage_requests_total\{type="GET",node="n1"\} [1-9]/);
    expect(metrics).toContain('dkv_replication_queue_depth{node="n1"}');
    expect(metrics).toMatch(/dkv_storage_keys\{node="n1"\} \d/);
    expect(metrics).toMatch(/dkv_anti_entropy_rounds\{node="n1"\} \d+/);
    expect(metrics).toMatch(/dkv_anti_entropy_keys_pulled\{node="n1"\} \d+/);
  });
});
