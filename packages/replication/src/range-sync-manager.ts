import {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  DEFAULT_REPLICATION_FACTOR,
  versionAheadProblem,
  type Clock,
  type HashRange,
  type MemberEntry,
  type NodeClient,
  type RangeScanStorageEngine,
  type ScanCursor,
  type Scheduler,
  type SyncProgress,
  type Timer,
  type VersionedValue,
} from '@dkv/core';
import {
  ConsistentHash,
  FULL_RANGE,
  gainedRanges,
  groupRangesByOwners,
  intersectRanges,
  normalizeRanges,
  ownedRanges,
  RingViews,
  ringId,
  subtractRanges,
} from '@dkv/hashing';
import { entryNode, entryPendingSwitch, type EntryChange, type Gossiper } from '@dkv/membership';

/** Bounds and pacing of range sync and cleanup on one storage node. */
export interface RangeSyncConfig {
  /** Replication factor N: a node owns a hash when it is one of its N replicas. */
  readonly n: number;
  /**
   * Distinct replicas each range is pulled from (default R = 2). With W = 2 of N = 3 one replica
   * may lack an acknowledged write; any two of the three include one that has it, and records
   * merge by apply-if-newer, so pulling from R sources brings every acknowledged write.
   */
  readonly sourcesPerRange: number;
  /** How often the state machine looks at the membership while something moves or is due. */
  readonly checkIntervalMs: number;
  /**
   * How often it looks while nothing moves (no sync, ring settled, no cleanup pass under way or
   * due): a change of the document brings the next look forward to `checkIntervalMs` at once, so
   * only what the heartbeats alone say (a coordinator that now reads by the new ring) waits
   * longer. Default {@link DEFAULT_IDLE_CHECK_INTERVAL_MS}.
   */
  readonly idleCheckIntervalMs?: number;
  /**
   * Before pulling, a node waits until every live process that coordinates writes reports on its
   * heartbeat that it routes by the target ring (so it sends this node the writes of the gained
   * ranges), and then this long more, so that writes planned by the old rule just before the
   * switch have landed on the replicas being streamed from. It must exceed the coordinators'
   * request deadline. A coordinator the failure detector holds down is not waited for.
   */
  readonly settleDelayMs: number;
  /**
   * How long this node must have been listening to gossip before it trusts its view of which
   * coordinators are live: a coordinator whose heartbeat has not reached a newly started node yet
   * is not known to it, not down. Set it to the failure detector's `downAfterMs` (default 5 s):
   * after that long, a live coordinator has been heard and a silent one would be down anyway.
   */
  readonly livenessWarmupMs?: number;
  /** Records and bytes asked for in one SCAN: the memory one batch may take. */
  readonly batchRecords: number;
  readonly batchBytes: number;
  /** Throttle: the average rate data is pulled at, bytes per second (a token bucket one batch deep). */
  readonly bytesPerSecond: number;
  /** Deadline of one SCAN. */
  readonly requestTimeoutMs: number;
  /** Failed SCANs in a row after which a pull switches to another replica (resuming at its cursor). */
  readonly attemptsPerSource: number;
  /** Pause after a failed SCAN. */
  readonly retryBackoffMs: number;
  /**
   * How long the ring must have been stable before this node deletes keys it no longer owns, so
   * that no coordinator still reads by the previous ring; and how often a cleanup pass repeats.
   */
  readonly cleanupDelayMs: number;
  readonly cleanupIntervalMs: number;
  /** Keys examined per cleanup step (one step per check interval). */
  readonly cleanupBatch: number;
  /**
   * A cleanup pass looks only at the hashes this node does not own, one slice of the ring per
   * step, in this many slices: it walks 1 / cleanupSlices of the keys per step at most, however
   * few of them are foreign. Default {@link DEFAULT_CLEANUP_SLICES}.
   */
  readonly cleanupSlices?: number;
}

/**
 * The default {@link RangeSyncConfig.idleCheckIntervalMs}. Ten looks a second at a settled ring
 * were a tenth of an idle node's CPU (the wake-ups, measured on the 2-core machine); one a second
 * delays nothing that waits on the document, which brings the next look forward when it changes.
 */
