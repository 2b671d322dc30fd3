// Goal: a DkvSessionStore given `username` and `password` sends them with every request of its
// own client, so it works against a cluster with authentication on, and a refused pair reaches
// the caller as dkv's UNAUTHENTICATED code. Method: a small real Fastify server on 127.0.0.1:0
// that answers the key routes as the public API does with authentication on, over a Map.
import type { SessionData } from 'express-session';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DkvSessionStore } from './dkv-session-store.js';

const GOOD = `Basic ${Buffer.from('sessions:s3cret-pw').toString('base64')}`;
const data = new Map<string, Buffer>();
let server: FastifyInstance;
let url = '';

beforeAll(async () => {
  server = Fastify();
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  server.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization !== GOOD)
      return reply.code(401).send({ error: { code: 'UNAUTHENTICATED', message: 'invalid username-password pair' } });
    return undefined;
  });
  const keyOf = (rawUrl: string): string => decodeURIComponent(rawUrl.slice('/v1/kv/'.length).split('?')[0] ?? '');
  server.put('/v1/kv/*', async (request) => {
    data.set(keyOf(request.url), request.body as Buffer);
    return { key: keyOf(request.url), version: 1, expiresAt: null };
  });
  server.get('/v1/kv/*', async (request, reply) => {
    const value = data.get(keyOf(request.url));
    if (value === undefined) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'missing' } });
    return reply.header('x-dkv-version', '1').send(value);
  });
  url = await server.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await server.close();
});

const session = { cookie: { originalMaxAge: null }, user: 'ada' } as unknown as SessionData;

describe('DkvSessionStore credentials', () => {
  it('stores and reads sessions with the credentials it was given', async () => {
    const store = new DkvSessionStore({ endpoints: [url], username: 'sessions', password: 's3cret-pw' });
    try {
      await store.set('sid-1', session);
      expect(await store.get('sid-1')).toMatchObject({ user: 'ada' });
    } finally {
      await store.close();
    }
  });

  it('hands a refused pair to the callback as UNAUTHENTICATED', async () => {
    const store = new DkvSessionStore({ endpoints: [url], username: 'sessions', password: 'wrong' });
    try {
      const error = await new Promise<unknown>((resolve) => store.get('sid-1', (e) => resolve(e)));
      expect(error).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    } finally {
      await store.close();
    }
  });
});
