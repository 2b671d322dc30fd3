import {
  NodeUnavailableError,
  type Clock,
  type Membership,
  type MembershipView,
  type Node,
  type NodeClient,
  type NodeStatus,
  type Scheduler,
  type Timer,
} from '@dkv/core';

/** How heartbeats decide that a node is down. */
export interface HeartbeatConfig {
  /** Time between two rounds of heartbeats. */
  readonly intervalMs: number;
  /** How long one heartbeat may take before it counts as missed. */
  readonly timeoutMs: number;
  /** Consecutive missed heartbeats after which a node is marked down (one miss makes it suspect). */
  readonly failureThreshold: number;
}

/** What the NodeManager knows of one node's health. */
export interface NodeHealth {
  readonly status: NodeStatus;
  readonly consecutiveFailures: number;
  /** Epoch ms of the last answered heartbeat, or null if it never answered. */
  readonly lastSeenAt: number | null;
  readonly keys: number;
  readonly bytes: number;
}

/** One measurement of a storage node's clock against this process's. */
export interface ClockSample {
  /** The node's clock minus this process's, estimated at the midpoint of the round trip (NTP). */
  readonly offsetMs: number;
  /** The round trip of the TIME request: the estimate is within half of it (plus the clocks' drift since). */
  readonly rttMs: number;
  /** Local epoch ms the sample was taken. */
  readonly atMs: number;
}

/** Heartbeat rounds between two clock samples of each node (the first round takes one). */
export const CLOCK_SAMPLE_EVERY_ROUNDS = 4;

/**
 * The seed's `NodeManager`: which nodes exist (from the membership view, or `addNode` /
 * `removeNode`) and which of them answer. `checkNodeHealth` pings every storage node in parallel;
 * a node that misses one heartbeat is `suspect`, one that misses `failureThreshold` in a row is
 * `down`, and an answer brings it back `up` (or `suspect`, when the node says it is not ready).
 * A heartbeat or request whose connection was refused or reset marks the node `down` at once:
 * nothing listens at its address, which a timeout cannot say. Quorum requests skip nodes that are
 * down (they fail fast instead of waiting for a timeout), and readiness counts the nodes that are
 * not down.
 *
 * Every {@link CLOCK_SAMPLE_EVERY_ROUNDS} rounds (and on every round for a node not sampled yet,
 * so the first round after start measures) it also asks each node for its clock (TIME) and
 * keeps the offset from this process's clock, as NTP estimates it: the node's time against the
 * midpoint of the round trip, so within half the round trip. A node that does not answer TIME (a
 * node of an older release) has no sample.
 *
 * It holds no global state and no timers of its own beyond the one `start` schedules.
 */
export class NodeManager {
  private readonly health = new Map<string, NodeHealth>();
  private readonly extraNodes = new Map<string, Node>();
  private readonly removed = new Set<string>();
  private timer: Timer | null = null;
  private checking = false;
  private rounds = 0;
  private readonly clockSamples = new Map<string, ClockSample>();
  /** Nodes that answered a TIME request with an error: a release without it. */
  private readonly timeUnsupported = new Set<string>();
  /** The round of clock samples under way for {@link measureClocks}, shared by concurrent callers. */
  private measuring: Promise<void> | null = null;
  /** {@link clockOffsetMs}, computed again only after a sample or a node's status changed: it is read on every request. */
  private cachedClockOffset: { readonly value: number | null } | null = null;
  private readonly listeners = new Set<(nodeId: string, status: NodeStatus) => void>();

  constructor(
    private readonly membership: MembershipView,
    private readonly nodeClient: NodeClient,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly config: HeartbeatConfig,
  ) {}

  /** The storage nodes currently in the cluster, in membership order, with their health status. */
  nodes(): Node[] {
    const result: Node[] = [];
    for (const node of this.members()) {
      result.push({ ...node, status: this.statusOf(node.id) });
    }
    return result;
  }

  /** The membership document these nodes come from (its epoch names the ring's version). */
  currentMembership(): Membership {
    return this.membership.current();
  }

  /** Registers a node this process should track beyond the membership document. */
  addNode(node: Node): void {
    this.removed.delete(node.id);
    this.extraNodes.set(node.id, node);
  }

