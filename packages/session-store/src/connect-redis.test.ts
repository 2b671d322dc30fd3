// Goal: the session stack most Express users run, connect-redis@9 over node-redis with
// express-session, works unchanged against dkv's Redis door (issue 11, Proof): two app instances,
// each with its own Redis client pointed at a different coordinating node of one cluster; log in on
// one, read on the other, the session's expiry renewed by touch (connect-redis's EXPIRE, with
// `rolling` sessions and `disableTouch: false`), log out on the other. Method: a real three-node
// cluster (`dkv cluster up --topology nodes`, cluster.test-support.ts) whose nodes each open a Redis
// door; real Express servers on 127.0.0.1:0; fetch carrying the cookie by hand; the stored session
// and its TTL are read back with a third Redis client (GET and PTTL), so the assertions see what
// dkv stored, not what the apps say.
import { RedisStore } from 'connect-redis';
import express from 'express';
import session from 'express-session';
import type { Server } from 'node:http';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './cluster.test-support.js';

declare module 'express-session' {
  interface SessionData {
    user?: string;
    visits?: number;
  }
}

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const MAX_AGE_MS = 3_600_000;
let cluster: TestCluster;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  cluster = await TestCluster.start(3);
}, 60_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await cluster?.stop();
}, 30_000);

async function redisClient(url: string): Promise<RedisClientType> {
  const client: RedisClientType = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 5000 } });
  client.on('error', () => undefined);
  await client.connect();
  closers.push(() => client.close());
  return client;
}

/** An Express app with express-session over connect-redis on `client`; answers its base URL. */
async function expressApp(client: RedisClientType): Promise<string> {
  const app = express();
  const store = new RedisStore({ client, prefix: 'sess:' });
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, rolling: true, cookie: { maxAge: MAX_AGE_MS } }));
  app.post('/login/:user', (req, res) => {
    req.session.user = req.params.user;
    req.session.visits = 1;
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => {
    if (req.session.user === undefined) res.status(401).json({ user: null });
    else res.json({ user: req.session.user, visits: req.session.visits });
  });
  app.post('/logout', (req, res, next) => req.session.destroy((error: unknown) => (error ? next(error) : res.json({ ok: true }))));
  const server = await new Promise<Server>((resolve) => {
    const listening: Server = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

/** A request carrying `cookie`; answers the status, the JSON body and the session cookie set, if any. */
async function call(base: string, method: string, path: string, cookie?: string) {
  const res = await fetch(`${base}${path}`, { method, headers: cookie === undefined ? {} : { cookie }, signal: AbortSignal.timeout(10_000) });
  const setCookie = res.headers.get('set-cookie');
  return { status: res.status, body: (await res.json()) as { user?: string | null; visits?: number }, cookie: setCookie === null ? undefined : setCookie.split(';')[0] };
}

/** The session id inside a signed `connect.sid=s:<sid>.<signature>` cookie. */
function sidOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
  return value.slice(2, value.lastIndexOf('.'));
}

describe('connect-redis@9 with express-session over dkv\'s Redis door', () => {
  it('logs in on one app instance, reads and touches on another, logs out there', async () => {
    const [doorA, doorB, doorC] = cluster.redisUrls as [string, string, string];
    const a = await expressApp(await redisClient(doorA));
    const b = await expressApp(await redisClient(doorB));
    const observer = await redisClient(doorC);

    const login = await call(a, 'POST', '/login/ada');
    expect(login.status).toBe(200);
    const cookie = login.cookie!;
    expect(cookie).toMatch(/^connect\.sid=s%3A/);
    const key = `sess:${sidOf(cookie)}`;
    const stored = JSON.parse((await observer.get(key)) ?? 'null') as { user?: string; cookie?: { originalMaxAge?: number } } | null;
    expect(stored).toMatchObject({ user: 'ada', cookie: { originalMaxAge: MAX_AGE_MS } });
    const ttlAtLogin = await observer.pTTL(key);
    expect(ttlAtLogin).toBeGreaterThan(MAX_AGE_MS - 60_000);
    expect(ttlAtLogin).toBeLessThanOrEqual(MAX_AGE_MS);

    // Shorten the TTL behind the apps' back, so that the touch's renewal is visible whatever the clock did.
    expect(await observer.pExpire(key, 60_000)).toBe(1);
    expect(await observer.pTTL(key)).toBeLessThanOrEqual(60_000);
    const me = await call(b, 'GET', '/me', cookie);
    expect(me).toMatchObject({ status: 200, body: { user: 'ada', visits: 1 } });
    // rolling + an unmodified session: express-session calls the store's touch (connect-redis: EXPIRE).
    const ttlAfterTouch = await observer.pTTL(key);
    expect(ttlAfterTouch).toBeGreaterThan(MAX_AGE_MS - 60_000);
    expect(JSON.parse((await observer.get(key)) ?? 'null')).toMatchObject({ user: 'ada' });

    expect((await call(b, 'POST', '/logout', cookie)).status).toBe(200);
    expect(await observer.get(key)).toBeNull();
    expect(await observer.exists(key)).toBe(0);
    expect((await call(a, 'GET', '/me', cookie)).status).toBe(401);
  });
});
