import type { Clock, NodeClient, Rng, Scheduler } from '@dkv/core';
import { CircuitBreakingNodeClient, type CircuitBreakerOptions } from './circuit-breaking-node-client.js';
import { HttpNodeClient } from './http-node-client.js';
import type { InternodeTls } from './internode-tls.js';
import { RetryingNodeClient, type RetryOptions } from './retrying-node-client.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { CONTROL_CLIENT_BOUNDS, FRAME_OVERHEAD_BYTES, TCP_CONNECTIONS_PER_NODE_MAX } from './wire-limits.js';

/** The internode protocols a data client can speak. */
export type WireTransport = 'tcp' | 'http';

/** What a process's data client to the storage nodes is configured with (parsed once, at the edge). */
export interface WireStackSettings {
  /** The binary protocol (the default between processes) or HTTP. */
  readonly transport: WireTransport;
  /** Connections to each node, at most (over TCP capped at {@link TCP_CONNECTIONS_PER_NODE_MAX}). */
  readonly connectionsPerNode: number;
  /** Requests to one node in flight or queued; more fail fast. */
  readonly maxInFlightPerNode: number;
  /** The largest value a request carries: frames are sized from it (plus {@link FRAME_OVERHEAD_BYTES}). */
  readonly maxValueBytes: number;
  /** Retries of what surely did not run, within each request's deadline. */
  readonly nodeRetry: RetryOptions;
  /** Failures in a row after which sends to a node fail fast, and for how long. */
  readonly circuitBreaker: CircuitBreakerOptions;
  /** The cluster secret proved to every peer; null: none. */
  readonly clusterSecret: string | null;
  /**
   * Mutual TLS to every node (`--tls-ca`): the process shows its certificate and accepts only nodes
   * whose certificate chains to the CA. Null or absent: plain TCP (or http).
   */
  readonly tls?: InternodeTls | null;
}

/** Time, timers and randomness the retries and the circuit breaker run on. */
export interface WireStackPorts {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
}

/**
 * The wire adapter of a data client: `TcpNodeClient` or `HttpNodeClient`, sized by `settings`.
 * The composition roots bind it on its own, so a test can swap it for an in-memory or simulated
 * adapter and keep the decorators of {@link createWireStack} around it.
 */
export function createWireClient(settings: Omit<WireStackSettings, 'nodeRetry' | 'circuitBreaker'>): NodeClient {
  const maxFrameBytes = settings.maxValueBytes + FRAME_OVERHEAD_BYTES;
  return settings.transport === 'tcp'
    ? new TcpNodeClient({
        connectionsPerNode: Math.min(settings.connectionsPerNode, TCP_CONNECTIONS_PER_NODE_MAX),
        maxInFlightPerNode: settings.maxInFlightPerNode,
        maxFrameBytes,
        clusterSecret: settings.clusterSecret,
        tls: settings.tls ?? null,
      })
    : new HttpNodeClient({
        connectionsPerNode: settings.connectionsPerNode,
        maxInFlightPerNode: settings.maxInFlightPerNode,
        maxResponseBytes: maxFrameBytes,
        clusterSecret: settings.clusterSecret,
        tls: settings.tls ?? null,
      });
}

/**
 * The one chain of decorators around a data client: a per-node circuit breaker around bounded
 * retries of what surely did not run, around the wire adapter `wire`. The breaker is outermost so
 * that a node that keeps failing is not waited for, retries included. Both apps (the coordinator,
 * a coordinating node) build their data client through this.
 */
export function createWireStack(
  wire: NodeClient,
  settings: Pick<WireStackSettings, 'nodeRetry' | 'circuitBreaker'>,
  ports: WireStackPorts,
): NodeClient {
  const { clock, scheduler, rng } = ports;
  return new CircuitBreakingNodeClient(
    new RetryingNodeClient(wire, settings.nodeRetry, scheduler, rng, clock),
    settings.circuitBreaker,
    clock,
  );
}

/**
 * A control client (gossip, range sync, anti-entropy) over the binary protocol: the bounds of
 * {@link CONTROL_CLIENT_BOUNDS}, frames of at most `maxFrameBytes`, over mutual TLS with `tls`.
 */
export function createControlClient(maxFrameBytes: number, clusterSecret: string | null, tls: InternodeTls | null = null): TcpNodeClient {
  return new TcpNodeClient({ ...CONTROL_CLIENT_BOUNDS, maxFrameBytes, clusterSecret, tls });
}
