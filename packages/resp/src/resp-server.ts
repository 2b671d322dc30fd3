/**
 * The Redis door's server over node:net: connections, pipelining, ordering and bounds.
 *
 * - Replies leave in request order on each connection, even when pipelined commands finish out
 *   of order: each command takes a slot in the connection's reply queue when it is read, and
 *   slots are written from the head as they complete.
 * - Commands of one connection on the same key take effect in the order sent: a command waits for
 *   the commands before it on the same connection that touch any of its keys (per-key chains).
 *   Commands on different keys run concurrently.
 * - Bounds: commands on keys running at once across connections (`maxInFlight`), commands in
 *   flight per connection (`maxPipelined`) and reply bytes queued for a client
 *   (`maxQueuedReplyBytes`): at any of them, the server stops taking that connection's commands
 *   off the input and pauses its socket until a slot frees or replies drain; what was received stays unparsed, bounded by the
 *   socket's buffer. A client whose queued replies still pass `maxReplyBufferBytes` (what commands
 *   in flight add) is disconnected, as Redis's client-output-buffer-limit does. Connections
 *   (`maxConnections`, beyond: `-ERR max number of clients reached`), idle time (`idleTimeoutMs`),
 *   and every length the parser reads (see {@link RespParser}).
 * - A protocol error is answered (`-ERR Protocol error: ...`) after the replies before it, then
 *   the connection closes; nothing after it runs.
 */
import type { Authenticator } from '@dkv/auth';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import {
  accessRefusal,
  COMMANDS,
  errorReply,
  firstKey,
  startCommand,
  unknownCommand,
  wrongArity,
  type ClientSession,
  type CommandCall,
  type CommandSpec,
  type ServerContext,
} from './commands.js';
import { RespParser, RespProtocolError, type RespParserLimits } from './resp-parser.js';
import { reply, ReplyWriter, type RespProtocol, type RespReply } from './resp-reply.js';
import type { RespBackend } from './resp-backend.js';

/** How a Redis door is configured. */
export interface RespServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly backend: RespBackend;
  /** Epoch milliseconds now: the coordinator's clock, so TTLs agree with the store's. */
  readonly now?: () => number;
  /** Connections at once; one more is answered `-ERR max number of clients reached` and closed. */
  readonly maxConnections: number;
  /** A connection without traffic for this long is closed; 0 never closes one. */
  readonly idleTimeoutMs: number;
  /** Commands of one connection read and not yet answered, at most (pipelining depth). */
  readonly maxPipelined: number;
  /**
   * Commands on keys running at once across all connections, at most. Beyond it connections take
   * no more commands until one finishes (they wait their turn in order), so a burst from many
   * pipelining clients queues here instead of overrunning the bound on requests to each storage
   * node (where it would fail fast). Unbounded when absent.
   */
  readonly maxInFlight?: number;
  /** Reply bytes queued for one client beyond which no more of its commands are read until they drain. */
  readonly maxQueuedReplyBytes: number;
  /** Reply bytes queued for one client beyond which it is disconnected (it does not read its replies). */
  readonly maxReplyBufferBytes: number;
  /** Bounds of what one command may announce or contain. */
  readonly limits: RespParserLimits;
  /** Most keys one KEYS answers (above: refused, use SCAN). */
  readonly maxKeysReply: number;
  /** SCAN cursors kept for the clients to continue from, at most (oldest forgotten first). */
  readonly maxScanCursors?: number;
  /**
   * With authentication on (`--auth-file`): every connection must `AUTH` (or `HELLO ... AUTH`)
   * as a user of the file before other commands, is held to Redis's pre-auth request limits until
   * then, and runs writes only with a role of `readwrite` or more. Absent: open, as Redis without
   * a password.
   */
  readonly auth?: Authenticator;
  /** Told of what an operator may want to know (a client disconnected for a bound, a protocol error). */
  readonly log?: (message: string, fields: Record<string, unknown>) => void;
  /**
   * A command whose first bytes have arrived must be whole within this long, however slowly the
   * rest trickles (slowloris: the idle timeout never fires on a client that sends a byte now and
   * then); otherwise the connection is closed (`read_timeout`). Time the server itself holds the
   * input back (its own bounds) does not count. Absent or 0: no bound but the idle timeout.
   */
  readonly readTimeoutMs?: number;
  /**
   * TLS (`--tls-cert`, `--tls-key`): the door serves `rediss://` only; a client that does not
   * complete a TLS handshake within `handshakeTimeoutMs` (default 10 s) is dropped (`tls_refused`).
   */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly handshakeTimeoutMs?: number };
  /** Told each time a bound turns a client away, to count it (`dkv_port_bounds_total{port="resp"}`). */
  readonly onBound?: (event: RespBoundEvent) => void;
}

