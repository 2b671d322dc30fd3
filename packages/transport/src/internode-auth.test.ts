// Goal: with a cluster secret, the binary internode port reads no request from a peer that has
// not proved the secret (nothing reaches the handler, the failure is counted and the connection
// closed), both sides check each other, and the signed header of internal HTTP routes holds only
// for its method, path, secret and time. Method: TcpNodeClient against TcpStorageServer on
// 127.0.0.1 with right, wrong and missing secrets; raw sockets that skip or fake the handshake;
// a handler that counts every request it is given; the HTTP proof checked as a pure function.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { NodeUnavailableError, type StorageRequest, type StorageResponse } from '@dkv/core';
import { contractNode, MapStorageHandler } from '@dkv/testkit';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpNodeClient } from './http-node-client.js';
import { requireInternodeAuth } from './http-port-bounds.js';
import { registerInternalRoutes } from './internal-routes.js';
import { PortBoundCounters } from './port-bounds.js';
import type { MaybeAsyncStorageRequestHandler } from './handler.js';
import { INTERNODE_AUTH_HEADER, signInternalRequest, verifyInternalRequest } from './internode-auth.js';
import { readErrorReason, writeRequestFrame } from './tcp-codec.js';
import { FrameKind, FrameReader, FrameWriter, writeU32 } from './tcp-frame.js';
import { writeHandshakeFrame } from './tcp-handshake.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { TcpStorageServer, type TcpStorageServerOptions } from './tcp-storage-server.js';

const SECRET = 'a-cluster-secret-of-some-length';
const servers: TcpStorageServer[] = [];
const clients: TcpNodeClient[] = [];
const sockets: Socket[] = [];
const netServers: Server[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
  for (const server of netServers.splice(0)) server.close();
});

/** A map handler that counts what reaches it. */
class CountingHandler implements MaybeAsyncStorageRequestHandler {
  readonly seen: StorageRequest[] = [];
  private readonly inner = new MapStorageHandler('n1');
  handle(request: StorageRequest): StorageResponse {
    this.seen.push(request);
    return this.inner.handle(request);
  }
}

async function start(options: TcpStorageServerOptions): Promise<{ server: TcpStorageServer; handler: CountingHandler; port: number }> {
  const handler = new CountingHandler();
  const server = new TcpStorageServer(handler, { onWarning: () => undefined, ...options });
  servers.push(server);
  return { server, handler, port: (await server.listen(0, '127.0.0.1')).port };
}

function client(clusterSecret: string | null): TcpNodeClient {
  const created = new TcpNodeClient({ clusterSecret, connectionsPerNode: 1, connectTimeoutMs: 2000 });
  clients.push(created);
  return created;
}

const put: StorageRequest = {
  type: 'PUT',
  key: 'k',
  record: { value: Uint8Array.from([1]), version: 1, writerId: 'w', createdAt: 1, updatedAt: 1, expiresAt: null, tombstone: false },
};

