/**
 * A deterministic, seeded network between simulated processes, in the manner of FoundationDB's
 * `sim2` and hashicorp/memberlist's `MockNetwork`: requests and responses are messages that each
 * take a sampled one-way delay on the shared virtual timeline, and tests inject the faults real
 * networks have (loss, partitions, crashed and slow nodes, clogged links).
 *
 * Every decision (delay, loss) draws from the one `Rng` given, in the order events run, so one
 * seed replays the same trace of deliveries exactly.
 */
import { NodeUnavailableError } from '@dkv/core';
import type {
  Node,
  NodeClient,
  RequestOptions,
  ResponseFor,
  Rng,
  Scheduler,
  StorageRequest,
  StorageRequestHandler,
  StorageResponse,
} from '@dkv/core';

/** A one-way delay range in virtual milliseconds, both ends included; delays are whole milliseconds. */
export interface LatencyRange {
  readonly min: number;
  readonly max: number;
}

/** Options of a {@link SimulatedNetwork}. */
export interface SimulatedNetworkOptions {
  /** The shared timeline; usually a `SimulatedScheduler`. */
  readonly scheduler: Scheduler & { now(): number };
  /** Draws every delay and loss; give it its own fork (`rng.fork('network')`). */
  readonly rng: Rng;
  /** The one-way delay of every message, unless a node has its own ({@link SimulatedNetwork.setLatency}). */
  readonly latencyMs: LatencyRange;
  /** The probability that any one message is lost. Default 0. */
  readonly lossRate?: number;
  /** Messages on the wire or held by a clog at once; beyond it new messages are dropped. Default 100,000. */
  readonly maxInFlightMessages?: number;
  /** Trace entries kept (the most recent ones). Default 10,000; 0 turns tracing off. */
  readonly traceLimit?: number;
}

/** Counters since the network was created. `sent` = `delivered` + `dropped` + messages still in flight. */
export interface NetworkStats {
  /** Messages put on the wire: requests and responses. */
  readonly sent: number;
  /** Messages that reached their destination process. */
  readonly delivered: number;
  /** Messages lost, cut by a partition, addressed to or from a crashed process, or over the in-flight bound. */
  readonly dropped: number;
  /** Messages on the wire or held by a clog now. */
  readonly inFlight: number;
  /** Calls to `send` that put a request on the wire. */
  readonly requests: number;
  /** Calls that ended with a `timeout` NodeUnavailableError. */
  readonly timeouts: number;
}

/** Why a message was dropped. */
export type DropReason = 'loss' | 'partition' | 'crashed' | 'overflow';

/** One step in the life of a message, for determinism checks and for reading a failing run. */
export interface NetworkTraceEntry {
  readonly atMs: number;
  readonly event: 'send' | 'deliver' | 'drop' | 'hold';
  readonly messageId: number;
  readonly from: string;
  readonly to: string;
  readonly kind: 'request' | 'response';
  readonly type: StorageRequest['type'];
  readonly reason?: DropReason;
}

interface Message {
  readonly id: number;
  readonly from: string;
  readonly to: string;
  readonly kind: 'request' | 'response';
  readonly type: StorageRequest['type'];
  readonly deliver: () => void;
}

/** A handler's reply as it travels back: the response, or the message of the error the handler threw. */
type Reply = { readonly ok: true; readonly response: StorageResponse } | { readonly ok: false; readonly error: string };

/** A call in flight, so that `close()` can fail it. */
interface PendingCall {
  fail(detail: string): void;
}

/** What one client returned by `clientFor` remembers. */
interface ClientState {
  closed: boolean;
  readonly pending: Set<PendingCall>;
}

/**
 * The request as it leaves the sender: a PUT's bytes are copied, as serialization would, so a
 * sender that reuses its buffer after `send` cannot change what the replica stores (the NodeClient
 * contract checks this). Responses are delivered as the handler returned them, uncopied: records
 * are immutable values, and receivers must not write into them.
 */
