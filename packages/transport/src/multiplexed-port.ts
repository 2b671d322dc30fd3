import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { hasVerifiedPeerCertificate } from './internode-tls.js';
import { readU32 } from './tcp-frame.js';
import type { TcpStorageServer } from './tcp-storage-server.js';
import type { PortBoundCounters, PortBoundEvent } from './port-bounds.js';

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
  /**
   * TLS on the whole port: every connection, binary or HTTP, is TLS. With `ca` (mutual TLS
   * internode), clients are asked for a certificate, and a binary connection whose certificate
   * does not chain to `ca` is closed before a frame is read (`tls_refused`); HTTP connections
   * without one are served (the public API of a node that coordinates), and the internal routes
   * refuse them (`requireInternodeCertificate`). Absent: plain TCP.
   */
  readonly tls?: MultiplexedPortTls;
}

/** The TLS material of a multiplexed port (see {@link MultiplexedPortOptions.tls}). */
export interface MultiplexedPortTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The cluster's CA: with it, peers' certificates are requested and checked. Null: server authentication only. */
  readonly ca: Buffer | null;
  /** A TLS handshake not done within this long is dropped. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
}

/** A listening multiplexed port. */
export interface MultiplexedPort {
  readonly port: number;
  /** Stops accepting and drops connections not yet routed; routed ones are closed by their own servers. */
  close(): Promise<void>;
  /** With TLS: replaces the certificate (and CA) new connections get, e.g. after a renewal (SIGHUP). No-op without. */
  setSecureContext(options: { cert: Buffer; key: Buffer; ca?: Buffer }): void;
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
  const countBound = (event: PortBoundEvent): void => (targets?.counters ?? options.counters)?.hit(event);
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
      if (readU32(head, 0) > options.maxFrameBytes) {
        socket.unshift(head);
        to.http.emit('connection', socket);
        socket.resume();
      } else if (options.tls?.ca == null || hasVerifiedPeerCertificate(socket)) {
        // The storage server serves `head` first and resumes reading (a plain TCP socket it
        // re-creates over the same connection, to read into memory of its own).
        to.tcp.adopt(socket, head);
      } else {
        // Mutual TLS: a binary peer without a certificate from the cluster's CA never reaches storage.
        countBound('tls_refused');
        socket.destroy();
      }
    };
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('error', onError);
  };
  const onConnection = (socket: Socket): void => {
    route(socket);
    if (targets !== null) socket.resume();
  };
  // A TLS socket is handed over after its handshake, unread: it buffers until sniffed, like a paused one.
  const server: NetServer | TlsServer =
    options.tls === undefined
      ? createServer({ pauseOnConnect: true }, onConnection)
      : listenerWithTls(options.tls, onConnection, countBound);
  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
  server.on('drop', () => countBound('connection_refused'));
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
        setSecureContext: (context) => {
          if (options.tls !== undefined) (server as TlsServer).setSecureContext(context);
        },
      });
    });
  });
}

/**
 * The TLS listener of a multiplexed port: `route` gets each connection once its handshake is done.
 * Peers' certificates are requested with a CA but not required at the handshake (the public API
 * may share the port); a failed handshake (a plaintext client, a client that distrusts the
 * certificate, a certificate the CA did not sign) is counted and the connection dropped.
 */
function listenerWithTls(tls: MultiplexedPortTls, route: (socket: Socket) => void, countBound: (event: PortBoundEvent) => void): TlsServer {
  const server = createTlsServer(
    {
      cert: tls.cert,
      key: tls.key,
      ...(tls.ca === null ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: false }),
      handshakeTimeout: tls.handshakeTimeoutMs ?? 10_000,
    },
    route,
  );
  server.on('tlsClientError', (_error, socket) => {
    countBound('tls_refused');
    socket.destroy();
  });
  return server;
}
