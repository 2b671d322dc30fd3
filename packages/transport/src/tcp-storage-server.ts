import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import type { StorageRequest, StorageResponse } from '@dkv/core';
import { describeError, type MaybeAsyncStorageRequestHandler } from './handler.js';
import { clientProof, newNonce, NONCE_BYTES, PROOF_BYTES, proofsEqual, serverProof } from './internode-auth.js';
import { DEFAULT_FRAME_LIMIT_BYTES } from './internal-routes.js';
import {
  checkPortBounds,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_PORT_BOUNDS,
  PortBoundCounters,
  type PortBoundEvent,
} from './port-bounds.js';
import { readRequest, writeErrorFrame, writeResponseFrame } from './tcp-codec.js';
import { DEFAULT_SLAB_BYTES, FrameKind, FrameReader, FrameWriter, ReadSlabs, TurnFlusher } from './tcp-frame.js';
import { HANDSHAKE_MAX_FRAME_BYTES, readHandshakePayload, writeHandshakeFrame } from './tcp-handshake.js';

/** Options of {@link TcpStorageServer}; every bound has a default and can be changed. */
export interface TcpStorageServerOptions {
  /**
   * The largest frame read or written, length prefix included. A larger request closes its
   * connection (its length may be garbage, so the stream cannot be trusted after it); a larger
   * answer is replaced by an error frame. Default {@link DEFAULT_FRAME_LIMIT_BYTES}.
   */
  readonly maxFrameBytes?: number;
  /**
   * Requests of one connection the handler may be working on at once (asynchronous answers not
   * yet given). At the bound the server stops reading that connection until one is answered.
   * Default 1024.
   */
  readonly maxInFlightPerConnection?: number;
  /**
   * Answer bytes queued for one connection, in the process (encoded and not yet taken by the
   * kernel). At the bound the server stops reading that connection, even in the middle of a
   * pipelined burst, until the socket drains: a client that does not read its answers cannot make
   * the server buffer more than this plus one answer. Default 4 MiB.
   */
  readonly maxBufferedWriteBytes?: number;
  /** Connections open at once; one more is closed at once. Default `DEFAULT_PORT_BOUNDS.maxConnections`. */
  readonly maxConnections?: number;
  /** A connection with no traffic either way for this long is closed. Default `DEFAULT_PORT_BOUNDS.idleTimeoutMs`. */
  readonly idleTimeoutMs?: number;
  /**
   * A frame that has begun must be whole within this long (time spent paused by the server's own
   * back-pressure excepted); otherwise its connection is closed. Default `DEFAULT_PORT_BOUNDS.readTimeoutMs`.
   */
  readonly readTimeoutMs?: number;
  /** With a cluster secret: the time a peer has to complete the handshake. Default {@link DEFAULT_HANDSHAKE_TIMEOUT_MS}. */
  readonly handshakeTimeoutMs?: number;
  /**
   * The cluster secret. When set, every connection must complete the handshake of
   * `tcp-handshake.ts` before any request frame is read; a peer that fails is closed and counted
   * (`auth_failed`), and nothing it sent reaches the handler. Null or absent: no handshake.
   */
  readonly clusterSecret?: string | null;
  /** Where the bounds that trigger are counted; pass one to read them from metrics. Default: a fresh one. */
  readonly counters?: PortBoundCounters;
  /** Where the server reports a connection it closed and why. Default `console.warn`. */
  readonly onWarning?: (message: string) => void;
}

type Limits = Readonly<Required<Omit<TcpStorageServerOptions, 'onWarning' | 'clusterSecret' | 'counters'>>>;

/** The defaults of {@link TcpStorageServerOptions}. */
export const DEFAULT_TCP_STORAGE_SERVER_OPTIONS: Limits = {
  maxFrameBytes: DEFAULT_FRAME_LIMIT_BYTES,
  maxInFlightPerConnection: 1024,
  maxBufferedWriteBytes: 4 * 1024 * 1024,
  maxConnections: DEFAULT_PORT_BOUNDS.maxConnections,
  idleTimeoutMs: DEFAULT_PORT_BOUNDS.idleTimeoutMs,
  readTimeoutMs: DEFAULT_PORT_BOUNDS.readTimeoutMs,
  handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
};

