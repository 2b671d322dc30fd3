// Goal: the routes the admin commands use beyond API.md (`GET /v1/cluster/endpoints/{key}`,
// `GET /v1/cluster/hints`, `POST /v1/cluster/repair`, `GET /v1/cluster/repair/{id}`) decode the
// key as the key routes do, check the repair body, map errors to the API's codes, answer 501
// without operations, and that every cluster-changing route carries the admin route config.
// Method: fastify.inject against buildPublicApp around recording doubles; no cluster.
import type { RepairReport } from '@dkv/coordination';
import { DkvError } from '@dkv/core';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_ROUTE_CONFIG, ADMIN_ROUTES, type ClusterOperationsApi, type PublicApiService } from './public-api.js';
import { buildPublicApp } from './public-app.js';

const service = {
  cluster: () => ({ epoch: 1, replication: { n: 3, w: 2, r: 2 }, nodes: [] }),
  isReady: () => true,
} as unknown as PublicApiService;

const REPORT: RepairReport = {
  id: 'repair-1',
  state: 'running',
  node: null,
  startedAt: 1,
  finishedAt: null,
  rangesPlanned: 8,
  rangesCompared: 0,
  rangesDiffering: 0,
  rangesSkipped: 0,
  keysDiffering: 0,
  recordsRepaired: 0,
  bytesRepaired: 0,
  error: null,
};

const calls: unknown[] = [];
const operations: ClusterOperationsApi = {
  endpoints: (key) => {
    calls.push(['endpoints', key]);
    if (key.length > 512) throw new DkvError('INVALID_KEY', 'key is too long');
    return { key, hash: 7, replicas: [{ id: 'n1', address: 'h:1', zone: 'default', status: 'up' }], pending: [] };
  },
  hints: () => [{ target: 'n2', count: 2, bytes: 20, oldestAgeMs: 1500 }],
  startRepair: (options) => {
    calls.push(['startRepair', options]);
    if (options.node === 'n9') throw new DkvError('NOT_FOUND', 'node n9 is not on the ring');
    return { ...REPORT, node: options.node ?? null };
  },
  repair: (id) => (id === 'repair-1' ? REPORT : null),
};

let app: FastifyInstance | null = null;
/** Requests that reached a route marked with the admin config, as `METHOD url-pattern`. */
const marked: string[] = [];
async function start(ops?: ClusterOperationsApi): Promise<FastifyInstance> {
  app = buildPublicApp({ service, n: 3, maxValueBytes: 16, ...(ops ? { operations: ops } : {}) });
  app.addHook('onRequest', async (request) => {
    if ((request.routeOptions.config as { access?: string }).access === ADMIN_ROUTE_CONFIG.access)
      marked.push(`${request.method} ${request.routeOptions.url ?? ''}`);
  });
  await app.ready();
  return app;
}

afterEach(async () => {
  calls.length = 0;
  marked.length = 0;
  await app?.close();
  app = null;
});

describe('cluster operations routes', () => {
  it('answers a key\'s endpoints, decoding it from the raw path (an encoded "/" stays in the key)', async () => {
    const res = await (await start(operations)).inject({ method: 'GET', url: '/v1/cluster/endpoints/user%2F42%20x' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ key: 'user/42 x', hash: 7 });
    const bad = await app!.inject({ method: 'GET', url: `/v1/cluster/endpoints/${'k'.repeat(600)}` });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('INVALID_KEY');
  });

  it('answers the hints as {"hints": [...]}', async () => {
    const res = await (await start(operations)).inject({ method: 'GET', url: '/v1/cluster/hints' });
    expect(res.json()).toEqual({ hints: [{ target: 'n2', count: 2, bytes: 20, oldestAgeMs: 1500 }] });
  });

  it('starts a repair with an empty body or {"node"}, refuses other bodies, and follows it by id', async () => {
    const a = await start(operations);
    const all = await a.inject({ method: 'POST', url: '/v1/cluster/repair' });
    expect(all.statusCode).toBe(202);
    expect(all.json()).toEqual(REPORT);
    const one = await a.inject({ method: 'POST', url: '/v1/cluster/repair', payload: { node: 'n2' } });
    expect(one.json().node).toBe('n2');
    expect(calls).toEqual([
      ['startRepair', {}],
      ['startRepair', { node: 'n2' }],
    ]);
    const extra = await a.inject({ method: 'POST', url: '/v1/cluster/repair', payload: { node: 'n2', ranges: 3 } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error.message).toMatch(/the body must be empty or JSON \{"node": "<id>"\}/);
    const unknown = await a.inject({ method: 'POST', url: '/v1/cluster/repair', payload: { node: 'n9' } });
    expect(unknown.statusCode).toBe(404);
    expect((await a.inject({ method: 'GET', url: '/v1/cluster/repair/repair-1' })).json()).toEqual(REPORT);
    const missing = await a.inject({ method: 'GET', url: '/v1/cluster/repair/repair-7' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
  });

  it('answers 501 NOT_IMPLEMENTED without operations', async () => {
    const res = await (await start()).inject({ method: 'GET', url: '/v1/cluster/hints' });
    expect(res.statusCode).toBe(501);
    expect(res.json().error.code).toBe('NOT_IMPLEMENTED');
  });

  it('marks exactly the cluster-changing routes with the admin route config', async () => {
    const a = await start(operations);
    for (const [method, url] of [
      ['GET', '/v1/cluster'],
      ['GET', '/v1/cluster/distribution'],
      ['GET', '/v1/cluster/hints'],
      ['GET', '/v1/cluster/endpoints/k'],
      ['GET', '/v1/cluster/repair/repair-1'],
      ['POST', '/v1/cluster/nodes'],
      ['DELETE', '/v1/cluster/nodes/n1'],
      ['PATCH', '/v1/cluster/nodes/n1'],
      ['POST', '/v1/cluster/repair'],
    ] as const) {
      await a.inject({ method, url });
    }
    expect(marked).toEqual([...ADMIN_ROUTES]);
  });
});