/** The bounds of the Redis door that close or refuse a connection (labels of `dkv_port_bounds_total`). */
export type RespBoundEvent = 'connection_refused' | 'idle_timeout' | 'read_timeout' | 'tls_refused';

/** A listening Redis door. */
export interface RunningRespServer {
  readonly port: number;
  /** `redis://host:port`. */
  readonly url: string;
  /** Connections open now. */
  connectionCount(): number;
  /** With TLS: replaces the certificate new connections get (a renewal, on SIGHUP). No-op without. */
  setSecureContext(options: { cert: Buffer; key: Buffer }): void;
  /** Stops listening and closes every connection (replies in flight are dropped). */
  close(): Promise<void>;
}

/** Starts a Redis door and resolves once it listens. */
export async function startRespServer(options: RespServerOptions): Promise<RunningRespServer> {
  const door = new RespDoor(options);
  return door.listen();
}

/** The server: listener, connections, and what commands may ask of it. */
class RespDoor {
  private readonly server: Server | TlsServer;
  private readonly connections = new Set<RespConnection>();
  private nextClientId = 1;
  private port = 0;
  private readonly startedAt: number;
  private readonly cursors = new Map<string, string>();
  private nextCursorId = 1;
  readonly context: ServerContext;
  readonly now: () => number;

  constructor(readonly options: RespServerOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.server =
      options.tls === undefined ? createServer({ noDelay: true }, (socket) => this.accept(socket)) : this.tlsServer(options.tls);
    const portOf = (): number => this.port;
    this.context = {
      backend: options.backend,
      now: this.now,
      get port() {
        return portOf();
      },
      startedAt: this.startedAt,
      connectedClients: () => this.connections.size,
      clients: () => [...this.connections].map((c) => c.session),
      config: {
        databases: '1',
        save: '',
        appendonly: 'no',
        maxmemory: '0',
        maxclients: String(options.maxConnections),
        timeout: String(Math.ceil(options.idleTimeoutMs / 1000)),
        'proto-max-bulk-len': String(options.limits.maxBulkBytes),
      },
      maxKeysReply: options.maxKeysReply,
      cursorId: (cursor) => this.cursorId(cursor),
      cursorOf: (id) => this.cursors.get(id) ?? null,
      auth: options.auth ?? null,
    };
  }

