import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify';
import Fastify, { LogController } from 'fastify';
import type { Registry } from 'prom-client';
import { requires } from './access.js';
import { KV_PREFIX, registerPublicApi, type PublicApiOptions, type PublicApiService } from './public-api.js';

/** What {@link buildPublicApp} serves. */
export interface PublicAppDeps extends PublicApiOptions {
  readonly service: PublicApiService;
  /** The registry `/metrics` exposes; none means `/metrics` answers an empty exposition. */
  readonly registry?: Registry;
  readonly logger?: FastifyBaseLogger;
  /** Bounds of the HTTP server itself (idle and request deadlines), e.g. from `@dkv/transport`'s `httpServerBoundsOptions`. */
  readonly serverBounds?: Pick<FastifyServerOptions, 'connectionTimeout' | 'requestTimeout'>;
  /**
   * TLS (`--tls-cert`, `--tls-key`): the app serves https only (its `server` is then a
   * `https.Server`, whose certificate `setSecureContext` replaces). Absent: plain http.
   */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
}

/** Bodies of requests other than PUT of a value (e.g. `POST /v1/cluster/nodes`) are small JSON documents. */
const CONTROL_BODY_LIMIT_BYTES = 64 * 1024;
/** An encoded key is at most 3 × 512 characters; the rest is slack for the path prefix. */
export const PUBLIC_API_MAX_PARAM_LENGTH = 4096;

/**
 * The Fastify server options the public API needs of any app that serves it: a router that takes
 * encoded keys of up to 512 bytes, and a malformed URL (a bad %-escape, which Fastify rejects
 * before any route runs) answered with the API's error body: `INVALID_KEY` under `/v1/kv/`,
 * `INVALID_REQUEST` elsewhere. Requests are not logged one by one (the hot path stays quiet).
 *
 * `request.log` is the app's logger itself, not a child bound to a request id that Fastify would
 * make for every request: with requests not logged, the one line a request may write ("request
 * failed") carries its method and URL, and the id would tie it to no other line. A pino child of a
 * logger with redaction paths costs its bindings' redaction on every request: 2.4% of a
 * coordinator's CPU profile under HTTP GETs (pino and @pinojs/redact's `redactPaths`).
 */
export function publicServerOptions(): Pick<
  FastifyServerOptions,
  'routerOptions' | 'frameworkErrors' | 'logController' | 'childLoggerFactory'
> {
  return {
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger) => logger,
    routerOptions: { maxParamLength: PUBLIC_API_MAX_PARAM_LENGTH },
    frameworkErrors: (error, request, reply) => {
      const code = request.url.startsWith(KV_PREFIX) ? 'INVALID_KEY' : 'INVALID_REQUEST';
      const message = code === 'INVALID_KEY' ? 'key must be URL-encoded UTF-8 (the path has a malformed %-escape)' : error.message;
      void (reply as FastifyReply).code(400).send({ error: { code, message } });
    },
  };
}

/**
 * A stand-alone HTTP app of the public API of API.md and `/metrics`: what a coordinator serves.
 * (A storage node that coordinates adds {@link publicApiPlugin} to its own app instead.)
 */
export function buildPublicApp(deps: PublicAppDeps): FastifyInstance {
  const options = {
    ...(deps.logger ? { loggerInstance: deps.logger } : {}),
    ...publicServerOptions(),
    ...deps.serverBounds,
    bodyLimit: CONTROL_BODY_LIMIT_BYTES,
  };
  // Routes, hooks and bounds are the same over https: only the server under them differs.
  const app =
    deps.https === undefined
      ? Fastify(options)
      : (Fastify({ ...options, https: { cert: deps.https.cert, key: deps.https.key } }) as unknown as FastifyInstance);
  registerPublicApi(app, deps.service, deps);
  app.get('/metrics', requires('read'), async (_request, reply) => {
    if (!deps.registry) return reply.type('text/plain; version=0.0.4; charset=utf-8').send('');
    const text = await deps.registry.metrics();
    return reply.type(deps.registry.contentType).send(text);
  });
  return app;
}