/** A raw socket and every frame it receives (kind, id, error reason). */
async function raw(
  port: number,
): Promise<{ socket: Socket; frames: { kind: number; id: number; reason?: string }[]; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  socket.on('error', () => undefined);
  const frames: { kind: number; id: number; reason?: string }[] = [];
  const reader = new FrameReader(1024 * 1024);
  socket.on('data', (chunk: Buffer) => {
    reader.push(chunk);
    while (reader.next())
      frames.push(
        reader.kind === FrameKind.ERROR
          ? { kind: reader.kind, id: reader.id, reason: readErrorReason(reader) }
          : { kind: reader.kind, id: reader.id },
      );
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return { socket, frames, closed };
}

async function failure(promise: Promise<unknown>): Promise<NodeUnavailableError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(NodeUnavailableError);
  return error as NodeUnavailableError;
}

describe('the cluster-secret handshake on the binary port', () => {
  it('serves a client that knows the secret', async () => {
    const { handler, port } = await start({ clusterSecret: SECRET });
    const node = contractNode('n1', `127.0.0.1:${port}`);
    const answer = await client(SECRET).send(node, put, { timeoutMs: 5000 });
    expect(answer).toMatchObject({ type: 'PUT', applied: true });
    expect(handler.seen).toHaveLength(1);
  });

  it("fails a client with the wrong secret at the node's proof: it hangs up before writing any request", async () => {
    const { server, handler, port } = await start({ clusterSecret: SECRET });
    const node = contractNode('n1', `127.0.0.1:${port}`);
    const error = await failure(client('another-secret-entirely').send(node, put, { timeoutMs: 5000 }));
    expect(error.kind).toBe('unreachable');
    expect(error.message).toMatch(/failed to prove the cluster secret/);
    expect(handler.seen).toEqual([]);
    expect(server.stats().bounds.auth_failed).toBe(0);
  });

  it('closes a peer that sends requests without the handshake: none reaches the handler', async () => {
    const { server, handler, port } = await start({ clusterSecret: SECRET });
    const peer = await raw(port);
    const writer = new FrameWriter();
    for (let id = 1; id <= 50; id += 1) writeRequestFrame(writer, id, put);
    for (const chunk of writer.take()) peer.socket.write(chunk);
    await peer.closed;
    expect(peer.frames).toEqual([{ kind: FrameKind.ERROR, id: 0, reason: expect.stringMatching(/authentication required/) }]);
    expect(handler.seen).toEqual([]);
    expect(server.stats().bounds.auth_failed).toBe(1);
  });

  it('closes a peer whose proof is wrong, and a client without the secret, naming why', async () => {
    const { server, handler, port } = await start({ clusterSecret: SECRET });
    const peer = await raw(port);
    const writer = new FrameWriter(256);
    writeHandshakeFrame(writer, FrameKind.HELLO, Buffer.alloc(32, 1));
    writeHandshakeFrame(writer, FrameKind.AUTH, Buffer.alloc(32, 2));
    for (const chunk of writer.take()) peer.socket.write(chunk);
    await peer.closed;
    expect(peer.frames.map((frame) => frame.kind)).toEqual([FrameKind.CHALLENGE, FrameKind.ERROR]);
    expect(peer.frames[1]?.reason).toMatch(/does not know the cluster secret/);
    const error = await failure(client(null).send(contractNode('n1', `127.0.0.1:${port}`), put, { timeoutMs: 5000 }));
    expect(error.message).toMatch(/authentication required/);
    expect(handler.seen).toEqual([]);
    expect(server.stats().bounds.auth_failed).toBe(2);
  });

  it('holds a peer that has not proved the secret to the handshake frame size', async () => {
    const { server, port } = await start({ clusterSecret: SECRET });
    const peer = await raw(port);
    const head = Buffer.alloc(8);
    writeU32(head, 0, 1024 * 1024);
    peer.socket.write(head);
    await peer.closed;
    expect(peer.frames[0]?.reason).toMatch(/over the limit of \d+ bytes/);
    expect(server.stats().bounds.auth_failed).toBe(1);
  });

  it('closes a peer that does not finish the handshake in time', async () => {
    const { server, port } = await start({ clusterSecret: SECRET, handshakeTimeoutMs: 200 });
    const peer = await raw(port);
    const writer = new FrameWriter(256);
    writeHandshakeFrame(writer, FrameKind.HELLO, Buffer.alloc(32, 1));
    for (const chunk of writer.take()) peer.socket.write(chunk);
    await peer.closed;
    expect(server.stats().bounds.handshake_timeout).toBe(1);
  });

  it('refuses a node that cannot prove the secret, before writing any request to it', async () => {
    const received: Buffer[] = [];
    const impostor = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        const writer = new FrameWriter(256);
        writeHandshakeFrame(writer, FrameKind.CHALLENGE, Buffer.alloc(64, 3));
        for (const out of writer.take()) socket.write(out);
      });
    });
    netServers.push(impostor);
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    const port = (impostor.address() as { port: number }).port;
    const error = await failure(client(SECRET).send(contractNode('n1', `127.0.0.1:${port}`), put, { timeoutMs: 5000 }));
    expect(error.kind).toBe('unreachable');
    expect(error.message).toMatch(/the node failed to prove the cluster secret/);
    // The impostor saw the HELLO only: 9 header bytes and a 32-byte nonce.
    expect(Buffer.concat(received).length).toBe(41);
  });
});

