// Goal: no HTTP request to a storage node's app, however malformed (random method, path, headers
// and body, oversized bodies, garbage MessagePack on the internal route), crashes it, answers a
// 5xx, or changes stored data when the node requires the cluster secret; and a signed request
// still works after. Method: seeded fast-check (seed printed; replay with DKV_SEED=<n>) through
// fastify.inject into buildNodeApp over a real StorageService, with a snapshot of the store
// (every key's record) taken before and compared after.
import type { StorageRequest } from '@dkv/core';
import { SystemClock } from '@dkv/runtime';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { seedForTest } from '@dkv/testkit';
import { encodeRequest, FRAME_CONTENT_TYPE, INTERNODE_AUTH_HEADER, signInternalRequest } from '@dkv/transport';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { buildNodeApp } from './node-app.js';
import { createNodeMetrics } from './node-metrics.js';

const SECRET = 'fuzz-secret-of-the-node-app';
const KEYS = ['a', 'b', 'session:1'];

describe('node HTTP app with a cluster secret: fuzz', () => {
  it('answers every hostile request with a 4xx or a harmless 2xx, and stores nothing', async () => {
    const seed = seedForTest();
    const clock = new SystemClock();
    const engine = new InMemoryStorageEngine({ clock, tombstoneGraceMs: 60_000 });
    const service = new StorageService({ nodeId: 'n1', engine, clock });
    for (const key of KEYS)
      service.handle({
        type: 'PUT',
        key,
        record: {
          value: Buffer.from(key),
          version: 5,
          writerId: 'w',
          createdAt: clock.now(),
          updatedAt: clock.now(),
          expiresAt: null,
          tombstone: false,
        },
      });
    const snapshot = (): unknown => KEYS.map((key) => service.handle({ type: 'GET', key }));
    const before = snapshot();
    const metrics = createNodeMetrics(engine, 'n1');
    const app = buildNodeApp({
      handler: service,
      membership: () => ({ epoch: 1, nodes: [] }),
      isReady: () => true,
      registry: metrics.registry,
      bodyLimitBytes: 64 * 1024,
      logger: pino({ level: 'silent' }),
      bounds: { maxConnections: 10, idleTimeoutMs: 10_000, readTimeoutMs: 10_000 },
      clusterSecret: SECRET,
      counters: metrics.portBounds,
    });
    await app.ready();
    const putFrame = encodeRequest({
      type: 'PUT',
      key: 'a',
      record: {
        value: Buffer.from('overwritten'),
        version: 99,
        writerId: 'x',
        createdAt: 1,
        updatedAt: 1,
        expiresAt: null,
        tombstone: false,
      },
    } satisfies StorageRequest);
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
    const path = fc.oneof(
      fc.constantFrom(
        '/internal/v1/storage',
        '/internal/v1/membership',
        '/internal/',
        '/internal/v1/storage?x=1',
        '/livez',
        '/readyz',
        '/metrics',
        '/v1/kv/a',
        '/%',
        '/internal/%zz',
      ),
      fc.string({ maxLength: 40 }).map((text) => `/${encodeURIComponent(text)}`),
      fc.string({ maxLength: 30 }).map((text) => `/internal/${encodeURIComponent(text)}`),
    );
    const header = fc.dictionary(
      fc.constantFrom('content-type', INTERNODE_AUTH_HEADER, 'x-any', 'content-encoding'),
      fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom(FRAME_CONTENT_TYPE, 'application/json', `${Date.now()}.${'0'.repeat(64)}`)),
    );
    const body = fc.oneof(
      fc.constant(undefined),
      fc.uint8Array({ maxLength: 2000 }).map((bytes) => Buffer.from(bytes)),
      fc.constant(putFrame),
      fc.constant(Buffer.alloc(70 * 1024, 1)),
    );
    try {
      await fc.assert(
        fc.asyncProperty(method, path, header, body, async (m, url, headers, payload) => {
          const response = await app.inject({
            method: m as 'GET',
            url,
            headers,
            ...(payload === undefined || m === 'GET' || m === 'HEAD' ? {} : { payload }),
          });
          expect(response.statusCode).toBeLessThan(500);
          if (url.startsWith('/internal/')) expect(response.statusCode).toBeGreaterThanOrEqual(400);
        }),
        { seed, numRuns: 400 },
      );
      expect(snapshot()).toEqual(before);
      const signed = await app.inject({
        method: 'POST',
        url: '/internal/v1/storage',
        headers: {
          'content-type': FRAME_CONTENT_TYPE,
          [INTERNODE_AUTH_HEADER]: signInternalRequest(SECRET, 'POST', '/internal/v1/storage', Date.now()),
        },
        payload: putFrame,
      });
      expect(signed.statusCode).toBe(200);
      expect(snapshot()).not.toEqual(before);
    } finally {
      await app.close();
    }
  }, 60_000);
});
