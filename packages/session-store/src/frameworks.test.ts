// Goal: DkvSessionStore works unchanged inside the real frameworks users run: express-session in
// Express (two app instances over one dkv cluster: log in on one, read on the other, the session's
// expiry renewed by touch, log out on the other) and @fastify/session with @fastify/cookie in
// Fastify (the same across two instances); and when the coordinating node a store talks to is
// killed, its app keeps serving sessions through another node. Method: a real three-node cluster
// (`dkv cluster up --topology nodes`, cluster.test-support.ts), real servers on 127.0.0.1:0, fetch
// carrying the session cookie by hand; the node is killed by pid.
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import express from 'express';
import session from 'express-session';
import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { call, listenExpress, sidOf, useTestCluster } from './cluster.test-support.js';
import { DkvSessionStore } from './dkv-session-store.js';

declare module 'express-session' {
  interface SessionData {
    user?: string;
  }
}
declare module 'fastify' {
  interface Session {
    user?: string;
  }
}

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const fixture = useTestCluster(3);

/** The endpoints starting at the i-th node: each app prefers a different node. */
function rotated(i: number): string[] {
  const urls = fixture.cluster.urls;
  return [...urls.slice(i), ...urls.slice(0, i)];
}

function newStore(endpoints: string[], prefix: string): DkvSessionStore {
  const store = new DkvSessionStore({ endpoints, prefix, clientOptions: { timeoutMs: 3000 } });
  fixture.closeLater(() => store.close());
  return store;
}

async function expressApp(store: DkvSessionStore): Promise<string> {
  const app = express();
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, rolling: true, cookie: { maxAge: 3_600_000 } }));
  app.post('/login/:user', (req, res) => {
    req.session.user = req.params.user;
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => {
    if (req.session.user === undefined) res.status(401).json({ user: null });
    else res.json({ user: req.session.user });
  });
  app.post('/logout', (req, res, next) => req.session.destroy((error: unknown) => (error ? next(error) : res.json({ ok: true }))));
  return listenExpress(app, fixture.closeLater);
}

async function fastifyApp(store: DkvSessionStore): Promise<string> {
  const app: FastifyInstance = Fastify();
  await app.register(fastifyCookie);
  await app.register(fastifySession, { secret: SECRET, store, saveUninitialized: false, cookie: { secure: false, maxAge: 3_600_000 } });
  app.post<{ Params: { user: string } }>('/login/:user', async (request) => {
    request.session.user = request.params.user;
    return { ok: true };
  });
  app.get('/me', async (request, reply) =>
    request.session.user === undefined ? reply.code(401).send({ user: null }) : { user: request.session.user },
  );
  app.post('/logout', async (request) => {
    await request.session.destroy();
    return { ok: true };
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  fixture.closeLater(() => app.close());
  return url;
}

describe('express-session with DkvSessionStore', () => {
  it('logs in on one app instance, reads and touches on another, logs out there', async () => {
    const storeA = newStore(rotated(0), 'exp:');
    const storeB = newStore(rotated(1), 'exp:');
    const [a, b] = [await expressApp(storeA), await expressApp(storeB)];
    const login = await call(a, 'POST', '/login/ada');
    expect(login.status).toBe(200);
    const cookie = login.cookie!;
    expect(cookie).toMatch(/^connect\.sid=s%3A/);
    const stored = await storeA.getWithVersion(sidOf(cookie));
    expect(stored?.session.user).toBe('ada');
    expect(stored!.expiresAt! - Date.now()).toBeGreaterThan(3_590_000);

    const me = await call(b, 'GET', '/me', cookie);
    expect(me).toMatchObject({ status: 200, body: { user: 'ada' } });
    const touched = await storeB.getWithVersion(sidOf(cookie));
    expect(touched!.version).toBeGreaterThan(stored!.version);
    // express-session touches without moving the cookie's expiry (its cookie is not rolling), and
    // the store asks for the seconds left until that expiry rounded up: both writes expire within
    // the second after the cookie does, in either order (the touch's rounding may land earlier).
    expect(Math.abs(touched!.expiresAt! - stored!.expiresAt!)).toBeLessThan(1000);

    expect((await call(b, 'POST', '/logout', cookie)).status).toBe(200);
    expect((await call(a, 'GET', '/me', cookie)).status).toBe(401);
    expect(await storeA.get(sidOf(cookie))).toBeNull();
  });
});

describe('@fastify/session with DkvSessionStore', () => {
  it('logs in on one Fastify instance, reads on another, logs out', async () => {
    const a = await fastifyApp(newStore(rotated(2), 'fst:'));
    const bStore = newStore(rotated(0), 'fst:');
    const b = await fastifyApp(bStore);
    const login = await call(a, 'POST', '/login/grace');
    expect(login.status).toBe(200);
    const cookie = login.cookie!;
    expect(cookie).toMatch(/^sessionId=/);
    expect(await call(b, 'GET', '/me', cookie)).toMatchObject({ status: 200, body: { user: 'grace' } });
    expect(await bStore.ids()).toHaveLength(1);
    expect((await call(b, 'POST', '/logout', cookie)).status).toBe(200);
    expect((await call(a, 'GET', '/me', cookie)).status).toBe(401);
    expect(await bStore.length()).toBe(0);
  });
});

describe('failover', () => {
  it('keeps serving sessions when the node the store uses is killed', async () => {
    const store = newStore(rotated(0), 'fail:');
    const app = await expressApp(store);
    const before = await call(app, 'POST', '/login/linus');
    expect(await call(app, 'GET', '/me', before.cookie)).toMatchObject({ status: 200, body: { user: 'linus' } });
    const used = store.client.activeEndpoint;
    await fixture.cluster.kill(used);
    expect(await call(app, 'GET', '/me', before.cookie)).toMatchObject({ status: 200, body: { user: 'linus' } });
    expect(store.client.activeEndpoint).not.toBe(used);
    const after = await call(app, 'POST', '/login/barbara');
    expect(after.status).toBe(200);
    expect(await call(app, 'GET', '/me', after.cookie)).toMatchObject({ status: 200, body: { user: 'barbara' } });
    expect((await store.ids())?.sort()).toEqual([sidOf(before.cookie!), sidOf(after.cookie!)].sort());
  });
});
