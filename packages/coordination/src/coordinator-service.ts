import {
  DkvError,
  isLive,
  type ClusterInfo,
  type ClusterNodeInfo,
  type DistributionEntry,
  validateConsistency,
  validateKey,
  validateTtlSeconds,
  validateValueSize,
  MAX_TTL_SECONDS,
  type Clock,
  type DeleteOptions,
  type DeleteResult,
  type KVStore,
  type Membership,
  type MembershipView,
  type Node,
  type NodeClient,
  type NodeStatus,
  type ReadOptions,
  type ReadResult,
  type SyncProgress,
  type VersionedValue,
  type VersionMeta,
  type WriteOptions,
  type WriteResult,
  zoneOf,
} from '@dkv/core';
import { hashKey, preferOtherZones, RingViews, zoneLossReport, type ConsistentHash, type WritePlan } from '@dkv/hashing';
import type { Liveness, NodeManager } from '@dkv/membership';
import type { QuorumManager } from '@dkv/quorum';
import { VersionGenerator } from '@dkv/quorum';
import type { ReplicationManager } from '@dkv/replication';
import type { CoordinatorConfig } from './config.js';
import { ClusterKeyScanner } from './key-scan.js';
import { displayedStatus } from './node-status.js';

/**
 * What a gossip-fed process knows beyond the membership document: each node's liveness by its
 * own failure detector, and the sync progress nodes report on their heartbeats.
 */
export interface ClusterObserver {
  livenessOf(nodeId: string): Liveness;
  heartbeatOf(nodeId: string): { readonly progress: SyncProgress | null } | undefined;
  /**
   * Told the future ring id this coordinator routes writes by, whenever it changes: reported on
   * its heartbeat, so that a node gaining ranges streams only once every coordinator sends it
   * the writes of those ranges.
   */
  setRouting?(ringId: string): void;
  /** Told the read ring id this coordinator reads by, whenever it changes: reported on its heartbeat. */
  setReading?(ringId: string): void;
  /**
   * Whether every coordinator known (live or not) reads by `ringId`: until then, this coordinator
   * keeps the owners of the read rings it left in its reads and writes (see `CoordinatorService`).
   */
  everyoneReadsBy?(ringId: string): boolean;
}

/** The most earlier read rings a coordinator keeps reading and writing while others may lag (oldest dropped). */
export const MAX_DRAINING_RINGS = 8;

/** The counters a coordinator exposes as metrics. */
export interface CoordinatorMetrics {
  readonly readRepairs: number;
  readonly readRepairsDropped: number;
  readonly quorumFailures: { readonly read: number; readonly write: number };
  readonly replicationQueueDepth: number;
  readonly replicationDelivered: number;
  readonly replicationDropped: number;
  /** Optimistic writes retried because a replica held a newer version (concurrent writers). */
  readonly versionConflicts?: number;
  /** Reads that asked a spare replica because the first ones were slow (`readFanout: 'quorum'`). */
  readonly hedgedReads?: number;
  /** Writes acknowledged with stand-ins for replicas that were down (`writeQuorum: 'sloppy'`). */
  readonly sloppyWrites?: number;
  /** Versions refused for being beyond this clock plus `maxClockOffsetMs` (read from replicas, or met by a write). */
  readonly versionsRefused?: number;
  /** This process's clock minus the storage nodes', as measured (null before the first measurement). */
  readonly clockOffsetMs?: number | null;
}

/** The cluster views' answer shapes live in `@dkv/core`; re-exported where they used to be. */
export type { ClusterInfo, ClusterNodeInfo, DistributionEntry };

const EMPTY = new Uint8Array(0);

/**
 * Options of {@link CoordinatorService.put}: the consistency level, and an expiry to the
 * millisecond for edges that speak in milliseconds or absolute times (the Redis door's `PX`,
 * `PXAT`, `KEEPTTL`), where the HTTP API's whole seconds would round.
 */
export interface PutOptions extends WriteOptions {
  /**
   * Epoch milliseconds at which the value expires: a positive whole number at most one year
   * (`MAX_TTL_SECONDS`) ahead of the coordinator's clock. A time already past stores the value
   * expired (it reads as missing, like a delete). Not together with `ttlSeconds`.
   */
  readonly expiresAt?: number;
}

