import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { internodeConnectOptions, type InternodeTls } from './internode-tls.js';
import {
  failSoon,
  NodeUnavailableError,
  type Node,
  type NodeClient,
  type ReplyTo,
  type RequestOptions,
  type ResponseFor,
  type Rng,
  type StorageRequest,
  type StorageResponse,
} from '@dkv/core';
import { describeError } from './handler.js';
import { DEFAULT_FRAME_LIMIT_BYTES } from './internal-routes.js';
import { clientProof, newNonce, NONCE_BYTES, PROOF_BYTES, proofsEqual, serverProof } from './internode-auth.js';
import { backoffDelayMs } from './retrying-node-client.js';
import { readErrorReason, readResponse, writeRequestFrame } from './tcp-codec.js';
import { DEFAULT_SLAB_BYTES, FrameKind, FrameReader, FrameWriter, ReadSlabs, TurnFlusher } from './tcp-frame.js';
import { readHandshakePayload, writeHandshakeFrame } from './tcp-handshake.js';
import { PendingTable } from './pending-table.js';

/** Options of {@link TcpNodeClient}; every bound has a default and can be changed. */
export interface TcpNodeClientOptions {
  /** Connections opened to each node; requests share them, many at once. Default 2. */
  readonly connectionsPerNode?: number;
  /**
   * Requests to one node in flight at once, those waiting for a connection included. Beyond it
   * a send fails at once with kind `overloaded`. Default 1024.
   */
  readonly maxInFlightPerNode?: number;
  /** The largest frame sent or read, length prefix included. Default {@link DEFAULT_FRAME_LIMIT_BYTES}. */
  readonly maxFrameBytes?: number;
  /** The first reconnect's delay after a connection fails, before jitter; it doubles per failure. Default 50. */
  readonly reconnectBaseDelayMs?: number;
  /** The cap on any reconnect delay, before jitter. Default 2000. */
  readonly reconnectMaxDelayMs?: number;
  /** How long a connection attempt may take before it counts as failed. Default 1000. */
  readonly connectTimeoutMs?: number;
  /**
   * Request bytes queued on one connection and not yet taken by the kernel (a node that stopped
   * reading). Over it, sends on that connection fail with kind `overloaded`: requests that timed
   * out free their in-flight slot but not their bytes, so this is what bounds them. Default 8 MiB.
   */
  readonly maxBufferedWriteBytes?: number;
  /** The randomness of the reconnect jitter. Default `Math.random`. */
  readonly rng?: Rng;
  /**
   * The cluster secret. When set, each connection proves it to the node and checks the node's
   * proof (the handshake of `tcp-handshake.ts`) before any request is written; a node that fails
   * is closed, and sends fail as `unreachable` (nothing was written). The handshake counts against
   * `connectTimeoutMs`. Null or absent: no handshake (the node must have no secret either).
   */
  readonly clusterSecret?: string | null;
  /**
   * Mutual TLS (`--tls-ca`): each connection is TLS, shows `cert` to the node and accepts only a
   * node whose certificate chains to `ca` and is valid for the node's host; the TLS handshake
   * runs under `connectTimeoutMs` too, before the cluster-secret handshake. Null or absent: plain TCP.
   */
  readonly tls?: InternodeTls | null;
}

type NumericOptions = Required<Omit<TcpNodeClientOptions, 'rng' | 'clusterSecret' | 'tls'>>;

/** The defaults of {@link TcpNodeClientOptions}, sized for a coordinator on a LAN. */
export const DEFAULT_TCP_NODE_CLIENT_OPTIONS: Readonly<NumericOptions> = {
  connectionsPerNode: 2,
  maxInFlightPerNode: 1024,
  maxFrameBytes: DEFAULT_FRAME_LIMIT_BYTES,
  reconnectBaseDelayMs: 50,
  reconnectMaxDelayMs: 2000,
  connectTimeoutMs: 1000,
  maxBufferedWriteBytes: 8 * 1024 * 1024,
};

