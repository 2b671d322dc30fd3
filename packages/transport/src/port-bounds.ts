/**
 * The bounds every listening port holds against a hostile or broken peer, and the counters that
 * say when one was hit. A bound that triggers closes or refuses one connection and counts it; the
 * other connections carry on. The defaults live here, beside the internode port they first served,
 * and the node, coordinator and Redis door take theirs from their own settings.
 */

/** The ways a port can turn a peer away; each is a label of the `dkv_port_bounds_total` metric. */
export const PORT_BOUND_EVENTS = [
  /** A connection arrived while `maxConnections` were open: refused at once. */
  'connection_refused',
  /** A connection sent and took nothing for `idleTimeoutMs`: closed. */
  'idle_timeout',
  /** A frame (or HTTP request) had begun and was not complete within `readTimeoutMs`: closed. */
  'read_timeout',
  /** A peer did not finish the cluster-secret handshake within `handshakeTimeoutMs`: closed. */
  'handshake_timeout',
  /** A peer failed to prove the cluster secret, or sent a request before proving it: closed. */
  'auth_failed',
  /** A frame's announced length was out of bounds: the stream lost its framing, closed. */
  'frame_too_large',
  /** Answers queued for a connection reached `maxBufferedWriteBytes`: its reading paused until they drain. */
  'write_backpressure',
  /**
   * A TLS handshake failed (a plaintext client on a TLS port, a client that does not trust the
   * certificate, a late handshake), or with mutual TLS a peer without a certificate from the
   * cluster's CA asked for internode service: closed or refused before a request was read.
   */
  'tls_refused',
] as const;

/** One of {@link PORT_BOUND_EVENTS}. */
export type PortBoundEvent = (typeof PORT_BOUND_EVENTS)[number];

/**
 * How many times each bound of one port triggered since start. Servers increment it; the app's
 * metrics read it when scraped, so counting costs the hot path one addition.
 */
export class PortBoundCounters {
  /** The count of each event. */
  readonly counts: Record<PortBoundEvent, number> = Object.fromEntries(PORT_BOUND_EVENTS.map((event) => [event, 0])) as Record<
    PortBoundEvent,
    number
  >;

  /** Counts one occurrence of `event`. */
  hit(event: PortBoundEvent): void {
    this.counts[event] += 1;
  }
}

/** The connection bounds of one listening port. */
export interface PortBounds {
  /** Connections open at once; one more is refused (closed at once) and counted. */
  readonly maxConnections: number;
  /** A connection with no traffic either way for this long is closed. */
  readonly idleTimeoutMs: number;
  /**
   * A request (a frame, an HTTP request's headers and body) that has begun must be complete
   * within this long, however slowly it trickles; otherwise its connection is closed (slowloris).
   */
  readonly readTimeoutMs: number;
}

/**
 * The defaults of every dkv port's {@link PortBounds}: room for a few hundred peers and clients,
 * five minutes of idleness (a coordinator's connections carry heartbeats far more often), and
 * thirty seconds for a request of at most a few MiB to arrive, which only a peer that trickles misses.
 */
export const DEFAULT_PORT_BOUNDS: PortBounds = {
  maxConnections: 4096,
  idleTimeoutMs: 300_000,
  readTimeoutMs: 30_000,
};

/** The default time a peer has to prove the cluster secret after it connects. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;

/** Throws a RangeError unless every bound is a positive whole number. */
export function checkPortBounds(owner: string, bounds: Readonly<Record<string, number>>): void {
  for (const [name, value] of Object.entries(bounds)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${owner} option ${name} must be a positive whole number, got ${String(value)}`);
    }
  }
}
