// Goal: the dashboard's server side: `/ui` serves the page and its assets with only page-relative
// URLs (same origin, so a Basic-auth prompt covers them), `/v1/cluster/overview` joins the cluster
// view, the distribution, the requests of the last seconds, the hints (in total and per target)
// and the membership events,
// builds at most one overview per cache period, and the ring arcs match the nodes' shares. Method:
// fastify.inject against buildPublicApp around a small double of the coordination service whose
// cluster view a test changes; waits for the event sampler are bounded polls.
import type { ClusterInfo, DistributionEntry, NodeStatus } from '@dkv/core';
import { ConsistentHash } from '@dkv/hashing';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ringArcs, type ClusterOverview } from './dashboard.js';
import type { PublicApiService } from './public-api.js';
import { buildPublicApp } from './public-app.js';

class ClusterDouble implements PublicApiService {
  statuses = new Map<string, NodeStatus>([
    ['n1', 'up'],
    ['n2', 'up'],
    ['n3', 'up'],
  ]);
  distributions = 0;
  async get() {
    return null;
  }
  async put(key: string) {
    return { key, version: 1, expiresAt: null };
  }
  async delete(key: string) {
    return { key, version: 2 };
  }
  async scanKeys() {
    return { keys: [], cursor: null };
  }
  cluster(): ClusterInfo {
    const nodes = [...this.statuses].map(([id, status], i) => ({
      id,
      address: `127.0.0.1:${7000 + i}`,
      status,
      vnodes: 64,
      zone: 'default',
    }));
    return { epoch: 7, replication: { n: 3, w: 2, r: 2 }, nodes, zoneLossSafe: false, clockOffsetMs: 3 };
  }
  async distribution(): Promise<DistributionEntry[]> {
    this.distributions += 1;
    return [...this.statuses.keys()].map((id, i) => ({ id, ringShare: 1 / this.statuses.size, keys: 10 * (i + 1), bytes: 100 * (i + 1) }));
  }
  isReady() {
    return true;
  }
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function dashboardApp(service: ClusterDouble, overviewCacheMs = 0): FastifyInstance {
  const app = buildPublicApp({
    service,
    n: 3,
    maxValueBytes: 1024,
    dashboard: { processId: 'c9', hintsPending: () => 42, sampleIntervalMs: 20, overviewCacheMs },
  });
  apps.push(app);
  return app;
}

async function overviewOf(app: FastifyInstance): Promise<ClusterOverview> {
  const res = await app.inject({ method: 'GET', url: '/v1/cluster/overview' });
  expect(res.statusCode).toBe(200);
  return res.json<ClusterOverview>();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const giveUpAt = Date.now() + 10_000;
  while (Date.now() < giveUpAt) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('GET /ui', () => {
  it('serves the page, its script and style sheet, referring only to page-relative URLs', async () => {
    const app = dashboardApp(new ClusterDouble());
    const page = await app.inject({ method: 'GET', url: '/ui' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const urls = [...page.body.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1]);
    expect(urls).toEqual(expect.arrayContaining(['ui/dashboard.css', 'ui/dashboard.js', 'v1/cluster/overview']));
    for (const url of urls) expect(url).toMatch(/^(ui\/|v1\/|data:)/);
    const script = await app.inject({ method: 'GET', url: '/ui/dashboard.js' });
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.body).toContain("'v1/cluster/overview'");
    expect(script.body).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    const style = await app.inject({ method: 'GET', url: '/ui/dashboard.css' });
    expect(style.headers['content-type']).toMatch(/^text\/css/);
    const slash = await app.inject({ method: 'GET', url: '/ui/' });
    expect(slash.statusCode).toBe(302);
    expect(slash.headers.location).toBe('../ui');
  });

  it('does not exist without the dashboard option', async () => {
    const app = buildPublicApp({ service: new ClusterDouble(), n: 3, maxValueBytes: 1024 });
    apps.push(app);
    expect((await app.inject({ method: 'GET', url: '/ui' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/v1/cluster/overview' })).statusCode).toBe(404);
  });
});

describe('GET /v1/cluster/overview', () => {
  it('joins the cluster view, the distribution, the ring, the hints and the requests', async () => {
    const app = dashboardApp(new ClusterDouble());
    for (let i = 0; i < 3; i += 1) await app.inject({ method: 'PUT', url: `/v1/kv/k${i}`, payload: 'v' });
    const overview = await overviewOf(app);
    expect(overview).toMatchObject({
      process: 'c9',
      epoch: 7,
      replication: { n: 3, w: 2, r: 2 },
      rebalancing: false,
      hintsPending: 42,
      clockOffsetMs: 3,
      clockProblem: null,
    });
    expect(overview.nodes.map((node) => [node.id, node.status, node.keys, node.bytes])).toEqual([
      ['n1', 'up', 10, 100],
      ['n2', 'up', 20, 200],
      ['n3', 'up', 30, 300],
    ]);
    expect(new Set(overview.ring.map((arc) => arc.node))).toEqual(new Set(['n1', 'n2', 'n3']));
    expect(overview.requests.windowSeconds).toBe(10);
    // The PUTs were counted (in the current second, summarized once it is over).
    const counted = await until('the PUTs in the request window', async () => {
      const { requests } = await overviewOf(app);
      return requests.operations.put.perSecond > 0 ? requests.operations.put : undefined;
    });
    expect(counted.perSecond).toBeCloseTo(0.3);
    expect(counted.p99Seconds).toBeGreaterThan(0);
  });

  it('lists the hints held per target node, as `dkv hints` does, from the cluster operations', async () => {
    const held = [
      { target: 'n2', count: 3, bytes: 120, oldestAgeMs: 4500 },
      { target: 'n3', count: 1, bytes: 9, oldestAgeMs: 20 },
    ];
    const operations = {
      endpoints: () => {
        throw new Error('not asked');
      },
      hints: () => held,
      startRepair: () => {
        throw new Error('not asked');
      },
      repair: () => null,
    };
    const app = buildPublicApp({
      service: new ClusterDouble(),
      n: 3,
      maxValueBytes: 1024,
      operations,
      dashboard: { processId: 'c9', hintsPending: () => 4, overviewCacheMs: 0 },
    });
    apps.push(app);
    expect((await overviewOf(app)).hints).toEqual(held);
    held.pop();
    expect((await overviewOf(app)).hints).toEqual([{ target: 'n2', count: 3, bytes: 120, oldestAgeMs: 4500 }]);
    // Without the cluster operations (a process that does not keep hints by target), none.
    expect((await overviewOf(dashboardApp(new ClusterDouble()))).hints).toEqual([]);
  });

  it('records membership events as the cluster view changes, newest first', async () => {
    const service = new ClusterDouble();
    const app = dashboardApp(service);
    service.statuses.set('n2', 'down');
    service.statuses.set('n4', 'joining');
    const overview = await until('two events', async () => {
      const next = await overviewOf(app);
      return next.events.length >= 2 ? next : undefined;
    });
    expect(overview.events.map(({ node, kind, from, to }) => ({ node, kind, from, to }))).toEqual(
      expect.arrayContaining([
        { node: 'n2', kind: 'status', from: 'up', to: 'down' },
        { node: 'n4', kind: 'added', from: undefined, to: 'joining' },
      ]),
    );
    expect(overview.nodes.find((node) => node.id === 'n2')?.status).toBe('down');
  });

  it('builds at most one overview per cache period, whatever the number of dashboards', async () => {
    const service = new ClusterDouble();
    const app = dashboardApp(service, 60_000);
    await Promise.all(Array.from({ length: 5 }, () => overviewOf(app)));
    await overviewOf(app);
    expect(service.distributions).toBe(1);
  });
});

describe('ringArcs', () => {
  it('covers the circle once, in order, with each node near its ring share; joining nodes are not drawn', () => {
    const nodes = [
      { id: 'a', address: 'h:1', status: 'up' as const, vnodes: 256, zone: 'default' },
      { id: 'b', address: 'h:2', status: 'down' as const, vnodes: 256, zone: 'default' },
      { id: 'c', address: 'h:3', status: 'up' as const, vnodes: 512, zone: 'default' },
      { id: 'd', address: 'h:4', status: 'joining' as const, vnodes: 256, zone: 'default' },
    ];
    const arcs = ringArcs(nodes);
    expect(arcs[0]!.start).toBe(0);
    expect(arcs[arcs.length - 1]!.end).toBe(1);
    for (let i = 1; i < arcs.length; i += 1) expect(arcs[i]!.start).toBe(arcs[i - 1]!.end);
    const drawn = new Map<string, number>();
    for (const arc of arcs) drawn.set(arc.node, (drawn.get(arc.node) ?? 0) + arc.end - arc.start);
    expect(drawn.has('d')).toBe(false);
    const shares = new ConsistentHash(nodes.slice(0, 3).map((node) => ({ ...node, role: 'storage' as const, metadata: {} }))).ringShares();
    for (const [id, share] of shares) expect(Math.abs((drawn.get(id) ?? 0) - share)).toBeLessThan(0.05);
    expect(arcs.length).toBeLessThanOrEqual(720);
  });

  it('draws nothing for an empty ring', () => {
    expect(ringArcs([])).toEqual([]);
  });
});
