import type { Authenticator } from '@dkv/auth';
import type { CoordinatorService, HintBacklog, KeyEndpoints, RepairReport } from '@dkv/coordination';
import {
  DkvError,
  errorBody,
  HTTP_STATUS_BY_CODE,
  MAX_TTL_SECONDS,
  NODE_ID_PATTERN,
  validateKey,
  ZONE_PATTERN,
  type ErrorCode,
  type ReadResult,
} from '@dkv/core';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify';
import { z } from 'zod';
import { accessHook, requires } from './access.js';
import { registerDashboard, type DashboardOptions } from './dashboard.js';

/** What the public API needs of the coordination core: the `KVStore`, the key scan, cluster views and readiness. */
export type PublicApiService = Pick<CoordinatorService, 'get' | 'put' | 'delete' | 'scanKeys' | 'cluster' | 'distribution' | 'isReady'>;

/**
 * Changes of the cluster's membership (`POST /v1/cluster/nodes`, `DELETE /v1/cluster/nodes/{id}`):
 * each answers the node's entry as it now stands; data moves in the background. Errors are
 * `DkvError`s (`INVALID_REQUEST`, `NOT_FOUND`).
 */
export interface ClusterAdminApi {
  addNode(request: { readonly id: string; readonly address: string; readonly vnodes?: number; readonly zone?: string }): ClusterNodeChange;
  removeNode(id: string, force: boolean): ClusterNodeChange;
  /** Changes a node's weight on the ring; data moves as for a join. */
  setVnodes(id: string, vnodes: number): ClusterNodeChange;
  /** Moves a node to another zone (failure domain); the ranges whose replicas change move as for a join. */
  setZone(id: string, zone: string): ClusterNodeChange;
}

/**
 * The operator's views and actions beyond membership (`dkv getendpoints`, `dkv hints`,
 * `dkv repair`). Errors are `DkvError`s (`INVALID_KEY`, `INVALID_REQUEST`, `NOT_FOUND`).
 */
export interface ClusterOperationsApi {
  /** A key's replicas in preference order (and, while data moves, those it moves to). */
  endpoints(key: string): KeyEndpoints;
  /** The hinted writes this process holds, per target node. */
  hints(): readonly HintBacklog[];
  /** Starts an anti-entropy pass now, of every range or of one node's; answers its first report. */
  startRepair(options: { readonly node?: string }): RepairReport;
  /** A repair's report, or null when this process does not know (or no longer keeps) it. */
  repair(id: string): RepairReport | null;
}

/**
 * Fastify route `config` of the routes that change the cluster (membership, vnodes, zones,
 * repair): an authentication hook can read `request.routeOptions.config.role` and ask for the
 * admin role there. {@link ADMIN_ROUTES} lists them.
 */
export const ADMIN_ROUTE_CONFIG = requires('admin').config;

/** The cluster-changing routes, as `METHOD url` in Fastify's spelling: each carries {@link ADMIN_ROUTE_CONFIG}. */
export const ADMIN_ROUTES: readonly string[] = [
  'POST /v1/cluster/nodes',
  'DELETE /v1/cluster/nodes/:id',
  'PATCH /v1/cluster/nodes/:id',
  'POST /v1/cluster/repair',
];

/** A node's entry after a membership change, as the cluster routes answer it. */
export interface ClusterNodeChange {
  readonly id: string;
  readonly address: string;
  readonly status: string;
  readonly vnodes: number;
  readonly zone: string;
}

const ZONE_RULE = 'must be 1 to 64 letters, digits, ".", "_", "-" or "/", starting with a letter or digit';