export const DEFAULT_IDLE_CHECK_INTERVAL_MS = 1000;

/** The default {@link RangeSyncConfig.cleanupSlices}: a step walks at most 1/64 of the keys. */
export const DEFAULT_CLEANUP_SLICES = 64;

/** The default {@link RangeSyncConfig.livenessWarmupMs}: the failure detector's default `downAfterMs`. */
export const DEFAULT_LIVENESS_WARMUP_MS = 5000;

/** Defaults for a LAN: pull from 2 replicas, 256 records or 1 MiB per batch, at most 16 MiB/s. */
export const DEFAULT_RANGE_SYNC_CONFIG: RangeSyncConfig = {
  n: DEFAULT_REPLICATION_FACTOR,
  sourcesPerRange: 2,
  checkIntervalMs: 100,
  settleDelayMs: 2000,
  batchRecords: 256,
  batchBytes: 1024 * 1024,
  bytesPerSecond: 16 * 1024 * 1024,
  requestTimeoutMs: 2000,
  attemptsPerSource: 3,
  retryBackoffMs: 200,
  cleanupDelayMs: 5000,
  cleanupIntervalMs: 30_000,
  cleanupBatch: 512,
};

/** What a storage node's data movers (range sync, anti-entropy) work with: its store, its peers, time. */
export interface NodeDataDeps {
  readonly selfId: string;
  readonly gossiper: Gossiper;
  readonly engine: RangeScanStorageEngine;
  readonly nodeClient: NodeClient;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /**
   * Records whose version is more than this after the clock are never applied from a peer (range
   * sync, anti-entropy), as a PUT of one is refused: one would make its key unwritable. Default
   * `DEFAULT_MAX_CLOCK_OFFSET_MS` (`--max-clock-offset-ms`).
   */
  readonly maxClockOffsetMs?: number;
}

/**
 * True when `version` is beyond the node's clock plus its tolerated offset: such a record is
 * refused by every path that applies records (see {@link NodeDataDeps.maxClockOffsetMs}).
 */
export function isVersionTooFarAhead(deps: Pick<NodeDataDeps, 'clock' | 'maxClockOffsetMs'>, version: number): boolean {
  return versionAheadProblem(version, deps.clock.now(), deps.maxClockOffsetMs ?? DEFAULT_MAX_CLOCK_OFFSET_MS) !== null;
}

/** Hand-off requests in flight at once during cleanup. */
const HAND_OFF_CONCURRENCY = 16;

/** What a {@link RangeSyncManager} works with. */
export interface RangeSyncDeps extends NodeDataDeps {
  readonly config?: RangeSyncConfig;
  /**
   * The ring this node's store is complete for at start: the initial ring for a member of the
   * bootstrap cluster (whose stores all start empty), null for any other start (a new node, or a
   * restart that lost its data), which then syncs everything it owns.
   */
  readonly completeFor: ConsistentHash | null;
  /**
   * True when the store was replayed from this node's own log (a durable node that restarted) and
   * `completeFor` is null (a node that joined with `--join`): if the first view of its own entry
   * says it is `up` and was complete for the ring the cluster still has, its store is taken as
   * complete for that ring, so it serves at once and catches up on what it missed through hints
   * and anti-entropy instead of streaming its ranges again. Any other first view (the ring
   * changed while it was down, or it was still joining) is a restart that syncs everything.
   */
  readonly recoveredData?: boolean;
}

/** Counters for metrics and tests. */
export interface RangeSyncStats {
  keysReceived: number;
  bytesReceived: number;
  batches: number;
  failedBatches: number;
  sourceSwitches: number;
  syncsCompleted: number;
  keysRemoved: number;
  /** Records received whose version was too far ahead of this clock, and were not applied. */
  versionsRefused: number;
  /** Records handed to their owners before cleanup deleted them here. */
  keysHandedOff: number;
}

/** One pull of a task's ranges from one replica, resumable at its cursor while that replica answers. */
interface Pass {
  sourceId: string | null;
  cursor: ScanCursor | null;
  failures: number;
  done: boolean;
}

