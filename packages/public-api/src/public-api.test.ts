// Goal: the public HTTP edge answers every row of API.md exactly: statuses, headers, JSON bodies,
// error codes and messages, limits; and, mounted as a plugin beside other routes (a storage node
// that coordinates), it leaves those routes' parsers and errors alone. Method: fastify.inject
// against the real app (buildPublicApp, what the coordinator serves) around an in-memory double
// of the coordination service, so each row is checked without a cluster; the e2e tests in
// apps/cli repeat them against real processes.
import type { ClusterInfo, CoordinatorMetrics, DistributionEntry } from '@dkv/coordination';
import { DkvError, QuorumNotMetError, type ReadResult, type WriteResult } from '@dkv/core';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPublicApiMetrics } from './public-api-metrics.js';
import { publicApiPlugin, type ClusterAdminApi, type KvOperation, type PublicApiService } from './public-api.js';
import { buildPublicApp, publicServerOptions } from './public-app.js';

const NOW = 1_700_000_000_000;
const MAX_VALUE_BYTES = 16;

/** A KVStore in a Map, recording the options it was called with; `failNext` makes the next call throw. */
class FakeService implements PublicApiService {
  readonly data = new Map<string, { value: Uint8Array; version: number; expiresAt: number | null }>();
  readonly calls: Array<{ op: string; key: string; options: unknown; ttl?: number | undefined }> = [];
  version = 0;
  ready = true;
  failNext: Error | null = null;

  private maybeFail(): void {
    const error = this.failNext;
    this.failNext = null;
    if (error) throw error;
  }
  async get(key: string, options = {}): Promise<ReadResult | null> {
    this.calls.push({ op: 'get', key, options });
    this.maybeFail();
    const record = this.data.get(key);
    return record ? { key, ...record } : null;
  }
  async put(key: string, value: Uint8Array, ttlSeconds?: number, options = {}): Promise<WriteResult> {
    this.calls.push({ op: 'put', key, options, ttl: ttlSeconds });
    this.maybeFail();
    this.version += 1;
    const expiresAt = ttlSeconds === undefined ? null : NOW + ttlSeconds * 1000;
    this.data.set(key, { value: new Uint8Array(value), version: this.version, expiresAt });
    return { key, version: this.version, expiresAt };
  }
  async delete(key: string, options = {}): Promise<{ key: string; version: number }> {
    this.calls.push({ op: 'delete', key, options });
    this.maybeFail();
    this.version += 1;
    this.data.delete(key);
    return { key, version: this.version };
  }
  /** Pages through the keys in sorted order; the cursor is the index of the next key. */
  async scanKeys(cursor: string | null, options: { match?: string; count: number }): Promise<{ keys: string[]; cursor: string | null }> {
    this.calls.push({ op: 'scan', key: cursor ?? '', options });
    this.maybeFail();
    const all = [...this.data.keys()].sort();
    const from = cursor === null ? 0 : Number(cursor);
    const end = Math.min(all.length, from + options.count);
    return { keys: all.slice(from, end), cursor: end < all.length ? String(end) : null };
  }
  cluster(): ClusterInfo {
    return {
      epoch: 1,
      replication: { n: 3, w: 2, r: 2 },
      nodes: [
        { id: 'n1', address: '127.0.0.1:7001', status: 'up', vnodes: 128 },
        { id: 'n2', address: '127.0.0.1:7002', status: this.ready ? 'up' : 'down', vnodes: 128 },
        { id: 'n3', address: '127.0.0.1:7003', status: this.ready ? 'up' : 'down', vnodes: 128 },
      ],
    };
  }
  async distribution(): Promise<DistributionEntry[]> {
    return [
      { id: 'n1', ringShare: 0.5, keys: 3, bytes: 30 },
      { id: 'n2', ringShare: 0.25, keys: 1, bytes: 10 },
      { id: 'n3', ringShare: 0.25, keys: 2, bytes: 20 },
    ];
  }
  isReady(): boolean {
    return this.ready;
  }
  metrics(): CoordinatorMetrics {
    return {
      readRepairs: 4,
      readRepairsDropped: 1,
      quorumFailures: { read: 2, write: 3 },
      replicationQueueDepth: 7,
      replicationDelivered: 9,
      replicationDropped: 0,
      hedgedReads: 5,
      versionConflicts: 6,
      sloppyWrites: 8,
    };
  }
}

