import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { hasVerifiedPeerCertificate } from './internode-tls.js';
import { DEFAULT_HTTP_AUTH_SKEW_MS, INTERNODE_AUTH_HEADER, verifyInternalRequest } from './internode-auth.js';
import type { PortBoundCounters, PortBounds } from './port-bounds.js';

/**
 * The Fastify server options that carry a port's idle and read bounds: `connectionTimeout` closes
 * a socket idle for `idleTimeoutMs`, `requestTimeout` answers 408 and closes a request whose
 * headers and body have not arrived whole within `readTimeoutMs` (Node checks these deadlines
 * every 30 s, so a trickling client is closed within `readTimeoutMs` plus at most 30 s).
 */
export function httpServerBoundsOptions(bounds: PortBounds): { connectionTimeout: number; requestTimeout: number } {
  return { connectionTimeout: bounds.idleTimeoutMs, requestTimeout: bounds.readTimeoutMs };
}

/**
 * Applies the rest of a port's bounds to an HTTP server and counts each that triggers:
 * `maxConnections` (a connection beyond is dropped: `connection_refused`), the header deadline
 * (no later than `readTimeoutMs`), and the counting of idle (`idle_timeout`) and slow requests
 * (`read_timeout`). Call it on `app.server` before the app listens. A server fed connections by
 * {@link listenMultiplexed} is bounded by that port's own `maxConnections`.
 */
export function applyHttpPortBounds(server: HttpServer, bounds: PortBounds, counters: PortBoundCounters): void {
  server.maxConnections = bounds.maxConnections;
  server.headersTimeout = Math.min(server.headersTimeout, bounds.readTimeoutMs);
  server.on('drop', () => counters.hit('connection_refused'));
  // With a listener, Node leaves the idle socket open: closing it is this listener's job.
  server.on('timeout', (socket: Socket) => {
    counters.hit('idle_timeout');
    socket.destroy();
  });
  server.on('clientError', (error: Error & { code?: string }) => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') counters.hit('read_timeout');
  });
}

/** Options of {@link requireInternodeAuth}. */
export interface InternodeAuthHookOptions {
  readonly clusterSecret: string;
  /** The clock the timestamps are checked against. Default `Date.now`. */
  readonly now?: () => number;
  /** How far a request's timestamp may be from `now`. Default {@link DEFAULT_HTTP_AUTH_SKEW_MS}. */
  readonly maxSkewMs?: number;
  /** Where refused requests are counted (`auth_failed`). */
  readonly counters?: PortBoundCounters;
}

/**
 * Makes every route under `/internal/` of `app` (the storage route and the membership document)
 * require the {@link INTERNODE_AUTH_HEADER} of `internode-auth.ts`: without a valid one the
 * request is answered 401 `UNAUTHENTICATED`, before its body is read and before any handler runs.
 * Register it on the root app before the routes, so it covers routes of every scope.
 */
export function requireInternodeAuth(app: FastifyInstance, options: InternodeAuthHookOptions): void {
  const now = options.now ?? Date.now;
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_HTTP_AUTH_SKEW_MS;
  app.addHook('onRequest', async (request, reply) => {
    const internal = request.url.startsWith('/internal/') || (request.routeOptions.url ?? '').startsWith('/internal/');
    if (!internal) return;
    const problem = verifyInternalRequest(
      options.clusterSecret,
      request.headers[INTERNODE_AUTH_HEADER],
      request.method,
      request.url,
      now(),
      maxSkewMs,
    );
    if (problem === null) return;
    options.counters?.hit('auth_failed');
    await reply.code(401).send({ error: { code: 'UNAUTHENTICATED', message: problem } });
  });
}

/**
 * Makes every route under `/internal/` of `app` require a client certificate its port verified
 * against the cluster's CA (mutual TLS, `--tls-ca`): a request over a connection without one is
 * answered 401 `UNAUTHENTICATED` before its body is read and before any handler runs, and counted
 * as `tls_refused`. Register it on the root app before the routes; the cluster-secret header
 * check ({@link requireInternodeAuth}) still applies on top.
 */
export function requireInternodeCertificate(app: FastifyInstance, options: { readonly counters?: PortBoundCounters } = {}): void {
  app.addHook('onRequest', async (request, reply) => {
    const internal = request.url.startsWith('/internal/') || (request.routeOptions.url ?? '').startsWith('/internal/');
    if (!internal || hasVerifiedPeerCertificate(request.raw.socket)) return;
    options.counters?.hit('tls_refused');
    await reply.code(401).send({
      error: { code: 'UNAUTHENTICATED', message: "internal routes need a client certificate signed by the cluster's CA (mutual TLS)" },
    });
  });
}