/**
 * Ranges with the same replicas, pulled by `passes.length` passes, each wholly from one replica
 * and no two from the same one: so every key comes from that many distinct replicas.
 */
interface SyncTask {
  readonly ranges: readonly HashRange[];
  /** Replicas that may send these ranges, in preference order. */
  readonly candidates: readonly string[];
  readonly passes: Pass[];
  done: boolean;
}

interface SyncPlan {
  readonly targetId: string;
  /** When every live coordinator was first seen routing by the target (null: not yet). */
  routedSinceMs: number | null;
  /** The replicas that could be streamed from when the plan was made. */
  readonly sourcesKey: string;
  readonly target: ConsistentHash;
  readonly startAtMs: number;
  readonly tasks: SyncTask[];
  /** Ranges fully pulled (every pass done): kept across a replan while still owned. */
  done: HashRange[];
  keys: number;
  bytes: number;
}

/**
 * Range sync: the one mechanism behind join, decommission, forced removal, vnode changes and a
 * restart that lost its data (after Cassandra's bootstrap / decommission streaming, driven by
 * Riak-style ownership claims in the membership document).
 *
 * Each storage node knows the ring its store is complete for. When the future ring (the
 * document's up and joining nodes) differs, it computes the hash ranges it owns there and did not
 * own before (`gainedRanges`), waits until every live coordinator routes by that ring (their
 * heartbeats say so) and `settleDelayMs` more, so that every write of those ranges acknowledged
 * from then on reaches it directly and every earlier one is on the replicas it streams from, and
 * pulls each range from `sourcesPerRange` distinct replicas of the read ring in
 * bounded, throttled SCAN batches, applying records if newer. A failed source is retried at its
 * cursor, then replaced by another replica of the range (which starts that pass over, so that
 * each pass stays one replica's copy). When every range is in, the
 * node publishes `syncedRing` in its entry.
 *
 * When every node of the future ring has published the future ring's id, any node makes the
 * switch, in one local step that gossip spreads whole: joining nodes become up, leaving nodes
 * removed, and read weights and zones take the new vnodes and zones. Reads then follow the new
 * ring. Once the ring has been stable for `cleanupDelayMs`, each node deletes, in bounded
 * batches, the keys whose preference list no longer includes it.
 *
 * A node that finds its own entry up but has no data (a restart of an in-memory node) marks
 * itself joining and rejoining: it keeps its place on the read ring, is not read from, and syncs.
 */
export class RangeSyncManager {
  readonly stats: RangeSyncStats = {
    keysReceived: 0,
    bytesReceived: 0,
    batches: 0,
    failedBatches: 0,
    sourceSwitches: 0,
    syncsCompleted: 0,
    keysRemoved: 0,
    versionsRefused: 0,
    keysHandedOff: 0,
  };
  private readonly config: RangeSyncConfig;
  private readonly selfId: string;
  private startedAtMs: number | null = null;
  private synced: ConsistentHash | null;
  private plan: SyncPlan | null = null;
  private pumping = false;
  private running = false;
  private timer: Timer | null = null;
  /** When the pending look is due (local clock). */
  private timerDueAtMs = 0;
  private unsubscribe: (() => void) | null = null;
  private stableSince: { readonly ringId: string; readonly atMs: number } | null = null;
  private cleanupCursor: ScanCursor | null = null;
  /** The slice of the ring the cleanup pass is in (0 between passes). */
  private cleanupSlice = 0;
  /** The hashes this node does not own on a read ring: what cleanup looks at. */
  private foreign: { readonly ringId: string; readonly ranges: readonly HashRange[] } | null = null;
  private cleanupNextAtMs = 0;
  private handingOff = false;
  private lastOwnStatus: MemberEntry['status'] | null = null;
  /** Whether the recovered store may still be taken as complete: only at the first view of the own entry. */
  private recoveredPending: boolean;