let service: FakeService;
let app: FastifyInstance;
let observed: Array<[KvOperation, number]>;

beforeEach(async () => {
  service = new FakeService();
  observed = [];
  const metrics = createPublicApiMetrics(service, { coordinator: 'c-test' });
  app = buildPublicApp({
    service,
    n: 3,
    maxValueBytes: MAX_VALUE_BYTES,
    registry: metrics.registry,
    observe: (operation, status, seconds) => {
      observed.push([operation, status]);
      metrics.observe(operation, status, seconds);
    },
  });
  await app.ready();
});

afterEach(async () => {
  await app.close();
});

function errorOf(body: string): { code: string; message: string } {
  const parsed = JSON.parse(body) as { error: { code: string; message: string } };
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(Object.keys(parsed.error).sort()).toEqual(['code', 'message']);
  return parsed.error;
}

describe('PUT /v1/kv/{key}', () => {
  it('stores the body and answers 200 {key, version, expiresAt: null}', async () => {
    const res = await app.inject({
      method: 'PUT',
      url: '/v1/kv/session:1',
      payload: '{"user":"ann"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    expect(res.json()).toEqual({ key: 'session:1', version: 1, expiresAt: null });
    expect(Buffer.from(service.data.get('session:1')!.value).toString()).toBe('{"user":"ann"}');
    expect(service.calls.at(-1)).toEqual({ op: 'put', key: 'session:1', options: {}, ttl: undefined });
  });

  it('stores bytes of any content type, or none, as they are', async () => {
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    for (const headers of [
      {},
      { 'content-type': 'application/octet-stream' },
      { 'content-type': 'text/plain; charset=latin1' },
      { 'content-type': 'application/json' },
      { 'content-type': 'x/unknown' },
    ]) {
      const res = await app.inject({ method: 'PUT', url: '/v1/kv/bin', payload: bytes, headers });
      expect(res.statusCode).toBe(200);
      expect(Buffer.from(service.data.get('bin')!.value)).toEqual(bytes);
    }
  });

  it('stores an empty value', async () => {
    const res = await app.inject({ method: 'PUT', url: '/v1/kv/empty' });
    expect(res.statusCode).toBe(200);
    expect(service.data.get('empty')!.value.byteLength).toBe(0);
  });

  it('passes ttl and w, and answers expiresAt in epoch ms', async () => {
    const res = await app.inject({ method: 'PUT', url: '/v1/kv/k?ttl=60&w=3', payload: 'v' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ key: 'k', version: 1, expiresAt: NOW + 60_000 });
    expect(service.calls.at(-1)).toEqual({ op: 'put', key: 'k', options: { w: 3 }, ttl: 60 });
  });

  it.each(['1', '31536000'])('accepts ttl=%s', async (ttl) => {
    expect((await app.inject({ method: 'PUT', url: `/v1/kv/k?ttl=${ttl}`, payload: 'v' })).statusCode).toBe(200);
  });

  it.each(['0', '-1', '1.5', 'abc', '', '31536001', '1e3', '60&ttl=70'])('rejects ttl=%s with 400 INVALID_TTL', async (ttl) => {
    const res = await app.inject({ method: 'PUT', url: `/v1/kv/k?ttl=${ttl}`, payload: 'v' });
    expect(res.statusCode).toBe(400);
    const error = errorOf(res.body);
    expect(error.code).toBe('INVALID_TTL');
    expect(error.message).toMatch(/ttl must be/);
    expect(service.calls).toHaveLength(0);
  });

  it('says what is allowed for ttl', async () => {
    const res = await app.inject({ method: 'PUT', url: '/v1/kv/k?ttl=abc', payload: 'v' });
    expect(errorOf(res.body).message).toBe('ttl must be a whole number of seconds from 1 to 31536000, got "abc"');
  });

  it.each(['0', '4', 'x', '', '2.0'])('rejects w=%s with 400 INVALID_CONSISTENCY', async (w) => {
    const res = await app.inject({ method: 'PUT', url: `/v1/kv/k?w=${w}`, payload: 'v' });
    expect(res.statusCode).toBe(400);
    expect(errorOf(res.body)).toEqual({
      code: 'INVALID_CONSISTENCY',
      message: `w must be a whole number from 1 to 3 (the replication factor N), got ${JSON.stringify(w)}`,
    });
  });

  it('answers 413 VALUE_TOO_LARGE over the limit, and accepts exactly the limit', async () => {
    const over = await app.inject({
      method: 'PUT',
      url: '/v1/kv/k',
      payload: Buffer.alloc(MAX_VALUE_BYTES + 1),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(over.statusCode).toBe(413);
    expect(errorOf(over.body)).toEqual({
      code: 'VALUE_TOO_LARGE',
      message: `value is ${MAX_VALUE_BYTES + 1} bytes; the limit is ${MAX_VALUE_BYTES} bytes`,
    });
    const json = await app.inject({
      method: 'PUT',
      url: '/v1/kv/k',
      payload: `"${'x'.repeat(MAX_VALUE_BYTES)}"`,
      headers: { 'content-type': 'application/json' },
    });
    expect(json.statusCode).toBe(413);
    const exact = await app.inject({ method: 'PUT', url: '/v1/kv/k', payload: Buffer.alloc(MAX_VALUE_BYTES) });
    expect(exact.statusCode).toBe(200);
  });

  it('answers 503 QUORUM_NOT_MET with the counts, never success', async () => {
    service.failNext = new QuorumNotMetError('write', 2, 1, 3);
    const res = await app.inject({ method: 'PUT', url: '/v1/kv/k', payload: 'v' });
    expect(res.statusCode).toBe(503);
    expect(errorOf(res.body)).toEqual({
      code: 'QUORUM_NOT_MET',
      message: 'write quorum not met: needed 2 replica answers, received 1 of 3 contacted',
    });
  });
});

describe('GET /v1/kv/{key}', () => {
  it('answers 200 with the bytes and version headers, no expiry header without a TTL', async () => {
    const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    await app.inject({ method: 'PUT', url: '/v1/kv/k', payload: bytes });
    const res = await app.inject({ method: 'GET', url: '/v1/kv/k' });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload).toEqual(bytes);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['etag']).toBe('"1"');
    expect(res.headers['x-dkv-version']).toBe('1');
    expect(res.headers['x-dkv-expires-at']).toBeUndefined();
  });

  it('adds X-DKV-Expires-At for a value with a TTL', async () => {
    await app.inject({ method: 'PUT', url: '/v1/kv/k?ttl=5', payload: 'v' });
    const res = await app.inject({ method: 'GET', url: '/v1/kv/k' });
    expect(res.headers['x-dkv-expires-at']).toBe(String(NOW + 5000));
  });

  it('answers 404 NOT_FOUND for a missing key', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/kv/nope' });
    expect(res.statusCode).toBe(404);
    expect(errorOf(res.body).code).toBe('NOT_FOUND');
  });

  it('passes r, and rejects a bad one', async () => {
    await app.inject({ method: 'GET', url: '/v1/kv/k?r=3' });
    expect(service.calls.at(-1)).toEqual({ op: 'get', key: 'k', options: { r: 3 } });
    for (const r of ['0', '4', 'two']) {
      const res = await app.inject({ method: 'GET', url: `/v1/kv/k?r=${r}` });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res.body).code).toBe('INVALID_CONSISTENCY');
    }
  });

  it('answers 503 QUORUM_NOT_MET for a failed read', async () => {
    service.failNext = new QuorumNotMetError('read', 2, 0, 3);
    const res = await app.inject({ method: 'GET', url: '/v1/kv/k' });
    expect(res.statusCode).toBe(503);
    expect(errorOf(res.body).message).toContain('needed 2');
  });
});