const MATH_RNG: Rng = { next: () => Math.random(), int: (maxExclusive) => Math.floor(Math.random() * maxExclusive) };

/**
 * A {@link NodeClient} over the binary internode protocol (`tcp-frame.ts`, `tcp-codec.ts`) to
 * {@link TcpStorageServer}s; `target.address` is `host:port`.
 *
 * Each node gets `connectionsPerNode` connections, opened on the first send and kept for the
 * client's life. Requests carry ids, so many share a connection and are answered in any order;
 * the frames of one event-loop turn leave in one write. Each send settles with kind `timeout` at
 * `timeoutMs` (the deadlines of one timeout share one timer, see `DeadlineList`); an answer after
 * that is dropped.
 *
 * Failures are named by whether the node may have run the request. While a node's first
 * connection attempt is under way, sends wait for it; once a connection has failed and none is
 * up, sends fail at once as `unreachable` while connections are retried in the background, with
 * exponential backoff and jitter (and only while the node is still being asked for something:
 * a node nobody asked parks, and the next send waits on a fresh attempt, as on the first one).
 * A connection that dies fails the requests it carried: `remote` for those already written
 * (they may have run), `unreachable` for the others. An error frame or a bad answer is
 * `remote`; more than `maxInFlightPerNode` requests is `overloaded`; sends after `close()` are
 * `closed`. A failure caused by a refused or reset connection says so (`refused`): the node's
 * process is gone, which failure detection may act on at once.
 *
 * Memory is bounded: `maxInFlightPerNode` requests wait for answers, and `maxBufferedWriteBytes`
 * per connection wait to be written (a node that stops reading fills it). Nodes are kept
 * by address for the client's life (a cluster's addresses are few); a node nobody sends to stops
 * being reconnected after its next failed attempt.
 */
export class TcpNodeClient implements NodeClient {
  private readonly context: ClientContext;
  private readonly peers = new Map<string, Peer>();
  private closing: Promise<void> | null = null;