  constructor(private readonly deps: RangeSyncDeps) {
    this.config = deps.config ?? DEFAULT_RANGE_SYNC_CONFIG;
    this.selfId = deps.selfId;
    this.synced = deps.completeFor;
    this.recoveredPending = deps.recoveredData === true && deps.completeFor === null;
  }

  /**
   * Runs {@link tick} every `checkIntervalMs` while something moves or is due, every
   * `idleCheckIntervalMs` otherwise, and within `checkIntervalMs` of any change of the document.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.startedAtMs = this.deps.clock.now();
    this.unsubscribe = this.deps.gossiper.subscribe(() => this.lookSoon());
    this.schedule(this.config.checkIntervalMs);
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private schedule(delayMs: number): void {
    this.timer?.cancel();
    this.timerDueAtMs = this.deps.clock.now() + delayMs;
    this.timer = this.deps.scheduler.after(delayMs, () => {
      this.timer = null;
      if (!this.running) return;
      // A change of the document during the look (a switch, a claim) brings the next one forward.
      this.timerDueAtMs = Number.POSITIVE_INFINITY;
      this.tick();
      if (this.running && this.timer === null) this.schedule(this.nextDelayMs());
    });
  }

  /** Brings the next look forward to `checkIntervalMs` from now (the document changed, or the data was lost). */
  private lookSoon(): void {
    if (this.running && this.timerDueAtMs > this.deps.clock.now() + this.config.checkIntervalMs) this.schedule(this.config.checkIntervalMs);
  }

  /**
   * `checkIntervalMs` while anything moves, waits or is due; otherwise until the next cleanup pass
   * is due, at most `idleCheckIntervalMs`.
   */
  private nextDelayMs(): number {
    const fast = this.config.checkIntervalMs;
    const settled =
      this.plan === null &&
      !this.pumping &&
      !this.recoveredPending &&
      this.synced !== null &&
      this.stableSince !== null &&
      this.cleanupCursor === null &&
      this.cleanupSlice === 0 &&
      !this.handingOff;
    if (!settled) return fast;
    const idle = this.config.idleCheckIntervalMs ?? DEFAULT_IDLE_CHECK_INTERVAL_MS;
    return Math.max(fast, Math.min(idle, this.cleanupNextAtMs - this.deps.clock.now()));
  }

  /**
   * Declares the store incomplete: the process found out it is a restart that lost its data (a
   * peer remembers an earlier generation of it). The next tick withdraws the node's claims and
   * it catches up like any node that restarted empty.
   */
  markDataLost(): void {
    this.synced = null;
    this.plan = null;
    this.lookSoon();
  }

  /** Whether the store is complete for some ring: false after a start that lost (or never had) data. */
  hasCompleteData(): boolean {
    return this.synced !== null;
  }

  /** What is moving to this node now, or null when nothing is. */
  progress(): SyncProgress | null {
    const plan = this.plan;
    if (plan === null) return null;
    return {
      targetRing: plan.targetId,
      rangesPlanned: plan.tasks.length,
      rangesDone: plan.tasks.filter((task) => task.done).length,
      keys: plan.keys,
      bytes: plan.bytes,
    };
  }

  /** One look at the membership: start, continue or finish a sync; switch rings; clean up. */
  tick(): void {
    const me = this.deps.gossiper.entry(this.selfId);
    if (me === undefined) return;
    // Entering `joining` from another status (a lone node added to a cluster, a removed node
    // added back) means starting from nothing: whatever this store was complete for is void.
    if (me.status === 'joining' && !me.rejoining && this.lastOwnStatus !== null && this.lastOwnStatus !== 'joining') this.markDataLost();
    this.lastOwnStatus = me.status;
    if (this.recoveredPending) {
      this.recoveredPending = false;
      const current = this.ringViews();
      if (me.status === 'up' && me.syncedRing === current.futureId && current.readId === current.futureId) this.synced = current.future;
    }
    if (this.recoverFromDataLoss(me)) return;
    const views = this.ringViews();
    if (me.status === 'up' || me.status === 'joining') this.syncTowards(me, views);
    else this.plan = null;
    if (me.status !== 'removed') this.completeIfSynced(views);
    this.cleanUp(views);
    this.deps.gossiper.setProgress(this.progress());
  }