/**
 * The seed's `CoordinatorService`: the use cases behind the public API. For each request it finds
 * the key's replicas through its `RingViews` (preference lists of the read and future
 * `ConsistentHash` rings, `getNodesForHash`), runs the quorum read or write
 * (`QuorumManager`) and hands the replicas that were not in the quorum to the `ReplicationManager`.
 *
 * While data moves (`RingViews`), reads go to the read ring's readable replicas and writes to both
 * rings' replicas, needing one more acknowledgement per pending replica (`planWrite`), so reads
 * are correct before, during and after the switch. After the switch, reads and writes keep the
 * owners of the read ring it left (one more answer per node added) until every coordinator known
 * reads by the new ring (`ClusterObserver.everyoneReadsBy`), so that a coordinator that has not
 * heard of the switch still overlaps this one.
 *
 * Writes (and deletes, which write tombstones) get a version from a hybrid logical clock that is
 * above every write acknowledged before they began, whichever coordinator took it and whatever
 * the clocks say: by default optimistically (sent at once, counted only where it applied over a
 * lower version number, retried above a newer one a replica reports), or, with
 * `writeVersioning: 'read-first'` and for sloppy quorums, by reading the current version from a
 * quorum first (see CoordinatorConfig).
 */
export class CoordinatorService implements KVStore {
  private views: RingViews;
  /**
   * The read list of every key while the read ring has one node (a one-node cluster): the
   * same for every hash, so a read takes it as it is, without hashing its key nor walking the
   * ring (see {@link soleReadersOf}). Null with more nodes.
   */
  private soleReaders: readonly Node[] | null;
  /** As {@link soleReaders}, the write list (`writePlanOfHash`'s targets while the ring is not changing) of every key. */
  private soleWriters: readonly Node[] | null;
  /** Read rings this coordinator left that another coordinator may still read by, by ring id (oldest first). */
  private readonly draining = new Map<string, ConsistentHash>();
  private readonly versions: VersionGenerator;
  /** Optimistic writes that met a newer version on a replica and were retried above it. */
  private versionConflicts = 0;
  /** Writes that went through a sloppy quorum (stand-ins keeping hints for replicas that were down). */
  private sloppyWrites = 0;
  private readonly keyScanner: ClusterKeyScanner;

  constructor(
    private readonly config: CoordinatorConfig,
    private readonly membership: MembershipView,
    private readonly nodeManager: NodeManager,
    private readonly quorum: QuorumManager,
    private readonly replication: ReplicationManager,
    private readonly nodeClient: NodeClient,
    private readonly clock: Clock,
    private readonly observer: ClusterObserver | null = null,
  ) {
    this.versions = new VersionGenerator(clock, config.maxClockOffsetMs);
    this.views = viewsOf(membership.current());
    this.soleReaders = soleReadersOf(this.views, config.n, config.localReplicaId);
    this.soleWriters = soleWritersOf(this.views, config.n);
    this.keyScanner = new ClusterKeyScanner({
      views: () => this.views,
      nodeClient,
      isAvailable: (id) => nodeManager.isAvailable(id),
      // Expiry judged as reads judge it: by the cluster's clock, whatever this process's says.
      clock: { now: () => this.clusterNow() },
      n: config.n,
      r: config.r,
      requestTimeoutMs: config.requestTimeoutMs,
      bounds: config.keyScan,
    });
    observer?.setRouting?.(this.views.futureId);
    observer?.setReading?.(this.views.readId);
    membership.subscribe((next) => {
      const previous = this.views;
      this.views = viewsOf(next);
      this.soleReaders = soleReadersOf(this.views, config.n, config.localReplicaId);
      this.soleWriters = soleWritersOf(this.views, config.n);
      if (previous.readId !== this.views.readId) this.keepDraining(previous);
      observer?.setRouting?.(this.views.futureId);
      observer?.setReading?.(this.views.readId);
    });
  }

  /**
   * After a ring switch, the read ring this coordinator left may still be what another
   * coordinator reads by (one that has not heard of the switch, e.g. cut off from gossip): keep
   * its owners in reads and writes until every coordinator known reads by the new ring.
   */
  private keepDraining(previous: RingViews): void {
    if (this.observer?.everyoneReadsBy === undefined || previous.read.size === 0) return;
    this.draining.delete(this.views.readId);
    this.draining.set(previous.readId, previous.read);
    while (this.draining.size > MAX_DRAINING_RINGS) this.draining.delete(this.draining.keys().next().value as string);
  }

