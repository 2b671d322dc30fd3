import type { Clock, Node, NodeClient, ReplicationTask, Rng, Scheduler, Timer, VersionedValue } from '@dkv/core';
import { compareVersionedValues } from '@dkv/core';

/** Bounds and pacing of the retry queue. */
export interface ReplicationConfig {
  /** The most undelivered tasks kept in all; when full, the oldest task of the largest target is dropped (and counted). */
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
  /** The most sends one retry pass starts, over all replicas. */
  readonly batchSize: number;
  /** Deadline of each replication send. */
  readonly requestTimeoutMs: number;
  /** The most tasks kept for one replica (its hints); the oldest of them is dropped beyond. Default: `maxQueuedTasks`. */
  readonly maxTasksPerTarget?: number;
  /** The most value and key bytes kept for one replica; the oldest of its tasks are dropped beyond. Default: unbounded by bytes. */
  readonly maxBytesPerTarget?: number;
  /**
   * The most sends one retry pass starts to any one replica, so a replica that comes back is fed
   * at a steady pace (at most this many per `retryIntervalMs`) instead of being flooded by every
   * write it missed at once. Default: `batchSize`.
   */
  readonly maxSendsPerTargetPerPass?: number;
}

/**
 * Default bounds of a hint queue, for a LAN cluster: tasks live 10 minutes (below the default
 * tombstone grace of an hour), at most 50,000 tasks or 256 MiB per replica and 100,000 in all,
 * replayed at most 128 per replica every 200 ms.
 */
export const DEFAULT_HINT_BOUNDS: Omit<ReplicationConfig, 'requestTimeoutMs'> = {
  maxQueuedTasks: 100_000,
  retryIntervalMs: 200,
  baseBackoffMs: 100,
  maxBackoffMs: 10_000,
  maxTaskAgeMs: 10 * 60_000,
  batchSize: 256,
  maxTasksPerTarget: 50_000,
  maxBytesPerTarget: 256 * 1024 * 1024,
  maxSendsPerTargetPerPass: 128,
};

/** A replica owed a write, with the outcome of the attempt already under way, if any. */
export interface ReplicaDelivery {
  readonly node: Node;
  /** Resolves true once the replica acknowledged; false sends the write to the retry queue. */
  readonly delivered?: Promise<boolean>;
  /**
   * The same outcome as `delivered`, told to a listener without a promise (a quorum write's
   * stragglers offer it); preferred over `delivered` when present.
   */
  whenDelivered?(listener: (ok: boolean) => void): void;
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

/** What is queued for one replica. */
export interface TargetBacklog {
  readonly targetNodeId: string;
  readonly tasks: number;
  readonly bytes: number;
}

/** The hints queued for one replica, with the creation time of the oldest (for `dkv hints`). */
export interface TargetHints extends TargetBacklog {
  /** When the oldest task still queued for the replica was created (this process's clock, epoch ms). */
  readonly oldestCreatedAt: number;
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
 *
 * The tasks owed to a replica that is down are its hints (hinted handoff, kept by the
 * coordinator): bounded per replica by count and bytes, and globally, always dropping the oldest;
 * replayed when the replica is back at most `maxSendsPerTargetPerPass` per pass, so a recovering
 * node is fed at a steady pace rather than flooded; and dropped when a newer version of the key
 * supersedes them.
 */
export class ReplicationManager {
  readonly stats: ReplicationStats = { delivered: 0, dropped: 0, superseded: 0, failedAttempts: 0 };
  /** Per replica, its tasks by key, oldest first (Maps keep insertion order). */
  private readonly queues = new Map<string, TargetQueue>();
  private total = 0;
  private nextTaskId = 1;
  private timer: Timer | null = null;
  private started = false;
  private retrying = false;
  private readonly maxTasksPerTarget: number;
  private readonly maxBytesPerTarget: number;
  private readonly maxSendsPerTargetPerPass: number;

