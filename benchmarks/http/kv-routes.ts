/**
 * What the HTTP benchmark's own servers share with each other: the bare-Fastify baseline
 * (baseline-server.ts, over a Map) and the HTTP floor (floor-server.ts, a coordinating process of
 * the floor's replicated architecture). Both serve dkv's public key routes of API.md (`PUT/GET/DELETE
 * /v1/kv/*`, raw body, `ttl` query, the same answer headers and JSON) on the same Fastify set-up,
 * so that they differ from each other, and from dkv, only in what happens behind a route.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';

export const KV_PREFIX = '/v1/kv/';
/** The coordinator's default value limit (API.md: 1 MiB). */
export const MAX_VALUE_BYTES = 1024 * 1024;
/** The coordinator's limits on other bodies and on encoded keys, so routing costs the same. */
const CONTROL_BODY_LIMIT_BYTES = 64 * 1024;
const MAX_PARAM_LENGTH = 4096;
const MAX_TTL_SECONDS = 31_536_000;

/** The key of a `/v1/kv/<key>[?query]` URL, percent-decoded. */
export function keyOf(url: string): string {
  const q = url.indexOf('?');
  return decodeURIComponent((q === -1 ? url : url.slice(0, q)).slice(KV_PREFIX.length));
}

/** The `ttl` query parameter in seconds (null: none); a bad one is a 400. */
export function ttlOf(query: unknown): number | null {
  const raw = (query as Record<string, unknown> | undefined)?.['ttl'];
  if (raw === undefined) return null;
  const ttl = typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(ttl >= 1 && ttl <= MAX_TTL_SECONDS)) throw Object.assign(new Error('bad ttl'), { statusCode: 400 });
  return ttl;
}

/** The 404 answer's body of a missing, expired or deleted key (API.md's error shape). */
export function notFoundBody(key: string): { error: { code: string; message: string } } {
  return { error: { code: 'NOT_FOUND', message: `key ${JSON.stringify(key)} is missing, expired or deleted` } };
}

/**
 * `reply` made the 200 answer of a found key, as dkv's GET answers (API.md): the value's bytes
 * follow, with its version as ETag and X-DKV-Version and its expiry when it has one (null: none).
 */
export function foundReply(reply: FastifyReply, version: number, expiresAt: number | null): FastifyReply {
  void reply
    .code(200)
    .header('content-type', 'application/octet-stream')
    .header('etag', `"${version}"`)
    .header('x-dkv-version', String(version));
  if (expiresAt !== null) void reply.header('x-dkv-expires-at', String(expiresAt));
  return reply;
}

/** A Fastify app set up as dkv's public API is: no request logging, a catch-all raw-buffer body parser, its body and key limits, `/readyz`. */
export function kvApp(): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: CONTROL_BODY_LIMIT_BYTES, routerOptions: { maxParamLength: MAX_PARAM_LENGTH } });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.get('/readyz', async () => ({ status: 'ready' }));
  return app;
}