/** What the server's connections hold, for metrics and for tests of the bounds. */
export interface TcpStorageServerStats {
  /** Connections open now. */
  readonly connections: number;
  /** Bytes received and not yet served, plus memory set aside for frames arriving, over all connections. */
  readonly bufferedReadBytes: number;
  /** Answer bytes encoded and not yet taken by the kernel, over all connections. */
  readonly queuedAnswerBytes: number;
  /** How often each bound triggered since start. */
  readonly bounds: Readonly<Record<PortBoundEvent, number>>;
}

/**
 * The memory a connection's socket reads into (see {@link ReadSlabs}): a slab of this size, of
 * which each read gets at least {@link SERVER_READ_MIN_BYTES}. Smaller than a client's, since a
 * node holds a slab per connection while it is open and has many more connections than a client
 * has peers: 4096 connections (the default bound) hold at most 128 MiB, and a pipelined burst of
 * 2 KiB PUTs still arrives in reads of 8 to 32 KiB.
 */
const SERVER_READ_SLAB_BYTES = 32 * 1024;
/** The least room a read of a server connection gets; see {@link SERVER_READ_SLAB_BYTES}. */
const SERVER_READ_MIN_BYTES = 8 * 1024;

/** What a connection needs from its server. */
interface ConnectionContext {
  readonly handler: MaybeAsyncStorageRequestHandler;
  readonly limits: Limits;
  readonly secret: string | null;
  readonly counters: PortBoundCounters;
  readonly warn: (message: string) => void;
  schedule(connection: ServerConnection): void;
  forget(connection: ServerConnection): void;
}

/**
 * The replica side of the binary internode protocol (`tcp-frame.ts`, `tcp-codec.ts`): serves
 * a {@link MaybeAsyncStorageRequestHandler} to {@link TcpNodeClient}s over `node:net`.
 *
 * Each frame is answered with the same request id, in order of completion, so a slow
 * asynchronous answer does not hold up the others. The answers a read's frames get at once go
 * out in one write at the end of that read; asynchronous answers, in one write per connection at
 * the end of their event-loop turn. A connection stops being read while it has
 * `maxInFlightPerConnection` unanswered requests or `maxBufferedWriteBytes` of answers
 * waiting for the kernel, and resumes when below. A request that is malformed but well framed is
 * answered by an error frame naming the field; a frame whose length is out of bounds ends its
 * connection, after an error frame with id 0 and a warning, and leaves the others untouched. A
 * handler that throws or rejects answers an error frame; nothing a peer sends can crash the server.
 *
 * Every connection is bounded (see {@link TcpStorageServerOptions}): how many are open, how long
 * one may idle, how long a frame may take to arrive, and with a cluster secret how long the
 * handshake may take; each bound that triggers is counted in `counters` (see `port-bounds.ts`).
 */
export class TcpStorageServer {
  private readonly server: Server;
  private readonly connections = new Set<ServerConnection>();
  private readonly context: ConnectionContext;
  private readonly flusher = new TurnFlusher<ServerConnection>();
  private readonly sweeper: NodeJS.Timeout;
  private closing: Promise<void> | null = null;

