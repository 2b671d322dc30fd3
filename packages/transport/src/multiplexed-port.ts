import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { readU32 } from './tcp-frame.js';
import type { TcpStorageServer } from './tcp-storage-server.js';
import type { PortBoundCounters } from './port-bounds.js';

/** Where a multiplexed port sends its connections, and its bounds. */
export interface MultiplexedPortOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly tcp: TcpStorageServer;
  /** An HTTP server that is not listening itself (e.g. Fastify's `app.server` after `app.ready()`). */
  readonly http: HttpServer;
  /** Frames larger than this are not binary frames: such a first chunk is taken for HTTP. */
  readonly maxFrameBytes: number;
  /** A connection that sends nothing for this long is closed. Default 10 s. */
  readonly firstByteTimeoutMs?: number;
  /**
   * Connections open at once on the port, binary and HTTP together; one more is dropped by the
   * kernel-facing listener at once and counted (`connection_refused`). Default: no bound here
   * (the TCP storage server bounds its own connections).
   */
  readonly maxConnections?: number;
  /** Where a dropped connection is counted. */
  readonly counters?: PortBoundCounters;
}

/** A listening multiplexed port. */
export interface MultiplexedPort {
  readonly port: number;
  /** Stops accepting and drops connections not yet routed; routed ones are closed by their own servers. */
  close(): Promise<void>;
}

/** Where a bound multiplexed port sends its connections once the servers exist (see {@link bindMultiplexed}). */
export interface MultiplexedTargets {
  readonly tcp: TcpStorageServer;
  /** An HTTP server that is not listening itself (e.g. Fastify's `app.server` after `app.ready()`). */
  readonly http: HttpServer;
  /** Where a dropped connection is counted. */
  readonly counters?: PortBoundCounters;
}

/** A multiplexed port that listens but does not serve yet: its address is known, its connections wait. */
export interface BoundMultiplexedPort extends MultiplexedPort {
  /**
   * Starts routing connections to `targets`, those that arrived since the bind first. Called once:
   * a node binds its port, builds its whole object graph knowing its address, then serves.
   */
  serve(targets: MultiplexedTargets): void;
}

/**
 * Serves dkv's binary internode protocol and HTTP (the internal routes, `/livez`, `/readyz`,
 * `/metrics`) on one port, so a node has one address and a coordinator needs to know nothing else
 * to reach it over TCP.
 *
 * The first 4 bytes of a connection decide: a binary frame starts with its length, a
 * little-endian u32 of at most `maxFrameBytes` (about 1 MiB, so its fourth byte is 0), while an
 * HTTP request starts with an ASCII method such as `GET ` or `POST`, which read as a length are
 * above 500 million. The bytes read are put back before the connection is handed over.
 */
export async function listenMultiplexed(options: MultiplexedPortOptions): Promise<MultiplexedPort> {
  const port = await bindMultiplexed(options);
  port.serve(options);
  return port;
}

/**
 * Binds the port of {@link listenMultiplexed} before its servers exist: a node listening on port
 * 0, or behind an address it learns only by binding, builds its object graph once, with its
 * address, instead of through placeholders filled in after the listen. Connections accepted before
 * {@link BoundMultiplexedPort.serve} wait (paused, unread) and are routed when it is called.
 */
export function bindMultiplexed(options: Omit<MultiplexedPortOptions, 'tcp' | 'http'>): Promise<BoundMultiplexedPort> {
  const firstByteTimeoutMs = options.firstByteTimeoutMs ?? 10_000;
  const sniffing = new Set<Socket>();
  let targets: MultiplexedTargets | null = null;
  const early: Socket[] = [];
  const route = (socket: Socket): void => {
    sniffing.add(socket);
    socket.once('close', () => sniffing.delete(socket));
    if (targets === null) {
      early.push(socket);
      return;
    }
    sniff(socket, targets);
  };
  const sniff = (socket: Socket, to: MultiplexedTargets): void => {
    let head: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), firstByteTimeoutMs);
    timer.unref();
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      if (head.length < 4) return;
      clearTimeout(timer);
      sniffing.delete(socket);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.pause();
      socket.unshift(head);
      if (readU32(head, 0) <= options.maxFrameBytes) to.tcp.adopt(socket);
      else to.http.emit('connection', socket);
      socket.resume();
    };
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('error', onError);
  };
  const server: NetServer = createServer({ pauseOnConnect: true }, (socket) => {
    route(socket);
    if (targets !== null) socket.resume();
  });
  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
  server.on('drop', () => (targets?.counters ?? options.counters)?.hit('connection_refused'));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        serve: (to) => {
          if (targets !== null) throw new Error('the multiplexed port serves already');
          targets = to;
          for (const socket of early.splice(0)) {
            if (socket.destroyed) continue;
            sniff(socket, to);
            socket.resume();
          }
        },
        close: async () => {
          // Connections already handed over belong to their servers, which close them; the
          // listener itself stops at once (server.close's callback would wait for all of them).
          server.close();
          for (const socket of sniffing) socket.destroy();
          sniffing.clear();
          early.length = 0;
        },
      });
    });
  });
}