  constructor(options: TcpNodeClientOptions = {}) {
    const limits: NumericOptions = {
      connectionsPerNode: options.connectionsPerNode ?? DEFAULT_TCP_NODE_CLIENT_OPTIONS.connectionsPerNode,
      maxInFlightPerNode: options.maxInFlightPerNode ?? DEFAULT_TCP_NODE_CLIENT_OPTIONS.maxInFlightPerNode,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_TCP_NODE_CLIENT_OPTIONS.maxFrameBytes,
      reconnectBaseDelayMs: options.reconnectBaseDelayMs ?? DEFAULT_TCP_NODE_CLIENT_OPTIONS.reconnectBaseDelayMs,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? DEFAULT_TCP_NODE_CLIENT_OPTIONS.reconnectMaxDelayMs,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_TCP_NODE_CLIENT_OPTIONS.connectTimeoutMs,
      maxBufferedWriteBytes: options.maxBufferedWriteBytes ?? DEFAULT_TCP_NODE_CLIENT_OPTIONS.maxBufferedWriteBytes,
    };
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`TcpNodeClient option ${name} must be a positive whole number, got ${String(value)}`);
      }
    }
    if (limits.reconnectMaxDelayMs < limits.reconnectBaseDelayMs) {
      throw new RangeError(
        `reconnectMaxDelayMs (${limits.reconnectMaxDelayMs}) must be at least reconnectBaseDelayMs (${limits.reconnectBaseDelayMs})`,
      );
    }
    const secret = options.clusterSecret ?? null;
    if (secret !== null && secret.length === 0)
      throw new RangeError('TcpNodeClient option clusterSecret must not be empty (null turns the handshake off)');
    this.context = new ClientContext(limits, options.rng ?? MATH_RNG, secret, options.tls ?? null);
  }

  /** Sends one request to `target.address`; see the class comment for how each failure is named. */
  send<R extends StorageRequest>(target: Node, request: R, options: RequestOptions): Promise<ResponseFor<R>> {
    return this.enqueue(target, request, options, null) as Promise<ResponseFor<R>>;
  }

  /** As {@link send}, the outcome handed to `reply`: the frame's answer calls it straight from the socket's read. */
  sendTo<R extends StorageRequest>(target: Node, request: R, options: RequestOptions, reply: ReplyTo<ResponseFor<R>>): void {
    this.enqueue(target, request, options, reply as ReplyTo<StorageResponse>);
  }

  /** Queues `request` to its node; its outcome settles the promise returned, or goes to `reply` when there is one. */
  private enqueue(
    target: Node,
    request: StorageRequest,
    options: RequestOptions,
    reply: ReplyTo<StorageResponse> | null,
  ): Promise<StorageResponse> | undefined {
    if (this.context.closed) return refused(reply, new NodeUnavailableError(target.id, 'closed', 'the client is closed'));
    let peer = this.peers.get(target.address);
    if (peer === undefined) {
      const endpoint = parseAddress(target.address);
      if (endpoint === null) {
        return refused(reply, new NodeUnavailableError(target.id, 'unreachable', `address "${target.address}" is not host:port`));
      }
      peer = new Peer(this.context, endpoint.host, endpoint.port);
      this.peers.set(target.address, peer);
    }
    return peer.send(target.id, request, options.timeoutMs, reply);
  }

  /**
   * Fails the requests in flight with kind `closed`, stops reconnecting, closes every connection,
   * and resolves once they are closed. Calling it again is harmless.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.context.closed = true;
    const closed: Promise<void>[] = [];
    for (const peer of this.peers.values()) {
      for (const connection of peer.connections) closed.push(connection.shutdown());
    }
    this.context.stopDeadlines();
    this.closing = Promise.all(closed).then(() => undefined);
    return this.closing;
  }
}

/** What the client's connections share: limits, randomness, the per-turn flush and the requests' deadlines. */
class ClientContext {
  closed = false;
  private readonly flusher = new TurnFlusher<Connection>();
  /** The deadline lists by timeout; a list leaves the map when its timer finds it empty. */
  private readonly deadlines = new Map<number, DeadlineList>();

  constructor(
    readonly limits: Readonly<NumericOptions>,
    readonly rng: Rng,
    readonly secret: string | null,
    /** The mutual-TLS material of every connection; null: plain TCP. */
    readonly tls: InternodeTls | null,
  ) {}

  /** Queues `connection` to be written at the end of this event-loop turn. */
  schedule(connection: Connection): void {
    this.flusher.schedule(connection);
  }

  /** Starts `pending`'s deadline: it times out `pending.timeoutMs` from now unless released first. */
  track(pending: PendingRequest): void {
    // As setTimeout takes them: a negative or missing timeout is no wait at all.
    const timeoutMs = pending.timeoutMs > 0 ? pending.timeoutMs : 0;
    let list = this.deadlines.get(timeoutMs);
    if (list === undefined) {
      list = new DeadlineList(timeoutMs, this.deadlines);
      this.deadlines.set(timeoutMs, list);
    }
    list.add(pending);
  }

  /** Stops every deadline timer (the client is closing: its requests are failed as closed). */
  stopDeadlines(): void {
    for (const list of this.deadlines.values()) list.stop();
    this.deadlines.clear();
  }
}

/**
 * The deadlines of the requests sent with one timeout, in the order they were sent, which is the
 * order of their deadlines: a list linked through the requests themselves, and one timer for the
 * whole list, armed for the earliest deadline. A timer per request (setTimeout, then clearTimeout
 * on nearly every answer) cost a timer object and two timer-list updates per request; this costs
 * two links, and a timer that fires at most about once per timeout while requests flow. When the
 * list empties its timer is unref'd, so that it keeps no process alive that has nothing in flight.
 */