describe('DELETE /v1/kv/{key}', () => {
  it('answers 204, also for a missing key, and the key then reads 404', async () => {
    await app.inject({ method: 'PUT', url: '/v1/kv/k', payload: 'v' });
    const first = await app.inject({ method: 'DELETE', url: '/v1/kv/k?w=1' });
    expect(first.statusCode).toBe(204);
    expect(first.body).toBe('');
    expect(first.headers['x-dkv-version']).toBe('2');
    expect(service.calls.at(-1)).toEqual({ op: 'delete', key: 'k', options: { w: 1 } });
    expect((await app.inject({ method: 'DELETE', url: '/v1/kv/k' })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/v1/kv/k' })).statusCode).toBe(404);
  });

  it('rejects a bad w', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/v1/kv/k?w=9' });
    expect(res.statusCode).toBe(400);
    expect(errorOf(res.body).code).toBe('INVALID_CONSISTENCY');
  });
});

describe('keys', () => {
  it.each([
    ['a%2Fb%2Fc', 'a/b/c'],
    ['a/b', 'a/b'],
    ['caf%C3%A9%20%E2%98%95', 'café ☕'],
    ['plus+sign', 'plus+sign'],
    ['q%3Fx%3D1%26y', 'q?x=1&y'],
    [encodeURIComponent('é'.repeat(256)), 'é'.repeat(256)],
  ])('decodes %s', async (encoded, key) => {
    const res = await app.inject({ method: 'PUT', url: `/v1/kv/${encoded}?ttl=10`, payload: 'v' });
    expect(res.statusCode).toBe(200);
    expect(res.json().key).toBe(key);
    expect(service.data.has(key)).toBe(true);
  });

  it.each([
    ['an empty key', ''],
    ['a key over 512 bytes', 'x'.repeat(513)],
    ['a multi-byte key over 512 bytes', encodeURIComponent('é'.repeat(257))],
    ['a malformed escape', '%E0%A4%A'],
    ['a lone surrogate', '%ED%A0%80'],
    ['a bare percent', '100%'],
  ])('rejects %s with 400 INVALID_KEY', async (_name, encoded) => {
    for (const method of ['PUT', 'GET', 'DELETE'] as const) {
      const res = await app.inject({ method, url: `/v1/kv/${encoded}` });
      expect(res.statusCode).toBe(400);
      const error = errorOf(res.body);
      expect(error.code).toBe('INVALID_KEY');
      expect(error.message).toMatch(/key must be/);
    }
    expect(service.calls).toHaveLength(0);
  });
});

describe('GET /v1/kv (key scan)', () => {
  it('pages through every key with the cursor, passing match and count on', async () => {
    for (const key of ['a', 'b', 'c', 'd', 'e']) await app.inject({ method: 'PUT', url: `/v1/kv/${key}`, payload: 'v' });
    const keys: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? 'count=2&match=*' : `count=2&match=*&cursor=${encodeURIComponent(cursor)}`;
      const res = await app.inject({ method: 'GET', url: `/v1/kv?${query}` });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = res.json<{ keys: string[]; cursor: string | null }>();
      expect(Object.keys(body).sort()).toEqual(['cursor', 'keys']);
      keys.push(...body.keys);
      cursor = body.cursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(keys).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(pages).toBe(3);
    expect(service.calls.filter((c) => c.op === 'scan').map((c) => c.options)).toEqual(
      Array.from({ length: 3 }, () => ({ count: 2, match: '*' })),
    );
  });

  it('starts at cursor 0 or none, with a count of 100 unless told', async () => {
    for (const url of ['/v1/kv', '/v1/kv?cursor=0']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ keys: [], cursor: null });
    }
    expect(service.calls.filter((c) => c.op === 'scan')).toEqual([
      { op: 'scan', key: '', options: { count: 100 } },
      { op: 'scan', key: '', options: { count: 100 } },
    ]);
  });

  it.each([
    ['count=0', /count must be a whole number from 1 to 1000/],
    ['count=1001', /count must be a whole number from 1 to 1000/],
    ['count=abc', /count must be a whole number from 1 to 1000/],
    ['count=1.5', /count must be a whole number from 1 to 1000/],
    ['count=1&count=2', /count must be given at most once, got 2 values/],
    ['match=', /match must be a non-empty Redis glob pattern/],
    [`cursor=${'x'.repeat(1025)}`, /cursor must be a cursor a previous answer returned/],
  ])('answers 400 INVALID_REQUEST for %s', async (query, message) => {
    const res = await app.inject({ method: 'GET', url: `/v1/kv?${query}` });
    expect(res.statusCode).toBe(400);
    const error = errorOf(res.body);
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toMatch(message);
    expect(service.calls.filter((c) => c.op === 'scan')).toEqual([]);
  });

  it("passes the coordinator's errors on with their status", async () => {
    service.failNext = new DkvError('INVALID_REQUEST', 'invalid scan cursor "zz"');
    const bad = await app.inject({ method: 'GET', url: '/v1/kv?cursor=zz' });
    expect(bad.statusCode).toBe(400);
    expect(errorOf(bad.body).message).toBe('invalid scan cursor "zz"');
    service.failNext = new QuorumNotMetError('read', 2, 1, 3);
    const unavailable = await app.inject({ method: 'GET', url: '/v1/kv' });
    expect(unavailable.statusCode).toBe(503);
    expect(errorOf(unavailable.body).code).toBe('QUORUM_NOT_MET');
  });
});