describe('the signed header of internal HTTP routes', () => {
  const now = 1_800_000_000_000;

  it('holds for the same method, path and secret within the skew', () => {
    const header = signInternalRequest(SECRET, 'POST', '/internal/v1/storage', now);
    expect(verifyInternalRequest(SECRET, header, 'post', '/internal/v1/storage?x=1', now + 1000)).toBeNull();
  });

  it('names what is wrong otherwise', () => {
    const header = signInternalRequest(SECRET, 'GET', '/internal/v1/membership', now);
    expect(verifyInternalRequest(SECRET, undefined, 'GET', '/internal/v1/membership', now)).toMatch(
      new RegExp(`${INTERNODE_AUTH_HEADER} header is missing`),
    );
    expect(verifyInternalRequest(SECRET, 'garbage', 'GET', '/internal/v1/membership', now)).toMatch(/must be <unix ms>\.<64 hex digits>/);
    expect(verifyInternalRequest(SECRET, header, 'GET', '/internal/v1/membership', now + 120_000)).toMatch(
      /timestamp is more than 60000 ms/,
    );
    expect(verifyInternalRequest(SECRET, header, 'POST', '/internal/v1/membership', now)).toMatch(/does not prove the cluster secret/);
    expect(verifyInternalRequest(SECRET, header, 'GET', '/internal/v1/storage', now)).toMatch(/does not prove the cluster secret/);
    expect(verifyInternalRequest('another-secret', header, 'GET', '/internal/v1/membership', now)).toMatch(
      /does not prove the cluster secret/,
    );
  });
});

describe('internal HTTP routes with a cluster secret', () => {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  it('serve a client that signs its requests, and answer 401 to one that does not, before the handler runs', async () => {
    const handler = new CountingHandler();
    const counters = new PortBoundCounters();
    const app = Fastify({ logger: false });
    apps.push(app);
    requireInternodeAuth(app, { clusterSecret: SECRET, counters });
    registerInternalRoutes(app, handler);
    app.get('/internal/v1/membership', async () => ({ epoch: 1 }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const node = contractNode('n1', `127.0.0.1:${(app.server.address() as { port: number }).port}`);
    const signed = new HttpNodeClient({ clusterSecret: SECRET });
    const unsigned = new HttpNodeClient({ clusterSecret: null });
    const wrong = new HttpNodeClient({ clusterSecret: 'not-the-secret' });
    try {
      expect(await signed.send(node, put, { timeoutMs: 5000 })).toMatchObject({ type: 'PUT', applied: true });
      expect((await failure(unsigned.send(node, put, { timeoutMs: 5000 }))).message).toMatch(/401.*header is missing/);
      expect((await failure(wrong.send(node, put, { timeoutMs: 5000 }))).message).toMatch(/401.*does not prove the cluster secret/);
      const membership = await app.inject({ method: 'GET', url: '/internal/v1/membership' });
      expect(membership.statusCode).toBe(401);
      expect(membership.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
      const signedMembership = await app.inject({
        method: 'GET',
        url: '/internal/v1/membership',
        headers: { [INTERNODE_AUTH_HEADER]: signInternalRequest(SECRET, 'GET', '/internal/v1/membership', Date.now()) },
      });
      expect(signedMembership.statusCode).toBe(200);
      expect(handler.seen).toHaveLength(1);
      expect(counters.counts.auth_failed).toBe(3);
    } finally {
      await Promise.all([signed.close(), unsigned.close(), wrong.close()]);
    }
  });
});
