import {
  failSoon,
  isReplicaFullRefusal,
  NodeUnavailableError,
  sendTo,
  type Clock,
  type Node,
  type NodeClient,
  type ReplyTo,
  type RequestOptions,
  type ResponseFor,
  type StorageRequest,
} from '@dkv/core';

/** When {@link CircuitBreakingNodeClient} stops sending to a node, and for how long. */
export interface CircuitBreakerOptions {
  /** Consecutive failures (any kind, but a replica's refusal of a new key for want of room) to one node after which its circuit opens. */
  readonly failureThreshold: number;
  /** How long an open circuit fails sends at once before one probe is let through. */
  readonly openMs: number;
}

type CircuitState = { kind: 'closed'; failures: number } | { kind: 'open'; until: number } | { kind: 'half-open' };

/**
 * A {@link NodeClient} decorator that stops sending to a node once it keeps failing: after
 * `failureThreshold` failures in a row its circuit opens and sends fail at once with kind
 * `unreachable` (nothing was sent, so a caller may count it as surely not applied) for `openMs`;
 * then one probe goes through (half-open), and its outcome closes or reopens the circuit.
 *
 * Why: a dead or overloaded node would otherwise cost every request a timeout's worth of waiting
 * and a socket's worth of work, and retries from many coordinators would keep it from recovering.
 * Heartbeats decide `down` for quorum planning; this reacts within one failure streak, per process.
 */
export class CircuitBreakingNodeClient implements NodeClient {
  private readonly circuits = new Map<string, CircuitState>();

  constructor(
    private readonly inner: NodeClient,
    private readonly options: CircuitBreakerOptions,
    private readonly clock: Clock,
  ) {
    if (!Number.isInteger(options.failureThreshold) || options.failureThreshold < 1) {
      throw new RangeError(`failureThreshold must be a whole number of at least 1, got ${String(options.failureThreshold)}`);
    }
    if (!(options.openMs > 0)) throw new RangeError(`openMs must be above 0, got ${String(options.openMs)}`);
  }

  /** The circuit of a node, for metrics and tests. */
  stateOf(nodeId: string): CircuitState['kind'] {
    const state = this.circuits.get(nodeId);
    if (state?.kind === 'open' && this.clock.now() >= state.until) return 'half-open';
    return state?.kind ?? 'closed';
  }

  /**
   * Sends through the inner client unless the node's circuit is open (or half-open with its probe
   * in flight): {@link sendTo} behind one promise.
   */
  send<R extends StorageRequest>(target: Node, request: R, options: RequestOptions): Promise<ResponseFor<R>> {
    return new Promise<ResponseFor<R>>((resolve, reject) => this.sendTo(target, request, options, { answered: resolve, failed: reject }));
  }

  /** As {@link send}, the outcome handed to `reply` through one object that sees it on the way (a {@link CircuitReply}). */
  sendTo<R extends StorageRequest>(target: Node, request: R, options: RequestOptions, reply: ReplyTo<ResponseFor<R>>): void {
    const refusal = this.circuitRefusal(target.id);
    if (refusal !== null) return failSoon(reply, refusal);
    sendTo(this.inner, target, request, options, new CircuitReply(this.outcomes, target.id, reply));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * Null when a send to `nodeId` may go (its circuit closed, or open long enough that this send
   * becomes the half-open probe); else the failure the send fails with at once.
   */
  private circuitRefusal(nodeId: string): NodeUnavailableError | null {
    // Every circuit closed (nearly always): no lookup.
    const state = this.circuits.size === 0 ? undefined : this.circuits.get(nodeId);
    if (state?.kind === 'open') {
      const now = this.clock.now();
      if (now < state.until)
        return new NodeUnavailableError(
          nodeId,
          'unreachable',
          `circuit open after repeated failures; retrying after ${state.until - now} ms`,
        );
      this.circuits.set(nodeId, { kind: 'half-open' });
    } else if (state?.kind === 'half-open') {
      return new NodeUnavailableError(nodeId, 'unreachable', 'circuit half-open: a probe is in flight');
    }
    return null;
  }

  /**
   * What a send's outcome does to its node's circuit: an answer closes it; a failure counts,
   * unless the replica refused a new key for want of room (it is up, and serves reads).
   */
  private readonly outcomes: CircuitOutcomes = {
    answered: (nodeId) => {
      if (this.circuits.size !== 0) this.circuits.delete(nodeId);
    },
    failed: (nodeId, error) => {
      if (!isReplicaFullRefusal(error)) this.recordFailure(nodeId);
      else if (this.circuits.size !== 0) this.circuits.delete(nodeId);
    },
  };

  private recordFailure(nodeId: string): void {
    const state = this.circuits.get(nodeId);
    const failures = state?.kind === 'closed' ? state.failures + 1 : state?.kind === 'half-open' ? this.options.failureThreshold : 1;
    if (failures >= this.options.failureThreshold)
      this.circuits.set(nodeId, { kind: 'open', until: this.clock.now() + this.options.openMs });
    else this.circuits.set(nodeId, { kind: 'closed', failures });
  }
}

/** What an outcome of a send to a node does to the breaker's circuits (one object per breaker). */
interface CircuitOutcomes {
  answered(nodeId: string): void;
  failed(nodeId: string, error: unknown): void;
}

/** One `sendTo` through the breaker: the outcome updates the node's circuit, then goes on to the caller's reply. */
class CircuitReply<A> implements ReplyTo<A> {
  constructor(
    private readonly outcomes: CircuitOutcomes,
    private readonly nodeId: string,
    private readonly reply: ReplyTo<A>,
  ) {}

  answered(answer: A): void {
    this.outcomes.answered(this.nodeId);
    this.reply.answered(answer);
  }

  failed(error: unknown): void {
    this.outcomes.failed(this.nodeId, error);
    this.reply.failed(error);
  }
}
