// Goal: KVStoreClient speaks API.md exactly: paths with URL-encoded keys, query parameters,
// headers read back into typed results, 404 as null and every error body as a typed error with
// the server's code, message and status. Method: a small real Fastify server on 127.0.0.1:0 that
// fakes the public API in memory and records the requests it saw.
import { DkvError } from '@dkv/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KVStoreClient, KVStoreClientError } from './kv-store-client.js';

interface Seen {
  method: string;
  url: string;
  body: Buffer | undefined;
}

const store = new Map<string, { value: Buffer; version: number; expiresAt: number | null }>();
const seen: Seen[] = [];
let server: FastifyInstance;
let client: KVStoreClient;
let version = 0;

function fail(code: string, status: number, message: string) {
  return { status, body: { error: { code, message } } };
}

beforeAll(async () => {
  server = Fastify();
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  server.addHook('onRequest', async (request) => {
    seen.push({ method: request.method, url: request.url, body: undefined });
  });
  server.put('/v1/kv/*', async (request, reply) => {
    const key = decodeURIComponent(request.url.slice('/v1/kv/'.length).split('?')[0] ?? '');
    const query = request.query as Record<string, string>;
    if (key === 'too-big') {
      const f = fail('VALUE_TOO_LARGE', 413, 'value is 2 bytes; the limit is 1 bytes');
      return reply.code(f.status).send(f.body);
    }
    if (query.ttl === '0') {
      const f = fail('INVALID_TTL', 400, 'ttl must be a whole number of seconds from 1 to 31536000, got 0');
      return reply.code(f.status).send(f.body);
    }
    const last = seen.at(-1);
    if (last) last.body = request.body as Buffer | undefined;
    version += 1;
    const expiresAt = query.ttl ? 1_000_000 + Number(query.ttl) * 1000 : null;
    store.set(key, { value: (request.body as Buffer | undefined) ?? Buffer.alloc(0), version, expiresAt });
    return { key, version, expiresAt };
  });
  server.get('/v1/kv/*', async (request, reply) => {
    const key = decodeURIComponent(request.url.slice('/v1/kv/'.length).split('?')[0] ?? '');
    if (key === 'no-quorum') {
      const f = fail('QUORUM_NOT_MET', 503, 'read quorum not met: needed 2 replica answers, received 1 of 3 contacted');
      return reply.code(f.status).send(f.body);
    }
    if (key === 'not-json') return reply.code(502).type('text/plain').send('bad gateway');
    const record = store.get(key);
    if (!record) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `key ${key} not found` } });
    reply.header('etag', `"${record.version}"`).header('x-dkv-version', String(record.version)).type('application/octet-stream');
    if (record.expiresAt !== null) reply.header('x-dkv-expires-at', String(record.expiresAt));
    return reply.send(record.value);
  });
  server.delete('/v1/kv/*', async (request, reply) => {
    const key = decodeURIComponent(request.url.slice('/v1/kv/'.length).split('?')[0] ?? '');
    store.delete(key);
    version += 1;
    return reply.code(204).header('x-dkv-version', String(version)).send();
  });
  server.get('/v1/cluster', async () => ({
    epoch: 1,
    replication: { n: 3, w: 2, r: 2 },
    nodes: [{ id: 'n1', address: 'a:1', status: 'up', vnodes: 8 }],
  }));
  server.get('/v1/cluster/distribution', async () => [{ id: 'n1', ringShare: 1, keys: 2, bytes: 3 }]);
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  client = new KVStoreClient({ url: address, timeoutMs: 2000 });
});

afterAll(async () => {
  await client.close();
  await server.close();
});

describe('KVStoreClient', () => {
  it('puts, gets and deletes a value, byte for byte', async () => {
    const bytes = new Uint8Array([0, 255, 1, 128]);
    const written = await client.put('session:1', bytes);
    expect(written).toEqual({ key: 'session:1', version: expect.any(Number), expiresAt: null });
    const read = await client.get('session:1');
    expect(read).not.toBeNull();
    expect(Buffer.from(read!.value)).toEqual(Buffer.from(bytes));
    expect(read!.version).toBe(written.version);
    expect(read!.expiresAt).toBeNull();
    const deleted = await client.delete('session:1');
    expect(deleted.key).toBe('session:1');
    expect(deleted.version).toBeGreaterThan(written.version);
    expect(await client.get('session:1')).toBeNull();
  });

  it('sends strings as UTF-8 and passes ttl, w and r as query parameters', async () => {
    const written = await client.put('k', '{"user":"é"}', 60, { w: 3 });
    expect(written.expiresAt).toBe(1_060_000);
    expect(seen.at(-1)?.url).toBe('/v1/kv/k?ttl=60&w=3');
    expect(seen.at(-1)?.body?.toString('utf8')).toBe('{"user":"é"}');
    const read = await client.get('k', { r: 1 });
    expect(seen.at(-1)?.url).toBe('/v1/kv/k?r=1');
    expect(read?.expiresAt).toBe(1_060_000);
    await client.delete('k', { w: 1 });
    expect(seen.at(-1)?.url).toBe('/v1/kv/k?w=1');
  });

  it('URL-encodes keys, slashes and spaces included', async () => {
    await client.put('a/b c?d', 'v');
    expect(seen.at(-1)?.url).toBe('/v1/kv/a%2Fb%20c%3Fd');
    expect(Buffer.from((await client.get('a/b c?d'))!.value).toString()).toBe('v');
  });

  it.each([
    ['too-big', () => client.put('too-big', 'xx'), 'VALUE_TOO_LARGE', 413],
    ['bad ttl', () => client.put('k', 'v', 0), 'INVALID_TTL', 400],
    ['no quorum', () => client.get('no-quorum'), 'QUORUM_NOT_MET', 503],
    ['not JSON', () => client.get('not-json'), 'INTERNAL', 502],
  ] as const)('turns an error answer into a typed error (%s)', async (_name, call, code, status) => {
    const error = await call().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DkvError);
    expect(error).toBeInstanceOf(KVStoreClientError);
    expect(error).toMatchObject({ code, status });
  });

  it('keeps the server message', async () => {
    await expect(client.get('no-quorum')).rejects.toThrow('needed 2 replica answers, received 1 of 3');
  });

  it('reads the cluster and distribution documents', async () => {
    expect((await client.cluster()).replication).toEqual({ n: 3, w: 2, r: 2 });
    expect(await client.distribution()).toEqual([{ id: 'n1', ringShare: 1, keys: 2, bytes: 3 }]);
  });

  it('reports an unreachable server as UNAVAILABLE without a status', async () => {
    const probe = Fastify();
    const address = await probe.listen({ host: '127.0.0.1', port: 0 });
    await probe.close();
    const dead = new KVStoreClient({ url: address, timeoutMs: 1000 });
    try {
      await expect(dead.get('k')).rejects.toMatchObject({ code: 'UNAVAILABLE', status: null });
    } finally {
      await dead.close();
    }
  });
});
