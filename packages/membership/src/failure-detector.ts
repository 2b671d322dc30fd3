import type { Heartbeat } from '@dkv/core';

/** A process's local opinion of a node from its heartbeats. */
export type Liveness = 'alive' | 'suspect' | 'down';

/** When silence becomes suspicion, and suspicion becomes death. */
export interface FailureDetectorConfig {
  /** A node whose heartbeat has not progressed for this long is suspect. */
  readonly suspectAfterMs: number;
  /** ... and down after this long (at least `suspectAfterMs`). */
  readonly downAfterMs: number;
}

/** Defaults for a LAN: suspect after 2 s, down after 5 s of silence. */
export const DEFAULT_FAILURE_DETECTOR_CONFIG: FailureDetectorConfig = { suspectAfterMs: 2000, downAfterMs: 5000 };

/** True when heartbeat `a` is later than `b`: a newer generation, or the same with a higher counter. */
export function isNewerHeartbeat(a: Pick<Heartbeat, 'generation' | 'counter'>, b: Pick<Heartbeat, 'generation' | 'counter'>): boolean {
  return a.generation > b.generation || (a.generation === b.generation && a.counter > b.counter);
}

/**
 * A suspicion-timeout failure detector over gossiped heartbeats (after Cassandra and memberlist,
 * without phi's statistics: with heartbeats every gossip round, two fixed timeouts are as good and
 * easier to reason about). It records, by the local clock, when each node's heartbeat last
 * progressed; it never compares clocks across processes. A node first heard of starts alive, so
 * that a freshly started process does not declare everybody dead.
 */
export class FailureDetector {
  private readonly lastProgressAt = new Map<string, { beat: Pick<Heartbeat, 'generation' | 'counter'>; atMs: number }>();

  constructor(private readonly config: FailureDetectorConfig = DEFAULT_FAILURE_DETECTOR_CONFIG) {
    if (!(config.suspectAfterMs > 0) || !(config.downAfterMs >= config.suspectAfterMs)) {
      throw new RangeError(`failure detector needs 0 < suspectAfterMs <= downAfterMs, got ${JSON.stringify(config)}`);
    }
  }

  /** Notes a heartbeat of `beat.id` seen at local time `nowMs`; only progress resets the timer. */
  observe(beat: Pick<Heartbeat, 'id' | 'generation' | 'counter'>, nowMs: number): void {
    const known = this.lastProgressAt.get(beat.id);
    if (known === undefined || isNewerHeartbeat(beat, known.beat)) this.lastProgressAt.set(beat.id, { beat, atMs: nowMs });
  }

  /** The liveness of `nodeId` at `nowMs`; a node never heard of is alive until it has had time to be heard. */
  livenessOf(nodeId: string, nowMs: number): Liveness {
    const known = this.lastProgressAt.get(nodeId);
    if (known === undefined) return 'alive';
    const silentMs = nowMs - known.atMs;
    if (silentMs >= this.config.downAfterMs) return 'down';
    if (silentMs >= this.config.suspectAfterMs) return 'suspect';
    return 'alive';
  }

  /** Whether `nodeId`'s heartbeat progressed at or after local time `sinceMs` (false for a node only tracked). */
  progressedSince(nodeId: string, sinceMs: number): boolean {
    const known = this.lastProgressAt.get(nodeId);
    return known !== undefined && known.beat.generation >= 0 && known.atMs >= sinceMs;
  }

  /**
   * Starts the clock on a node known from the document but never heard from, so that a node that
   * is dead when this process starts becomes suspect and down like any other. No-op when known.
   */
  track(nodeId: string, nowMs: number): void {
    if (!this.lastProgressAt.has(nodeId)) this.lastProgressAt.set(nodeId, { beat: { generation: -1, counter: -1 }, atMs: nowMs });
  }

  /** Forgets a node (it was removed from the cluster). */
  forget(nodeId: string): void {
    this.lastProgressAt.delete(nodeId);
  }
}