  constructor(handler: MaybeAsyncStorageRequestHandler, options: TcpStorageServerOptions = {}) {
    const defaults = DEFAULT_TCP_STORAGE_SERVER_OPTIONS;
    const limits: Limits = {
      maxFrameBytes: options.maxFrameBytes ?? defaults.maxFrameBytes,
      maxInFlightPerConnection: options.maxInFlightPerConnection ?? defaults.maxInFlightPerConnection,
      maxBufferedWriteBytes: options.maxBufferedWriteBytes ?? defaults.maxBufferedWriteBytes,
      maxConnections: options.maxConnections ?? defaults.maxConnections,
      idleTimeoutMs: options.idleTimeoutMs ?? defaults.idleTimeoutMs,
      readTimeoutMs: options.readTimeoutMs ?? defaults.readTimeoutMs,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? defaults.handshakeTimeoutMs,
    };
    checkPortBounds('TcpStorageServer', limits);
    const secret = options.clusterSecret ?? null;
    if (secret !== null && secret.length === 0)
      throw new RangeError('TcpStorageServer option clusterSecret must not be empty (null turns the handshake off)');
    const onWarning = options.onWarning ?? ((message: string) => console.warn(message));
    this.context = {
      handler,
      limits,
      secret,
      counters: options.counters ?? new PortBoundCounters(),
      warn: (message) => onWarning(`dkv tcp storage server: ${message}`),
      schedule: (connection) => this.flusher.schedule(connection),
      forget: (connection) => this.connections.delete(connection),
    };
    // Paused at once: a plain TCP socket is re-created to read into the connection's slabs
    // before its first read (see `readingInto`).
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket, null));
    // One sweep checks every connection's read and handshake deadlines: no timer per frame.
    const sweepMs = Math.max(10, Math.floor(Math.min(limits.readTimeoutMs, limits.handshakeTimeoutMs) / 4));
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
  }

  /** The counters of the bounds that triggered (shared with the caller when it passed them). */
  get counters(): PortBoundCounters {
    return this.context.counters;
  }

  /** What the connections hold now; see {@link TcpStorageServerStats}. */
  stats(): TcpStorageServerStats {
    let bufferedReadBytes = 0;
    let queuedAnswerBytes = 0;
    for (const connection of this.connections) {
      bufferedReadBytes += connection.bufferedReadBytes();
      queuedAnswerBytes += connection.queuedAnswerBytes();
    }
    return { connections: this.connections.size, bufferedReadBytes, queuedAnswerBytes, bounds: { ...this.context.counters.counts } };
  }

  /** Starts listening on `host:port` (port 0: any free port) and resolves with the port bound. */
  listen(port: number, host: string): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen({ port, host }, () => {
        this.server.off('error', onError);
        resolve({ port: (this.server.address() as AddressInfo).port });
      });
    });
  }

  /**
   * Stops listening and closes every connection at once; answers still being worked on are
   * dropped (their clients see the connection close). Resolves when the server is closed.
   * Calling it again is harmless.
   */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      clearInterval(this.sweeper);
      this.server.close(() => resolve());
      for (const connection of this.connections) connection.destroy();
      this.connections.clear();
    });
    return this.closing;
  }

  /**
   * Serves a socket accepted elsewhere, e.g. by {@link listenMultiplexed}, which shares one port
   * between this binary protocol and HTTP. `head`: the bytes already read from it (served before
   * what follows); the socket must be paused, with nothing else read and not yet taken. Without
   * `head`, bytes already read must have been unshifted.
   */
  adopt(socket: Socket, head: Buffer | null = null): void {
    this.accept(socket, head);
  }

  private accept(socket: Socket, head: Buffer | null): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.context.limits.maxConnections) {
      this.context.counters.hit('connection_refused');
      socket.destroy();
      return;
    }
    this.connections.add(new ServerConnection(this.context, socket, head));
  }

  private sweep(): void {
    const now = Date.now();
    for (const connection of this.connections) connection.checkDeadlines(now);
  }
}

/**
 * A socket over the connection of `accepted` that reads into `slabs` (the `onread` option, which
 * Node takes only when a socket is created) and hands each read to `receive`, or null when
 * `accepted` cannot be re-created so (TLS, whose bytes come decrypted as 'data' events; a handle
 * that is not a TCP stream; bytes already buffered in its stream). The new socket reads at once
 * (nothing arrives before the caller returns to the event loop).
 *
 * Why: a read through the Readable stream costs a Buffer of Node's own (an ArrayBuffer with its
 * external-memory accounting), the stream's push and a 'data' event; measured with
 * `benchmarks/transport/wire-path.ts`, that was a large part of what a replica spent per request.
 * A listener cannot give `onread` to the sockets it accepts, so the accepted socket's handle
 * (`_handle`, the private field `net.Server` itself fills through the `handle` option) moves
 * to a socket made with it. The accepted socket stays open on paper until the new one closes:
 * its listener counts it among its connections (its `maxConnections`) until it is destroyed.
 */
