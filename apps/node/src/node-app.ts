import { errorBody, type Membership } from '@dkv/core';
import type { Authenticator } from '@dkv/auth';
import { accessHook, publicApiPlugin, publicServerOptions, requires, type PublicApiOptions, type PublicApiService } from '@dkv/public-api';
import {
  httpServerBoundsOptions,
  registerInternalRoutes,
  requireInternodeAuth,
  requireInternodeCertificate,
  type MaybeAsyncStorageRequestHandler,
  type PortBoundCounters,
  type PortBounds,
} from '@dkv/transport';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/** The path where a node serves its membership document, for coordinators that `--join` it. */
export const MEMBERSHIP_PATH = '/internal/v1/membership';

/** What the node's HTTP app serves. */
export interface NodeAppDeps {
  readonly handler: MaybeAsyncStorageRequestHandler;
  /** The membership document to serve; a function because the own address is known only after listen. */
  readonly membership: () => Membership;
  readonly isReady: () => boolean;
  readonly registry: Registry;
  readonly bodyLimitBytes: number;
  readonly logger: FastifyBaseLogger;
  /**
   * The public API of API.md, when this node coordinates (`--coordinate`): its routes are served
   * beside the internal ones, and its `/livez` and `/readyz` replace the node's (`/readyz` is then
   * 200 only when the node can serve quorum requests, as API.md says of any node that coordinates).
   */
  readonly publicApi?: { readonly service: PublicApiService; readonly options: PublicApiOptions };
  /**
   * With authentication on: `/metrics` needs a user of role `read` or more (the public API's own
   * routes are guarded by its options' `auth`). The internal routes are internode traffic, which
   * the cluster secret protects, not users.
   */
  readonly auth?: Authenticator;
  /** The port's idle and read bounds, applied to HTTP requests (Fastify's `connectionTimeout`, `requestTimeout`). */
  readonly bounds?: PortBounds;
  /** With a cluster secret, every `/internal/` route requires the signed header (`requireInternodeAuth`). */
  readonly clusterSecret?: string | null;
  /** Where refused internal requests are counted. */
  readonly counters?: PortBoundCounters;
  /**
   * With mutual TLS (`--tls-ca`): every `/internal/` route requires a client certificate the
   * port verified against the cluster's CA (`requireInternodeCertificate`), before the secret's header.
   */
  readonly requirePeerCertificate?: boolean;
}

/**
 * The storage node's HTTP app: the internal replica API, its membership document, health and
 * metrics, and with `publicApi` the public API too. Requests are not logged one by one (the hot
 * path stays quiet); errors are JSON `{"error": {"code", "message"}}` without stacks, unknown
 * routes included.
 *
 * The two APIs share one port without clashing: the internal routes live under `/internal/`, the
 * public ones under `/v1/`; each sits in its own Fastify scope with its own body parser and error
 * handler; `/metrics` is the node's one registry (the public API's metrics are added to it);
 * `/livez` means the same to both; `/readyz` is the public API's when there is one.
 */
export function buildNodeApp(deps: NodeAppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes,
    // The public API's router bounds and its answer to a malformed URL (a bad %-escape).
    ...(deps.publicApi ? publicServerOptions() : {}),
    ...(deps.bounds ? httpServerBoundsOptions(deps.bounds) : {}),
  });
  if (deps.requirePeerCertificate) requireInternodeCertificate(app, deps.counters ? { counters: deps.counters } : {});
  if (deps.clusterSecret)
    requireInternodeAuth(app, { clusterSecret: deps.clusterSecret, ...(deps.counters ? { counters: deps.counters } : {}) });
  registerInternalRoutes(app, deps.handler, { bodyLimitBytes: deps.bodyLimitBytes });
  app.get(MEMBERSHIP_PATH, async () => deps.membership());
  if (deps.publicApi) {
    void app.register(publicApiPlugin(deps.publicApi.service, deps.publicApi.options));
  } else {
    app.get('/livez', async () => ({ status: 'ok' }));
    app.get('/readyz', async (_request, reply) => {
      if (deps.isReady()) return { status: 'ready' };
      return reply.code(503).send({ error: { code: 'UNAVAILABLE', message: 'the node is not serving yet' } });
    });
  }
  app.get('/metrics', deps.auth === undefined ? {} : { ...requires('read'), onRequest: accessHook(deps.auth) }, async (_request, reply) => {
    const text = await deps.registry.metrics();
    return reply.type(deps.registry.contentType).send(text);
  });
  app.setNotFoundHandler(async (request, reply) => {
    return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` } });
  });
  app.setErrorHandler(async (error: { statusCode?: number; message?: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500)
      return reply
        .code(status)
        .send({ error: { code: status === 413 ? 'VALUE_TOO_LARGE' : 'INVALID_REQUEST', message: error.message ?? 'bad request' } });
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send(errorBody(error));
  });
  return app;
}