  async listen(): Promise<RunningRespServer> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.options.host, port: this.options.port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : this.options.port;
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return {
      port: this.port,
      url: `${this.options.tls === undefined ? 'redis' : 'rediss'}://${host}:${this.port}`,
      connectionCount: () => this.connections.size,
      setSecureContext: (context) => {
        if (this.options.tls !== undefined) (this.server as TlsServer).setSecureContext(context);
      },
      close: () => this.close(),
    };
  }

  /** Connections whose replies completed this turn, flushed together from one `setImmediate`. */
  private flushQueue: RespConnection[] = [];
  /** The queue being flushed, kept to be the next turn's queue (no array per turn). */
  private flushing: RespConnection[] = [];
  private flushQueued = false;

  /**
   * Queues `connection` to write its completed replies at the end of this event-loop turn (the
   * caller queues it once per turn): completions of one turn leave in one write per connection,
   * and all connections share one immediate instead of one each.
   */
  scheduleFlush(connection: RespConnection): void {
    this.flushQueue.push(connection);
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(this.flushAll);
  }

  private readonly flushAll = (): void => {
    this.flushQueued = false;
    const queue = this.flushQueue;
    this.flushQueue = this.flushing;
    this.flushing = queue;
    for (let i = 0; i < queue.length; i += 1) (queue[i] as RespConnection).flushTurn();
    queue.length = 0;
  };

  forget(connection: RespConnection): void {
    this.connections.delete(connection);
    const index = this.waiting.indexOf(connection);
    if (index >= 0) this.waiting.splice(index, 1);
  }

  /** Commands on keys running now, across connections. */
  private running = 0;
  /** Connections waiting for a slot under `maxInFlight`, in the order they asked (at most one entry each). */
  private readonly waiting: RespConnection[] = [];

  /** Takes a slot for a command on keys; false (and the connection is queued to be woken) at the bound. */
  acquire(connection: RespConnection): boolean {
    const max = this.options.maxInFlight;
    if (max !== undefined && this.running >= max) {
      if (!this.waiting.includes(connection)) this.waiting.push(connection);
      return false;
    }
    this.running += 1;
    return true;
  }

  /**
   * Gives a slot back and lets waiting connections go on, longest-waiting first, while slots are
   * free: one that cannot take it now (another of its bounds holds it) asks again when that clears.
   */
  release(): void {
    this.running -= 1;
    const max = this.options.maxInFlight ?? Infinity;
    while (this.running < max && this.waiting.length > 0) (this.waiting.shift() as RespConnection).wake();
  }

  /** The TLS listener: a client that fails the handshake (plaintext, or distrusting the certificate) is dropped and counted. */
  private tlsServer(tls: NonNullable<RespServerOptions['tls']>): TlsServer {
    const server = createTlsServer(
      { cert: tls.cert, key: tls.key, noDelay: true, handshakeTimeout: tls.handshakeTimeoutMs ?? 10_000 },
      (socket) => this.accept(socket),
    );
    server.on('tlsClientError', (_error, socket) => {
      this.options.onBound?.('tls_refused');
      socket.destroy();
    });
    return server;
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.options.maxConnections) {
      this.options.onBound?.('connection_refused');
      socket.on('error', () => undefined);
      socket.end('-ERR max number of clients reached\r\n');
      return;
    }
    const connection = new RespConnection(this, socket, this.nextClientId);
    this.nextClientId += 1;
    this.connections.add(connection);
  }

  /** A numeric cursor for SCAN standing for a backend cursor; the table is bounded (oldest forgotten). */
  private cursorId(cursor: string): string {
    const id = String(this.nextCursorId);
    this.nextCursorId += 1;
    this.cursors.set(id, cursor);
    const max = this.options.maxScanCursors ?? 100_000;
    while (this.cursors.size > max) {
      const oldest = this.cursors.keys().next().value as string;
      this.cursors.delete(oldest);
    }
    return id;
  }

  private async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const connection of this.connections) connection.destroy();
    await closed;
  }
}

/** `+OK\r\n`, the reply of nearly every write. */
const OK_BYTES = Buffer.from('+OK\r\n');

/** Replies up to this size leave as one buffer (copied together); larger ones as their parts, uncopied. */
const COALESCE_REPLY_BYTES = 64 * 1024;

/**
 * Writes a flush's reply parts in one write. A socket write of several buffers (cork, writes,
 * uncork) costs Node.js a write request per buffer and a writev; copying a few small parts into
 * one buffer costs less than that, so only large replies keep their parts (a stored value is then
 * not copied).
 */
