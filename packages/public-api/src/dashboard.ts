import { readFileSync } from 'node:fs';
import type { HintBacklog } from '@dkv/coordination';
import type { ClusterInfo, ClusterNodeInfo, DistributionEntry, Node } from '@dkv/core';
import { ConsistentHash, MAX_HASH } from '@dkv/hashing';
import type { FastifyInstance } from 'fastify';
import { MembershipEventLog, type MembershipEvent } from './membership-events.js';
import type { PublicApiService } from './public-api.js';
import { RequestWindow, type RequestSummary } from './request-window.js';
import { requires } from './access.js';

/** Where the dashboard's page lives; its script and style sheet are under it. */
export const DASHBOARD_PATH = '/ui';
/** The one JSON document the dashboard polls (an addition to API.md's cluster routes). */
export const OVERVIEW_PATH = '/v1/cluster/overview';

/** Defaults of {@link DashboardOptions}. */
export const DEFAULT_DASHBOARD_OPTIONS = {
  eventCapacity: 200,
  sampleIntervalMs: 1000,
  requestWindowSeconds: 10,
  overviewCacheMs: 1000,
} as const;

/** What a coordinating process tells its dashboard beyond the public API's service. */
export interface DashboardOptions {
  /** This process's id, shown as the page's source. */
  readonly processId: string;
  /** Writes this process holds for replicas that have not taken them yet (hints and retries). */
  readonly hintsPending: () => number;
  /**
   * The hinted writes this process holds, per target node (what `dkv hints` shows). Absent: the
   * public API's cluster operations' `hints()` when it has them, else none.
   */
  readonly hints?: () => readonly HintBacklog[];
  /** The most membership events kept (a ring buffer). Default 200. */
  readonly eventCapacity?: number;
  /** How often the membership is compared with the last view to find events. Default 1000 ms. */
  readonly sampleIntervalMs?: number;
  /** Request rates and p99 latencies cover this many seconds. Default 10. */
  readonly requestWindowSeconds?: number;
  /**
   * An overview is built at most once per this many ms, whatever the number of open dashboards:
   * building one asks every node for its keys and bytes. Default 1000 ms.
   */
  readonly overviewCacheMs?: number;
}

/** One node in the overview: `GET /v1/cluster`'s fields with the distribution's share, keys and bytes. */
export interface OverviewNode extends ClusterNodeInfo {
  readonly ringShare: number;
  readonly keys: number;
  readonly bytes: number;
}

/** One arc of the drawn ring: a stretch of the hash space (fractions 0..1) whose primary is `node`. */
export interface RingArc {
  readonly start: number;
  readonly end: number;
  readonly node: string;
}

/** The answer of `GET /v1/cluster/overview`: everything the dashboard draws, in one document. */
export interface ClusterOverview {
  /** When it was built (epoch ms). */
  readonly time: number;
  readonly process: string;
  readonly epoch: number;
  readonly replication: ClusterInfo['replication'];
  readonly rebalancing: boolean;
  readonly zoneLossSafe: boolean | null;
  readonly clockOffsetMs: number | null;
  readonly clockProblem: string | null;
  readonly nodes: readonly OverviewNode[];
  readonly ring: readonly RingArc[];
  readonly requests: RequestSummary;
  readonly hintsPending: number;
  /** The hinted writes held per target node, as `GET /v1/cluster/hints` lists them (count, bytes, oldest age). */
  readonly hints: readonly HintBacklog[];
  readonly events: readonly MembershipEvent[];
}

/** The ring is drawn with at most this many arcs (half a degree each): enough to see, bounded to send. */
const RING_SEGMENTS = 720;

/** What {@link registerDashboard} hands back: the recorder its caller feeds each answered key request. */
export interface DashboardRecorder {
  record(operation: 'get' | 'put' | 'delete', status: number, seconds: number): void;
}

/**
 * Adds the web dashboard to `app`: `GET /ui` (one HTML page, its script and style sheet: plain
 * HTML, CSS and JavaScript, nothing to build or install) and `GET /v1/cluster/overview`, the JSON
 * it polls. Every URL the page uses is relative to it and on the same origin, so a browser's
 * HTTP Basic prompt covers them all. The page polls every 1.5 s, one request at a time; the
 * server builds an overview at most once per `overviewCacheMs`, so open dashboards cost the
 * cluster a bounded amount whatever their number. A timer compares the membership with its last
 * view every `sampleIntervalMs` and keeps the differences as events; it stops when the app closes.
 */
