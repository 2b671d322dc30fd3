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
import { createClient, type RedisClientType } from 'redis';
import { describe, expect, it } from 'vitest';
import { call, listenExpress, sidOf, useTestCluster } from './cluster.test-support.js';

declare module 'express-session' {
  interface SessionData {
    user?: string;
    visits?: number;
  }
}

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const MAX_AGE_MS = 3_600_000;
const fixture = useTestCluster(3);

async function redisClient(url: string): Promise<RedisClientType> {
  const client: RedisClientType = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 5000 } });
  client.on('error', () => undefined);
  await client.connect();
  fixture.closeLater(() => client.close());
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
  return listenExpress(app, fixture.closeLater);
}

describe("connect-redis@9 with express-session over dkv's Redis door", () => {
  it('logs in on one app instance, reads and touches on another, logs out there', async () => {
    const [doorA, doorB, doorC] = fixture.cluster.redisUrls as [string, string, string];
    const a = await expressApp(await redisClient(doorA));
    const b = await expressApp(await redisClient(doorB));
    const observer = await redisClient(doorC);

    const login = await call(a, 'POST', '/login/ada');
    expect(login.status).toBe(200);
    const cookie = login.cookie!;
    expect(cookie).toMatch(/^connect\.sid=s%3A/);
    const key = `sess:${sidOf(cookie)}`;
    const stored = JSON.parse((await observer.get(key)) ?? 'null') as { user?: string; cookie?: { originalMaxAge?: number } } | null;
    expect(stored).toMatchObject({ user: 'ada' });
    // express-session computes originalMaxAge as `expires - Date.now()` once the cookie is built, so
    // on a busy machine it is a few milliseconds under maxAge (CI once stored 3_599_997).
    const originalMaxAge = stored?.cookie?.originalMaxAge ?? 0;
    expect(originalMaxAge).toBeGreaterThan(MAX_AGE_MS - 60_000);
    expect(originalMaxAge).toBeLessThanOrEqual(MAX_AGE_MS);
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
