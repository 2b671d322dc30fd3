/**
 * The bare-Fastify baseline of the HTTP benchmark: dkv's public key routes (`PUT/GET/DELETE
 * /v1/kv/*`, raw body, `ttl` query, the same answer headers and JSON) on the same HTTP stack
 * (Fastify 5, a catch-all raw-buffer body parser, no request logging), backed by one `Map` in
 * this process: no ring, no quorum, no replicas, no versions read before writes. Whatever dkv
 * costs beyond this is the price of distribution.
 *
 * Run: `node --import tsx benchmarks/http/baseline-server.ts [--port p]`; prints
 * `baseline ready at http://127.0.0.1:<port>` and stops on SIGTERM or SIGINT.
 */
import { foundReply, keyOf, KV_PREFIX, kvApp, MAX_VALUE_BYTES, notFoundBody, ttlOf } from './kv-routes.js';

/** What the Map holds per key: the bytes as received, a version, and the absolute expiry. */
interface Stored {
  readonly value: Buffer;
  readonly version: number;
  readonly expiresAt: number | null;
}

async function main(): Promise<void> {
  const portFlag = process.argv.indexOf('--port');
  const port = portFlag === -1 ? 0 : Number(process.argv[portFlag + 1]);
  const store = new Map<string, Stored>();
  let nextVersion = 1;

  const app = kvApp();

  app.put(`${KV_PREFIX}*`, { bodyLimit: MAX_VALUE_BYTES }, async (request) => {
    const key = keyOf(request.url);
    const ttl = ttlOf(request.query);
    const value = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const expiresAt = ttl === null ? null : Date.now() + ttl * 1000;
    const version = nextVersion++;
    store.set(key, { value, version, expiresAt });
    return { key, version, expiresAt };
  });

  app.get(`${KV_PREFIX}*`, async (request, reply) => {
    const key = keyOf(request.url);
    const stored = store.get(key);
    if (stored === undefined || (stored.expiresAt !== null && stored.expiresAt <= Date.now())) {
      return reply.code(404).send(notFoundBody(key));
    }
    return foundReply(reply, stored.version, stored.expiresAt).send(stored.value);
  });

  app.delete(`${KV_PREFIX}*`, async (request, reply) => {
    store.delete(keyOf(request.url));
    return reply.code(204).header('x-dkv-version', String(nextVersion++)).send();
  });

  const address = await app.listen({ host: '127.0.0.1', port });
  process.stdout.write(`baseline ready at ${address}\n`);
  const stop = (): void => {
    void app.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`baseline: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