function readingInto(accepted: Socket, slabs: ReadSlabs, receive: (chunk: Buffer) => void): Socket | null {
  const shell = accepted as unknown as { _handle?: { useUserBuffer?: unknown } | null; encrypted?: boolean };
  const handle = shell._handle;
  if (shell.encrypted === true || handle == null || typeof handle.useUserBuffer !== 'function') return null;
  if (accepted.destroyed || accepted.readableLength > 0) return null;
  // `handle` is not among the typed options (it is how Node's own listener builds its sockets).
  // Not `pauseOnCreate`: with `onread`, `Socket.read` starts the handle reading whenever the
  // stream is not yet marked as reading, whatever its flowing state, and the stream's first
  // `resume()` calls it a tick later. A `pause()` in between (a bound hit while `head` is served)
  // was undone then, and the connection read without bound while paused, its unread bytes copied
  // again at every read. Created reading, the socket's stream reads once now, and only `pause()`
  // and `resume()` move the handle afterwards.
  const options = {
    handle,
    onread: {
      buffer: slabs.next,
      callback: (bytes: number, into: Uint8Array): boolean => {
        receive(slabs.take(into, bytes));
        return true;
      },
    },
  };
  const socket = new Socket(options as unknown as ConstructorParameters<typeof Socket>[0]);
  shell._handle = null;
  socket.once('close', () => accepted.destroy());
  return socket;
}

/** One client's connection: proves the secret if one is set, reads frames, runs the handler, queues the answers. */
class ServerConnection {
  private readonly socket: Socket;
  private readonly reader: FrameReader;
  /** Its slab is filled again from the start once the socket has written all it was given. */
  private readonly writer = new FrameWriter(DEFAULT_SLAB_BYTES, () => this.socket.writableLength === 0);
  private inFlight = 0;
  private paused = false;
  private writeBlocked = false;
  private dirty = false;
  /** True while a read is being served: answers are then written at its end, not at the turn's. */
  private reading = false;
  private closed = false;
  /** Where the handshake stands: `open` once the peer proved the secret (at once without one). */
  private phase: 'hello' | 'auth' | 'open';
  private clientNonce: Buffer | null = null;
  private serverNonce: Buffer | null = null;
  private readonly acceptedAt = Date.now();
  /** When the frame being read began to arrive while the connection was being read; 0: none. */
  private frameStartedAt = 0;