describe('errors', () => {
  it('never leaks a stack: an unexpected failure is 500 INTERNAL', async () => {
    service.failNext = new Error('secret detail at /srv/app.js:12');
    const res = await app.inject({ method: 'GET', url: '/v1/kv/k' });
    expect(res.statusCode).toBe(500);
    expect(errorOf(res.body)).toEqual({ code: 'INTERNAL', message: 'internal error' });
  });

  it("logs a failed request on the app's own logger, with its method and URL, and makes no logger per request", async () => {
    const failed: unknown[][] = [];
    let children = 0;
    const quiet = (): void => undefined;
    const logger: FastifyBaseLogger = {
      level: 'info',
      silent: quiet,
      trace: quiet,
      debug: quiet,
      info: quiet,
      warn: quiet,
      fatal: quiet,
      error: (...args: unknown[]) => void failed.push(args),
      child: () => {
        children += 1;
        return logger;
      },
    };
    const logged = buildPublicApp({ service, n: 1, maxValueBytes: MAX_VALUE_BYTES, logger });
    let childrenAtStart = -1;
    try {
      await logged.ready();
      childrenAtStart = children;
      expect((await logged.inject({ method: 'GET', url: '/v1/kv/missing' })).statusCode).toBe(404);
      service.failNext = new Error('boom');
      expect((await logged.inject({ method: 'GET', url: '/v1/kv/k' })).statusCode).toBe(500);
    } finally {
      await logged.close();
    }
    expect(children).toBe(childrenAtStart);
    expect(failed).toEqual([[expect.objectContaining({ url: '/v1/kv/k', method: 'GET' }), 'request failed']]);
  });

  it('maps any DkvError code to its status', async () => {
    service.failNext = new DkvError('UNAVAILABLE', 'no ring yet');
    const res = await app.inject({ method: 'GET', url: '/v1/kv/k' });
    expect(res.statusCode).toBe(503);
    expect(errorOf(res.body)).toEqual({ code: 'UNAVAILABLE', message: 'no ring yet' });
  });

  it('answers unknown routes and methods with 404 JSON', async () => {
    for (const [method, url] of [
      ['GET', '/nope'],
      ['POST', '/v1/kv/k'],
      ['PUT', '/v1/kv'],
    ] as const) {
      const res = await app.inject({ method, url });
      expect(res.statusCode).toBe(404);
      expect(errorOf(res.body).code).toBe('NOT_FOUND');
    }
  });
});