class DeadlineList {
  private head: PendingRequest | null = null;
  private tail: PendingRequest | null = null;
  private timer: NodeJS.Timeout | undefined = undefined;
  private refed = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly owner: Map<number, DeadlineList>,
  ) {}

  add(pending: PendingRequest): void {
    pending.deadlineAt = performance.now() + this.timeoutMs;
    pending.deadlines = this;
    pending.previous = this.tail;
    pending.next = null;
    if (this.tail === null) this.head = pending;
    else this.tail.next = pending;
    this.tail = pending;
    if (this.timer === undefined) {
      this.timer = setTimeout(this.expire, this.timeoutMs);
      this.refed = true;
    } else if (!this.refed) {
      this.timer.ref();
      this.refed = true;
    }
  }

  remove(pending: PendingRequest): void {
    if (pending.deadlines !== this) return;
    const { previous, next } = pending;
    if (previous === null) this.head = next;
    else previous.next = next;
    if (next === null) this.tail = previous;
    else next.previous = previous;
    pending.previous = null;
    pending.next = null;
    pending.deadlines = null;
    if (this.head === null && this.refed && this.timer !== undefined) {
      this.timer.unref();
      this.refed = false;
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Times out every request whose deadline has passed, then re-arms for the next one, or leaves the map. */
  private readonly expire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    while (this.head !== null && this.head.deadlineAt <= now) onRequestTimeout(this.head);
    if (this.head === null) {
      if (this.owner.get(this.timeoutMs) === this) this.owner.delete(this.timeoutMs);
      return;
    }
    this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(this.head.deadlineAt - now)));
    this.refed = true;
  };
}

/**
 * One request waiting for its answer. A class, so that every entry has the same shape; the table
 * of pending entries (a `PendingTable`) replaces the closures a request would otherwise need.
 */
class PendingRequest {
  /** Where the outcome goes: `reply` when the request came through `sendTo`, else its promise's settlers. */
  reply: ReplyTo<StorageResponse> | null = null;
  resolve: (response: StorageResponse) => void = noop;
  reject: (error: NodeUnavailableError) => void = noop;
  /** When it times out, on `performance.now()`'s clock. */
  deadlineAt = 0;
  /** The deadline list it is on (null once released), and its neighbours there. */
  deadlines: DeadlineList | null = null;
  previous: PendingRequest | null = null;
  next: PendingRequest | null = null;

  constructor(
    readonly id: number,
    readonly type: StorageRequest['type'],
    readonly nodeId: string,
    readonly connection: Connection,
    /** The connection's flush count when the frame was queued: it was written once that count grows. */
    readonly flushSeq: number,
    readonly timeoutMs: number,
  ) {}

  answer(response: StorageResponse): void {
    if (this.reply === null) this.resolve(response);
    else deliver(this.reply, true, response);
  }

  fail(error: NodeUnavailableError): void {
    if (this.reply === null) this.reject(error);
    else deliver(this.reply, false, error);
  }
}

/**
 * Hands an outcome to `reply`. A reply that throws is a bug of its caller's: raised as an
 * uncaught error (as an unhandled rejection would be for a promise's reaction), not taken for a
 * fault of the connection whose read called it, nor allowed to stop the failing of the requests
 * after it when a connection closes.
 */
