// Goal: a KVStoreClient given `username` and `password` sends them as HTTP Basic with every kind
// of request, and turns 401 and 403 answers into typed errors (UNAUTHENTICATED, FORBIDDEN); bad
// credential options are refused at construction. Method: a small real Fastify server on
// 127.0.0.1:0 that answers as the public API does with authentication on (a reader may GET,
// only a writer may PUT and DELETE) and records the Authorization headers it saw.
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KVStoreClient, KVStoreClientError } from './kv-store-client.js';

const basic = (name: string, password: string): string => `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;
const ROLES = new Map([
  [basic('reader', 'r:pw'), 'read'],
  [basic('writer', 'w-pw'), 'readwrite'],
]);
const seen: Array<string | undefined> = [];
let server: FastifyInstance;
let url = '';

beforeAll(async () => {
  server = Fastify();
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  server.addHook('onRequest', async (request, reply) => {
    seen.push(request.headers.authorization);
    const role = ROLES.get(request.headers.authorization ?? '');
    if (role === undefined)
      return reply
        .code(401)
        .header('www-authenticate', 'Basic realm="dkv"')
        .send({ error: { code: 'UNAUTHENTICATED', message: 'invalid username-password pair' } });
    if (request.method !== 'GET' && role !== 'readwrite')
      return reply.code(403).send({ error: { code: 'FORBIDDEN', message: `user has role ${role}` } });
    return undefined;
  });
  server.get('/v1/kv/*', async (_request, reply) => reply.header('x-dkv-version', '1').send(Buffer.from('v')));
  server.put('/v1/kv/*', async () => ({ key: 'k', version: 2, expiresAt: null }));
  server.delete('/v1/kv/*', async (_request, reply) => reply.code(204).header('x-dkv-version', '3').send());
  server.get('/v1/cluster', async () => ({ epoch: 1, replication: { n: 1, w: 1, r: 1 }, nodes: [] }));
  server.get('/v1/kv', async () => ({ keys: ['k'], cursor: null }));
  url = await server.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await server.close();
});

describe('KVStoreClient credentials', () => {
  it('sends Basic credentials with reads, writes, scans and cluster views', async () => {
    const client = new KVStoreClient({ url, username: 'writer', password: 'w-pw' });
    try {
      seen.length = 0;
      expect((await client.get('k'))?.version).toBe(1);
      expect((await client.put('k', 'v')).version).toBe(2);
      expect((await client.delete('k')).version).toBe(3);
      expect((await client.scan(null)).keys).toEqual(['k']);
      expect((await client.cluster()).epoch).toBe(1);
      expect(seen).toEqual(Array(5).fill(basic('writer', 'w-pw')));
    } finally {
      await client.close();
    }
  });

  it('keeps a colon in the password', async () => {
    const client = new KVStoreClient({ url, username: 'reader', password: 'r:pw' });
    try {
      expect((await client.get('k'))?.version).toBe(1);
    } finally {
      await client.close();
    }
  });

  it.each([
    ['no credentials', {}, 'get', 'UNAUTHENTICATED', 401],
    ['a wrong password', { username: 'writer', password: 'nope' }, 'get', 'UNAUTHENTICATED', 401],
    ['too small a role', { username: 'reader', password: 'r:pw' }, 'put', 'FORBIDDEN', 403],
  ] as const)('answers %s with a typed error', async (_what, credentials, operation, code, status) => {
    const client = new KVStoreClient({ url, ...credentials });
    try {
      const call = operation === 'get' ? client.get('k') : client.put('k', 'v');
      const error = await call.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(KVStoreClientError);
      expect(error).toMatchObject({ code, status });
    } finally {
      await client.close();
    }
  });

  it.each([
    [{ username: 'writer' }, /give both `username` and `password`/],
    [{ password: 'w-pw' }, /give both `username` and `password`/],
    [{ username: 'a:b', password: 'x' }, /cannot contain ":"/],
  ])('refuses %o at construction', (credentials, message) => {
    expect(() => new KVStoreClient({ url, ...credentials })).toThrow(message);
  });
});