function writeParts(socket: Socket, parts: readonly Buffer[]): void {
  if (parts.length === 1) {
    socket.write(parts[0] as Buffer);
    return;
  }
  let total = 0;
  for (const part of parts) total += part.length;
  if (total <= COALESCE_REPLY_BYTES) {
    socket.write(Buffer.concat(parts as Buffer[], total));
    return;
  }
  socket.cork();
  for (const part of parts) socket.write(part);
  socket.uncork();
}

/** Whether a command does work on the store (and so counts against the server-wide in-flight bound): one on keys, or a scan. */
function needsSlot(spec: CommandSpec | undefined): boolean {
  return spec !== undefined && (spec.flags.includes('readonly') || spec.flags.includes('write'));
}

/** A command's lower-case name, as the command table is keyed. GET and SET, nearly every command, are recognised without a string made. */
function nameOf(args: readonly Buffer[]): string {
  const name = args[0] as Buffer;
  if (name.length === 3) {
    // ASCII letters compare case-blind with bit 0x20 set.
    const a = (name[0] as number) | 0x20;
    if (((name[1] as number) | 0x20) === 101 && ((name[2] as number) | 0x20) === 116) {
      if (a === 103) return 'get';
      if (a === 115) return 'set';
    }
  }
  return name.toString('latin1').toLowerCase();
}

const NO_KEYS: readonly string[] = Object.freeze([]);
const NO_ARGS: readonly Buffer[] = Object.freeze([]);
const nothing = (): void => undefined;
/** The commands nearly every client sends, taken without a look-up in the table (both work on a key, so take a slot). */
const GET = COMMANDS.get as CommandSpec;
const SET = COMMANDS.set as CommandSpec;

/** One command's place in the reply queue. */
interface Slot {
  reply: RespReply | null;
  /** The protocol in force when the command was read (a HELLO later does not change this reply). */
  readonly protocol: RespProtocol;
  /** Close the connection once this reply is written (QUIT, a protocol error). */
  readonly closeAfter: boolean;
}

/** One client connection: its parser, session, reply queue and per-key chains. */
class RespConnection {
  readonly session: ClientSession;
  private readonly parser: RespParser;
  private readonly slots: Slot[] = [];
  /** The last command (of this connection) on each key, as a promise that settles when it has. */
  private readonly keyTails = new Map<string, Promise<void>>();
  /**
   * The key argument of the one command on a key in flight when it started alone (no other on
   * keys was), and the promise that settles when it has (null for a lone call, below): not in
   * {@link keyTails} until a later command on keys comes while it runs.
   */
  private loneKey: Buffer | null = null;
  private lone: Promise<void> | null = null;
  /**
   * A lone command that is one backend call (GET, SET: nearly every command of a client that
   * waits for each reply), its arguments and slot while it runs. It is started with this
   * connection's own two handlers on the backend's promise, so the door makes no promise and no
   * closure for it: the `.then` that takes the backend's answer is the only one.
   */
  private loneCall: CommandCall | null = null;
  private loneCallArgs: readonly Buffer[] = NO_ARGS;
  private loneCallSlot: Slot | null = null;
  /**
   * Made only when a later command must wait for the lone call (see {@link nameLone}): the
   * promise it waits on, in {@link keyTails} under `loneCallTailKey`, opened when the call is done.
   */
  private loneCallTail: Promise<void> | null = null;
  private loneCallTailKey = '';
  private openLoneCallTail: () => void = nothing;
  private readonly writer = new ReplyWriter();
  /** The header of the last stored value written alone, kept for the next of the same length (values of one size are the common load). */
  private bulkHeader: Buffer = OK_BYTES;
  private bulkHeaderLength = -1;
  /**
   * The buffer the last stored value written alone was made in, header and CRLF in place, for the
   * next of the same length. Kept only when the socket took it whole at once (nothing queued after
   * the write: the kernel has the bytes and Node holds no reference to it), so that filling it
   * again cannot change bytes still to be sent; it saves a buffer per GET.
   */
  private soleBuffer: Buffer | null = null;
  private closing = false;
  private paused = false;
  /** A command read but not started: it waits for a slot under the server-wide in-flight bound. */
  private stalled: Buffer[] | null = null;
  private flushScheduled = false;
  /** Armed while a command has begun to arrive and is not whole (see `readTimeoutMs`). */
  private readDeadline: NodeJS.Timeout | null = null;

