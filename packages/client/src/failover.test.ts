// Goal: KVStoreClient with several endpoints fails over as documented: a refused connection or a
// 503 moves a request to the next endpoint, which then stays the sticky one; attempts and pauses
// are bounded; a write whose outcome is unknown (timeout, 503) is not sent again unless
// retryUnknownWrites; the key scan pages through GET /v1/kv. Method: small real Fastify servers on
// 127.0.0.1 that fake the public API and count the requests each one saw, plus a port with nothing
// listening (a killed coordinator).
import { freePort } from '@dkv/testkit';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { KVStoreClient, KVStoreClientError } from './kv-store-client.js';

interface FakeNode {
  url: string;
  readonly app: FastifyInstance;
  readonly seen: string[];
  /** What the node answers: normally, 503 as a node that cannot serve, or never (a hung node). */
  mode: 'ok' | 'unavailable' | 'hang';
}

const started: FakeNode[] = [];
const clients: KVStoreClient[] = [];
const keys = Array.from({ length: 7 }, (_, i) => `k${i}`);

async function fakeNode(name: string): Promise<FakeNode> {
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const node: FakeNode = { url: '', app, seen: [], mode: 'ok' };
  app.addHook('onRequest', async (request, reply) => {
    node.seen.push(`${request.method} ${request.url}`);
    if (node.mode === 'unavailable')
      return reply.code(503).send({
        error: { code: 'QUORUM_NOT_MET', message: `${name}: read quorum not met: needed 2 replica answers, received 1 of 3 contacted` },
      });
    if (node.mode === 'hang') await new Promise((resolve) => setTimeout(resolve, 400));
    return undefined;
  });
  app.get('/v1/kv/*', async (_request, reply) => reply.header('x-dkv-version', '7').send(Buffer.from(name)));
  app.put('/v1/kv/*', async (request) => ({ key: decodeURIComponent(request.url.slice(7).split('?')[0]!), version: 8, expiresAt: null }));
  app.delete('/v1/kv/*', async (_request, reply) => reply.code(204).header('x-dkv-version', '9').send());
  app.get('/v1/kv', async (request) => {
    const query = request.query as { cursor?: string; count?: string };
    const from = query.cursor === undefined ? 0 : Number(query.cursor);
    const end = Math.min(keys.length, from + Number(query.count ?? 100));
    return { keys: keys.slice(from, end), cursor: end < keys.length ? String(end) : null };
  });
  const ready: FakeNode = Object.assign(node, { url: await app.listen({ host: '127.0.0.1', port: 0 }) });
  started.push(ready);
  return ready;
}

function client(urls: string[], options: Partial<ConstructorParameters<typeof KVStoreClient>[0]> = {}): KVStoreClient {
  const c = new KVStoreClient({ urls, timeoutMs: 200, retry: { baseBackoffMs: 5, maxBackoffMs: 20 }, ...options });
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(started.splice(0).map((n) => n.app.close()));
});

const text = (value: Uint8Array | undefined) => Buffer.from(value ?? new Uint8Array()).toString();

describe('KVStoreClient failover', () => {
  it('moves past an endpoint that refuses connections and stays on the one that answered', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const b = await fakeNode('b');
    const c = await fakeNode('c');
    const kv = client([dead, b.url, c.url]);
    expect(text((await kv.get('x'))?.value)).toBe('b');
    expect(kv.activeEndpoint).toBe(b.url);
    await kv.put('x', 'v');
    await kv.delete('x');
    expect(text((await kv.get('x'))?.value)).toBe('b');
    expect(b.seen).toHaveLength(4);
    expect(c.seen).toHaveLength(0);
  });

  it('retries a read that met a 503 on the next endpoint, and stays there once the first one recovers', async () => {
    const a = await fakeNode('a');
    const b = await fakeNode('b');
    a.mode = 'unavailable';
    const kv = client([a.url, b.url]);
    expect(text((await kv.get('x'))?.value)).toBe('b');
    a.mode = 'ok';
    expect(text((await kv.get('x'))?.value)).toBe('b');
    expect(a.seen).toHaveLength(1);
  });

  it('retries a write only where it surely did not run, unless retryUnknownWrites', async () => {
    const a = await fakeNode('a');
    const b = await fakeNode('b');
    a.mode = 'unavailable';
    const strict = client([a.url, b.url]);
    const error = await strict.put('x', 'v').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KVStoreClientError);
    expect((error as KVStoreClientError).code).toBe('QUORUM_NOT_MET');
    expect((error as KVStoreClientError).status).toBe(503);
    expect(b.seen).toHaveLength(0);
    a.mode = 'hang';
    const timedOut = (await strict.put('x', 'v').catch((e: unknown) => e)) as KVStoreClientError;
    expect(timedOut.code).toBe('UNAVAILABLE');
    expect(timedOut.outcomeUnknown).toBe(true);
    expect(timedOut.message).toMatch(/may or may not have been applied/);
    expect(b.seen).toHaveLength(0);
    const lenient = client([a.url, b.url], { retry: { baseBackoffMs: 5, maxBackoffMs: 20, retryUnknownWrites: true } });
    expect((await lenient.put('x', 'v')).version).toBe(8);
    a.mode = 'unavailable';
    expect((await lenient.delete('y')).version).toBe(9);
    expect(b.seen).toEqual(['PUT /v1/kv/x', 'DELETE /v1/kv/y']);
  });

  it('gives up after a bounded number of attempts, pausing between rounds, with the last error', async () => {
    const a = await fakeNode('a');
    const b = await fakeNode('b');
    a.mode = 'unavailable';
    b.mode = 'unavailable';
    const kv = client([a.url, b.url], { retry: { maxAttempts: 5, baseBackoffMs: 20, maxBackoffMs: 40 } });
    const startedAt = performance.now();
    const error = (await kv.get('x').catch((e: unknown) => e)) as KVStoreClientError;
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(20 + 40);
    expect(error.code).toBe('QUORUM_NOT_MET');
    expect(a.seen.length + b.seen.length).toBe(5);
    const dead = client([`http://127.0.0.1:${await freePort()}`], { retry: { maxAttempts: 3, baseBackoffMs: 1, maxBackoffMs: 1 } });
    const refused = (await dead.get('x').catch((e: unknown) => e)) as KVStoreClientError;
    expect(refused.code).toBe('UNAVAILABLE');
    expect(refused.message).toMatch(/no endpoint could serve it after 3 attempts over 1 endpoint/);
  });

  it('rejects options it cannot use, naming them', () => {
    expect(() => new KVStoreClient({})).toThrow(/needs `url` or a non-empty `urls`/);
    expect(() => new KVStoreClient({ urls: ['nope'] })).toThrow(/"nope" is not a URL/);
    expect(() => new KVStoreClient({ urls: ['ftp://x'] })).toThrow(/only http: and https:/);
    expect(() => new KVStoreClient({ url: 'http://127.0.0.1:1', retry: { maxAttempts: 0 } })).toThrow(
      /retry.maxAttempts must be a whole number of at least 1, got 0/,
    );
  });
});

describe('KVStoreClient key scan', () => {
  it('pages with the cursor and iterates every key', async () => {
    const a = await fakeNode('a');
    const kv = client([a.url]);
    const first = await kv.scan(null, { count: 3, match: 'k*' });
    expect(first).toEqual({ keys: ['k0', 'k1', 'k2'], cursor: '3' });
    const all: string[] = [];
    for await (const key of kv.keys({ count: 2 })) all.push(key);
    expect(all).toEqual(keys);
    expect(a.seen[0]).toBe('GET /v1/kv?match=k*&count=3');
  });
});