export function registerDashboard(app: FastifyInstance, service: PublicApiService, options: DashboardOptions): DashboardRecorder {
  const settings = { ...DEFAULT_DASHBOARD_OPTIONS, ...options };
  const events = new MembershipEventLog(settings.eventCapacity);
  const requests = new RequestWindow(settings.requestWindowSeconds);
  const sample = (): void => {
    try {
      events.observe(service.cluster().nodes, Date.now());
    } catch {
      // Not coordinating yet (a node still starting): there is no membership to compare.
    }
  };
  sample();
  const timer = setInterval(sample, settings.sampleIntervalMs);
  timer.unref();
  app.addHook('onClose', (_instance, done) => {
    clearInterval(timer);
    done();
  });

  let cached: { readonly at: number; readonly overview: Promise<ClusterOverview> } | null = null;
  const overview = (): Promise<ClusterOverview> => {
    const now = Date.now();
    if (cached !== null && now - cached.at < settings.overviewCacheMs) return cached.overview;
    const built = buildOverview(service, settings, events, requests, now);
    cached = { at: now, overview: built };
    built.catch(() => {
      cached = null;
    });
    return built;
  };

  const assets = dashboardAssets();
  // With authentication on, the page and its data need a user of role read (the browser asks once).
  app.get(DASHBOARD_PATH, requires('read'), async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(assets.html),
  );
  // The page's URLs are relative to /ui; from /ui/ they would not resolve, so send the browser back.
  app.get(`${DASHBOARD_PATH}/`, requires('read'), async (_request, reply) => reply.redirect('../ui', 302));
  app.get(`${DASHBOARD_PATH}/dashboard.js`, requires('read'), async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(assets.script),
  );
  app.get(`${DASHBOARD_PATH}/dashboard.css`, requires('read'), async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(assets.style),
  );
  app.get(OVERVIEW_PATH, requires('read'), async (_request, reply) => reply.header('cache-control', 'no-store').send(await overview()));
  return { record: (operation, status, seconds) => requests.record(operation, status, seconds) };
}

async function buildOverview(
  service: PublicApiService,
  settings: Required<Omit<DashboardOptions, 'hints'>> & Pick<DashboardOptions, 'hints'>,
  events: MembershipEventLog,
  requests: RequestWindow,
  now: number,
): Promise<ClusterOverview> {
  const cluster = service.cluster();
  const distribution = new Map<string, DistributionEntry>((await service.distribution()).map((entry) => [entry.id, entry]));
  const nodes = cluster.nodes.map((node): OverviewNode => {
    const entry = distribution.get(node.id);
    return { ...node, ringShare: entry?.ringShare ?? 0, keys: entry?.keys ?? 0, bytes: entry?.bytes ?? 0 };
  });
  return {
    time: now,
    process: settings.processId,
    epoch: cluster.epoch,
    replication: cluster.replication,
    rebalancing: cluster.rebalancing === true,
    zoneLossSafe: cluster.zoneLossSafe ?? null,
    clockOffsetMs: cluster.clockOffsetMs ?? null,
    clockProblem: cluster.clockProblem ?? null,
    nodes,
    ring: ringArcs(cluster.nodes),
    requests: requests.summary(),
    hintsPending: settings.hintsPending(),
    hints: settings.hints?.() ?? [],
    events: events.recent(),
  };
}

/**
 * The read ring's primaries as at most {@link RING_SEGMENTS} arcs: the ring built from the nodes
 * (joining ones are not on it yet) is sampled at evenly spaced points, and neighbouring samples
 * with the same primary merge into one arc. A node's exact share is `ringShare`; the drawing shows
 * how its vnodes spread.
 */
export function ringArcs(nodes: ReadonlyArray<Pick<ClusterNodeInfo, 'id' | 'address' | 'status' | 'vnodes' | 'zone'>>): RingArc[] {
  const placed = nodes.filter((node) => node.status !== 'joining' && node.vnodes > 0);
  if (placed.length === 0) return [];
  const ring = new ConsistentHash(
    placed.map((node): Node => ({
      id: node.id,
      address: node.address,
      role: 'storage',
      status: node.status,
      vnodes: node.vnodes,
      metadata: {},
      ...(node.zone === undefined ? {} : { zone: node.zone }),
    })),
  );
  const arcs = ring.arcs(1);
  const out: RingArc[] = [];
  let arc = 0;
  for (let i = 0; i < RING_SEGMENTS; i += 1) {
    const hash = Math.floor(((i + 0.5) / RING_SEGMENTS) * MAX_HASH);
    while (arc < arcs.length - 1 && arcs[arc]!.range[1] < hash) arc += 1;
    const node = arcs[arc]!.nodes[0]?.id ?? '';
    const last = out[out.length - 1];
    if (last !== undefined && last.node === node) out[out.length - 1] = { ...last, end: fraction(i + 1) };
    else out.push({ start: fraction(i), end: fraction(i + 1), node });
  }
  return out;
}

/** The fraction of the circle where segment `i` starts, to six digits (the JSON stays short). */
function fraction(i: number): number {
  return Math.round((i / RING_SEGMENTS) * 1e6) / 1e6;
}

interface DashboardAssets {
  readonly html: string;
  readonly script: string;
  readonly style: string;
}

let loaded: DashboardAssets | null = null;

/**
 * The page, script and style sheet, read once from `ui/` beside this module: `src/ui` when run
 * from the sources, `dist/ui` (copied by the package's build) when run from the build.
 */
function dashboardAssets(): DashboardAssets {
  if (loaded !== null) return loaded;
  const read = (name: string): string => readFileSync(new URL(`./ui/${name}`, import.meta.url), 'utf8');
  loaded = { html: read('index.html'), script: read('dashboard.js'), style: read('dashboard.css') };
  return loaded;
}
