import type { Clock, Node, NodeClient, ReplicationTask, Rng, Scheduler, Timer, VersionedValue } from '@dkv/core';
import { compareVersionedValues } from '@dkv/core';

/** Bounds and pacing of the retry queue. */
export interface ReplicationConfig {
  /** The most undelivered tasks kept; when full, the oldest task is dropped (and counted). */
  readonly maxQueuedTasks: number;
  /** How often `retryFailedReplications` runs once started. */
  readonly retryIntervalMs: number;
  /** Backoff before the first retry; it doubles per attempt, with jitter, up to `maxBackoffMs`. */
  readonly baseBackoffMs: number;
  readonly maxBackoffMs: number;
  /**
   * A task older than this is dropped. It must stay below the storage nodes' tombstone grace
   * period: a delete can only be resurrected by a replay older than its tombstone, and no replay
   * lives that long.
   */
  readonly maxTaskAgeMs: number;
  /** The most sends one retry pass starts. */
  readonly batchSize: number;
  /** Deadline of each replication send. */
  readonly requestTimeoutMs: number;
}

/** A replica owed a write, with the outcome of the attempt already under way, if any. */
export interface ReplicaDelivery {
  readonly node: Node;
  /** Resolves true once the replica acknowledged; false sends the write to the retry queue. */
  readonly delivered?: Promise<boolean>;
}

/** Counters the ReplicationManager keeps for metrics. */
export interface ReplicationStats {
  /** Tasks delivered by a retry. */
  delivered: number;
  /** Tasks dropped: queue full, too old, or their node left the cluster. */
  dropped: number;
  /** Tasks replaced by a newer version of the same key for the same replica. */
  superseded: number;
  /** Sends that failed and were rescheduled. */
  failedAttempts: number;
}

/** Where to find a node by id, and whether it is worth trying now. */
export interface ReplicaDirectory {
  nodeById(nodeId: string): Node | undefined;
  isAvailable(nodeId: string): boolean;
}

/**
 * The seed's `ReplicationManager`: makes sure every replica of a write gets it eventually.
 *
 * The QuorumManager already sent the write to every replica; `replicateAsync` follows the ones
 * that had not acknowledged when the quorum was reached. Those that fail become
 * `ReplicationTask`s in a bounded queue, one per (replica, key) and only the newest version, since
 * a newer version supersedes an older one on arrival anyway. `retryFailedReplications` resends due
 * tasks with exponential backoff and jitter, skips replicas known to be down (they are retried
 * when they come back, without spending attempts), and drops tasks older than `maxTaskAgeMs`.
 * Replicas apply a write only if it is newer than what they hold, so a late retry is harmless.
 */
export class ReplicationManager {
  readonly stats: ReplicationStats = { delivered: 0, dropped: 0, superseded: 0, failedAttempts: 0 };
  private readonly tasks = new Map<string, ReplicationTask>();
  private nextTaskId = 1;
  private timer: Timer | null = null;
  private retrying = false;

  constructor(
    private readonly nodeClient: NodeClient,
    private readonly directory: ReplicaDirectory,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly rng: Rng,
    private readonly config: ReplicationConfig,
  ) {}

  /** Undelivered tasks in the queue. */
  get queueDepth(): number {
    return this.tasks.size;
  }

  /** A snapshot of the queued tasks, oldest first (for inspection and tests). */
  pendingTasks(): ReplicationTask[] {
    return [...this.tasks.values()].map((task) => ({ ...task }));
  }

  /**
   * Follows up a quorum write to the replicas that were not part of the quorum: each delivery
   * that ends in failure (or a replica that was never contacted) becomes a retry task.
   */
  replicateAsync(key: string, record: VersionedValue, deliveries: readonly ReplicaDelivery[]): void {
    for (const delivery of deliveries) {
      if (!delivery.delivered) {
        this.enqueue(key, record, delivery.node.id);
        continue;
      }
      void delivery.delivered.then((ok) => {
        if (!ok) this.enqueue(key, record, delivery.node.id);
      });
    }
  }

  /** Queues `record` for `targetNodeId`, unless a task with a newer version is already queued. */
  enqueue(key: string, record: VersionedValue, targetNodeId: string): void {
    const id = taskKey(targetNodeId, key);
    const existing = this.tasks.get(id);
    if (existing) {
      if (compareVersionedValues(existing.record, record) >= 0) return;
      this.tasks.delete(id);
      this.stats.superseded += 1;
    }
    while (this.tasks.size >= this.config.maxQueuedTasks) {
      const oldest = this.tasks.keys().next();
      if (oldest.done) break;
      this.tasks.delete(oldest.value);
      this.stats.dropped += 1;
    }
    const now = this.clock.now();
    this.tasks.set(id, {
      id: `rt-${this.nextTaskId++}`,
      key,
      record,
      targetNodeId,
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now + this.backoffMs(0),
      lastError: null,
    });
  }

  /** Runs `retryFailedReplications` every `retryIntervalMs`. */
  start(): void {
    if (this.timer) return;
    this.timer = this.scheduler.every(this.config.retryIntervalMs, () => void this.retryFailedReplications());
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /**
   * One pass over the queue: drops expired tasks and resends at most `batchSize` due tasks to
   * replicas not known to be down. Passes never overlap. Resolves when the pass's sends settled.
   */
  async retryFailedReplications(): Promise<void> {
    if (this.retrying) return;
    this.retrying = true;
    try {
      const now = this.clock.now();
      const due: ReplicationTask[] = [];
      for (const [id, task] of this.tasks) {
        if (due.length >= this.config.batchSize) break;
        if (now - task.createdAt > this.config.maxTaskAgeMs || !this.directory.nodeById(task.targetNodeId)) {
          this.tasks.delete(id);
          this.stats.dropped += 1;
          continue;
        }
        if (task.nextAttemptAt <= now && this.directory.isAvailable(task.targetNodeId)) due.push(task);
      }
      await Promise.all(due.map((task) => this.attempt(task)));
    } finally {
      this.retrying = false;
    }
  }

  private async attempt(task: ReplicationTask): Promise<void> {
    const node = this.directory.nodeById(task.targetNodeId);
    if (!node) return;
    const id = taskKey(task.targetNodeId, task.key);
    try {
      await this.nodeClient.send(node, { type: 'PUT', key: task.key, record: task.record }, { timeoutMs: this.config.requestTimeoutMs });
      if (this.tasks.get(id) === task) {
        this.tasks.delete(id);
        this.stats.delivered += 1;
      }
    } catch (error) {
      this.stats.failedAttempts += 1;
      task.attempts += 1;
      task.lastError = error instanceof Error ? error.message : String(error);
      task.nextAttemptAt = this.clock.now() + this.backoffMs(task.attempts);
    }
  }

  /** Exponential backoff with "equal jitter": half fixed, half random, capped. */
  private backoffMs(attempts: number): number {
    const ceiling = Math.min(this.config.maxBackoffMs, this.config.baseBackoffMs * 2 ** Math.min(attempts, 30));
    return ceiling / 2 + this.rng.next() * (ceiling / 2);
  }
}

function taskKey(nodeId: string, key: string): string {
  return `${nodeId}\u0000${key}`;
}