const addNodeSchema = z.object({
  id: z.string().regex(NODE_ID_PATTERN, 'must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  address: z.string().regex(/^[A-Za-z0-9.:[\]-]+:\d{1,5}$/, 'must be host:port'),
  vnodes: z.int().min(1).max(65_536).optional(),
  zone: z.string().regex(ZONE_PATTERN, ZONE_RULE).optional(),
});

const changeNodeSchema = z
  .object({ vnodes: z.int().min(1).max(65_536).optional(), zone: z.string().regex(ZONE_PATTERN, ZONE_RULE).optional() })
  .refine((body) => body.vnodes !== undefined || body.zone !== undefined, 'give "vnodes", "zone" or both');

/** Options of {@link registerPublicApi}. */
export interface PublicApiOptions {
  /** Replication factor N: `r` and `w` are checked against 1..N at the edge. */
  readonly n: number;
  /** Largest value accepted; a larger body answers 413 `VALUE_TOO_LARGE` before it is read whole. */
  readonly maxValueBytes: number;
  /** Called after each key request with its operation, status and duration (for metrics). */
  readonly observe?: (operation: KvOperation, status: number, seconds: number) => void;
  /** Membership changes; without it they answer 501 (a coordinator over a static membership). */
  readonly admin?: ClusterAdminApi;
  /**
   * With authentication on (`--auth-file`): who may call what. Every route then needs
   * `Authorization: Basic` of a user whose role is at least the route's (see `accessHook`);
   * `/livez` and `/readyz` stay open. Absent: every route is open.
   */
  readonly auth?: Authenticator;
  /** Endpoints, hints and repair; without it those routes answer 501. */
  readonly operations?: ClusterOperationsApi;
  /** The web dashboard (`GET /ui`, `GET /v1/cluster/overview`); without it those routes do not exist. */
  readonly dashboard?: DashboardOptions;
}

/** The key operations of the public API, as metric labels name them. */
export type KvOperation = 'get' | 'put' | 'delete';

/** The path prefix of keys. Keys are taken from the raw URL, so an encoded `/` (`%2F`) stays part of the key. */
export const KV_PREFIX = '/v1/kv/';

/** The query parameters the key routes read; anything else is ignored. A parameter given twice arrives as an array. */
const querySchema = z.object({
  ttl: z.union([z.string(), z.array(z.string())]).optional(),
  r: z.union([z.string(), z.array(z.string())]).optional(),
  w: z.union([z.string(), z.array(z.string())]).optional(),
});

/**
 * Adds the public HTTP API of API.md to `app`: `PUT/GET/DELETE /v1/kv/{key}`, `/livez`,
 * `/readyz`, `GET /v1/cluster`, `GET /v1/cluster/distribution`, and `POST /v1/cluster/nodes` /
 * `DELETE /v1/cluster/nodes/{id}[?force=true]` and `PATCH /v1/cluster/nodes/{id}` `{"vnodes"}`
 * (501 without `options.admin`). It also sets the app's
 * error and not-found handlers so that every failure is `{"error": {"code", "message"}}` with the
 * status of its code, and never a stack trace. Values are raw bytes of any content type.
 *
 * The app must be created with `maxParamLength` large enough for encoded keys, see
 * {@link publicServerOptions}; this function takes any `PublicApiService`, so tests can pass a double.
 */
export function registerPublicApi(app: FastifyInstance, service: PublicApiService, options: PublicApiOptions): void {
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${pathOf(request.url)}` } });
  });
  registerPublicRoutes(app, service, options);
}

/**
 * The public API as an encapsulated Fastify plugin, for an app that serves other routes beside it
 * (a storage node that coordinates): its catch-all body parser, its error handler and its metrics
 * hook apply to its own routes only, so the app's other routes keep theirs. The app keeps its own
 * not-found handler (Fastify allows one per prefix), which should answer the same
 * `{"error": {"code": "NOT_FOUND"}}` body. Create the app with {@link publicServerOptions}.
 */
export function publicApiPlugin(service: PublicApiService, options: PublicApiOptions): FastifyPluginAsync {
  return async (scope) => registerPublicRoutes(scope, service, options);
}

/** Body parser, error handler, metrics hook and routes: everything of the API but the not-found handler. */
function registerPublicRoutes(app: FastifyInstance, service: PublicApiService, options: PublicApiOptions): void {
  app.removeAllContentTypeParsers();
  // No limit on the parser itself: each route's bodyLimit applies (the value limit on PUT).
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.setErrorHandler((error, request, reply) => sendError(request, reply, error, options.maxValueBytes));
  if (options.auth) app.addHook('onRequest', accessHook(options.auth));
  const dashboard = options.dashboard ? registerDashboard(app, service, withHints(options.dashboard, options.operations)) : null;
  const observe = combineObservers(
    options.observe,
    dashboard === null ? undefined : (operation, status, seconds) => dashboard.record(operation, status, seconds),
  );
  registerKeyRoutes(app, service, options, observe);
  registerScanRoute(app, service);
  registerClusterRoutes(app, service, options.admin ?? null);
  registerOperationsRoutes(app, options.operations ?? null);
}

type Observe = NonNullable<PublicApiOptions['observe']>;

/** The dashboard's options, its per-target hints taken from the cluster operations when not given. */
function withHints(dashboard: DashboardOptions, operations: ClusterOperationsApi | undefined): DashboardOptions {
  if (dashboard.hints !== undefined || operations === undefined) return dashboard;
  return { ...dashboard, hints: () => operations.hints() };
}

/** One observer calling both (or the one given, or none): the metrics and the dashboard share the hook. */
function combineObservers(first: Observe | undefined, second: Observe | undefined): Observe | undefined {
  if (first === undefined || second === undefined) return first ?? second;
  return (operation, status, seconds) => {
    first(operation, status, seconds);
    second(operation, status, seconds);
  };
}

/**
 * The route options that have `observe` see each answered request of `operation`: an `onResponse`
 * hook of the key route's own, so that it runs for key requests only and knows its operation
 * without asking Fastify which route answered (`request.routeOptions` builds an object of a dozen
 * fields at each reading). A callback hook, not an async one: no promise per request. Fastify
 * gives a GET route's hooks to the HEAD route it adds for it, so HEAD is observed as `get`.
 */
function observed(observe: Observe | undefined, operation: KvOperation): { onResponse?: onResponseHookHandler } {
  if (observe === undefined) return {};
  return {
    onResponse: (_request, reply, done) => {
      observe(operation, reply.statusCode, reply.elapsedTime / 1000);
      done();
    },
  };
}

/** `PUT/GET/DELETE /v1/kv/{key}`: the key is decoded from the raw path, `ttl`, `r` and `w` checked here. */
function registerKeyRoutes(app: FastifyInstance, service: PublicApiService, options: PublicApiOptions, observe: Observe | undefined): void {
  app.put(`${KV_PREFIX}*`, { bodyLimit: options.maxValueBytes, ...requires('readwrite'), ...observed(observe, 'put') }, async (request) => {
    const key = keyOf(request);
    const query = parseQuery(request);
    const ttl = ttlOf(query.ttl);
    const w = consistencyOf('w', query.w, options.n);
    const body = request.body;
    const value = Buffer.isBuffer(body) ? body : new Uint8Array(0);
    const result = await service.put(key, value, ttl, w === undefined ? {} : { w });
    return { key: result.key, version: result.version, expiresAt: result.expiresAt };
  });

  // Not an async handler: the read's promise is the only one, its reactions send the answer (or
  // the error, to the error handler, as a throw would), and Fastify waits for that send. A bad key
  // or `r` throws here, which Fastify sends to the error handler too.
  app.get(`${KV_PREFIX}*`, { ...requires('read'), ...observed(observe, 'get') }, (request, reply) => {
    const key = keyOf(request);
    const r = consistencyOf('r', parseQuery(request).r, options.n);
    service.get(key, r === undefined ? {} : { r }).then(
      (result) => {
        try {
          sendValue(reply, key, result);
        } catch (error) {
          void reply.send(error);
        }
      },
      (error: unknown) => reply.send(error),
    );
  });

  app.delete(`${KV_PREFIX}*`, { ...requires('readwrite'), ...observed(observe, 'delete') }, async (request, reply) => {
    const key = keyOf(request);
    const w = consistencyOf('w', parseQuery(request).w, options.n);
    const result = await service.delete(key, w === undefined ? {} : { w });
    return reply.code(204).header('x-dkv-version', String(result.version)).send();
  });
}

/** A GET's answer: the value and its version headers, or NOT_FOUND (through the error handler) for a missing, expired or deleted key. */
function sendValue(reply: FastifyReply, key: string, result: ReadResult | null): void {
  if (result === null) {
    void reply.send(new DkvError('NOT_FOUND', `key ${JSON.stringify(key)} is missing, expired or deleted`));
    return;
  }
  void reply
    .code(200)
    .header('content-type', 'application/octet-stream')
    .header('etag', `"${result.version}"`)
    .header('x-dkv-version', String(result.version));
  if (result.expiresAt !== null) void reply.header('x-dkv-expires-at', String(result.expiresAt));
  // A value that is a Buffer already (what the replicas' answers are read into) is sent as it is, without a view of its own.
  const value = result.value;
  void reply.send(Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
}

/** The most keys one `GET /v1/kv` answers, and how many it aims for when `count` is absent. */
export const SCAN_MAX_COUNT = 1000;
export const SCAN_DEFAULT_COUNT = 100;

const scanQuerySchema = z.object({
  cursor: z.string().max(1024, 'must be a cursor a previous answer returned (at most 1024 characters)').optional(),
  match: z.string().min(1, 'must be a non-empty Redis glob pattern').max(1024, 'must be at most 1024 characters').optional(),
  count: z
    .string()
    .regex(/^\d{1,4}$/, `must be a whole number from 1 to ${SCAN_MAX_COUNT}`)
    .transform(Number)
    .pipe(
      z
        .int()
        .min(1, `must be a whole number from 1 to ${SCAN_MAX_COUNT}`)
        .max(SCAN_MAX_COUNT, `must be a whole number from 1 to ${SCAN_MAX_COUNT}`),
    )
    .optional(),
});

/**
 * `GET /v1/kv?cursor=<c>&match=<pattern>&count=<n>`: one page of a cluster-wide key scan, as
 * Redis's `SCAN` (an addition to API.md's HTTP API). Start without `cursor` (or with `0`) and pass
 * each answer's `cursor` back until it is null; the full walk returns every key that held a live
 * value throughout it, perhaps more than once. `match` is a Redis glob pattern, `count` a hint
 * (1..1000, default 100). Bad parameters answer 400 `INVALID_REQUEST` naming the parameter.
 */
function registerScanRoute(app: FastifyInstance, service: PublicApiService): void {
  app.get('/v1/kv', requires('read'), async (request) => {
    const query = (request.query ?? {}) as Record<string, unknown>;
    for (const [name, value] of Object.entries(query)) {
      if (Array.isArray(value)) throw new DkvError('INVALID_REQUEST', `${name} must be given at most once, got ${value.length} values`);
    }
    const parsed = scanQuerySchema.safeParse(query);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ');
      throw new DkvError('INVALID_REQUEST', `bad key scan query: ${issues}`);
    }
    const { cursor, match, count } = parsed.data;
    const page = await service.scanKeys(cursor === undefined || cursor === '0' ? null : cursor, {
      count: count ?? SCAN_DEFAULT_COUNT,
      ...(match === undefined ? {} : { match }),
    });
    return { keys: page.keys, cursor: page.cursor };
  });
}

/** Health, readiness, the cluster views and membership changes (501 without an admin). */
function registerClusterRoutes(app: FastifyInstance, service: PublicApiService, admin: ClusterAdminApi | null): void {
  app.get('/livez', requires('open'), async () => ({ status: 'ok' }));
  app.get('/readyz', requires('open'), async (_request, reply) => {
    if (service.isReady()) return { status: 'ready' };
    const cluster = service.cluster();
    if (cluster.clockProblem !== undefined)
      return reply.code(503).send({ error: { code: 'CLOCK_OFFSET_TOO_LARGE', message: `not ready: ${cluster.clockProblem}` } });
    const up = cluster.nodes.filter((node) => node.status === 'up').length;
    const needed = Math.max(cluster.replication.r, cluster.replication.w);
    return reply.code(503).send({
      error: {
        code: 'UNAVAILABLE',
        message: `not ready: ${up} of ${cluster.nodes.length} storage nodes are up; the default quorums need ${needed} that have answered a heartbeat`,
      },
    });
  });
  app.get('/v1/cluster', requires('read'), async () => service.cluster());
  app.get('/v1/cluster/distribution', requires('read'), async () => service.distribution());
  app.post('/v1/cluster/nodes', requires('admin'), async (request, reply) => {
    if (admin === null)
      throw new DkvError(
        'NOT_IMPLEMENTED',
        'this coordinator runs over a static membership: start the cluster with all its storage nodes in --members',
      );
    const body = parseJsonBody(request.body);
    const parsed = addNodeSchema.safeParse(body);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
      throw new DkvError('INVALID_REQUEST', `the body must be JSON {"id", "address"[, "vnodes"][, "zone"]}: ${issues}`);
    }
    return reply.code(202).send(admin.addNode(parsed.data));
  });
  app.delete<{ Params: { id: string }; Querystring: { force?: string } }>(
    '/v1/cluster/nodes/:id',
    requires('admin'),
    async (request, reply) => {
      if (admin === null)
        throw new DkvError(
          'NOT_IMPLEMENTED',
          'this coordinator runs over a static membership: restart the cluster without the node instead',
        );
      const force = request.query.force === 'true' || request.query.force === '1';
      return reply.code(202).send(admin.removeNode(request.params.id, force));
    },
  );
  // Not in API.md: changes a node's vnodes or zone on the live cluster (an addition, like `?force=true`).
  app.patch<{ Params: { id: string } }>('/v1/cluster/nodes/:id', requires('admin'), async (request, reply) => {
    if (admin === null)
      throw new DkvError('NOT_IMPLEMENTED', 'this coordinator runs over a static membership: vnodes and zones are set at start');
    const parsed = changeNodeSchema.safeParse(parseJsonBody(request.body));
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
      throw new DkvError('INVALID_REQUEST', `the body must be JSON {"vnodes": <1..65536>} and/or {"zone": "<zone>"}: ${issues}`);
    }
    let change = parsed.data.vnodes === undefined ? null : admin.setVnodes(request.params.id, parsed.data.vnodes);
    if (parsed.data.zone !== undefined) change = admin.setZone(request.params.id, parsed.data.zone);
    return reply.code(202).send(change);
  });
}

const repairSchema = z
  .object({ node: z.string().regex(NODE_ID_PATTERN, 'must be a node id: 1 to 64 letters, digits, ".", "_" or "-"').optional() })
  .strict();

/** The path prefix of `GET /v1/cluster/endpoints/{key}`; the key is URL-encoded as under `/v1/kv/`. */
export const ENDPOINTS_PREFIX = '/v1/cluster/endpoints/';

/**
 * Additions to API.md's cluster routes for the admin commands: `GET /v1/cluster/endpoints/{key}`
 * (the key's replicas), `GET /v1/cluster/hints` (`{"hints": [...]}`), `POST /v1/cluster/repair`
 * with an optional JSON body `{"node"}` (202 and the repair's report; admin) and
 * `GET /v1/cluster/repair/{id}` (the report, 404 when unknown). 501 without `operations`.
 */
function registerOperationsRoutes(app: FastifyInstance, operations: ClusterOperationsApi | null): void {
  const ops = (): ClusterOperationsApi => {
    if (operations === null)
      throw new DkvError('NOT_IMPLEMENTED', 'this process does not serve the cluster operations (endpoints, hints, repair)');
    return operations;
  };
  app.get(`${ENDPOINTS_PREFIX}*`, requires('read'), async (request) => ops().endpoints(keyOf(request, ENDPOINTS_PREFIX)));
  app.get('/v1/cluster/hints', requires('read'), async () => ({ hints: ops().hints() }));
  app.post('/v1/cluster/repair', { config: ADMIN_ROUTE_CONFIG }, async (request, reply) => {
    const body = Buffer.isBuffer(request.body) && request.body.length === 0 ? {} : (parseJsonBody(request.body) ?? {});
    const parsed = repairSchema.safeParse(body);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
      throw new DkvError('INVALID_REQUEST', `the body must be empty or JSON {"node": "<id>"}: ${issues}`);
    }
    return reply.code(202).send(ops().startRepair(parsed.data.node === undefined ? {} : { node: parsed.data.node }));
  });
  app.get<{ Params: { id: string } }>('/v1/cluster/repair/:id', requires('read'), async (request) => {
    const report = ops().repair(request.params.id);
    if (report === null)
      throw new DkvError(
        'NOT_FOUND',
        `no repair ${JSON.stringify(request.params.id)} is known here (a coordinator keeps the reports of its last repairs only, and only its own)`,
      );
    return report;
  });
}

/** The answer to any thrown value: its code's status and `{"error"}` body; Fastify's own 4xx errors keep their status. */
function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown, maxValueBytes: number): FastifyReply {
  if (error instanceof DkvError) return reply.code(HTTP_STATUS_BY_CODE[error.code]).send(errorBody(error));
  const status =
    typeof error === 'object' && error !== null && 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
  if (status === 413) {
    const length = Number(request.headers['content-length']);
    const size = Number.isFinite(length) && length > 0 ? `${length} bytes` : 'larger than that';
    const isValue = request.routeOptions.url === `${KV_PREFIX}*`;
    const what = isValue ? 'value' : 'request body';
    const limit = request.routeOptions.bodyLimit ?? maxValueBytes;
    return reply.code(413).send({ error: { code: 'VALUE_TOO_LARGE', message: `${what} is ${size}; the limit is ${limit} bytes` } });
  }
  if (status >= 400 && status < 500) {
    const message = error instanceof Error ? error.message : 'bad request';
    return reply.code(status).send({ error: { code: 'INVALID_REQUEST', message } });
  }
  request.log.error({ err: error, url: request.url, method: request.method }, 'request failed');
  return reply.code(500).send(errorBody(error));
}

/** The key of a `/v1/kv/*` (or other `prefix`) request, decoded from the raw path and validated. */
function keyOf(request: FastifyRequest, prefix: string = KV_PREFIX): string {
  const path = pathOf(request.url);
  const encoded = path.startsWith(prefix) ? path.slice(prefix.length) : '';
  let key: string;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    throw new DkvError('INVALID_KEY', 'key must be URL-encoded UTF-8 (the path has a malformed %-escape)');
  }
  validateKey(key);
  return key;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function parseQuery(request: FastifyRequest): z.infer<typeof querySchema> {
  // Most key requests carry no query string at all: nothing to check, and no schema to run.
  if (request.url.indexOf('?') === -1) return {};
  const parsed = querySchema.safeParse(request.query ?? {});
  return parsed.success ? parsed.data : {};
}

/** The one value of a query parameter; given twice is an error with `code`. */
function single(name: string, raw: string | string[], code: ErrorCode): string {
  if (!Array.isArray(raw)) return raw;
  throw new DkvError(code, `${name} must be given at most once, got ${raw.length} values`);
}

/** A whole number in decimal digits, or NaN for anything else ("1e3", "1.0", "", "-1"). */
function digits(text: string): number {
  return /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
}

/** The `ttl` query parameter: whole seconds in 1..31536000, or absent for no expiry. */
function ttlOf(raw: string | string[] | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const text = single('ttl', raw, 'INVALID_TTL');
  const ttl = digits(text);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new DkvError('INVALID_TTL', `ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}, got ${JSON.stringify(text)}`);
  }
  return ttl;
}

/** The `r` or `w` query parameter: a whole number in 1..N, or absent for the cluster default. */
function consistencyOf(name: 'r' | 'w', raw: string | string[] | undefined, n: number): number | undefined {
  if (raw === undefined) return undefined;
  const text = single(name, raw, 'INVALID_CONSISTENCY');
  const level = digits(text);
  if (!Number.isInteger(level) || level < 1 || level > n) {
    throw new DkvError(
      'INVALID_CONSISTENCY',
      `${name} must be a whole number from 1 to ${n} (the replication factor N), got ${JSON.stringify(text)}`,
    );
  }
  return level;
}

/** A JSON request body: the content-type parser hands over raw bytes. */
function parseJsonBody(body: unknown): unknown {
  if (!Buffer.isBuffer(body)) return body;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new DkvError('INVALID_REQUEST', 'the body must be JSON {"id", "address"[, "vnodes"]}');
  }
}