  /** `accepted`: paused, with `head` (when not null) read from it before. */
  constructor(
    private readonly context: ConnectionContext,
    accepted: Socket,
    head: Buffer | null,
  ) {
    this.phase = context.secret === null ? 'open' : 'hello';
    // Until the peer proves the secret it may announce no frame larger than a handshake's.
    this.reader = new FrameReader(this.phase === 'open' ? context.limits.maxFrameBytes : HANDSHAKE_MAX_FRAME_BYTES);
    const receive = (chunk: Buffer): void => this.receive(chunk);
    const socket = readingInto(accepted, new ReadSlabs(SERVER_READ_SLAB_BYTES, SERVER_READ_MIN_BYTES), receive) ?? accepted;
    this.socket = socket;
    if (socket === accepted) {
      if (head !== null) socket.unshift(head);
      socket.on('data', receive);
    }
    socket.setNoDelay(true);
    socket.setTimeout(context.limits.idleTimeoutMs);
    socket.on('timeout', () => this.close('idle_timeout', `no traffic for ${context.limits.idleTimeoutMs} ms`));
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.pump();
    });
    // A peer that resets its connection is routine: the close that follows cleans up.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.writer.discard();
      context.forget(this);
    });
    // Reading starts before `head` is served, so that a bound it hits can pause the socket again.
    socket.resume();
    if (head !== null && socket !== accepted) this.receive(head);
  }

  /** Serves a chunk of the stream (one read of the socket). */
  private receive(chunk: Buffer): void {
    this.reader.push(chunk);
    // The answers the handler gives at once leave in one write at the end of the read, without
    // waiting for the turn's end (a setImmediate, and latency, per read of a paced peer).
    this.reading = true;
    this.pump();
    this.reading = false;
    if (this.dirty) this.flush();
  }

  /** Bytes received and not yet served, and memory set aside for a frame arriving. */
  bufferedReadBytes(): number {
    return this.reader.bufferedBytes + this.reader.reservedBytes;
  }

  /** Answer bytes encoded and not yet taken by the kernel. */
  queuedAnswerBytes(): number {
    return this.writer.pendingBytes + this.socket.writableLength;
  }

  /** Closes the connection if its handshake or its current frame is overdue. */
  checkDeadlines(now: number): void {
    if (this.closed) return;
    const limits = this.context.limits;
    if (this.phase !== 'open' && now - this.acceptedAt > limits.handshakeTimeoutMs) {
      this.close('handshake_timeout', `the cluster-secret handshake did not complete within ${limits.handshakeTimeoutMs} ms`);
    } else if (this.frameStartedAt !== 0 && now - this.frameStartedAt > limits.readTimeoutMs) {
      this.close('read_timeout', `a frame took more than ${limits.readTimeoutMs} ms to arrive`);
    }
  }

  /** Writes the answers queued since the last flush, in one write; reads on if that left room. */
  flush(): void {
    this.dirty = false;
    if (this.closed) return;
    const chunks = this.writer.take();
    if (chunks.length === 1) {
      this.socket.write(chunks[0] as Buffer);
    } else if (chunks.length > 1) {
      this.socket.cork();
      for (const chunk of chunks) this.socket.write(chunk);
      this.socket.uncork();
    }
    if (this.socket.writableLength >= this.context.limits.maxBufferedWriteBytes) this.writeBlocked = true;
    else if (this.paused) this.pump();
  }

  destroy(): void {
    this.closed = true;
    this.writer.discard();
    this.socket.destroy();
  }

  /** Serves the frames received until a bound is hit, then stops reading; resumes when below. */
  private pump(): void {
    const limits = this.context.limits;
    while (!this.closed) {
      const answersFull = this.writer.pendingBytes + this.socket.writableLength >= limits.maxBufferedWriteBytes;
      if (this.inFlight >= limits.maxInFlightPerConnection || this.writeBlocked || answersFull) {
        if (!this.paused) {
          this.paused = true;
          if (this.writeBlocked || answersFull) this.context.counters.hit('write_backpressure');
          this.socket.pause();
          // Time spent waiting on our own back-pressure is not the peer's slowness.
          this.frameStartedAt = 0;
        }
        // Answers encoded in this turn go out at its end; the flush reads on if the socket takes them.
        if (answersFull && this.writer.pendingBytes > 0) this.markDirty();
        return;
      }
      let more: boolean;
      try {
        more = this.reader.next();
      } catch (error) {
        this.end(this.phase === 'open' ? 'frame_too_large' : 'auth_failed', describeError(error));
        return;
      }
      if (!more) break;
      if (this.phase === 'open') this.serve();
      else this.handshake();
    }
    if (this.closed) return;
    this.frameStartedAt = this.reader.midFrame ? this.frameStartedAt || Date.now() : 0;
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Takes the current frame as the next step of the cluster-secret handshake. */
  private handshake(): void {
    const secret = this.context.secret as string;
    try {
      if (this.phase === 'hello') {
        if (this.reader.kind !== FrameKind.HELLO)
          throw new Error('authentication required: the peer must prove the cluster secret before any request');
        this.clientNonce = readHandshakePayload(this.reader, FrameKind.HELLO, NONCE_BYTES);
        this.serverNonce = newNonce();
        writeHandshakeFrame(
          this.writer,
          FrameKind.CHALLENGE,
          Buffer.concat([this.serverNonce, serverProof(secret, this.clientNonce, this.serverNonce)]),
        );
        this.phase = 'auth';
        this.markDirty();
        return;
      }
      const proof = readHandshakePayload(this.reader, FrameKind.AUTH, PROOF_BYTES);
      if (!proofsEqual(proof, clientProof(secret, this.clientNonce as Buffer, this.serverNonce as Buffer))) {
        throw new Error('authentication failed: the peer does not know the cluster secret');
      }
      if (this.reader.bufferedBytes > 0) throw new Error('the peer sent requests before the handshake completed');
    } catch (error) {
      this.end('auth_failed', describeError(error));
      return;
    }
    this.phase = 'open';
    this.reader.maxFrameBytes = this.context.limits.maxFrameBytes;
    writeHandshakeFrame(this.writer, FrameKind.AUTH_OK, Buffer.alloc(0));
    this.markDirty();
  }

  private serve(): void {
    const id = this.reader.id;
    const handler = this.context.handler;
    const borrow = handler.handleBorrowed;
    let request: StorageRequest;
    try {
      // A handler that borrows copies what it keeps, so a PUT's value may stay a view of the frame.
      request = readRequest(this.reader, borrow === undefined);
    } catch (error) {
      this.answerError(id, describeError(error));
      return;
    }
    let result: StorageResponse | Promise<StorageResponse>;
    try {
      // The answer is encoded right below, before anything else runs: a GET may borrow the engine's bytes.
      result = borrow === undefined ? handler.handle(request) : borrow.call(handler, request);
    } catch (error) {
      this.answerError(id, `the handler failed: ${describeError(error)}`);
      return;
    }
    if (typeof (result as Partial<Promise<StorageResponse>>).then !== 'function') {
      this.answer(id, result as StorageResponse);
      return;
    }
    this.inFlight += 1;
    (result as Promise<StorageResponse>).then(
      (response) => this.settle(id, response, null),
      (error: unknown) => this.settle(id, null, error),
    );
  }

  private settle(id: number, response: StorageResponse | null, error: unknown): void {
    this.inFlight -= 1;
    if (response !== null) this.answer(id, response);
    else this.answerError(id, `the handler failed: ${describeError(error)}`);
    if (this.paused) this.pump();
  }

  private answer(id: number, response: StorageResponse): void {
    if (this.closed) return;
    let bytes: number;
    try {
      bytes = writeResponseFrame(this.writer, id, response);
    } catch (error) {
      this.answerError(id, `the answer could not be encoded: ${describeError(error)}`);
      return;
    }
    if (bytes > this.context.limits.maxFrameBytes) {
      this.writer.pos -= bytes;
      this.answerError(id, `the answer of ${bytes} bytes is over the frame limit of ${this.context.limits.maxFrameBytes} bytes`);
      return;
    }
    this.markDirty();
  }

  private answerError(id: number, reason: string): void {
    if (this.closed) return;
    writeErrorFrame(this.writer, id, reason);
    this.markDirty();
  }

  private markDirty(): void {
    if (this.dirty) return;
    this.dirty = true;
    if (!this.reading) this.context.schedule(this);
  }

  /** The stream lost its framing or its peer failed the handshake: says why in an error frame with id 0, then closes. */
  private end(event: PortBoundEvent, reason: string): void {
    this.context.counters.hit(event);
    this.context.warn(`closing the connection from ${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}: ${reason}`);
    writeErrorFrame(this.writer, 0, reason);
    this.flush();
    this.closed = true;
    this.socket.end();
    // A peer that does not read its error frame must not hold the connection open.
    this.socket.setTimeout(Math.min(1000, this.context.limits.idleTimeoutMs), () => this.socket.destroy());
  }

  /** A bound triggered: counts it and closes the connection at once (the peer is not waiting for a reason). */
  private close(event: PortBoundEvent, reason: string): void {
    if (this.closed) return;
    this.context.counters.hit(event);
    // An idle connection closing is routine (a peer that went quiet); the others say something is wrong.
    if (event !== 'idle_timeout')
      this.context.warn(`closing the connection from ${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}: ${reason}`);
    this.destroy();
  }
}
