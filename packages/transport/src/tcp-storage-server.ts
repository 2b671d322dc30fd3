import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { StorageRequest, StorageResponse } from '@dkv/core';
import { describeError, type MaybeAsyncStorageRequestHandler } from './handler.js';
import { DEFAULT_FRAME_LIMIT_BYTES } from './internal-routes.js';
import { readRequest, writeErrorFrame, writeResponseFrame } from './tcp-codec.js';
import { FrameReader, FrameWriter, TurnFlusher } from './tcp-frame.js';

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
   * Answer bytes queued on one socket and not yet taken by the kernel. Over it the server stops
   * reading that connection until the socket drains, so a client that does not read its answers
   * cannot make the server buffer without end. Default 4 MiB.
   */
  readonly maxBufferedWriteBytes?: number;
  /** Where the server reports a connection it closed and why. Default `console.warn`. */
  readonly onWarning?: (message: string) => void;
}

/** The defaults of {@link TcpStorageServerOptions}. */
export const DEFAULT_TCP_STORAGE_SERVER_OPTIONS: Readonly<Required<Omit<TcpStorageServerOptions, 'onWarning'>>> = {
  maxFrameBytes: DEFAULT_FRAME_LIMIT_BYTES,
  maxInFlightPerConnection: 1024,
  maxBufferedWriteBytes: 4 * 1024 * 1024,
};

/** What a connection needs from its server. */
interface ConnectionContext {
  readonly handler: MaybeAsyncStorageRequestHandler;
  readonly limits: Readonly<Required<Omit<TcpStorageServerOptions, 'onWarning'>>>;
  readonly warn: (message: string) => void;
  schedule(connection: ServerConnection): void;
  forget(connection: ServerConnection): void;
}

/**
 * The replica side of the binary internode protocol (`tcp-frame.ts`, `tcp-codec.ts`): serves
 * a {@link MaybeAsyncStorageRequestHandler} to {@link TcpNodeClient}s over `node:net`.
 *
 * Each frame is answered with the same request id, in order of completion, so a slow
 * asynchronous answer does not hold up the others. The answers of one event-loop turn go out in
 * one write per connection. A connection stops being read while it has
 * `maxInFlightPerConnection` unanswered requests or more than `maxBufferedWriteBytes` of answers
 * waiting for the kernel, and resumes when below. A request that is malformed but well framed is
 * answered by an error frame naming the field; a frame whose length is out of bounds ends its
 * connection, after an error frame with id 0 and a warning, and leaves the others untouched. A
 * handler that throws or rejects answers an error frame; nothing a peer sends can crash the server.
 */
export class TcpStorageServer {
  private readonly server: Server;
  private readonly connections = new Set<ServerConnection>();
  private readonly context: ConnectionContext;
  private readonly flusher = new TurnFlusher<ServerConnection>();
  private closing: Promise<void> | null = null;

  constructor(handler: MaybeAsyncStorageRequestHandler, options: TcpStorageServerOptions = {}) {
    const limits = {
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_TCP_STORAGE_SERVER_OPTIONS.maxFrameBytes,
      maxInFlightPerConnection: options.maxInFlightPerConnection ?? DEFAULT_TCP_STORAGE_SERVER_OPTIONS.maxInFlightPerConnection,
      maxBufferedWriteBytes: options.maxBufferedWriteBytes ?? DEFAULT_TCP_STORAGE_SERVER_OPTIONS.maxBufferedWriteBytes,
    };
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`TcpStorageServer option ${name} must be a positive whole number, got ${String(value)}`);
      }
    }
    const onWarning = options.onWarning ?? ((message: string) => console.warn(message));
    this.context = {
      handler,
      limits,
      warn: (message) => onWarning(`dkv tcp storage server: ${message}`),
      schedule: (connection) => this.flusher.schedule(connection),
      forget: (connection) => this.connections.delete(connection),
    };
    this.server = createServer((socket) => this.accept(socket));
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
      this.server.close(() => resolve());
      for (const connection of this.connections) connection.destroy();
      this.connections.clear();
    });
    return this.closing;
  }

  /**
   * Serves a socket accepted elsewhere, e.g. by {@link listenMultiplexed}, which shares one port
   * between this binary protocol and HTTP. Bytes already read from it must have been unshifted.
   */
  adopt(socket: Socket): void {
    this.accept(socket);
  }

  private accept(socket: Socket): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    this.connections.add(new ServerConnection(this.context, socket));
  }
}

/** One client's connection: reads frames, runs the handler, queues the answers. */
class ServerConnection {
  private readonly reader: FrameReader;
  private readonly writer = new FrameWriter();
  private inFlight = 0;
  private paused = false;
  private writeBlocked = false;
  private dirty = false;
  private closed = false;

  constructor(
    private readonly context: ConnectionContext,
    private readonly socket: Socket,
  ) {
    this.reader = new FrameReader(context.limits.maxFrameBytes);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.pump();
    });
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
  }

  /** Writes the answers queued since the last flush, in one write. */
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
    if (this.socket.writableLength > this.context.limits.maxBufferedWriteBytes) this.writeBlocked = true;
  }

  destroy(): void {
    this.closed = true;
    this.writer.discard();
    this.socket.destroy();
  }

  /** Serves the frames received until a bound is hit, then stops reading; resumes when below. */
  private pump(): void {
    const maxInFlight = this.context.limits.maxInFlightPerConnection;
    while (!this.closed) {
      if (this.inFlight >= maxInFlight || this.writeBlocked) {
        if (!this.paused) {
          this.paused = true;
          this.socket.pause();
        }
        return;
      }
      let more: boolean;
      try {
        more = this.reader.next();
      } catch (error) {
        this.end(describeError(error));
        return;
      }
      if (!more) break;
      this.serve();
    }
    if (this.paused && !this.closed) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private serve(): void {
    const id = this.reader.id;
    let request: StorageRequest;
    try {
      request = readRequest(this.reader);
    } catch (error) {
      this.answerError(id, describeError(error));
      return;
    }
    let result: StorageResponse | Promise<StorageResponse>;
    try {
      // The answer is encoded right below, before anything else runs: a GET may borrow the engine's bytes.
      const handler = this.context.handler;
      result = handler.handleBorrowed ? handler.handleBorrowed(request) : handler.handle(request);
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
    this.context.schedule(this);
  }

  /** The stream lost its framing: says why in an error frame with id 0, then closes. */
  private end(reason: string): void {
    this.context.warn(`closing the connection from ${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}: ${reason}`);
    writeErrorFrame(this.writer, 0, reason);
    this.flush();
    this.closed = true;
    this.socket.end();
  }
}