describe('operations', () => {
  it('GET /livez answers 200', async () => {
    expect((await app.inject({ method: 'GET', url: '/livez' })).statusCode).toBe(200);
  });

  it('GET /readyz answers 200 when the service is ready, else 503 with the reason', async () => {
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    service.ready = false;
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(errorOf(res.body)).toEqual({
      code: 'UNAVAILABLE',
      message: 'not ready: 1 of 3 storage nodes are up; the default quorums need 2 that have answered a heartbeat',
    });
  });

  it('GET /v1/cluster answers the cluster document', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/cluster' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(service.cluster());
  });

  it("GET /v1/cluster/distribution answers each node's share, keys and bytes", async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/cluster/distribution' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(await service.distribution());
  });

  it('POST /v1/cluster/nodes and DELETE /v1/cluster/nodes/{id} answer 501 NOT_IMPLEMENTED over a static membership', async () => {
    const add = await app.inject({ method: 'POST', url: '/v1/cluster/nodes', payload: { id: 'n4', address: '127.0.0.1:7004' } });
    expect(add.statusCode).toBe(501);
    expect(errorOf(add.body).code).toBe('NOT_IMPLEMENTED');
    expect(errorOf(add.body).message).toMatch(/static membership/);
    const remove = await app.inject({ method: 'DELETE', url: '/v1/cluster/nodes/n2' });
    expect(remove.statusCode).toBe(501);
    expect(errorOf(remove.body).code).toBe('NOT_IMPLEMENTED');
  });

  describe('membership changes with an admin', () => {
    const calls: string[] = [];
    const admin: ClusterAdminApi = {
      addNode: (request) => {
        calls.push(`add ${request.id} ${request.address} ${request.vnodes ?? '-'} ${request.zone ?? '-'}`);
        return {
          id: request.id,
          address: request.address,
          status: 'joining',
          vnodes: request.vnodes ?? 1024,
          zone: request.zone ?? 'default',
        };
      },
      removeNode: (id, force) => {
        calls.push(`remove ${id} ${force}`);
        if (id === 'ghost') throw new DkvError('NOT_FOUND', 'node ghost is not in the cluster');
        return { id, address: 'h:1', status: 'leaving', vnodes: 1024, zone: 'default' };
      },
      setVnodes: (id, vnodes) => {
        calls.push(`vnodes ${id} ${vnodes}`);
        return { id, address: 'h:1', status: 'up', vnodes, zone: 'default' };
      },
      setZone: (id, zone) => {
        calls.push(`zone ${id} ${zone}`);
        return { id, address: 'h:1', status: 'up', vnodes: 1024, zone };
      },
    };
    let adminApp: FastifyInstance;
    beforeEach(async () => {
      calls.length = 0;
      adminApp = buildPublicApp({ service, n: 3, maxValueBytes: MAX_VALUE_BYTES, admin });
      await adminApp.ready();
    });
    afterEach(async () => {
      await adminApp.close();
    });

    it.each([
      ['adds a node', 'POST', '/v1/cluster/nodes', { id: 'n4', address: '127.0.0.1:7004' }, 202, 'add n4 127.0.0.1:7004 - -'],
      [
        'adds a node with a weight',
        'POST',
        '/v1/cluster/nodes',
        { id: 'n5', address: 'host-5:7005', vnodes: 64 },
        202,
        'add n5 host-5:7005 64 -',
      ],
      [
        'adds a node in a zone',
        'POST',
        '/v1/cluster/nodes',
        { id: 'n6', address: 'host-6:7006', zone: 'us-east-1b' },
        202,
        'add n6 host-6:7006 - us-east-1b',
      ],
      ['refuses a bad zone on add', 'POST', '/v1/cluster/nodes', { id: 'n6', address: 'host-6:7006', zone: 'no spaces' }, 400, undefined],
      ['moves a node to another zone', 'PATCH', '/v1/cluster/nodes/n1', { zone: 'z2' }, 202, 'zone n1 z2'],
      ['refuses a bad zone on a move', 'PATCH', '/v1/cluster/nodes/n1', { zone: '' }, 400, undefined],
      ['refuses a change with neither vnodes nor zone', 'PATCH', '/v1/cluster/nodes/n1', {}, 400, undefined],
      ['refuses a bad id', 'POST', '/v1/cluster/nodes', { id: 'bad id', address: '127.0.0.1:7004' }, 400, undefined],
      ['refuses an address without a port', 'POST', '/v1/cluster/nodes', { id: 'n4', address: 'host' }, 400, undefined],
      ['decommissions', 'DELETE', '/v1/cluster/nodes/n2', undefined, 202, 'remove n2 false'],
      ['removes a dead node by force', 'DELETE', '/v1/cluster/nodes/n2?force=true', undefined, 202, 'remove n2 true'],
      ['answers 404 for an unknown node', 'DELETE', '/v1/cluster/nodes/ghost', undefined, 404, 'remove ghost false'],
      ["changes a node's vnodes", 'PATCH', '/v1/cluster/nodes/n1', { vnodes: 2048 }, 202, 'vnodes n1 2048'],
      ['refuses vnodes of 0', 'PATCH', '/v1/cluster/nodes/n1', { vnodes: 0 }, 400, undefined],
    ] as const)('%s', async (_name, method, url, payload, status, call) => {
      const res = await adminApp.inject({ method, url, ...(payload ? { payload, headers: { 'content-type': 'application/json' } } : {}) });
      expect(res.statusCode, res.body).toBe(status);
      expect(calls).toEqual(call ? [call] : []);
    });
  });

  it('GET /metrics answers Prometheus text with request, quorum, repair and queue metrics', async () => {
    await app.inject({ method: 'PUT', url: '/v1/kv/k', payload: 'v' });
    await app.inject({ method: 'GET', url: '/v1/kv/k' });
    await app.inject({ method: 'GET', url: '/v1/kv/missing' });
    await app.inject({ method: 'GET', url: '/v1/kv/k' });
    await app.inject({ method: 'DELETE', url: '/v1/kv/k' });
    expect(observed).toEqual([
      ['put', 200],
      ['get', 200],
      ['get', 404],
      ['get', 200],
      ['delete', 204],
    ]);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    expect(text).toContain('dkv_requests_total{operation="get",status="404",coordinator="c-test"} 1');
    // Each operation and status counts apart, however the requests interleave.
    expect(text).toContain('dkv_requests_total{operation="get",status="200",coordinator="c-test"} 2');
    expect(text).toContain('dkv_request_duration_seconds_count{coordinator="c-test",operation="get",status="200"} 2');
    expect(text).toContain('dkv_requests_total{operation="put",status="200",coordinator="c-test"} 1');
    expect(text).toMatch(/dkv_request_duration_seconds_bucket\{le="[^"]+",coordinator="c-test",operation="put",status="200"/);
    expect(text).toContain('dkv_quorum_failures_total{operation="write",coordinator="c-test"} 3');
    expect(text).toContain('dkv_read_repairs_total{coordinator="c-test"} 4');
    expect(text).toContain('dkv_replication_queue_depth{coordinator="c-test"} 7');
    expect(text).toContain('dkv_hedged_reads_total{coordinator="c-test"} 5');
    expect(text).toContain('dkv_version_conflicts_total{coordinator="c-test"} 6');
    expect(text).toContain('dkv_sloppy_writes_total{coordinator="c-test"} 8');
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});

describe('request observation', () => {
  it('observes HEAD of a key as a get, errors of the key routes, and nothing of the other routes', async () => {
    await app.inject({ method: 'PUT', url: '/v1/kv/k', payload: 'v' });
    await app.inject({ method: 'HEAD', url: '/v1/kv/k' });
    await app.inject({ method: 'PUT', url: '/v1/kv/k?ttl=0', payload: 'v' });
    await app.inject({ method: 'GET', url: '/v1/cluster' });
    await app.inject({ method: 'GET', url: '/v1/kv' });
    await app.inject({ method: 'GET', url: '/readyz' });
    await app.inject({ method: 'GET', url: '/no/such/route' });
    expect(observed).toEqual([
      ['put', 200],
      ['get', 200],
      ['put', 400],
    ]);
  });
});

describe('publicApiPlugin beside other routes', () => {
  let shared: FastifyInstance;
  const internalBodies: unknown[] = [];

  beforeEach(async () => {
    internalBodies.length = 0;
    shared = Fastify({ ...publicServerOptions(), bodyLimit: 1024 });
    // The host app's own route, parser and 404 handler, as a storage node has them.
    shared.addContentTypeParser('application/x-frame', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    shared.post('/internal/echo', async (request) => {
      internalBodies.push(request.body);
      return { bytes: Buffer.isBuffer(request.body) ? request.body.length : -1 };
    });
    shared.get('/internal/fail', async () => {
      throw new DkvError('UNAVAILABLE', 'host route failed');
    });
    shared.setErrorHandler(async (_error, _request, reply) => reply.code(599).send({ host: true }));
    shared.setNotFoundHandler(async (request, reply) =>
      reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` } }),
    );
    await shared.register(publicApiPlugin(service, { n: 3, maxValueBytes: MAX_VALUE_BYTES }));
    await shared.ready();
  });

  afterEach(async () => {
    await shared.close();
  });

  it("serves the key and cluster routes with the API's own errors", async () => {
    const put = await shared.inject({ method: 'PUT', url: '/v1/kv/a%2Fb', payload: 'v', headers: { 'content-type': 'x/any' } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ key: 'a/b', version: 1 });
    expect((await shared.inject({ method: 'GET', url: '/v1/kv/a%2Fb' })).body).toBe('v');
    expect(errorOf((await shared.inject({ method: 'GET', url: '/v1/kv/%E0%A4%A' })).body).code).toBe('INVALID_KEY');
    expect(errorOf((await shared.inject({ method: 'GET', url: '/v1/kv/missing' })).body).code).toBe('NOT_FOUND');
    const big = await shared.inject({ method: 'PUT', url: '/v1/kv/k', payload: Buffer.alloc(MAX_VALUE_BYTES + 1) });
    expect(errorOf(big.body).code).toBe('VALUE_TOO_LARGE');
    expect((await shared.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await shared.inject({ method: 'GET', url: '/v1/cluster' })).json()).toEqual(service.cluster());
  });

  it("leaves the host's parsers, error handler and 404 handler to the host's routes", async () => {
    const echo = await shared.inject({
      method: 'POST',
      url: '/internal/echo',
      payload: Buffer.from([1, 2, 3]),
      headers: { 'content-type': 'application/x-frame' },
    });
    expect(echo.json()).toEqual({ bytes: 3 });
    // The API's catch-all parser does not reach the host's routes: an unknown type is still refused there.
    expect(
      (await shared.inject({ method: 'POST', url: '/internal/echo', payload: 'x', headers: { 'content-type': 'x/any' } })).statusCode,
    ).toBe(599);
    expect((await shared.inject({ method: 'GET', url: '/internal/fail' })).statusCode).toBe(599);
    const missing = await shared.inject({ method: 'GET', url: '/nope' });
    expect(missing.statusCode).toBe(404);
    expect(errorOf(missing.body)).toEqual({ code: 'NOT_FOUND', message: 'no route GET /nope' });
  });
});
