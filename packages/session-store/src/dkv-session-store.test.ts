// Goal: DkvSessionStore keeps express-session's store contract over a real dkv cluster: get, set,
// destroy and touch by callback and by promise, the TTL taken from the cookie (an expired cookie
// destroys), versions a Redis store cannot give, all/length/clear/ids over the cluster-wide scan
// (only this store's prefix, even one with glob characters), and dkv's error codes handed to
// callbacks and promises. Method: `dkv cluster up --topology nodes` with three nodes started
// through the built CLI (cluster.test-support.ts); a small Fastify server answering 503
// QUORUM_NOT_MET stands in for a cluster that lost its quorum.
import { KVStoreClient } from '@dkv/client';
import { Store, type SessionData } from 'express-session';
import { EventEmitter } from 'node:events';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { useTestCluster } from './cluster.test-support.js';
import { DkvSessionStore } from './dkv-session-store.js';

const fixture = useTestCluster(3);

function store(prefix: string, options: Partial<ConstructorParameters<typeof DkvSessionStore>[0]> = {}): DkvSessionStore {
  const made = new DkvSessionStore({ endpoints: fixture.cluster.urls, prefix, ...options });
  fixture.closeLater(() => made.close());
  return made;
}

function session(data: Record<string, unknown>, cookie: Record<string, unknown> = { originalMaxAge: null }): SessionData {
  return { cookie, ...data } as unknown as SessionData;
}

describe('DkvSessionStore over a real cluster', () => {
  it('sets, gets and destroys by promise and by callback', async () => {
    const s = store('api:');
    await s.set('a', session({ user: 'ada' }));
    expect(await s.get('a')).toEqual({ cookie: { originalMaxAge: null }, user: 'ada' });
    const viaCallback = await new Promise<unknown[]>((resolve) => void s.get('a', (error, data) => resolve([error, data])));
    expect(viaCallback).toEqual([null, { cookie: { originalMaxAge: null }, user: 'ada' }]);
    await new Promise<void>((resolve, reject) => void s.destroy('a', (error) => (error ? reject(error as Error) : resolve())));
    expect(await s.get('a')).toBeNull();
    const missing = await new Promise<unknown[]>((resolve) => void s.get('a', (...args) => resolve(args)));
    expect(missing).toEqual([null, undefined]);
    const raw = new KVStoreClient({ urls: fixture.cluster.urls });
    await raw.put('api:b', '{"user":"bob","cookie":{}}');
    expect(await s.get('b')).toEqual({ user: 'bob', cookie: {} });
    await raw.close();
  });

  it('takes the TTL from the cookie, the default ttl without one, and destroys a session whose cookie expired', async () => {
    const s = store('ttl:', { ttl: 120 });
    const inOneHour = new Date(Date.now() + 3_600_000);
    const before = Date.now();
    const written = await s.setWithVersion('c', session({ n: 1 }, { expires: inOneHour.toISOString(), originalMaxAge: 3_600_000 }));
    // The coordinator stamps expiry by the cluster's clock (its offset from the storage nodes,
    // measured over a round trip), which can sit a few ms off this process's clock.
    const clockSlackMs = 100;
    expect(written?.expiresAt).toBeGreaterThanOrEqual(inOneHour.getTime() - clockSlackMs);
    expect(written?.expiresAt).toBeLessThanOrEqual(inOneHour.getTime() + 1000 + clockSlackMs);
    const plain = await s.getWithVersion('c');
    expect(plain?.version).toBe(written?.version);
    const noCookieExpiry = await s.setWithVersion('d', session({ n: 2 }));
    expect(noCookieExpiry!.expiresAt! - before).toBeGreaterThanOrEqual(120_000);
    expect(noCookieExpiry!.expiresAt! - Date.now()).toBeLessThanOrEqual(121_000);
    expect(await s.setWithVersion('d', session({ n: 3 }, { expires: new Date(Date.now() - 1000).toISOString() }))).toBeNull();
    expect(await s.get('d')).toBeNull();
  });

  it('touch rewrites the session with a later expiry and a higher version, and does not bring back a destroyed one', async () => {
    const s = store('touch:');
    await s.set('e', session({ n: 1 }, { expires: new Date(Date.now() + 60_000).toISOString() }));
    const first = await s.getWithVersion('e');
    await s.touch('e', session({ n: 1 }, { expires: new Date(Date.now() + 600_000).toISOString() }));
    const touched = await s.getWithVersion('e');
    expect(touched!.version).toBeGreaterThan(first!.version);
    expect(touched!.expiresAt!).toBeGreaterThan(first!.expiresAt! + 500_000);
    await s.destroy('e');
    await s.touch('e', session({ n: 1 }));
    expect(await s.get('e')).toBeNull();
  });

  it('lists, counts and clears only its own prefix, even one with glob characters', async () => {
    const mine = store('list[1]*:');
    const neighbour = store('list[1]x:');
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    for (const id of ids) await mine.set(id, session({ id_: id }));
    await neighbour.set('other', session({}));
    expect((await mine.ids())?.sort()).toEqual(ids);
    expect(await mine.length()).toBe(5);
    const all = (await mine.all()) as Array<SessionData & { id: string; id_: string }>;
    expect(all.map((s) => [s.id, s.id_]).sort()).toEqual(ids.map((id) => [id, id]));
    const counted = await new Promise<unknown[]>((resolve) => void mine.length((...args) => resolve(args)));
    expect(counted).toEqual([null, 5]);
    await mine.clear();
    expect(await mine.length()).toBe(0);
    expect(await neighbour.ids()).toEqual(['other']);
  });
});

describe('DkvSessionStore errors', () => {
  it("hands dkv's codes to callbacks and promises, and rejects bad options", async () => {
    const app = Fastify();
    // Answered before any body is parsed: every request meets a cluster without its quorum.
    app.addHook('onRequest', async (_request, reply) =>
      reply
        .code(503)
        .send({ error: { code: 'QUORUM_NOT_MET', message: 'quorum not met: needed 2 replica answers, received 1 of 3 contacted' } }),
    );
    app.all('/*', async () => ({}));
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const s = new DkvSessionStore({ endpoints: [url], clientOptions: { retry: { maxAttempts: 2, baseBackoffMs: 1, maxBackoffMs: 2 } } });
    expect(s).toBeInstanceOf(Store);
    expect(s).toBeInstanceOf(EventEmitter);
    try {
      await expect(s.get('x')).rejects.toMatchObject({ code: 'QUORUM_NOT_MET', status: 503 });
      const viaCallback = await new Promise<unknown>((resolve) => void s.set('x', session({}), (error) => resolve(error)));
      expect(viaCallback).toMatchObject({ code: 'QUORUM_NOT_MET' });
    } finally {
      await s.close();
      await app.close();
    }
    expect(() => new DkvSessionStore({})).toThrow(/give `client` \(a KVStoreClient\) or `endpoints`/);
    expect(() => new DkvSessionStore({ endpoints: [url], ttl: 0 })).toThrow(
      /ttl must be a whole number of seconds from 1 to 31536000, got 0/,
    );
    expect(() => new DkvSessionStore({ endpoints: [url], scanCount: 5000 })).toThrow(/scanCount must be a whole number from 1 to 1000/);
  });
});