  /** Stops tracking a node; it no longer counts for readiness or health checks. */
  removeNode(nodeId: string): void {
    this.extraNodes.delete(nodeId);
    this.health.delete(nodeId);
    this.clockSamples.delete(nodeId);
    this.timeUnsupported.delete(nodeId);
    this.cachedClockOffset = null;
    this.removed.add(nodeId);
  }

  /** The health status of a node by heartbeats alone: `up` until one is missed, whatever its membership status (`CoordinatorService` combines the two for `/v1/cluster`). */
  statusOf(nodeId: string): NodeStatus {
    return this.health.get(nodeId)?.status ?? 'up';
  }

  /** True unless heartbeats have marked the node down. */
  isAvailable(nodeId: string): boolean {
    return this.statusOf(nodeId) !== 'down';
  }

  healthOf(nodeId: string): NodeHealth | undefined {
    return this.health.get(nodeId);
  }

  /** Number of storage nodes not known to be down. */
  availableCount(): number {
    let count = 0;
    for (const node of this.members()) if (this.isAvailable(node.id)) count += 1;
    return count;
  }

  /** Called with (nodeId, status) whenever a node's health status changes. */
  onStatusChange(listener: (nodeId: string, status: NodeStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts periodic heartbeats; the first round runs at once. */
  start(): void {
    if (this.timer) return;
    void this.checkNodeHealth();
    this.timer = this.scheduler.every(this.config.intervalMs, () => void this.checkNodeHealth());
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /**
   * One round of heartbeats to every storage node, in parallel. A round never overlaps the
   * previous one (a slow round is skipped, not queued), so heartbeats cannot pile up.
   */
  async checkNodeHealth(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    const sampleClocks = this.rounds % CLOCK_SAMPLE_EVERY_ROUNDS === 0;
    this.rounds += 1;
    try {
      // A node never sampled is sampled now: until some node is, this process cannot tell its own clock's offset.
      const sample = (node: Node) => sampleClocks || !this.clockSamples.has(node.id);
      await Promise.all(
        this.members().map((node) => (sample(node) ? Promise.all([this.ping(node), this.sampleClock(node)]) : this.ping(node))),
      );
    } finally {
      this.checking = false;
    }
  }

  /**
   * Passive failure detection: a request to the node failed or succeeded outside a heartbeat.
   * A failure makes a node suspect, and only heartbeats mark it down, unless `error` says that
   * the node's address refused or reset the connection (`NodeUnavailableError.refused`): the
   * process is gone, so the node is down at once (readiness and the cluster view follow), until
   * it answers again.
   */
  reportOutcome(nodeId: string, ok: boolean, error?: unknown): void {
    const previous = this.health.get(nodeId);
    if (ok) {
      if (previous && previous.status !== 'up')
        this.record(nodeId, { ...previous, status: 'up', consecutiveFailures: 0, lastSeenAt: this.clock.now() });
      return;
    }
    if (isRefusal(error)) {
      this.markGone(nodeId, previous);
      return;
    }
    if (!previous || previous.status === 'up') {
      this.record(nodeId, {
        status: 'suspect',
        consecutiveFailures: previous?.consecutiveFailures ?? 0,
        lastSeenAt: previous?.lastSeenAt ?? null,
        keys: previous?.keys ?? 0,
        bytes: previous?.bytes ?? 0,
      });
    }
  }

  /** The last clock sample of `nodeId`, if it ever answered one. */
  clockSampleOf(nodeId: string): ClockSample | undefined {
    return this.clockSamples.get(nodeId);
  }

  /**
   * This process's clock minus the cluster's: minus the median of the offsets sampled from the
   * storage nodes not known to be down (so one node with a wrong clock does not move it), or null
   * before any node has answered a clock sample.
   */
  clockOffsetMs(): number | null {
    this.cachedClockOffset ??= { value: this.medianClockOffset() };
    return this.cachedClockOffset.value;
  }

  /**
   * Whether this process knows its clock's offset from the cluster's, as far as it can be known:
   * some available node answered a clock sample, or the nodes answering heartbeats are of a
   * release without TIME (they answer it with an error; their offset cannot be measured, so none
   * is waited for). False before any of that, right after start: a write then measures first
   * (`measureClocks`) and is refused if it still cannot; readiness does not wait for it.
   */
  clockMeasured(): boolean {
    if (this.clockOffsetMs() !== null) return true;
    return this.members().some((node) => this.timeUnsupported.has(node.id) && this.isAvailable(node.id));
  }

  /**
   * Samples the clock of every storage node now, in parallel (each within the heartbeat timeout),
   * settling as soon as the offset is measured (a slow node does not hold it up) or every sample
   * has ended; concurrent callers share one round. For a write that finds the offset unmeasured.
   */
  measureClocks(): Promise<void> {
    this.measuring ??= new Promise<void>((resolve) => {
      const samples = this.members().map((node) => this.sampleClock(node).then(() => (this.clockMeasured() ? resolve() : undefined)));
      void Promise.all(samples).then(() => resolve());
    }).then(() => {
      this.measuring = null;
    });
    return this.measuring;
  }

  private medianClockOffset(): number | null {
    const offsets = this.members()
      .filter((node) => this.isAvailable(node.id))
      .map((node) => this.clockSamples.get(node.id)?.offsetMs)
      .filter((offset): offset is number => offset !== undefined)
      .sort((a, b) => a - b);
    if (offsets.length === 0) return null;
    const middle = Math.floor(offsets.length / 2);
    const median = offsets.length % 2 === 1 ? offsets[middle]! : (offsets[middle - 1]! + offsets[middle]!) / 2;
    return -Math.round(median);
  }

  private async sampleClock(node: Node): Promise<void> {
    const sentAt = this.clock.now();
    try {
      const answer = await this.nodeClient.send(node, { type: 'TIME' }, { timeoutMs: this.config.timeoutMs });
      const receivedAt = this.clock.now();
      if (this.removed.has(node.id)) return;
      this.clockSamples.set(node.id, { offsetMs: answer.nowMs - (sentAt + receivedAt) / 2, rttMs: receivedAt - sentAt, atMs: receivedAt });
      this.timeUnsupported.delete(node.id);
      this.cachedClockOffset = null;
    } catch (error) {
      // No sample this time (the node is down, or does not answer TIME): the last one stands. A
      // node that answered with an error is of a release without TIME.
      if (error instanceof NodeUnavailableError && error.kind === 'remote' && !this.removed.has(node.id)) this.timeUnsupported.add(node.id);
    }
  }

  private async ping(node: Node): Promise<void> {
    const previous = this.health.get(node.id);
    try {
      const answer = await this.nodeClient.send(node, { type: 'PING' }, { timeoutMs: this.config.timeoutMs });
      this.record(node.id, {
        status: answer.ready ? 'up' : 'suspect',
        consecutiveFailures: 0,
        lastSeenAt: this.clock.now(),
        keys: answer.keys,
        bytes: answer.bytes,
      });
    } catch (error) {
      if (isRefusal(error)) {
        this.markGone(node.id, previous);
        return;
      }
      const failures = (previous?.consecutiveFailures ?? 0) + 1;
      this.record(node.id, {
        status: failures >= this.config.failureThreshold ? 'down' : 'suspect',
        consecutiveFailures: failures,
        lastSeenAt: previous?.lastSeenAt ?? null,
        keys: previous?.keys ?? 0,
        bytes: previous?.bytes ?? 0,
      });
    }
  }

  /**
   * Down now, as if the failure threshold had been reached: later failures without evidence (a
   * circuit open, a timeout) keep it down, and only an answer brings it back.
   */
  private markGone(nodeId: string, previous: NodeHealth | undefined): void {
    this.record(nodeId, {
      status: 'down',
      consecutiveFailures: Math.max(this.config.failureThreshold, (previous?.consecutiveFailures ?? 0) + 1),
      lastSeenAt: previous?.lastSeenAt ?? null,
      keys: previous?.keys ?? 0,
      bytes: previous?.bytes ?? 0,
    });
  }

  private record(nodeId: string, next: NodeHealth): void {
    if (this.removed.has(nodeId)) return;
    const before = this.health.get(nodeId)?.status ?? 'up';
    this.health.set(nodeId, next);
    if (before !== next.status) this.cachedClockOffset = null;
    if (before !== next.status) for (const listener of this.listeners) listener(nodeId, next.status);
  }

  private members(): Node[] {
    const result = this.membership.current().nodes.filter((node) => node.role === 'storage' && !this.removed.has(node.id));
    for (const node of this.extraNodes.values()) if (!result.some((n) => n.id === node.id)) result.push(node);
    return result;
  }
}

/** Whether a failure says that the node's address refused or reset the connection (its process is gone). */
function isRefusal(error: unknown): boolean {
  return error instanceof NodeUnavailableError && error.refused;
}