  constructor(
    private readonly nodeClient: NodeClient,
    private readonly directory: ReplicaDirectory,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly rng: Rng,
    private readonly config: ReplicationConfig,
  ) {
    this.maxTasksPerTarget = config.maxTasksPerTarget ?? config.maxQueuedTasks;
    this.maxBytesPerTarget = config.maxBytesPerTarget ?? Number.POSITIVE_INFINITY;
    this.maxSendsPerTargetPerPass = config.maxSendsPerTargetPerPass ?? config.batchSize;
  }

  /** Undelivered tasks in the queue, over all replicas. */
  get queueDepth(): number {
    return this.total;
  }

  /** A snapshot of the queued tasks, per replica and oldest first within it (for inspection and tests). */
  pendingTasks(): ReplicationTask[] {
    const result: ReplicationTask[] = [];
    for (const queue of this.queues.values()) for (const task of queue.tasks.values()) result.push({ ...task });
    return result;
  }

  /** What is queued per replica: the hints each one is owed. */
  backlog(): TargetBacklog[] {
    return [...this.queues].map(([targetNodeId, queue]) => ({ targetNodeId, tasks: queue.tasks.size, bytes: queue.bytes }));
  }

  /**
   * Per replica, what it is owed and since when: the oldest task is the first of its queue, since
   * a superseded task is removed and its successor queued at the end with a new creation time.
   */
  hints(): TargetHints[] {
    const result: TargetHints[] = [];
    for (const [targetNodeId, queue] of this.queues) {
      const oldest = queue.tasks.values().next();
      if (oldest.done) continue;
      result.push({ targetNodeId, tasks: queue.tasks.size, bytes: queue.bytes, oldestCreatedAt: oldest.value.createdAt });
    }
    return result;
  }

  /**
   * Follows up a quorum write to the replicas that were not part of the quorum: each delivery
   * that ends in failure (or a replica that was never contacted) becomes a retry task.
   */
  replicateAsync(key: string, record: VersionedValue, deliveries: readonly ReplicaDelivery[]): void {
    for (const delivery of deliveries) {
      const nodeId = delivery.node.id;
      const onOutcome = (ok: boolean): void => {
        if (!ok) this.enqueue(key, record, nodeId);
      };
      if (delivery.whenDelivered !== undefined) delivery.whenDelivered(onOutcome);
      else if (delivery.delivered !== undefined) void delivery.delivered.then(onOutcome);
      else this.enqueue(key, record, nodeId);
    }
  }

  /**
   * Queues `record` for `targetNodeId`, unless a task with a newer version is already queued.
   * Then enforces the bounds: the replica's own (count and bytes: its oldest tasks go first),
   * and the global one (the oldest task of the replica with the most tasks goes first, so one
   * long-dead replica cannot crowd out the hints of the others).
   */
  enqueue(key: string, record: VersionedValue, targetNodeId: string): void {
    let queue = this.queues.get(targetNodeId);
    if (!queue) {
      queue = { tasks: new Map(), bytes: 0 };
      this.queues.set(targetNodeId, queue);
    }
    const existing = queue.tasks.get(key);
    if (existing) {
      if (compareVersionedValues(existing.record, record) >= 0) return;
      this.remove(queue, existing);
      this.stats.superseded += 1;
    }
    const now = this.clock.now();
    const task: ReplicationTask = {
      id: `rt-${this.nextTaskId++}`,
      key,
      record,
      targetNodeId,
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now + this.backoffMs(0),
      lastError: null,
    };
    queue.tasks.set(key, task);
    queue.bytes += sizeOf(task);
    this.total += 1;
    while (queue.tasks.size > this.maxTasksPerTarget || (queue.bytes > this.maxBytesPerTarget && queue.tasks.size > 1)) {
      this.dropOldest(queue);
    }
    while (this.total > this.config.maxQueuedTasks) {
      const largest = this.largestQueue();
      if (!largest) break;
      this.dropOldest(largest);
    }
    this.arm();
  }

  /**
   * Runs `retryFailedReplications` every `retryIntervalMs` while the queue holds tasks. An empty
   * queue arms no timer: a process with nothing to hand over does not wake up for it.
   */
  start(): void {
    this.started = true;
    this.arm();
  }