  /** The ring views of the current membership (built once per membership, see `RingViews.fromMembership`). */
  private ringViews(): RingViews {
    return RingViews.fromMembership(this.deps.gossiper.current());
  }

  /**
   * A store that is complete for no ring while the document says otherwise lost its data: the
   * node restarted. It withdraws its claim so that nobody reads from it or streams from it.
   */
  private recoverFromDataLoss(me: MemberEntry): boolean {
    if (this.synced !== null) return false;
    if (me.status === 'up') {
      this.deps.gossiper.change([{ id: this.selfId, change: { status: 'joining', rejoining: true, syncedRing: null } }]);
      return true;
    }
    if (me.status === 'leaving' && !me.forced) {
      this.deps.gossiper.change([{ id: this.selfId, change: { forced: true } }]);
      return true;
    }
    if (me.status === 'joining' && me.syncedRing !== null) {
      this.deps.gossiper.change([{ id: this.selfId, change: { syncedRing: null } }]);
      return true;
    }
    return false;
  }

  private syncTowards(me: MemberEntry, views: RingViews): void {
    if (me.syncedRing === views.futureId && this.synced !== null && ringId(this.synced) === views.futureId) {
      this.plan = null;
      return;
    }
    // Replan when the target changes, or when the replicas that may be streamed from change (a
    // node removed by force, or one that lost its data): ranges already pulled are kept.
    const sourcesKey = this.deps.gossiper
      .document()
      .filter((entry) => isSource(entry))
      .map((entry) => entry.id)
      .join(',');
    if (this.plan === null || this.plan.targetId !== views.futureId || this.plan.sourcesKey !== sourcesKey)
      this.plan = this.makePlan(views, sourcesKey);
    const plan = this.plan;
    if (plan.tasks.every((task) => task.done)) {
      this.finish(plan);
      return;
    }
    const now = this.deps.clock.now();
    if (plan.routedSinceMs === null && this.everyoneRoutesBy(plan.targetId)) plan.routedSinceMs = now;
    if (!this.pumping && plan.routedSinceMs !== null && now >= Math.max(plan.startAtMs, plan.routedSinceMs + this.config.settleDelayMs))
      void this.pump(plan);
  }

  /**
   * The barrier: this node has listened to gossip long enough to know the live coordinators, and
   * every one of them routes writes by `ringId` (trivially true when none is live).
   */
  private everyoneRoutesBy(ringId: string): boolean {
    const warmupMs = this.config.livenessWarmupMs ?? DEFAULT_LIVENESS_WARMUP_MS;
    if (this.startedAtMs === null || this.deps.clock.now() - this.startedAtMs < warmupMs) return false;
    return this.deps.gossiper.routingProcesses().every((process) => process.routes === ringId);
  }

  private makePlan(views: RingViews, sourcesKey: string): SyncPlan {
    const { n } = this.config;
    const base = this.synced ?? new ConsistentHash([]);
    const previous = this.plan;
    const stillOwned = ownedRanges(views.future, this.selfId, n);
    const carried = previous ? intersectRanges(previous.done, stillOwned) : [];
    const todo = subtractRanges(gainedRanges(base, views.future, this.selfId, n), carried);
    const entries = new Map(this.deps.gossiper.document().map((entry) => [entry.id, entry]));
    const tasks = groupRangesByOwners(views.read, todo, n).map((group): SyncTask => {
      const candidates = group.owners.map((node) => node.id).filter((id) => id !== this.selfId && isSource(entries.get(id)));
      const passes = Array.from({ length: Math.min(this.config.sourcesPerRange, candidates.length) }, (): Pass => ({
        sourceId: null,
        cursor: null,
        failures: 0,
        done: false,
      }));
      return { ranges: group.ranges, candidates, passes, done: passes.length === 0 };
    });
    const now = this.deps.clock.now();
    return {
      targetId: views.futureId,
      target: views.future,
      sourcesKey,
      startAtMs: now,
      // Only a new target needs coordinators to learn something; a replan for new sources does not.
      routedSinceMs: previous?.targetId === views.futureId ? previous.routedSinceMs : null,
      tasks,
      done: carried,
      keys: 0,
      bytes: 0,
    };
  }