function snapshot<R extends StorageRequest>(request: R): R {
  if (request.type !== 'PUT') return request;
  return { ...request, record: { ...request.record, value: new Uint8Array(request.record.value) } };
}

function linkKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

function checkRange(range: LatencyRange): LatencyRange {
  if (!(range.min >= 0) || !(range.max >= range.min) || !Number.isFinite(range.max)) {
    throw new RangeError(`latency range must have 0 <= min <= max, finite; got ${JSON.stringify(range)}`);
  }
  return range;
}

function checkRate(rate: number): number {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`loss rate must be in [0, 1], got ${String(rate)}`);
  return rate;
}

/**
 * Processes are named by id: storage nodes register a {@link StorageRequestHandler}; any process
 * (a coordinator, a test's `client`) sends through {@link SimulatedNetwork.clientFor}. Faults apply
 * between process ids, so a partition can separate a coordinator from some replicas.
 *
 * Fault checks happen when a message leaves and again when it arrives: a partition or crash that
 * begins while a message is in flight drops it. A crashed process neither receives nor sends.
 */
export class SimulatedNetwork {
  private readonly scheduler: Scheduler & { now(): number };
  private readonly rng: Rng;
  private readonly maxInFlightMessages: number;
  private readonly traceLimit: number;
  private readonly handlers = new Map<string, StorageRequestHandler>();
  private readonly crashed = new Set<string>();
  private readonly clogged = new Set<string>();
  private readonly cutLinks = new Set<string>();
  private readonly nodeLatency = new Map<string, LatencyRange>();
  private latencyMs: LatencyRange;
  private lossRate: number;
  private held: Message[] = [];
  private readonly traceEntries: NetworkTraceEntry[] = [];
  private nextMessageId = 0;
  private counters = { sent: 0, delivered: 0, dropped: 0, inFlight: 0, requests: 0, timeouts: 0 };

  constructor(options: SimulatedNetworkOptions) {
    this.scheduler = options.scheduler;
    this.rng = options.rng;
    this.latencyMs = checkRange(options.latencyMs);
    this.lossRate = checkRate(options.lossRate ?? 0);
    this.maxInFlightMessages = options.maxInFlightMessages ?? 100_000;
    this.traceLimit = options.traceLimit ?? 10_000;
  }

  /**
   * Starts (or restarts, replacing its handler) the process `nodeId`: it is up from now on, even
   * if it was crashed. The handler's answers are delivered as returned, not copied: records are
   * immutable values.
   */
  register(nodeId: string, handler: StorageRequestHandler): void {
    this.handlers.set(nodeId, handler);
    this.crashed.delete(nodeId);
  }

  /** True when `nodeId` has ever been registered (crashed or not). */
  isRegistered(nodeId: string): boolean {
    return this.handlers.has(nodeId);
  }

  /**
   * The `NodeClient` of the process `sourceId`: what it sends goes out from that id. Each `send`
   * settles exactly once: with the handler's response; with a `timeout` NodeUnavailableError at
   * exactly `timeoutMs` of virtual time when the request or response was lost, cut or held, or
   * the target is crashed; with `remote` when the handler threw; with `unreachable` at once for an
   * id never registered; with `closed` after `close()` (calls in flight fail with it at once).
   */
  clientFor(sourceId: string): NodeClient {
    const client: ClientState = { closed: false, pending: new Set() };
    return {
      send: <R extends StorageRequest>(target: Node, request: R, options: RequestOptions) =>
        this.send(sourceId, client, target, request, options),
      close: () => {
        client.closed = true;
        for (const call of [...client.pending]) call.fail('the client was closed while the request was in flight');
        return Promise.resolve();
      },
    };
  }

