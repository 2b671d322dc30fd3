// Goal: an HTTP port with applyHttpPortBounds closes idle connections, drops connections beyond
// maxConnections and closes requests that trickle past the read deadline, counting each.
// Method: a real Fastify app on 127.0.0.1 with small bounds and raw sockets; the slow-request
// case uses a server built with a short deadline-checking interval (Node's default is 30 s).
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { applyHttpPortBounds, httpServerBoundsOptions } from './http-port-bounds.js';
import { PortBoundCounters, type PortBounds } from './port-bounds.js';

const apps: FastifyInstance[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function serve(bounds: PortBounds, counters: PortBoundCounters, fast = false): Promise<number> {
  const app = fast
    ? Fastify({
        serverFactory: (handler) =>
          createServer(
            { requestTimeout: bounds.readTimeoutMs, headersTimeout: bounds.readTimeoutMs, connectionsCheckingInterval: 50 },
            handler,
          ),
      })
    : Fastify(httpServerBoundsOptions(bounds));
  apps.push(app);
  app.get('/', async () => 'ok');
  applyHttpPortBounds(app.server, bounds, counters);
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as { port: number }).port;
}

async function open(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, closed };
}

describe('applyHttpPortBounds', () => {
  it('closes an idle connection and counts it', async () => {
    const counters = new PortBoundCounters();
    const port = await serve({ maxConnections: 10, idleTimeoutMs: 200, readTimeoutMs: 10_000 }, counters);
    await (
      await open(port)
    ).closed;
    expect(counters.counts.idle_timeout).toBe(1);
  });

  it('drops a connection beyond maxConnections and counts it', async () => {
    const counters = new PortBoundCounters();
    const port = await serve({ maxConnections: 2, idleTimeoutMs: 60_000, readTimeoutMs: 60_000 }, counters);
    await open(port);
    await open(port);
    const third = await open(port);
    await third.closed;
    expect(counters.counts.connection_refused).toBe(1);
  });

  it('closes a request that trickles past the read deadline and counts it', async () => {
    const counters = new PortBoundCounters();
    const port = await serve({ maxConnections: 10, idleTimeoutMs: 60_000, readTimeoutMs: 300 }, counters, true);
    const { socket, closed } = await open(port);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => socket.write('X-A: b\r\n'), 50);
    await closed;
    clearInterval(trickle);
    expect(counters.counts.read_timeout).toBe(1);
  });
});