  /** Pulls batches one at a time until the plan is done or replaced. Memory: one batch. */
  private async pump(plan: SyncPlan): Promise<void> {
    this.pumping = true;
    try {
      while (this.running && this.plan === plan) {
        const task = plan.tasks.find((t) => !t.done);
        const pass = task?.passes.find((p) => !p.done);
        if (task === undefined || pass === undefined) break;
        await this.pullBatch(plan, task, pass);
      }
    } finally {
      this.pumping = false;
    }
    if (this.running && this.plan === plan && plan.tasks.every((task) => task.done)) this.finish(plan);
  }

  private async pullBatch(plan: SyncPlan, task: SyncTask, pass: Pass): Promise<void> {
    const sourceId = pass.sourceId ?? this.chooseSource(task);
    const source = sourceId === null ? undefined : this.deps.gossiper.entry(sourceId);
    if (sourceId === null || source === undefined) {
      await this.sleep(this.config.retryBackoffMs);
      return;
    }
    pass.sourceId = sourceId;
    try {
      const answer = await this.deps.nodeClient.send(
        entryNode(source),
        { type: 'SCAN', ranges: task.ranges, cursor: pass.cursor, limit: this.config.batchRecords, maxBytes: this.config.batchBytes },
        { timeoutMs: this.config.requestTimeoutMs },
      );
      let bytes = 0;
      for (const { key, record } of answer.records) {
        if (isVersionTooFarAhead(this.deps, record.version)) this.stats.versionsRefused += 1;
        else this.deps.engine.apply(key, record);
        bytes += Buffer.byteLength(key, 'utf8') + record.value.byteLength;
      }
      this.stats.batches += 1;
      this.stats.keysReceived += answer.records.length;
      this.stats.bytesReceived += bytes;
      plan.keys += answer.records.length;
      plan.bytes += bytes;
      pass.failures = 0;
      pass.cursor = answer.cursor;
      if (answer.cursor === null) this.passDone(plan, task, pass);
      await this.sleep((bytes / this.config.bytesPerSecond) * 1000);
    } catch {
      this.stats.failedBatches += 1;
      pass.failures += 1;
      if (pass.failures >= this.config.attemptsPerSource && this.chooseSource(task) !== null) {
        // Another replica takes over the pass. It starts the ranges again: a pass must come
        // wholly from one replica for the passes to stay distinct key by key. A source that only
        // blips is retried at the cursor (`attemptsPerSource` times) before this happens.
        pass.sourceId = null;
        pass.cursor = null;
        pass.failures = 0;
        this.stats.sourceSwitches += 1;
      }
      await this.sleep(this.config.retryBackoffMs);
    }
  }

  private passDone(plan: SyncPlan, task: SyncTask, pass: Pass): void {
    pass.done = true;
    if (!task.passes.every((p) => p.done)) return;
    task.done = true;
    plan.done = normalizeRanges([...plan.done, ...task.ranges]);
  }

  /** A replica of the task that no other pass holds, live ones first; null when none is free. */
  private chooseSource(task: SyncTask): string | null {
    const held = new Set(task.passes.map((p) => p.sourceId));
    const free = task.candidates.filter((id) => !held.has(id));
    return free.find((id) => this.deps.gossiper.livenessOf(id) !== 'down') ?? free[0] ?? null;
  }

  private finish(plan: SyncPlan): void {
    this.synced = plan.target;
    this.plan = null;
    this.stats.syncsCompleted += 1;
    this.deps.gossiper.change([{ id: this.selfId, change: { syncedRing: plan.targetId } }]);
  }