  /** Cuts every link between a process of `groupA` and one of `groupB`, both ways, until {@link heal}. */
  partition(groupA: readonly string[], groupB: readonly string[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        if (a === b) continue;
        this.cutLinks.add(linkKey(a, b));
        this.cutLinks.add(linkKey(b, a));
      }
    }
  }

  /** Removes every partition. Messages already dropped stay dropped. */
  heal(): void {
    this.cutLinks.clear();
  }

  /** Stops `nodeId`: it receives nothing and sends nothing, so requests to it time out. */
  crash(nodeId: string): void {
    this.crashed.add(nodeId);
  }

  /** Brings a crashed `nodeId` back, with a new handler (a restarted process) or its old one. */
  recover(nodeId: string, handler?: StorageRequestHandler): void {
    if (handler !== undefined) this.handlers.set(nodeId, handler);
    else if (!this.handlers.has(nodeId)) throw new Error(`cannot recover ${nodeId}: it was never registered and no handler was given`);
    this.crashed.delete(nodeId);
  }

  /** Whether `nodeId` is crashed now. */
  isCrashed(nodeId: string): boolean {
    return this.crashed.has(nodeId);
  }

  /**
   * Gives messages to and from `nodeId` their own delay range (a slow node); null restores the
   * default. When both ends have one, each bound is the larger of the two.
   */
  setLatency(nodeId: string, latencyMs: LatencyRange | null): void {
    if (latencyMs === null) this.nodeLatency.delete(nodeId);
    else this.nodeLatency.set(nodeId, checkRange(latencyMs));
  }

  /** Changes the default delay range of every message sent from now on. */
  setDefaultLatency(latencyMs: LatencyRange): void {
    this.latencyMs = checkRange(latencyMs);
  }

  /** Changes the probability that any one message sent from now on is lost. */
  setLoss(rate: number): void {
    this.lossRate = checkRate(rate);
  }

  /**
   * Holds every message to or from `nodeId` that arrives while it is clogged, until
   * {@link unclog}; callers still time out meanwhile. Unlike a partition nothing is lost.
   */
  clog(nodeId: string): void {
    this.clogged.add(nodeId);
  }

  /** Releases `nodeId`'s clog: each held message whose ends are both unclogged leaves again with a fresh delay, in arrival order. */
  unclog(nodeId: string): void {
    this.clogged.delete(nodeId);
    const stillHeld: Message[] = [];
    for (const message of this.held) {
      if (this.isClogged(message)) stillHeld.push(message);
      else this.scheduler.after(this.sampleDelay(message.from, message.to), () => this.arrive(message));
    }
    this.held = stillHeld;
  }

  /** The counters since creation; see {@link NetworkStats}. */
  stats(): NetworkStats {
    return { ...this.counters };
  }

  /** The most recent trace entries, oldest first (at most `traceLimit`). */
  trace(): readonly NetworkTraceEntry[] {
    return this.traceEntries.slice();
  }

  /**
   * One `send` of the client of `sourceId`; see {@link clientFor} for what it promises.
   */
  private send<R extends StorageRequest>(
    sourceId: string,
    client: ClientState,
    target: Node,
    request: R,
    options: RequestOptions,
  ): Promise<ResponseFor<R>> {
    return new Promise<ResponseFor<R>>((resolve, reject) => {
      if (client.closed) return reject(new NodeUnavailableError(target.id, 'closed', 'the client is closed'));
      if (!this.handlers.has(target.id))
        return reject(new NodeUnavailableError(target.id, 'unreachable', 'no process with this id is on the network'));
      const timeoutMs = options.timeoutMs;
      if (!(timeoutMs >= 0) || !Number.isFinite(timeoutMs))
        return reject(new RangeError(`timeoutMs must be finite and >= 0, got ${String(timeoutMs)}`));

      let settled = false;
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        client.pending.delete(call);
        settle();
      };
      const call: PendingCall = { fail: (detail) => finish(() => reject(new NodeUnavailableError(target.id, 'closed', detail))) };
      const timer = this.scheduler.after(timeoutMs, () => {
        this.counters.timeouts++;
        finish(() => reject(new NodeUnavailableError(target.id, 'timeout', `no answer within ${timeoutMs} ms`)));
      });
      client.pending.add(call);

      const onTheWire = snapshot(request);
      this.transmit(sourceId, target.id, 'request', request.type, () => {
        const reply = this.handle(target.id, onTheWire);
        this.transmit(target.id, sourceId, 'response', request.type, () => {
          if (reply.ok) finish(() => resolve(reply.response as ResponseFor<R>));
          else finish(() => reject(new NodeUnavailableError(target.id, 'remote', reply.error)));
        });
      });
    });
  }

  /** Runs the target's handler; a throw or a mismatched answer becomes a `remote` failure, as an HTTP 500 would. */
  private handle(nodeId: string, request: StorageRequest): Reply {
    const handler = this.handlers.get(nodeId);
    if (handler === undefined) return { ok: false, error: 'no handler' };
    try {
      const response = handler.handle(request);
      if (response.type !== request.type) return { ok: false, error: `answered ${response.type} to a ${request.type} request` };
      return { ok: true, response };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Puts a message on the wire: dropped now, or delivered (or dropped, or held) after a sampled delay. */
  private transmit(from: string, to: string, kind: 'request' | 'response', type: StorageRequest['type'], deliver: () => void): void {
    const message: Message = { id: this.nextMessageId++, from, to, kind, type, deliver };
    this.counters.sent++;
    if (kind === 'request') this.counters.requests++;
    this.record(message, 'send');
    const reason = this.dropReason(message) ?? this.lossOrOverflow();
    if (reason !== null) {
      this.drop(message, reason);
      return;
    }
    this.counters.inFlight++;
    this.scheduler.after(this.sampleDelay(from, to), () => this.arrive(message));
  }

  private arrive(message: Message): void {
    if (this.isClogged(message)) {
      this.held.push(message);
      this.record(message, 'hold');
      return;
    }
    this.counters.inFlight--;
    const reason = this.dropReason(message);
    if (reason !== null) {
      this.drop(message, reason);
      return;
    }
    this.counters.delivered++;
    this.record(message, 'deliver');
    message.deliver();
  }

  private dropReason(message: Message): DropReason | null {
    if (this.crashed.has(message.from) || this.crashed.has(message.to)) return 'crashed';
    if (this.cutLinks.has(linkKey(message.from, message.to))) return 'partition';
    return null;
  }

  private lossOrOverflow(): DropReason | null {
    // Draw for loss only when loss is on, so turning it on changes the stream, and off costs nothing.
    if (this.lossRate > 0 && this.rng.next() < this.lossRate) return 'loss';
    if (this.counters.inFlight >= this.maxInFlightMessages) return 'overflow';
    return null;
  }

  private drop(message: Message, reason: DropReason): void {
    this.counters.dropped++;
    this.record(message, 'drop', reason);
  }

  private isClogged(message: Message): boolean {
    return this.clogged.has(message.from) || this.clogged.has(message.to);
  }

  private sampleDelay(from: string, to: string): number {
    const fromRange = this.nodeLatency.get(from);
    const toRange = this.nodeLatency.get(to);
    let range = this.latencyMs;
    if (fromRange !== undefined && toRange !== undefined) {
      range = { min: Math.max(fromRange.min, toRange.min), max: Math.max(fromRange.max, toRange.max) };
    } else {
      range = fromRange ?? toRange ?? range;
    }
    const min = Math.ceil(range.min);
    const max = Math.max(min, Math.floor(range.max));
    return min + this.rng.int(max - min + 1);
  }

  private record(message: Message, event: NetworkTraceEntry['event'], reason?: DropReason): void {
    if (this.traceLimit <= 0) return;
    if (this.traceEntries.length >= this.traceLimit) this.traceEntries.shift();
    const base = {
      atMs: this.scheduler.now(),
      event,
      messageId: message.id,
      from: message.from,
      to: message.to,
      kind: message.kind,
      type: message.type,
    };
    this.traceEntries.push(reason === undefined ? base : { ...base, reason });
  }
}