  /**
   * `plan` (its targets with quorum `needed`) widened by the owners of `hash` on the read rings
   * still being drained: one more answer needed per node added, so that at least as many of every
   * ring's owners answer as `needed` asks of the targets (the rule of `planWrite`). With no ring
   * draining (nearly always) it is `plan` itself.
   */
  private withDraining(hash: number, plan: WritePlan): WritePlan {
    if (this.draining.size === 0) return plan;
    if (this.observer?.everyoneReadsBy?.(this.views.readId) === true) {
      this.draining.clear();
      return plan;
    }
    const list = plan.targets;
    const needed = plan.needed;
    const targets = [...list];
    for (const ring of this.draining.values()) {
      for (const node of ring.getNodesForHash(hash, this.config.n)) if (!targets.some((t) => t.id === node.id)) targets.push(node);
    }
    return { targets, needed: Math.min(needed + targets.length - list.length, targets.length) };
  }

  /**
   * Reads `key` with quorum `r` (default R). Missing, expired and deleted keys read as null. A bad
   * key or `r` rejects the promise (it does not throw). It runs on every read, so it makes no
   * more than the read needs: the preference list comes with this node's own replica first (no
   * second array for the quorum's preference), the plan object only while rings drain, and the
   * answer is made by `readAnswerOf` in the quorum's deciding reaction (no promise of its own).
   */
  get(key: string, options?: ReadOptions): Promise<ReadResult | null> {
    let targets: readonly Node[];
    let needed: number;
    try {
      validateKey(key);
      needed = options?.r ?? this.config.r;
      validateConsistency('r', needed, this.config.n);
      if (this.soleReaders !== null && this.draining.size === 0) {
        targets = this.soleReaders;
      } else {
        const hash = hashKey(key);
        targets = this.views.readReplicasOfHash(hash, this.config.n, this.config.localReplicaId);
        if (this.draining.size !== 0) ({ targets, needed } = this.withDraining(hash, { targets, needed }));
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.quorum.readRecord(key, targets, needed, this.readAnswerOf);
  }

  /**
   * A read's answer from the quorum's record: null for a missing, deleted or expired key (expiry
   * by the cluster's clock, read only for a record that expires). Every version read is observed,
   * so that this coordinator's next write of the key is above it.
   */
  private readonly readAnswerOf = (record: VersionedValue | null, key: string): ReadResult | null => {
    if (!record) return null;
    this.versions.observe(record.version);
    if (record.tombstone || (record.expiresAt !== null && !isLive(record, this.clusterNow()))) return null;
    return { key, value: record.value, version: record.version, expiresAt: record.expiresAt };
  };

  /**
   * Writes `value` under `key` with quorum `w` (default W); `ttlSeconds`, or `options.expiresAt`
   * to the millisecond, makes it expire. A bad argument rejects the promise (it does not throw).
   * Written with `then` rather than `async`, as `get` is: it runs on every write.
   */
  put(key: string, value: Uint8Array, ttlSeconds?: number, options: PutOptions = {}): Promise<WriteResult> {
    let w: number;
    const expiresAt = options.expiresAt;
    try {
      validateKey(key);
      validateValueSize(value.byteLength, this.config.maxValueBytes);
      if (ttlSeconds !== undefined) validateTtlSeconds(ttlSeconds);
      if (expiresAt !== undefined) this.validateExpiresAt(expiresAt, ttlSeconds);
      w = options.w ?? this.config.w;
      validateConsistency('w', w, this.config.n);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.write(key, w, { value, tombstone: false, ttlSeconds, expiresAt }, writeResultOf);
  }

  /** Deletes `key` by writing a tombstone with quorum `w`; deleting a missing key succeeds too. */
  delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    let w: number;
    try {
      validateKey(key);
      w = options.w ?? this.config.w;
      validateConsistency('w', w, this.config.n);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.write(key, w, TOMBSTONE, deleteResultOf);
  }

  /**
   * One call of a cluster-wide key scan, as Redis's `SCAN`: start with a null cursor and pass each
   * returned cursor back until it comes back null. A full scan returns every key that held a live
   * value throughout it (perhaps more than once), skipping deleted and expired ones; `match` is a
   * Redis glob, `count` a hint of how many keys to return (at least 1; above 1000 by default it
   * counts as 1000). The cursor is an opaque string naming a position in the replicas' own scan
   * order, so any coordinator can continue it, even after the ring changed. It is not a number (`"0"` reads as the start): a door
   * whose clients parse cursors as integers must map them. See ClusterKeyScanner for how and why
   * R replicas of each range are asked.
   * @throws DkvError INVALID_REQUEST for a bad cursor, count or pattern; QUORUM_NOT_MET when fewer
   * than R replicas of some range answered (the same cursor may be retried).
   */
  scanKeys(cursor: string | null, options: { match?: string; count: number }): Promise<{ keys: string[]; cursor: string | null }> {
    return this.keyScanner.scan(cursor, options);
  }

  /**
   * An estimate of the live keys in the cluster, for Redis's `DBSIZE`: the live keys each storage
   * node reported on its last heartbeat, summed and divided by the replicas per key. No request
   * is sent, so it costs nothing and lags writes by up to a heartbeat interval; it is exact only
   * when every replica holds every write (replication and repairs caught up). Nodes that never
   * answered a heartbeat count as empty.
   */
  liveKeyCount(): number {
    const nodes = this.nodeManager.nodes();
    const held = nodes.reduce((sum, node) => sum + (this.nodeManager.healthOf(node.id)?.keys ?? 0), 0);
    const copies = Math.max(1, Math.min(this.config.n, nodes.length));
    return Math.round(held / copies);
  }

  /**
   * The cluster as this coordinator sees it: membership epoch, quorum settings, and per node its
   * document status (joining, up, leaving) unless this process believes it suspect or down, its
   * zone, with sync progress while data moves to it; and whether losing a whole zone would cost
   * the default quorums on the read ring.
   */
  cluster(): ClusterInfo {
    const membership = this.membership.current();
    const zoneLoss = zoneLossReport(this.views.read, this.config.n, this.config.w, this.config.r);
    const nodes = membership.nodes
      .filter((node) => node.role === 'storage')
      .map((node): ClusterNodeInfo => {
        const progress = this.observer?.heartbeatOf(node.id)?.progress ?? null;
        const sample = this.nodeManager.clockSampleOf(node.id);
        const info: ClusterNodeInfo = {
          id: node.id,
          address: node.address,
          status: this.statusOf(node.id, node.status),
          vnodes: node.vnodes,
          zone: zoneOf(node),
          ...(sample ? { clockOffsetMs: Math.round(sample.offsetMs) } : {}),
        };
        return progress === null ? info : { ...info, progress };
      });
    const clockProblem = this.clockProblem();
    const clockOffsetMs = this.nodeManager.clockOffsetMs();
    return {
      epoch: membership.epoch,
      replication: { n: this.config.n, w: this.config.w, r: this.config.r },
      nodes,
      ...(clockOffsetMs === null ? {} : { clockOffsetMs }),
      ...(clockProblem === null ? {} : { clockProblem }),
      ...(this.views.changing || membership.nodes.some((n) => n.role === 'storage' && (n.status === 'joining' || n.status === 'leaving'))
        ? { rebalancing: true }
        : {}),
      zoneLossSafe: zoneLoss.safe,
      zoneLossReason: zoneLoss.reason,
    };
  }

  /** Each storage node's ring share, with its key and byte counts asked fresh (last known if it does not answer). */
  async distribution(): Promise<DistributionEntry[]> {
    const shares = this.views.read.ringShares();
    const nodes = this.nodeManager.nodes();
    return Promise.all(
      nodes.map(async (node) => {
        let keys = this.nodeManager.healthOf(node.id)?.keys ?? 0;
        let bytes = this.nodeManager.healthOf(node.id)?.bytes ?? 0;
        try {
          const answer = await this.nodeClient.send(node, { type: 'PING' }, { timeoutMs: this.config.requestTimeoutMs });
          keys = answer.keys;
          bytes = answer.bytes;
        } catch {
          // The node did not answer: report what the last heartbeat said.
        }
        return { id: node.id, ringShare: shares.get(node.id) ?? 0, keys, bytes };
      }),
    );
  }

  /** True when enough storage nodes are not known to be down to serve the default read and write quorums. */
  isReady(): boolean {
    return (
      this.views.read.size > 0 &&
      this.nodeManager.availableCount() >= Math.max(this.config.r, this.config.w) &&
      this.clockProblem() === null
    );
  }

  /**
   * Why this process's clock is not fit to coordinate, or null: its measured offset from the
   * storage nodes' clocks is beyond `maxClockOffsetMs`. Its versions would then be refused by the
   * replicas (ahead) or its tombstones purged early (behind); it refuses writes and is not ready.
   */
  clockProblem(): string | null {
    const offsetMs = this.nodeManager.clockOffsetMs();
    const maxMs = this.config.maxClockOffsetMs;
    if (offsetMs === null || Math.abs(offsetMs) <= maxMs) return null;
    return `this process's clock is ${offsetMs > 0 ? 'ahead of' : 'behind'} the storage nodes' by about ${Math.abs(offsetMs)} ms; at most ${maxMs} ms (--max-clock-offset-ms) is tolerated: fix its clock (NTP)`;
  }

  /**
   * Now by the cluster's clock: this process's clock corrected by its measured offset from the
   * storage nodes' (their median). Expiry times (a TTL's `expiresAt`), a write's `updatedAt` (a
   * tombstone's time of death) and reads' expiry checks use it, so a TTL lasts what the client
   * asked on the replicas whatever this process's clock says. Versions keep to the local clock:
   * the hybrid logical clock orders writes whatever the clocks.
   */
  private clusterNow(): number {
    return this.clock.now() - (this.nodeManager.clockOffsetMs() ?? 0);
  }

  metrics(): CoordinatorMetrics {
    const q = this.quorum.stats;
    const rep = this.replication.stats;
    return {
      readRepairs: q.readRepairs,
      readRepairsDropped: q.readRepairsDropped,
      quorumFailures: { read: q.quorumFailures.read, write: q.quorumFailures.write + q.quorumFailures['version read'] },
      replicationQueueDepth: this.replication.queueDepth,
      replicationDelivered: rep.delivered,
      replicationDropped: rep.dropped,
      versionConflicts: this.versionConflicts,
      hedgedReads: q.hedgedReads,
      sloppyWrites: this.sloppyWrites,
      versionsRefused: this.versions.refusedCount(),
      clockOffsetMs: this.nodeManager.clockOffsetMs(),
    };
  }

  /** The key's N replicas on the read ring, in preference order (the placement data is complete for). */
  replicasOf(key: string): Node[] {
    return this.views.read.getNodesForKey(key, this.config.n);
  }

  /**
   * `dkv getendpoints`: the key's hash and its N replicas on the read ring in preference order,
   * each with its address, zone and status as `/v1/cluster` shows it; while data moves, also the
   * replicas of the ring it moves to (`pending`: those that will hold the key and do not yet).
   */
  endpoints(key: string): KeyEndpoints {
    validateKey(key);
    const hash = hashKey(key);
    const statuses = new Map(this.cluster().nodes.map((node) => [node.id, node.status]));
    const view = (node: Node): KeyEndpoint => ({
      id: node.id,
      address: node.address,
      zone: zoneOf(node),
      status: statuses.get(node.id) ?? 'down',
    });
    const replicas = this.views.read.getNodesForHash(hash, this.config.n);
    const future = this.views.changing ? this.views.future.getNodesForHash(hash, this.config.n) : replicas;
    const pending = future.filter((node) => !replicas.some((r) => r.id === node.id));
    return { key, hash, replicas: replicas.map(view), pending: pending.map(view) };
  }

  /**
   * `dkv hints`: the writes this coordinator still owes replicas that did not acknowledge them
   * (hinted handoff), per target node: how many, their key and value bytes, and the age of the
   * oldest. Other coordinating processes keep their own queues.
   */
  hints(): HintBacklog[] {
    const now = this.clock.now();
    return this.replication
      .hints()
      .map((target) => ({
        target: target.targetNodeId,
        count: target.tasks,
        bytes: target.bytes,
        oldestAgeMs: Math.max(0, now - target.oldestCreatedAt),
      }))
      .sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  }

  /** The read and future rings this coordinator routes by. */
  ringViews(): RingViews {
    return this.views;
  }

  /** Throws INVALID_TTL unless `expiresAt` is a whole epoch millisecond from 1 to a year ahead, given without `ttlSeconds`. */
  private validateExpiresAt(expiresAt: number, ttlSeconds: number | undefined): void {
    if (ttlSeconds !== undefined) throw new DkvError('INVALID_TTL', 'give either ttlSeconds or expiresAt, not both');
    const latest = this.clock.now() + MAX_TTL_SECONDS * 1000;
    if (!Number.isSafeInteger(expiresAt) || expiresAt < 1 || expiresAt > latest) {
      throw new DkvError(
        'INVALID_TTL',
        `expiresAt must be a whole number of epoch milliseconds from 1 to ${latest} (at most ${MAX_TTL_SECONDS} seconds ahead), got ${String(expiresAt)}`,
      );
    }
  }

  /**
   * The status shown for a node: its document status unless gossip or this coordinator's
   * heartbeats say it is suspect or down, by the precedence of `displayedStatus`. Heartbeats
   * decide whether requests go to the node, so `/v1/cluster` never shows a node up that requests
   * still skip.
   */
  private statusOf(nodeId: string, documentStatus: NodeStatus): NodeStatus {
    return displayedStatus(documentStatus, this.observer?.livenessOf(nodeId), this.nodeManager.statusOf(nodeId));
  }

  /**
   * The write path shared by put and delete. Optimistic (the default): send the record at once
   * with this coordinator's next version to the write plan's targets; it counts only where a
   * replica applied it over a strictly lower version number, and when fewer than the plan needs
   * can count it, it is retried above the highest version reported (at most MAX_WRITE_ATTEMPTS).
   * With `writeVersioning: 'read-first'` or a sloppy write quorum it takes
   * `writeAfterVersionRead` instead. Either way the replicas that did not acknowledge are left
   * to the ReplicationManager. The written record becomes the caller's answer through `finish`,
   * in the reaction that ends the write (no promise of its own between the two).
   *
   * A measured clock offset within `maxClockOffsetMs` (nearly every write) goes straight on,
   * reading the offset once; any other state takes `writeAfterClockCheck`, which measures first
   * or refuses the write.
   */
  private write<R>(key: string, w: number, spec: WriteSpec, finish: (key: string, record: VersionedValue) => R): Promise<R> {
    const offsetMs = this.nodeManager.clockOffsetMs();
    if (offsetMs === null || !(Math.abs(offsetMs) <= this.config.maxClockOffsetMs)) {
      return this.writeAfterClockCheck(key, w, spec, finish);
    }
    try {
      return this.writeWithClockChecked(key, w, spec, finish);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The write path when this process's clock offset is not known to be fine. Unmeasured, it is
   * unbounded: a tombstone stamped minutes behind would be past its purge time on arrival and
   * take the key's newer history with it. So the first write after a start (before any
   * heartbeat answered) measures first, one TIME round trip, once; a clock too far off refuses.
   */
  private async writeAfterClockCheck<R>(
    key: string,
    w: number,
    spec: WriteSpec,
    finish: (key: string, record: VersionedValue) => R,
  ): Promise<R> {
    if (!this.nodeManager.clockMeasured()) await this.nodeManager.measureClocks();
    if (!this.nodeManager.clockMeasured()) {
      throw new DkvError(
        'UNAVAILABLE',
        `write of ${JSON.stringify(key)} refused: this process cannot measure its clock's offset from the storage nodes' (none answered a clock sample); retry in a moment`,
      );
    }
    const clockProblem = this.clockProblem();
    if (clockProblem !== null) throw new DkvError('CLOCK_OFFSET_TOO_LARGE', `write of ${JSON.stringify(key)} refused: ${clockProblem}`);
    return this.writeWithClockChecked(key, w, spec, finish);
  }

  /** A write once this process's clock offset is known to be fine: optimistic, or after a version read. May throw. */
  private writeWithClockChecked<R>(
    key: string,
    w: number,
    spec: WriteSpec,
    finish: (key: string, record: VersionedValue) => R,
  ): Promise<R> {
    const optimistic = this.config.writeVersioning !== 'read-first' && this.config.writeQuorum !== 'sloppy';
    // A ring of one node, settled: every key's plan is the same, and no pending replica to count.
    if (optimistic && this.soleWriters !== null && this.draining.size === 0 && !this.views.changing) {
      const targets = this.soleWriters;
      return this.writeOptimistic(key, { targets, needed: Math.min(w, targets.length) }, undefined, spec, finish, 1, 0);
    }
    const hash = hashKey(key);
    if (!optimistic) return this.writeAfterVersionRead(key, hash, w, spec).then((record) => finish(key, record));
    const plan = this.withDraining(hash, this.views.writePlanOfHash(hash, this.config.n, w));
    return this.writeOptimistic(key, plan, this.pendingReplicasOf(hash), spec, finish, 1, 0);
  }

  /**
   * Attempt `attempt` of an optimistic write: the record with the next version above `floor`,
   * sent to the plan's targets; a conflict retries above the version a replica reported, up to
   * MAX_WRITE_ATTEMPTS. Its `updatedAt` and expiry are by the cluster's clock (`clusterNow`).
   */
  private writeOptimistic<R>(
    key: string,
    plan: WritePlan,
    countsUnvouched: ((node: Node) => boolean) | undefined,
    spec: WriteSpec,
    finish: (key: string, record: VersionedValue) => R,
    attempt: number,
    floor: number,
  ): Promise<R> {
    const now = this.clusterNow();
    const record = recordOf(spec, now, null, this.versions.next(floor), this.config.nodeId);
    return this.quorum.writeIfNewer(key, record, plan.targets, plan.needed, countsUnvouched).then((result) => {
      if ('acknowledged' in result) {
        this.replication.replicateAsync(key, record, result.stragglers);
        return finish(key, record);
      }
      this.versionConflicts += 1;
      if (attempt >= MAX_WRITE_ATTEMPTS) {
        throw new DkvError(
          'UNAVAILABLE',
          `write of ${JSON.stringify(key)} kept meeting newer versions on the replicas (${attempt} attempts): too many concurrent writers of this key`,
        );
      }
      return this.writeOptimistic(key, plan, countsUnvouched, spec, finish, attempt + 1, result.conflictVersion);
    });
  }

  /**
   * While data moves, the pending replicas of a key (on its future preference list, not on its
   * read list): a node still receiving its ranges cannot vouch for what it held, and need not,
   * since the write plan asks one more acknowledgement for each of them (see `planWrite`).
   */
  private pendingReplicasOf(hash: number): ((node: Node) => boolean) | undefined {
    if (!this.views.changing && this.draining.size === 0) return undefined;
    const read = new Set(this.views.read.getNodesForHash(hash, this.config.n).map((node) => node.id));
    return (node) => !read.has(node.id);
  }

  /**
   * The seed's write path, taken with `writeVersioning: 'read-first'` and always by a sloppy write
   * quorum: read the current version from a quorum (as many replicas as the write's own quorum, at
   * most R), issue a higher version, write it to W replicas.
   */
  private async writeAfterVersionRead(key: string, hash: number, w: number, spec: WriteSpec): Promise<VersionedValue> {
    const readable = this.views.readReplicasOfHash(hash, this.config.n);
    const strict = this.views.writePlanOfHash(hash, this.config.n, w);
    const plan = this.withDraining(hash, strict);
    const sloppy =
      this.config.writeQuorum === 'sloppy' && !this.views.changing && this.draining.size === 0
        ? this.sloppyPlan(hash, plan, readable, w)
        : null;
    const versionRead = this.withDraining(hash, { targets: readable, needed: Math.min(w, this.config.r) });
    const previous =
      sloppy?.versionQuorum === 0
        ? null
        : await this.quorum.readVersionWithQuorum(
            key,
            sloppy === null ? versionRead.targets : readable,
            sloppy?.versionQuorum ?? versionRead.needed,
          );
    const now = this.clusterNow();
    const record = recordOf(spec, now, previous, this.versions.next(previous?.version ?? 0), this.config.nodeId);
    const { stragglers } = await this.quorum.writeWithQuorum(key, record, sloppy?.targets ?? plan.targets, plan.needed, sloppy?.fallbacks);
    this.replication.replicateAsync(key, record, stragglers);
    if (sloppy !== null) this.sloppyWrites += 1;
    return record;
  }

  /**
   * A sloppy quorum's plan, or null when the strict one can succeed (enough of the key's replicas
   * are available): for each replica known down, the next available node on the ring that is not
   * a replica stands in (and keeps a hint for it), preferring one in a zone that holds no live
   * replica yet (`preferOtherZones`); the version read asks only for the replicas
   * that are available.
   */
  private sloppyPlan(hash: number, plan: WritePlan, readable: readonly Node[], w: number) {
    const isAvailable = (node: Node) => this.nodeManager.isAvailable(node.id);
    const down = plan.targets.filter((node) => !isAvailable(node));
    if (plan.targets.length - down.length >= plan.needed) return null;
    const candidates = this.views.read
      .getNodesForHash(hash, this.views.read.size)
      .filter((node) => isAvailable(node) && !plan.targets.some((t) => t.id === node.id));
    // A zone fails whole: a stand-in in a zone that no live replica is in is worth more.
    const picked = preferOtherZones(candidates, plan.targets.filter(isAvailable).map(zoneOf), down.length);
    const fallbacks = new Map<string, string>();
    const standIns: Node[] = [];
    down.forEach((replica, index) => {
      const standIn = picked[index];
      if (standIn === undefined) return;
      fallbacks.set(standIn.id, replica.id);
      standIns.push(standIn);
    });
    const availableReadable = readable.filter(isAvailable).length;
    return { targets: [...plan.targets, ...standIns], fallbacks, versionQuorum: Math.min(w, this.config.r, availableReadable) };
  }
}

/** One replica of a key, as `GET /v1/cluster/endpoints/{key}` answers it. */
export interface KeyEndpoint {
  readonly id: string;
  readonly address: string;
  readonly zone: string;
  readonly status: NodeStatus;
}

/** A key's placement: its ring hash, its replicas in preference order, and those it is moving to. */
export interface KeyEndpoints {
  readonly key: string;
  readonly hash: number;
  readonly replicas: readonly KeyEndpoint[];
  readonly pending: readonly KeyEndpoint[];
}

/** The hinted writes one coordinator holds for one target node (`GET /v1/cluster/hints`). */
export interface HintBacklog {
  readonly target: string;
  readonly count: number;
  readonly bytes: number;
  readonly oldestAgeMs: number;
}

/** Attempts of one optimistic write before it gives up: each conflict means a newer write landed meanwhile. */
const MAX_WRITE_ATTEMPTS = 4;

/** What a write stores besides its version: a value with its expiry (`put`), or a tombstone (`delete`). */
interface WriteSpec {
  readonly value: Uint8Array;
  readonly tombstone: boolean;
  /** Expiry in seconds from the write's time, by the cluster's clock. */
  readonly ttlSeconds: number | undefined;
  /** Expiry as an epoch millisecond (not together with `ttlSeconds`). */
  readonly expiresAt: number | undefined;
}

/** A delete's write: one shared spec. */
const TOMBSTONE: WriteSpec = { value: EMPTY, tombstone: true, ttlSeconds: undefined, expiresAt: undefined };

/**
 * The record a write stores, written `now` by the cluster's clock. A put over a live value keeps
 * its creation time (`previous`, known to a write that read the version first); a tombstone is
 * created now. The fields are always in this order, so every record has one shape.
 */
function recordOf(spec: WriteSpec, now: number, previous: VersionMeta | null, version: number, writerId: string): VersionedValue {
  return {
    value: spec.value,
    createdAt: !spec.tombstone && previous !== null && isLive(previous, now) ? previous.createdAt : now,
    expiresAt: spec.expiresAt ?? (spec.ttlSeconds === undefined ? null : now + spec.ttlSeconds * 1000),
    tombstone: spec.tombstone,
    version,
    writerId,
    updatedAt: now,
  };
}

function writeResultOf(key: string, record: VersionedValue): WriteResult {
  return { key, version: record.version, expiresAt: record.expiresAt };
}

function deleteResultOf(key: string, record: VersionedValue): DeleteResult {
  return { key, version: record.version };
}

/**
 * The read list (`readReplicasOfHash`, `firstId` first) shared by every key of a read ring of one
 * node, frozen, since every hash walks to that node; null for a ring of more nodes, whose lists
 * depend on the hash (or of none).
 */
function soleReadersOf(views: RingViews, n: number, firstId: string | undefined): readonly Node[] | null {
  if (views.read.size !== 1) return null;
  return Object.freeze(views.readReplicasOfHash(0, n, firstId));
}

/** The write list shared by every key of a read ring of one node (see {@link soleReadersOf}), frozen; null otherwise. */
function soleWritersOf(views: RingViews, n: number): readonly Node[] | null {
  if (views.read.size !== 1) return null;
  return Object.freeze([...views.read.getNodesForHash(0, n)]);
}

function viewsOf(membership: Membership): RingViews {
  return RingViews.fromMembership(membership);
}