  /**
   * Switches rings once every node of the future ring holds complete data for it, as one local
   * change of all the entries concerned. Any node may make it: the change is a function of the
   * document, so nodes that make it concurrently make the same one.
   */
  private completeIfSynced(views: RingViews): void {
    const storage = this.deps.gossiper.document().filter((e) => e.role === 'storage' && e.status !== 'removed');
    const pending = storage.some(entryPendingSwitch);
    if (!pending) return;
    const future = storage.filter((e) => e.status === 'up' || e.status === 'joining');
    if (!future.every((e) => e.syncedRing === views.futureId)) return;
    const changes = storage.flatMap((e): EntryChange[] => {
      if (e.status === 'joining') return [{ id: e.id, change: { status: 'up', readVnodes: e.vnodes, readZone: e.zone, rejoining: false } }];
      if (e.status === 'leaving') return [{ id: e.id, change: { status: 'removed' } }];
      if (entryPendingSwitch(e)) return [{ id: e.id, change: { readVnodes: e.vnodes, readZone: e.zone } }];
      return [];
    });
    this.deps.gossiper.change(changes);
  }

  /**
   * Deletes keys this node no longer owns on the read ring, a bounded batch per tick, once the
   * ring has been stable (nothing pending) and read by every coordinator known for `cleanupDelayMs`; then again every
   * `cleanupIntervalMs` (a late retry of an old write may land here after a pass). A pass walks
   * only the hashes this node does not own, one of `cleanupSlices` slices of the ring per step, so
   * its cost is the foreign keys, not the store. Each key is first handed to its owners (see
   * {@link handOff}), and deleted only once they all have it.
   */
  private cleanUp(views: RingViews): void {
    const me = this.deps.gossiper.entry(this.selfId);
    // Old owners keep their copies until every coordinator known reads by the new ring: one that
    // has not heard of the switch still reads them (issue 10, finding 4).
    const everyoneSwitched = this.deps.gossiper.everyoneReadsBy(views.readId);
    if (
      !everyoneSwitched ||
      !isRingSettled(this.deps.gossiper.document(), views) ||
      me === undefined ||
      (me.status !== 'up' && me.status !== 'removed')
    ) {
      this.stableSince = null;
      return;
    }
    const now = this.deps.clock.now();
    if (this.stableSince?.ringId !== views.readId) {
      this.stableSince = { ringId: views.readId, atMs: now };
      this.cleanupCursor = null;
      this.cleanupSlice = 0;
      this.cleanupNextAtMs = now + this.config.cleanupDelayMs;
      return;
    }
    if (now < this.cleanupNextAtMs || this.handingOff) return;
    this.cleanupStep(views);
  }

  /**
   * One step of a cleanup pass: the foreign keys of the next slices of the ring, about
   * `cleanupBatch` keys of the store walked (at least one slice) and at most `cleanupBatch`
   * records found, handed off together.
   */
  private cleanupStep(views: RingViews): void {
    const slices = Math.max(1, Math.floor(this.config.cleanupSlices ?? DEFAULT_CLEANUP_SLICES));
    const keysPerSlice = this.deps.engine.stats().keys / slices;
    const slicesPerStep = Math.max(1, Math.floor(this.config.cleanupBatch / Math.max(1, keysPerSlice)));
    const found: Array<{ readonly key: string; readonly record: VersionedValue }> = [];
    let slice = this.cleanupSlice;
    let cursor = this.cleanupCursor;
    for (let step = 0; step < slicesPerStep && found.length < this.config.cleanupBatch; step += 1) {
      const ranges = intersectRanges(this.foreignRanges(views), [sliceRange(slice, slices)]);
      const batch =
        ranges.length === 0
          ? { records: [], cursor: null }
          : this.deps.engine.scan(ranges, cursor, this.config.cleanupBatch - found.length, Number.MAX_SAFE_INTEGER);
      found.push(...batch.records);
      cursor = batch.cursor;
      if (cursor !== null) break;
      slice = slice + 1 < slices ? slice + 1 : 0;
      if (slice === 0) break;
    }
    const advance = (): void => {
      this.cleanupSlice = slice;
      this.cleanupCursor = cursor;
      if (slice === 0 && cursor === null) this.cleanupNextAtMs = this.deps.clock.now() + this.config.cleanupIntervalMs;
    };
    const leaving = found.filter(({ key }) => !views.read.getNodesForKey(key, this.config.n).some((node) => node.id === this.selfId));
    if (leaving.length === 0) {
      advance();
      return;
    }
    this.handingOff = true;
    void this.handOff(views, leaving)
      .then((handed) => {
        // The ring changed meanwhile: the next pass decides again.
        if (this.stableSince?.ringId !== views.readId) return;
        for (const { key, version } of handed) {
          // A write that landed here since the hand-off is kept for the next pass.
          if (this.deps.engine.head(key)?.version === version && this.deps.engine.remove(key)) this.stats.keysRemoved += 1;
        }
        advance();
      })
      .finally(() => {
        this.handingOff = false;
      });
  }

