/**
 * The HTTP GET route's own cost per request, without the coordinator: dkv's public key routes
 * (@dkv/public-api's plugin, set up as a coordinating node sets it up: its server options, the
 * metrics and dashboard observers) over a service that answers at once from a Map, against the
 * bare baseline's route and the HTTP floor's, on the same Fastify. Driven by loopback connections
 * in this process, each sending its next `GET /v1/kv/session:<n>` (2 KB values, 10,000 keys) once
 * the answer to its last has come, as the benchmark's closed loop does. The clients only write
 * prepared requests and count answer bytes: their share (and the sockets') is in every figure,
 * the same for every route, so differences between routes are the routes'.
 *
 * - `bare`: baseline-server.ts's GET (an async handler over a Map of records);
 * - `floor`: floor-server.ts's way of answering (a handler that returns nothing and sends), here
 *   at once from a Map: the floor's HTTP front without its peers;
 * - `dkv`: publicApiPlugin with `observe` (registerPublicApiMetrics: prom-client's counter and
 *   histogram) and the dashboard's request window, as apps/node's coordinate.composition.ts and
 *   the coordinator give it; the service's `get` is an async function over a Map;
 * - `dkv-unobserved`: the same without the observers (no onResponse hook).
 *
 * Measure instructions per request under callgrind: a run of K requests and a run of 0 (the same
 * start-up and warm-up), the difference divided by K, as benchmarks/resp/door-path.ts does:
 *
 *   npx esbuild benchmarks/http/route-path.ts --bundle --platform=node --format=esm \
 *     --conditions=development --outfile=/tmp/route.mjs --external:@node-rs/* \
 *     --banner:js="import {createRequire as __cr} from 'node:module'; const require = __cr(import.meta.url);"
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/route-dkv.out node --expose-gc /tmp/route.mjs dkv 5000 32 5000
 *
 * (The bundle needs `node_modules` beside it: a symlink next to it will do.) The last argument is
 * a warm-up, sent on connections of their own before the counted run, so that the JIT's work falls
 * on both runs and cancels out. Measured: 1,500 of each is not enough, TurboFan's compilation
 * still dominates the difference (dkv 700-720k instructions per GET, the floor's route 560k, with
 * the compiler's passes at the top of both); use far more, on a quiet machine. Prints the run's wall time, the requests per second and the CPU
 * per request (process.cpuUsage; the clients' share included) for a run without callgrind.
 *
 * Usage: route-path.ts bare|floor|dkv|dkv-unobserved <requests> [connections] [warm-up requests]
 */
import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { publicApiPlugin, publicServerOptions, registerPublicApiMetrics, type PublicApiService } from '@dkv/public-api';
import { SESSION_VALUE_BYTES } from '@dkv/testkit';
import { foundReply, keyOf, KV_PREFIX, kvApp, notFoundBody } from './kv-routes.js';

const MODES = ['bare', 'floor', 'dkv', 'dkv-unobserved'] as const;
type Mode = (typeof MODES)[number];
const KEYS = 10_000;
const N = 3;
const MAX_VALUE_BYTES = 1024 * 1024;

/** A stored value as dkv's ReadResult carries it. */
interface Record {
  readonly key: string;
  readonly value: Uint8Array;
  readonly version: number;
  readonly expiresAt: number | null;
}

function store(): Map<string, Record> {
  const map = new Map<string, Record>();
  const expiresAt = Date.now() + 3_600_000;
  for (let i = 0; i < KEYS; i += 1) {
    const key = `session:${i}`;
    map.set(key, { key, value: Buffer.alloc(SESSION_VALUE_BYTES, i % 251), version: i + 1, expiresAt });
  }
  return map;
}

function bareApp(map: Map<string, Record>): FastifyInstance {
  const app = kvApp();
  app.get(`${KV_PREFIX}*`, async (request, reply) => {
    const key = keyOf(request.url);
    const stored = map.get(key);
    if (stored === undefined || (stored.expiresAt !== null && stored.expiresAt <= Date.now())) {
      return reply.code(404).send(notFoundBody(key));
    }
    return foundReply(reply, stored.version, stored.expiresAt).send(stored.value);
  });
  return app;
}

function floorApp(map: Map<string, Record>): FastifyInstance {
  const app = kvApp();
  app.get(`${KV_PREFIX}*`, (request, reply) => {
    const stored = map.get(keyOf(request.url));
    if (stored === undefined || (stored.expiresAt !== null && stored.expiresAt <= Date.now())) {
      void reply.code(404).send(notFoundBody(keyOf(request.url)));
      return;
    }
    void foundReply(reply, stored.version, stored.expiresAt).send(stored.value);
  });
  return app;
}

