/**
 * The HTTP floor: the front of the floor's replicated topologies (benchmarks/resp/floor/) with
 * dkv's public key routes on Fastify in place of the Redis protocol, none of dkv's code. It is to
 * dkv's HTTP figures what the RESP floor is to its Redis-door figures: what a Node.js process of
 * the same architecture can do at best on the same HTTP stack as the bare-Fastify baseline
 * (kv-routes.ts: the same app set-up, routes, answer headers and JSON).
 *
 * - `nodes3 <peerPort> <peerPort>`: a coordinating node holding one replica; GET reads its own copy
 *   and a digest from both peers, answering once one peer answered (R=2); PUT and DELETE store
 *   locally with a new version, send to both peers and answer once one acked (W=2).
 * - `coord3 <peerPort> <peerPort> <peerPort>`: a coordinator without storage; GET sends one value
 *   read and two digest reads and answers after two answers, one of them the value; PUT and
 *   DELETE send to all three and answer after two acks.
 *
 * The peers are the RESP floor's (`server.ts peer`), the fan-out and quorum wait its
 * (floor/replicas.ts). The route handlers are plain functions that return nothing and send when
 * the quorum is in: no promise per request. A replica's value is the client's bytes behind an
 * 8-byte header holding the expiry (epoch ms as a double; -1: none), so that a value read from a
 * peer carries its `X-DKV-Expires-At` as dkv's replicas do; DELETE writes a tombstone (expiry 0,
 * i.e. long past, so every read of it is a 404).
 *
 * Prints `port <n>` once it listens on 127.0.0.1; `GET /floor/counters` answers its counters as
 * JSON (requests, frames sent to the peers, answers back, version mismatches).
 * Usage: node --import tsx benchmarks/http/floor-server.ts nodes3|coord3 <peer ports>
 */
import type { FastifyReply } from 'fastify';
import { connectPeers, Replication, type Pending, type Stored } from '../resp/floor/replicas.js';
import { foundReply, keyOf, KV_PREFIX, kvApp, MAX_VALUE_BYTES, notFoundBody, ttlOf } from './kv-routes.js';

/** Bytes before the client's value in a replica's value: the expiry. */
const HEAD_BYTES = 8;
/** The expiry of a value without one. */
const NO_EXPIRY = -1;
/** The expiry of a tombstone: long past. */
const DELETED = 0;

/** A replica's value: `expiresAt` (epoch ms, or {@link NO_EXPIRY}) then the client's bytes. */
function replicaValue(expiresAt: number, body: Buffer | null): Buffer {
  const length = body === null ? 0 : body.length;
  const out = Buffer.allocUnsafe(HEAD_BYTES + length);
  out.writeDoubleLE(expiresAt, 0);
  if (body !== null) body.copy(out, HEAD_BYTES);
  return out;
}

function complete(p: Pending<FastifyReply>): void {
  const reply = p.client;
  if (p.isGet) {
    const value = p.value;
    const expiresAt = value === null ? DELETED : value.readDoubleLE(0);
    if (value === null || (expiresAt !== NO_EXPIRY && expiresAt <= Date.now())) {
      void reply.code(404).send(notFoundBody(keyOf(reply.request.url)));
      return;
    }
    void foundReply(reply, p.version, expiresAt === NO_EXPIRY ? null : expiresAt).send(value.subarray(HEAD_BYTES));
  } else if (p.tag === DELETED) {
    void reply.code(204).header('x-dkv-version', String(p.version)).send();
  } else {
    void reply.send({ key: keyOf(reply.request.url), version: p.version, expiresAt: p.tag === NO_EXPIRY ? null : p.tag });
  }
}

async function main(mode: 'nodes3' | 'coord3', ports: readonly number[]): Promise<void> {
  const sockets = await connectPeers(ports);
  const local = mode === 'nodes3' ? new Map<string, Stored>() : null;
  const replication = new Replication<FastifyReply>(sockets, local, { complete, afterAnswers: () => undefined });
  const app = kvApp();

  app.get(`${KV_PREFIX}*`, (request, reply) => {
    replication.get(reply, 0, keyOf(request.url), null, 0, 0);
  });

  app.put(`${KV_PREFIX}*`, { bodyLimit: MAX_VALUE_BYTES }, (request, reply) => {
    const key = keyOf(request.url);
    const ttl = ttlOf(request.query);
    const expiresAt = ttl === null ? NO_EXPIRY : Date.now() + ttl * 1000;
    const value = replicaValue(expiresAt, Buffer.isBuffer(request.body) ? request.body : null);
    replication.set(reply, expiresAt, key, null, 0, 0, value, 0, value.length, true);
  });

  app.delete(`${KV_PREFIX}*`, (request, reply) => {
    const value = replicaValue(DELETED, null);
    replication.set(reply, DELETED, keyOf(request.url), null, 0, 0, value, 0, value.length, true);
  });

  app.get('/floor/counters', async () => replication.counters);

  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  process.stdout.write(`port ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
}

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

const [mode, ...rest] = process.argv.slice(2);
const ports = rest.map(Number);
if ((mode === 'nodes3' && ports.length === 2) || (mode === 'coord3' && ports.length === 3)) {
  main(mode, ports).catch((error: unknown) => {
    process.stderr.write(`floor-server: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write('usage: floor-server.ts nodes3 <port> <port> | coord3 <port> <port> <port>\n');
  process.exit(2);
}