function deliver(reply: ReplyTo<StorageResponse>, answered: boolean, outcome: StorageResponse | NodeUnavailableError): void {
  try {
    if (answered) reply.answered(outcome as StorageResponse);
    else reply.failed(outcome);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

function noop(): void {}

/** A send refused before anything was queued: a rejected promise, or (with `reply`) the failure handed to it soon. */
function refused(reply: ReplyTo<StorageResponse> | null, error: NodeUnavailableError): Promise<StorageResponse> | undefined {
  if (reply === null) return Promise.reject(error);
  failSoon(reply, error);
  return undefined;
}

// `new Promise(executor)` needs a function that receives resolve and reject; one shared function
// hands them over through these two slots instead of a closure per request. They are read right
// after the constructor returns, which calls the executor synchronously.
let capturedResolve: (response: StorageResponse) => void = noop;
let capturedReject: (error: NodeUnavailableError) => void = noop;
function captureSettlers(resolve: (response: StorageResponse) => void, reject: (error: NodeUnavailableError) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

function onRequestTimeout(pending: PendingRequest): void {
  if (!pending.connection.release(pending)) {
    pending.deadlines?.remove(pending);
    return;
  }
  pending.fail(new NodeUnavailableError(pending.nodeId, 'timeout', `no answer within ${pending.timeoutMs} ms`));
}

/** The connections to one node address, and the count of requests in flight to it. */
class Peer {
  readonly connections: Connection[] = [];
  inFlight = 0;
  /** Sends so far: a failed connection reconnects only if this has grown since it failed. */
  sends = 0;
  private current = 0;

  constructor(
    private readonly context: ClientContext,
    readonly host: string,
    readonly port: number,
  ) {
    for (let index = 0; index < context.limits.connectionsPerNode; index += 1) {
      this.connections.push(new Connection(context, this, index));
    }
  }

  send(
    nodeId: string,
    request: StorageRequest,
    timeoutMs: number,
    reply: ReplyTo<StorageResponse> | null,
  ): Promise<StorageResponse> | undefined {
    this.sends += 1;
    const limit = this.context.limits.maxInFlightPerNode;
    if (this.inFlight >= limit) {
      return refused(reply, new NodeUnavailableError(nodeId, 'overloaded', `${this.inFlight} requests in flight, the limit is ${limit}`));
    }
    let connection = this.pick();
    if (connection === null) {
      // Parked connections try again now; the request waits on that attempt (an old failure is no evidence).
      for (const parked of this.connections) parked.wake();
      connection = this.pick();
    }
    if (connection === null) {
      const reason = this.connections[0]?.lastError ?? 'not connected';
      const wasRefused = this.connections.some((connection) => isRefusal(connection.lastError));
      return refused(
        reply,
        new NodeUnavailableError(nodeId, 'unreachable', `not connected (${reason}); reconnecting in the background`, {
          refused: wasRefused,
        }),
      );
    }
    return connection.send(nodeId, request, timeoutMs, reply);
  }

  /** Moves on to the next connection, so that the turns alternate between connections. */
  rotate(index: number): void {
    if (this.current === index) this.current = (index + 1) % this.connections.length;
  }

  /**
   * A connection for the next request: the current one if it is up (all requests of one turn go
   * the same way, so they leave in one write), another one that is up, or one on an attempt that
   * sends wait on (the first, or one woken from parked); null when none is up and the node is
   * known unreachable.
   */
  private pick(): Connection | null {
    const count = this.connections.length;
    for (let step = 0; step < count; step += 1) {
      const index = (this.current + step) % count;
      const connection = this.connections[index] as Connection;
      if (connection.state === 'up') {
        this.current = index;
        return connection;
      }
    }
    for (const connection of this.connections) if (connection.state === 'connecting' && connection.awaited) return connection;
    return null;
  }
}

type ConnectionState = 'connecting' | 'up' | 'down' | 'parked' | 'closed';

/** One socket to a node, replaced by a new one on reconnect, and the requests it carries. */
class Connection {
  state: ConnectionState = 'down';
  /**
   * True while the attempt under way is one that sends wait on instead of failing: the first one,
   * and one woken from parked (nothing was tried for a while, so the last failure is old news).
   */
  awaited = true;
  lastError: string | null = null;
  private socket: Socket | null = null;
  private reader: FrameReader;
  /** Its slab is filled again from the start once the current socket has written all it was given. */
  private readonly writer = new FrameWriter(DEFAULT_SLAB_BYTES, () => this.socket !== null && this.socket.writableLength === 0);
  /** The memory its plain-TCP sockets read into, one socket after the other. */
  private readonly readSlabs = new ReadSlabs();
  private readonly pending = new PendingTable<PendingRequest>();
  private nextId = 0;
  private flushSeq = 0;
  private dirty = false;
  private failures = 0;
  private sendsAtFailure = 0;
  private reconnectTimer: NodeJS.Timeout | undefined = undefined;
  /** The reason the server gave (error frame with id 0) before it closed the connection. */
  private remoteReason: string | null = null;
  /** With a cluster secret: this connection's nonce while the handshake is under way; null otherwise. */
  private clientNonce: Buffer | null = null;

  constructor(
    private readonly context: ClientContext,
    private readonly peer: Peer,
    private readonly index: number,
  ) {
    this.reader = new FrameReader(context.limits.maxFrameBytes);
    this.open();
  }

  send(
    nodeId: string,
    request: StorageRequest,
    timeoutMs: number,
    reply: ReplyTo<StorageResponse> | null,
  ): Promise<StorageResponse> | undefined {
    const buffered = this.writer.pendingBytes + (this.socket?.writableLength ?? 0);
    const maxBuffered = this.context.limits.maxBufferedWriteBytes;
    if (buffered > maxBuffered) {
      return refused(
        reply,
        new NodeUnavailableError(nodeId, 'overloaded', `${buffered} bytes wait to be written to the node, the limit is ${maxBuffered}`),
      );
    }
    this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    const id = this.nextId;
    let bytes: number;
    try {
      bytes = writeRequestFrame(this.writer, id, request);
    } catch (error) {
      return refused(reply, new NodeUnavailableError(nodeId, 'remote', `the request could not be encoded: ${describeError(error)}`));
    }
    const maxFrameBytes = this.context.limits.maxFrameBytes;
    if (bytes > maxFrameBytes) {
      this.writer.pos -= bytes;
      return refused(
        reply,
        new NodeUnavailableError(nodeId, 'remote', `the request frame of ${bytes} bytes is over the limit of ${maxFrameBytes} bytes`),
      );
    }
    const pending = new PendingRequest(id, request.type, nodeId, this, this.flushSeq, timeoutMs);
    let promise: Promise<StorageResponse> | undefined;
    if (reply === null) {
      promise = new Promise<StorageResponse>(captureSettlers);
      pending.resolve = capturedResolve;
      pending.reject = capturedReject;
    } else {
      pending.reply = reply;
    }
    this.context.track(pending);
    this.pending.add(pending);
    this.peer.inFlight += 1;
    if (this.state === 'up' && !this.dirty) {
      this.dirty = true;
      this.context.schedule(this);
    }
    return promise;
  }

  /** Forgets `pending` if it still waits: true when it did, and the caller settles it. */
  release(pending: PendingRequest): boolean {
    if (!this.pending.delete(pending.id)) return false;
    this.peer.inFlight -= 1;
    pending.deadlines?.remove(pending);
    return true;
  }

  /** Writes the frames queued since the last flush, in one write. */
  flush(): void {
    this.dirty = false;
    const socket = this.socket;
    if (this.state !== 'up' || socket === null) return;
    const chunks = this.writer.take();
    if (chunks.length === 0) return;
    this.flushSeq += 1;
    this.peer.rotate(this.index);
    if (chunks.length === 1) {
      socket.write(chunks[0] as Buffer);
    } else {
      socket.cork();
      for (const chunk of chunks) socket.write(chunk);
      socket.uncork();
    }
  }

  /** Reconnects now if the connection was parked for want of use; sends wait on that attempt. */
  wake(): void {
    if (this.state !== 'parked') return;
    this.awaited = true;
    this.open();
  }

  /** Fails what is pending with kind `closed`, stops reconnecting, and closes the socket. */
  shutdown(): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.reconnectTimer);
    this.failAll(() => 'closed', 'the client closed during the request');
    const socket = this.socket;
    this.socket = null;
    if (socket === null || socket.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }

  private open(): void {
    this.reconnectTimer = undefined;
    this.state = 'connecting';
    this.remoteReason = null;
    this.clientNonce = null;
    this.reader = new FrameReader(this.context.limits.maxFrameBytes);
    const { host, port } = this.peer;
    const tls = this.context.tls;
    let socket: Socket;
    if (tls === null) {
      // Plain TCP reads straight into the client's slabs (`onread`), past the Readable stream.
      const slabs = this.readSlabs;
      socket = connect({
        host,
        port,
        noDelay: true,
        onread: {
          buffer: slabs.next,
          callback: (bytes: number, into: Uint8Array): boolean => {
            this.onData(socket, slabs.take(into, bytes));
            return true;
          },
        },
      });
    } else {
      // TLS sockets take no `onread`: their bytes come as 'data' events.
      socket = connectTls({ host, port, ...internodeConnectOptions(tls, host) }).setNoDelay(true);
      socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    }
    this.socket = socket;
    socket.setTimeout(this.context.limits.connectTimeoutMs);
    socket.on('timeout', () => socket.destroy(new Error(`no connection within ${this.context.limits.connectTimeoutMs} ms`)));
    // With TLS the connection is usable once the node's certificate has been checked.
    socket.on(tls === null ? 'connect' : 'secureConnect', () => this.onConnect(socket));
    socket.on('error', (error: Error & { code?: string }) => {
      if (socket === this.socket) this.lastError = error.code ?? describeError(error);
    });
    socket.on('close', () => this.onClose(socket));
  }

  private onConnect(socket: Socket): void {
    if (socket !== this.socket) return;
    const secret = this.context.secret;
    if (secret !== null) {
      // The handshake first (under the connect timeout still): requests wait in the writer.
      this.clientNonce = newNonce();
      const hello = new FrameWriter(64);
      writeHandshakeFrame(hello, FrameKind.HELLO, this.clientNonce);
      for (const chunk of hello.take()) socket.write(chunk);
      return;
    }
    this.becomeUp(socket);
  }

  /** Takes a frame of the cluster-secret handshake: answers the node's challenge, or opens on AUTH_OK. */
  private handshake(socket: Socket, reader: FrameReader): void {
    const secret = this.context.secret as string;
    const clientNonce = this.clientNonce as Buffer;
    if (reader.kind === FrameKind.ERROR) {
      this.remoteReason = `the node refused the cluster-secret handshake: ${safeErrorReason(reader)}`;
      socket.destroy();
      return;
    }
    if (reader.kind === FrameKind.CHALLENGE) {
      const payload = readHandshakePayload(reader, FrameKind.CHALLENGE, NONCE_BYTES + PROOF_BYTES);
      const serverNonce = payload.subarray(0, NONCE_BYTES);
      if (!proofsEqual(payload.subarray(NONCE_BYTES), serverProof(secret, clientNonce, serverNonce))) {
        throw new Error('the node failed to prove the cluster secret');
      }
      const auth = new FrameWriter(64);
      writeHandshakeFrame(auth, FrameKind.AUTH, clientProof(secret, clientNonce, serverNonce));
      for (const chunk of auth.take()) socket.write(chunk);
      return;
    }
    readHandshakePayload(reader, FrameKind.AUTH_OK, 0);
    this.clientNonce = null;
    this.becomeUp(socket);
  }

  private becomeUp(socket: Socket): void {
    socket.setTimeout(0);
    this.state = 'up';
    this.awaited = false;
    this.failures = 0;
    this.lastError = null;
    this.flush();
  }

  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    const reader = this.reader;
    reader.push(chunk);
    try {
      while (reader.next()) {
        if (this.clientNonce !== null) this.handshake(socket, reader);
        else this.dispatch(reader);
        if (socket !== this.socket || socket.destroyed) return;
      }
    } catch (error) {
      // Only the framing and the handshake throw here: the stream cannot be trusted any more.
      this.lastError = describeError(error);
      socket.destroy();
    }
  }

  /** Settles the request the current frame answers; frames for no pending request are late answers. */
  private dispatch(reader: FrameReader): void {
    const pending = this.pending.get(reader.id);
    if (pending === undefined) {
      if (reader.id === 0 && reader.kind === FrameKind.ERROR) this.remoteReason = safeErrorReason(reader);
      return;
    }
    this.release(pending);
    if (reader.kind === FrameKind.ERROR) {
      pending.fail(new NodeUnavailableError(pending.nodeId, 'remote', `the node answered an error: ${safeErrorReason(reader)}`));
      return;
    }
    let response: StorageResponse;
    try {
      response = readResponse(reader);
    } catch (error) {
      pending.fail(new NodeUnavailableError(pending.nodeId, 'remote', describeError(error)));
      return;
    }
    if (response.type !== pending.type) {
      pending.fail(
        new NodeUnavailableError(pending.nodeId, 'remote', `answered a ${pending.type} request with a ${response.type} response`),
      );
      return;
    }
    pending.answer(response);
  }

  private onClose(socket: Socket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    const wasUp = this.state === 'up';
    const reason = this.remoteReason ?? this.lastError ?? 'the connection closed';
    this.lastError = reason;
    this.writer.discard();
    const refused = isRefusal(reason);
    if (wasUp) {
      const written = this.flushSeq;
      this.failAll((pending) => (pending.flushSeq < written ? 'remote' : 'unreachable'), `the connection was lost (${reason})`, refused);
    } else {
      this.failAll(() => 'unreachable', `cannot connect (${reason})`, refused);
    }
    this.awaited = false;
    if (this.state === 'closed') return;
    this.state = 'down';
    this.failures += 1;
    this.sendsAtFailure = this.peer.sends;
    const delayMs = backoffDelayMs(
      Math.min(this.failures, 30),
      { maxAttempts: 1, baseDelayMs: this.context.limits.reconnectBaseDelayMs, maxDelayMs: this.context.limits.reconnectMaxDelayMs },
      this.context.rng,
    );
    this.reconnectTimer = setTimeout(() => this.reconnect(), delayMs);
    this.reconnectTimer.unref();
  }

  /** Reconnects, unless nobody has asked the node anything since the connection failed. */
  private reconnect(): void {
    this.reconnectTimer = undefined;
    if (this.state !== 'down') return;
    if (this.peer.sends === this.sendsAtFailure) {
      this.state = 'parked';
      return;
    }
    this.open();
  }

  private failAll(kindOf: (pending: PendingRequest) => 'remote' | 'unreachable' | 'closed', detail: string, refused = false): void {
    for (const pending of this.pending.values()) {
      this.release(pending);
      pending.fail(new NodeUnavailableError(pending.nodeId, kindOf(pending), detail, { refused }));
    }
  }
}

/**
 * Whether a socket failure says that nothing listens at the node's address any more: a refused
 * connection, or one the peer's kernel reset (a killed process's socket with unread data). A
 * timeout or a graceful close (an idle timeout, a server shutting a connection) is no such evidence.
 */
function isRefusal(reason: string | null): boolean {
  return reason === 'ECONNREFUSED' || reason === 'ECONNRESET';
}

function safeErrorReason(reader: FrameReader): string {
  try {
    return readErrorReason(reader);
  } catch (error) {
    return describeError(error);
  }
}

/** Splits `host:port` (or `[v6]:port`); null when it is not that. */
function parseAddress(address: string): { host: string; port: number } | null {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return null;
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  else if (host.includes(':')) return null;
  if (host.length === 0 || /[\s/?#@]/.test(host)) return null;
  return { host, port };
}