function dkvApp(map: Map<string, Record>, observed: boolean): FastifyInstance {
  const app = Fastify({ ...publicServerOptions(), bodyLimit: 64 * 1024 });
  const service = {
    get: async (key: string) => map.get(key) ?? null,
    isReady: () => true,
    cluster: () => ({ epoch: 1, replication: { n: N, w: 2, r: 2 }, nodes: [] }),
  } as unknown as PublicApiService;
  const observe = observed
    ? registerPublicApiMetrics(new Registry(), { metrics: () => ({}) as never, cluster: () => ({ nodes: [] }) })
    : undefined;
  void app.register(
    publicApiPlugin(service, {
      n: N,
      maxValueBytes: MAX_VALUE_BYTES,
      ...(observe === undefined ? {} : { observe, dashboard: { processId: 'n1', hintsPending: () => 0 } }),
    }),
  );
  return app;
}

/** A closed-loop client: one request in flight per connection, answers counted by their length. */
class Client {
  private expect = -1;
  private seen = 0;
  private head = '';

  constructor(
    private readonly socket: Socket,
    private readonly next: () => Buffer | null,
    private readonly onDone: () => void,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  start(): void {
    this.send();
  }

  private send(): void {
    const request = this.next();
    if (request === null) {
      this.onDone();
      return;
    }
    this.socket.write(request);
  }

  /** Counts an answer's bytes: its head up to the blank line, then content-length bytes of body. */
  private onData(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.expect < 0) {
        const end = chunk.indexOf('\r\n\r\n', at, 'latin1');
        if (end === -1) {
          this.head += chunk.toString('latin1', at);
          return;
        }
        const head = this.head + chunk.toString('latin1', at, end);
        this.head = '';
        const match = /content-length: (\d+)/i.exec(head);
        this.expect = match === null ? 0 : Number(match[1]);
        this.seen = 0;
        at = end + 4;
      }
      const take = Math.min(this.expect - this.seen, chunk.length - at);
      this.seen += take;
      at += take;
      if (this.seen === this.expect) {
        this.expect = -1;
        this.send();
      }
    }
  }
}

/** Sends `requests` GETs over `connections` connections to `port`, resolving when all are answered. */
async function drive(port: number, requests: number, connections: number): Promise<void> {
  if (requests === 0) return;
  const prepared = Array.from({ length: 1024 }, (_, i) =>
    Buffer.from(`GET ${KV_PREFIX}session:${(i * 7919) % KEYS} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 'latin1'),
  );
  let sent = 0;
  const next = (): Buffer | null => (sent < requests ? (prepared[sent++ % prepared.length] as Buffer) : null);
  const sockets = await Promise.all(
    Array.from(
      { length: Math.min(connections, requests) },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  await new Promise<void>((resolve) => {
    let open = sockets.length;
    const done = (): void => {
      open -= 1;
      if (open === 0) resolve();
    };
    for (const socket of sockets) new Client(socket, next, done).start();
  });
  await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.end(resolve))));
  for (const socket of sockets) socket.destroy();
}

async function main(): Promise<void> {
  const [modeArg, requestsArg, connectionsArg, warmupArg] = process.argv.slice(2);
  const mode = modeArg as Mode;
  const requests = Number(requestsArg);
  if (!MODES.includes(mode) || !Number.isInteger(requests) || requests < 0) {
    process.stderr.write(`usage: route-path.ts ${MODES.join('|')} <requests> [connections] [warm-up requests]\n`);
    process.exit(2);
  }
  const connections = Number(connectionsArg ?? 32);
  const warmup = Number(warmupArg ?? 0);
  const map = store();
  const app = mode === 'bare' ? bareApp(map) : mode === 'floor' ? floorApp(map) : dkvApp(map, mode === 'dkv');
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await drive(port, warmup, connections);
  (globalThis as { gc?: () => void }).gc?.();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await drive(port, requests, connections);
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  await app.close();
  const us = requests === 0 ? 0 : (used.user + used.system) / requests;
  process.stdout.write(
    `${mode}: ${requests} GETs over ${connections} connections in ${seconds.toFixed(2)} s (${(requests / Math.max(seconds, 1e-9)).toFixed(0)}/s), CPU ${us.toFixed(1)} µs per GET (clients included)\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`route-path: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