  constructor(
    private readonly door: RespDoor,
    private readonly socket: Socket,
    id: number,
  ) {
    this.parser = new RespParser(door.options.limits);
    this.session = {
      id,
      address: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
      localAddress: `${socket.localAddress ?? ''}:${socket.localPort ?? 0}`,
      connectedAt: door.now(),
      protocol: 2,
      name: null,
      libName: null,
      libVersion: null,
      closeAfterReply: false,
      user: null,
    };
    this.parser.unauthenticated = door.context.auth !== null;
    socket.on('data', (chunk: Buffer) => {
      this.parser.feed(chunk);
      this.pump();
    });
    socket.on('drain', () => this.pump());
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closing = true;
      this.clearReadDeadline();
      door.forget(this);
    });
    if (door.options.idleTimeoutMs > 0) {
      socket.setTimeout(door.options.idleTimeoutMs, () => {
        door.options.onBound?.('idle_timeout');
        socket.destroy();
      });
    }
  }

  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  /** Takes commands off the input while the bounds allow, then writes what is ready. */
  private pump(): void {
    const { maxPipelined, maxQueuedReplyBytes } = this.door.options;
    while (!this.closing) {
      if (this.slots.length >= maxPipelined || this.socket.writableLength >= maxQueuedReplyBytes) {
        this.pause();
        break;
      }
      let args: Buffer[] | null = this.stalled;
      if (args !== null) {
        // A command read earlier that waited for a slot under the server-wide bound.
        if (!this.door.acquire(this)) {
          this.pause();
          break;
        }
        this.stalled = null;
        const name = nameOf(args);
        this.dispatch(args, name, COMMANDS[name], true);
        continue;
      }
      try {
        // Held to the pre-auth limits until this connection has a user (an AUTH just dispatched counts).
        if (this.door.context.auth !== null) this.parser.unauthenticated = this.session.user === null;
        args = this.parser.next();
      } catch (error) {
        if (!(error instanceof RespProtocolError)) throw error;
        this.door.options.log?.('redis client sent a malformed request; closing it', {
          client: this.session.address,
          error: error.message,
        });
        this.closing = true;
        this.slots.push({ reply: reply.error(`ERR ${error.message}`), protocol: this.session.protocol, closeAfter: true });
        break;
      }
      if (args === null) {
        this.resume();
        if (this.parser.bufferedBytes > 0) this.armReadDeadline();
        break;
      }
      this.clearReadDeadline();
      try {
        const name = nameOf(args);
        const spec = name === 'get' ? GET : name === 'set' ? SET : COMMANDS[name];
        const slotted = spec === GET || spec === SET || needsSlot(spec);
        if (slotted && !this.door.acquire(this)) {
          this.stalled = args;
          this.pause();
          break;
        }
        this.dispatch(args, name, spec, slotted);
      } catch (error) {
        // A bug must cost this connection at most, never the process.
        this.door.options.log?.('redis command failed unexpectedly; closing the connection', {
          client: this.session.address,
          error: error instanceof Error ? error.message : String(error),
        });
        this.closing = true;
        this.slots.push({ reply: reply.error('ERR internal error'), protocol: this.session.protocol, closeAfter: true });
        break;
      }
    }
    this.flush();
  }

  private pause(): void {
    // Input the server holds back is not the client's delay.
    this.clearReadDeadline();
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  /** Starts the clock on a command that has begun to arrive, unless it runs already. */
  private armReadDeadline(): void {
    const timeoutMs = this.door.options.readTimeoutMs ?? 0;
    if (timeoutMs <= 0 || this.readDeadline !== null) return;
    this.readDeadline = setTimeout(() => {
      this.readDeadline = null;
      if (this.closing || this.paused || this.parser.bufferedBytes === 0) return;
      this.door.options.onBound?.('read_timeout');
      this.door.options.log?.('redis client did not send a whole command in time; closing it', {
        client: this.session.address,
        timeoutMs,
        bufferedBytes: this.parser.bufferedBytes,
      });
      this.destroy();
    }, timeoutMs);
    this.readDeadline.unref();
  }

  private clearReadDeadline(): void {
    if (this.readDeadline === null) return;
    clearTimeout(this.readDeadline);
    this.readDeadline = null;
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  /** Called by the server when a slot under its in-flight bound is free for this connection. */
  wake(): void {
    if (!this.closing) this.pump();
  }

  /**
   * Gives `args` its slot and starts it, after the commands before it on the same keys.
   * `holdsSlot`: it took a slot under the server-wide bound, given back when it settles.
   */
  private dispatch(args: Buffer[], name: string, spec: CommandSpec | undefined, holdsSlot: boolean): void {
    const protocol = this.session.protocol;
    if (spec === undefined) {
      if (holdsSlot) this.door.release();
      this.slots.push({ reply: unknownCommand(args), protocol, closeAfter: false });
      return;
    }
    if ((spec.arity > 0 && args.length !== spec.arity) || args.length < -spec.arity) {
      if (holdsSlot) this.door.release();
      this.slots.push({ reply: wrongArity(name), protocol, closeAfter: false });
      return;
    }
    const refusal = accessRefusal(spec, name, this.session, this.door.context);
    if (refusal !== null) {
      if (holdsSlot) this.door.release();
      this.slots.push({ reply: refusal, protocol, closeAfter: false });
      return;
    }
    // One key (nearly every command): its name alone, without index and name arrays. And while no
    // other command of this connection on keys is in flight (always, for a client that waits for
    // each reply), it cannot wait for one: its key stays unnamed until a later command needs it.
    const single = spec.keys === firstKey;
    const keys = single ? NO_KEYS : spec.keys(args).map((i) => (args[i] as Buffer).toString('latin1'));
    const lone = single && this.loneKey === null && this.keyTails.size === 0;
    if (lone && holdsSlot && spec.call !== undefined && this.loneCallSlot === null) {
      this.startLoneCall(spec.call, args, protocol);
      return;
    }
    if (!lone && (single || keys.length > 0)) this.nameLone();
    const key = single && !lone ? (args[1] as Buffer).toString('latin1') : '';
    const tail = single && !lone ? this.keyTails.get(key) : undefined;
    const waitFor = single || keys.length === 0 ? null : this.waitsOf(keys);
    // A command that waits for none and is one backend call (GET, SET) awaits the backend's promise itself.
    const call = tail === undefined && waitFor === null ? spec.call : undefined;
    const result: RespReply | Promise<unknown> =
      call !== undefined
        ? startCommand(call.start, args, this.session, this.door.context)
        : tail !== undefined
          ? tail.then(() => startCommand(spec.run, args, this.session, this.door.context))
          : waitFor === null
            ? startCommand(spec.run, args, this.session, this.door.context)
            : Promise.all(waitFor).then(() => startCommand(spec.run, args, this.session, this.door.context));
    // A command changes session state (HELLO, QUIT) when it runs; commands without keys run at once, in order.
    const slot: Slot = {
      reply: null,
      protocol: name === 'hello' ? this.session.protocol : protocol,
      closeAfter: this.session.closeAfterReply,
    };
    if (slot.closeAfter) this.closing = true;
    this.slots.push(slot);
    if (!(result instanceof Promise)) {
      if (holdsSlot) this.door.release();
      slot.reply = result;
      return;
    }
    // What the command resolved to, or (`isReply`) the error reply it failed with.
    const settle = (value: unknown, isReply?: boolean): void => {
      slot.reply = call === undefined || isReply === true ? (value as RespReply) : call.answer(value, args);
      if (holdsSlot) this.door.release();
      // The command is done: its keys' chains end here unless a later command of this connection extended them.
      if (this.lone === settled) {
        this.lone = null;
        this.loneKey = null;
      } else if (single) {
        // A lone command's key was named when a later command arrived.
        const named = lone ? (args[1] as Buffer).toString('latin1') : key;
        if (this.keyTails.get(named) === settled) this.keyTails.delete(named);
      } else for (const k of keys) if (this.keyTails.get(k) === settled) this.keyTails.delete(k);
      this.replied();
    };
    const settled = result.then(settle, (error: unknown) => settle(errorReply(error), true));
    if (lone) {
      this.lone = settled;
      this.loneKey = args[1] as Buffer;
    } else if (single) this.keyTails.set(key, settled);
    else for (const k of keys) this.keyTails.set(k, settled);
  }

  /**
   * Starts a lone command that is one backend call (see {@link loneCall}); it holds a slot under
   * the server-wide bound. A failure while starting (a key that is not UTF-8) is its reply at once.
   */
  private startLoneCall(call: CommandCall, args: Buffer[], protocol: RespProtocol): void {
    const slot: Slot = { reply: null, protocol, closeAfter: this.session.closeAfterReply };
    if (slot.closeAfter) this.closing = true;
    this.slots.push(slot);
    let started: Promise<unknown>;
    try {
      started = call.start(args, this.session, this.door.context);
    } catch (error) {
      this.door.release();
      slot.reply = errorReply(error);
      return;
    }
    this.loneKey = args[1] as Buffer;
    this.loneCall = call;
    this.loneCallArgs = args;
    this.loneCallSlot = slot;
    started.then(this.loneCallAnswered, this.loneCallFailed);
  }

  private readonly loneCallAnswered = (value: unknown): void => {
    this.endLoneCall((this.loneCall as CommandCall).answer(value, this.loneCallArgs));
  };

  private readonly loneCallFailed = (error: unknown): void => {
    this.endLoneCall(errorReply(error));
  };

  /** The lone call is done with `answer`: its slot filled, its key's chain ended, its reply on its way. */
  private endLoneCall(answer: RespReply): void {
    const slot = this.loneCallSlot as Slot;
    this.loneCall = null;
    this.loneCallArgs = NO_ARGS;
    this.loneCallSlot = null;
    slot.reply = answer;
    this.door.release();
    const tail = this.loneCallTail;
    if (tail === null) this.loneKey = null;
    else {
      // Its key was named for a later command: that one may go on, and the chain ends here unless it extended it.
      this.loneCallTail = null;
      this.openLoneCallTail();
      this.openLoneCallTail = nothing;
      if (this.keyTails.get(this.loneCallTailKey) === tail) this.keyTails.delete(this.loneCallTailKey);
    }
    this.replied();
  }

  /**
   * A command's reply is ready. The connection's only command (a client that waits for each
   * reply): nothing of it could join this reply's write, so it leaves now rather than from the
   * end-of-turn flush.
   */
  private replied(): void {
    if (this.slots.length === 1 && !this.flushScheduled) this.flushTurn();
    else this.scheduleFlush();
  }

  /**
   * Puts the lone command's key in the per-key chains, for a command that must look there; a
   * lone call, which has no promise, gets one here for the commands that wait for it.
   */
  private nameLone(): void {
    if (this.loneKey === null) return;
    const key = this.loneKey.toString('latin1');
    if (this.lone !== null) this.keyTails.set(key, this.lone);
    else {
      const tail = new Promise<void>((resolve) => {
        this.openLoneCallTail = resolve;
      });
      this.loneCallTail = tail;
      this.loneCallTailKey = key;
      this.keyTails.set(key, tail);
    }
    this.lone = null;
    this.loneKey = null;
  }

  /** The tails of `keys`' chains that a new command must wait for; null when there are none (the common case). */
  private waitsOf(keys: readonly string[]): Promise<void>[] | null {
    let waits: Promise<void>[] | null = null;
    for (const key of keys) {
      const tail = this.keyTails.get(key);
      if (tail === undefined) continue;
      waits ??= [];
      if (!waits.includes(tail)) waits.push(tail);
    }
    return waits;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Completions of one event-loop turn leave in one write.
    this.door.scheduleFlush(this);
  }

  /**
   * The end of a turn in which replies completed: writes them, then reads on if a bound had
   * paused the input. Input not paused holds no whole command (the pump took every one), and new
   * input pumps by itself, so then there is nothing to read on.
   */
  flushTurn(): void {
    this.flushScheduled = false;
    this.flush();
    if (!this.closing && this.paused) this.pump();
  }

  /** Writes the replies ready at the head of the queue, in order. */
  private flush(): void {
    const head = this.slots[0];
    // Nothing ready to write (a command just read, in flight): the replies queued cannot have grown either.
    if (head === undefined || head.reply === null) return;
    // One reply ready alone (a client that waits for each reply): OK and a stored value are made here in one buffer.
    if (!head.closeAfter && (this.slots.length === 1 || (this.slots[1] as Slot).reply === null)) {
      const bytes = this.soleReply(head.reply);
      if (bytes !== null) {
        this.slots.shift();
        if (!this.socket.destroyed) {
          this.socket.write(bytes);
          if (bytes !== OK_BYTES && this.socket.writableLength === 0) this.soleBuffer = bytes;
        }
        this.boundReplyBuffer();
        return;
      }
    }
    let closeNow = false;
    while (this.slots.length > 0 && (this.slots[0] as Slot).reply !== null) {
      const slot = this.slots.shift() as Slot;
      this.writer.write(slot.reply as RespReply, slot.protocol);
      if (slot.closeAfter) {
        closeNow = true;
        break;
      }
    }
    const parts = this.writer.take();
    if (parts.length > 0 && !this.socket.destroyed) writeParts(this.socket, parts);
    if (closeNow) {
      this.slots.length = 0;
      this.socket.end();
      return;
    }
    this.boundReplyBuffer();
  }

  /**
   * The bytes of `value` when it is OK or a stored value of up to {@link COALESCE_REPLY_BYTES},
   * the replies nearly every command has (the same in RESP2 and RESP3): one buffer, without the
   * writer's parts and their join. Null for any other reply.
   */
  private soleReply(value: RespReply): Buffer | null {
    if (value === reply.ok) return OK_BYTES;
    if (value.type !== 'bulk' || typeof value.value === 'string' || value.value.byteLength > COALESCE_REPLY_BYTES) return null;
    const bytes = value.value;
    if (this.bulkHeaderLength !== bytes.byteLength) {
      this.bulkHeader = Buffer.from(`$${bytes.byteLength}\r\n`);
      this.bulkHeaderLength = bytes.byteLength;
    }
    const header = this.bulkHeader;
    const size = header.length + bytes.byteLength + 2;
    const kept = this.soleBuffer;
    this.soleBuffer = null;
    // The same size is the same value length, so the same header: only the value changes.
    if (kept !== null && kept.length === size) {
      kept.set(bytes, header.length);
      return kept;
    }
    const out = Buffer.allocUnsafe(size);
    out.set(header, 0);
    out.set(bytes, header.length);
    out[out.length - 2] = 13;
    out[out.length - 1] = 10;
    return out;
  }

  /** Disconnects a client whose queued replies pass `maxReplyBufferBytes` (it does not read them). */
  private boundReplyBuffer(): void {
    if (this.socket.writableLength > this.door.options.maxReplyBufferBytes) {
      this.door.options.log?.('redis client does not read its replies; disconnecting it', {
        client: this.session.address,
        queuedBytes: this.socket.writableLength,
      });
      this.destroy();
    }
  }
}