  /**
   * The hashes this node does not own on the read ring, computed once per ring: only keys there
   * can be left over. A node that owns every hash (N nodes of N) has none, and cleans up nothing.
   */
  private foreignRanges(views: RingViews): readonly HashRange[] {
    if (this.foreign?.ringId !== views.readId)
      this.foreign = { ringId: views.readId, ranges: subtractRanges([FULL_RANGE], ownedRanges(views.read, this.selfId, this.config.n)) };
    return this.foreign.ranges;
  }

  /**
   * Sends each record to every owner of its key on the read ring (PUT, applied there if newer)
   * and returns those every owner answered. Why: a coordinator that had not heard of the switch
   * wrote to the old owners only, and acknowledged it (issue 10, finding 4); the new owners never
   * streamed those writes, so deleting them here unhanded would lose them. A record the owners
   * already hold costs one round trip. At most `HAND_OFF_CONCURRENCY` requests are in flight.
   */
  private async handOff(
    views: RingViews,
    records: ReadonlyArray<{ readonly key: string; readonly record: VersionedValue }>,
  ): Promise<Array<{ key: string; version: number }>> {
    const handed: Array<{ key: string; version: number }> = [];
    for (let start = 0; start < records.length; start += HAND_OFF_CONCURRENCY) {
      const chunk = records.slice(start, start + HAND_OFF_CONCURRENCY);
      const delivered = await Promise.all(
        chunk.map(async ({ key, record }) => {
          // One never acceptable (see NodeDataDeps.maxClockOffsetMs) is dropped, not handed on.
          if (isVersionTooFarAhead(this.deps, record.version)) {
            this.stats.versionsRefused += 1;
            return true;
          }
          try {
            const owners = views.read.getNodesForKey(key, this.config.n);
            await Promise.all(
              owners.map((owner) =>
                this.deps.nodeClient.send(owner, { type: 'PUT', key, record }, { timeoutMs: this.config.requestTimeoutMs }),
              ),
            );
            return true;
          } catch {
            return false;
          }
        }),
      );
      chunk.forEach(({ key, record }, index) => {
        if (delivered[index]) handed.push({ key, version: record.version });
      });
      this.stats.keysHandedOff += chunk.filter((_, index) => delivered[index]).length;
    }
    return handed;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.scheduler.after(Math.max(0, Math.ceil(ms)), resolve));
  }
}

/** Slice `slice` of `slices` equal slices of the ring's hashes. */
function sliceRange(slice: number, slices: number): HashRange {
  const width = 2 ** 32 / slices;
  return [Math.floor(slice * width), Math.floor((slice + 1) * width) - 1];
}

/**
 * Whether no data is moving: the read and future rings agree and every storage node is up, with
 * its full weight, and not catching up. Cleanup and anti-entropy run only then.
 */
export function isRingSettled(document: readonly MemberEntry[], views: RingViews): boolean {
  const storage = document.filter((e) => e.role === 'storage' && e.status !== 'removed');
  return !views.changing && !storage.some((e) => e.status !== 'up' || entryPendingSwitch(e));
}

/** A replica that may send data: on the read ring, readable, and not removed by force. */
function isSource(entry: MemberEntry | undefined): boolean {
  return entry !== undefined && (entry.status === 'up' || entry.status === 'leaving') && !entry.forced && !entry.rejoining;
}