  stop(): void {
    this.started = false;
    this.timer?.cancel();
    this.timer = null;
  }

  private arm(): void {
    if (this.started && this.timer === null && this.total > 0)
      this.timer = this.scheduler.every(this.config.retryIntervalMs, () => void this.retryFailedReplications());
  }

  /**
   * One pass over the queue: drops expired tasks and resends due tasks to replicas not known to
   * be down, at most `maxSendsPerTargetPerPass` per replica and `batchSize` in all. Passes never
   * overlap. Resolves when the pass's sends settled.
   */
  async retryFailedReplications(): Promise<void> {
    if (this.retrying) return;
    this.retrying = true;
    try {
      const now = this.clock.now();
      const due: ReplicationTask[] = [];
      for (const [targetNodeId, queue] of this.queues) {
        if (due.length >= this.config.batchSize) break;
        const known = this.directory.nodeById(targetNodeId) !== undefined;
        const available = known && this.directory.isAvailable(targetNodeId);
        let sends = 0;
        for (const task of queue.tasks.values()) {
          if (!known || now - task.createdAt > this.config.maxTaskAgeMs) {
            this.remove(queue, task);
            this.stats.dropped += 1;
            continue;
          }
          if (!available || sends >= this.maxSendsPerTargetPerPass || due.length >= this.config.batchSize) break;
          if (task.nextAttemptAt <= now) {
            due.push(task);
            sends += 1;
          }
        }
        if (queue.tasks.size === 0) this.queues.delete(targetNodeId);
      }
      await Promise.all(due.map((task) => this.attempt(task)));
    } finally {
      this.retrying = false;
      if (this.total === 0) {
        this.timer?.cancel();
        this.timer = null;
      }
    }
  }

  private async attempt(task: ReplicationTask): Promise<void> {
    const node = this.directory.nodeById(task.targetNodeId);
    if (!node) return;
    try {
      await this.nodeClient.send(node, { type: 'PUT', key: task.key, record: task.record }, { timeoutMs: this.config.requestTimeoutMs });
      const queue = this.queues.get(task.targetNodeId);
      if (queue && queue.tasks.get(task.key) === task) {
        this.remove(queue, task);
        if (queue.tasks.size === 0) this.queues.delete(task.targetNodeId);
        this.stats.delivered += 1;
      }
    } catch (error) {
      this.stats.failedAttempts += 1;
      task.attempts += 1;
      task.lastError = error instanceof Error ? error.message : String(error);
      task.nextAttemptAt = this.clock.now() + this.backoffMs(task.attempts);
    }
  }

  private remove(queue: TargetQueue, task: ReplicationTask): void {
    if (queue.tasks.get(task.key) !== task) return;
    queue.tasks.delete(task.key);
    queue.bytes -= sizeOf(task);
    this.total -= 1;
  }

  private dropOldest(queue: TargetQueue): void {
    const oldest = queue.tasks.values().next();
    if (oldest.done) return;
    this.remove(queue, oldest.value);
    this.stats.dropped += 1;
  }

  private largestQueue(): TargetQueue | undefined {
    let largest: TargetQueue | undefined;
    for (const queue of this.queues.values()) if (!largest || queue.tasks.size > largest.tasks.size) largest = queue;
    return largest;
  }

  /** Exponential backoff with "equal jitter": half fixed, half random, capped. */
  private backoffMs(attempts: number): number {
    const ceiling = Math.min(this.config.maxBackoffMs, this.config.baseBackoffMs * 2 ** Math.min(attempts, 30));
    return ceiling / 2 + this.rng.next() * (ceiling / 2);
  }
}

interface TargetQueue {
  readonly tasks: Map<string, ReplicationTask>;
  bytes: number;
}

/** The bytes a task holds on to: its key and value (metadata is small and fixed). */
function sizeOf(task: ReplicationTask): number {
  return task.key.length + task.record.value.byteLength;
}
