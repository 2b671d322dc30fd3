import {
  DEFAULT_ZONE,
  type ClusterSettings,
  type Clock,
  type Node,
  type NodeClient,
  type RangeScanStorageEngine,
  type Rng,
  type Scheduler,
  type Timer,
  type VersionedValue,
} from '@dkv/core';
import { ConsistentHash, ringId } from '@dkv/hashing';
import { bootstrapEntry, DEFAULT_GOSSIPER_CONFIG, entryNode, Gossiper, type GossiperConfig, type NewMember } from '@dkv/membership';
import { AntiEntropyManager, type AntiEntropyConfig } from './anti-entropy-manager.js';
import { ClusterAdmin } from './cluster-admin.js';
import { DEFAULT_HINT_BOUNDS, ReplicationManager, type ReplicationConfig } from './replication-manager.js';
import { DEFAULT_RANGE_SYNC_CONFIG, RangeSyncManager, type RangeSyncConfig } from './range-sync-manager.js';
import { IsolationGuard, type IsolationConfig, type LastContactStore } from './isolation-guard.js';

/** Bounds of the hints a storage node keeps for other replicas: the coordinators' own defaults. */
export const DEFAULT_FALLBACK_HINTS_CONFIG: ReplicationConfig = { ...DEFAULT_HINT_BOUNDS, requestTimeoutMs: 2000 };

/** What a storage node's service needs of its elastic membership (see {@link ElasticMember.storageHooks}). */
export interface StorageHooks {
  readonly gossip: Gossiper;
  readonly canRead: () => boolean;
  readonly canScan: () => boolean;
  readonly hints: { keep(key: string, record: VersionedValue, targetNodeId: string): boolean };
}

/** How a storage node takes part in an elastic cluster. */
export interface ElasticMemberOptions {
  /** This node: id, address, vnodes. */
  readonly self: NewMember;
  /** Replication factor N. */
  readonly n: number;
  /**
   * The initial cluster when this node is one of its members (`--members`, or a lone node): they
   * all start up and complete for the initial ring. Null when the node joins an existing cluster
   * (`--join`) and learns the document from its seeds.
   */
  readonly bootstrap: readonly NewMember[] | null;
  /** Whom to gossip with while no peer is known. */
  readonly seeds: readonly Node[];
  /**
   * Ask to be added when the document learnt from the seeds does not list this node (or lists
   * it removed when this process started): what `dkv node --join` does.
   */
  readonly autoJoin: boolean;
  readonly engine: RangeScanStorageEngine;
  readonly nodeClient: NodeClient;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  readonly gossip?: GossiperConfig;
  /**
   * Cluster-wide settings beyond N (which is always declared) that this node was started with,
   * e.g. the tombstone grace: a node whose values differ from the cluster's refuses to join.
   */
  readonly settings?: ClusterSettings;
  readonly sync?: Partial<RangeSyncConfig>;
  /** Bounds of the hints this node keeps for other replicas (sloppy-quorum fallbacks). */
  readonly hints?: Partial<ReplicationConfig>;
  /** Anti-entropy pacing (N comes from `n`); false turns it off. */
  readonly antiEntropy?: Partial<AntiEntropyConfig> | false;
  /**
   * True when the engine was filled from this node's own data on disk (a durable node that
   * restarted): a member of the bootstrap cluster then keeps its store complete for the initial
   * ring even when a peer remembers an earlier generation of it, so it serves its ranges at once
   * instead of streaming them again, and catches up on the writes it missed through hints and
   * anti-entropy. A node that joined with `--join` does the same when the cluster's ring is the
   * one it was complete for when it stopped (see `RangeSyncDeps.recoveredData`). Default false (a
   * restart is a restart that lost its data).
   */
  readonly recoveredData?: boolean;
  /**
   * When the node counts as away too long (see {@link IsolationGuard}); set `maxIsolationMs` to
   * half the tombstone grace. Default {@link DEFAULT_ISOLATION_CONFIG}.
   */
  readonly isolation?: Partial<IsolationConfig>;
  /**
   * Keeps the guard's last-contact time with the node's data (a durable node's data directory),
   * so that a node stopped longer than it may be away, started again on its data, is quarantined
   * as a paused one is. Without it a restart counts as being in contact.
   */
  readonly isolationStore?: LastContactStore;
  /**
   * The clock offset the cluster tolerates (`--max-clock-offset-ms`): records whose version is
   * further ahead of this node's clock are not applied from peers. Default `DEFAULT_MAX_CLOCK_OFFSET_MS`.
   */
  readonly maxClockOffsetMs?: number;
}

/**
 * A storage node's part of the elastic cluster, wired: its {@link Gossiper}, its
 * {@link RangeSyncManager}, its {@link AntiEntropyManager}, the {@link ClusterAdmin} entry points acting on its document, and the
 * hooks its storage service needs (GOSSIP answers; no reads or scans while it catches up). The
 * apps' composition roots and the simulation build storage nodes through it.
 *
 * A member of the bootstrap cluster believes its empty store complete for the initial ring, unless
 * a peer remembers an earlier generation of it: then it is a restart that lost its data, and it
 * catches up (rejoins as itself) instead; with `recoveredData` (its store was replayed from its
 * own log) it keeps serving what it holds.
 */
export class ElasticMember {
  readonly gossiper: Gossiper;
  readonly sync: RangeSyncManager;
  readonly admin: ClusterAdmin;
  /** Null when turned off. */
  readonly antiEntropy: AntiEntropyManager | null;
  /**
   * The writes this node keeps for replicas that were down when a sloppy-quorum write went to it
   * instead (HINT): bounded per replica by count, bytes and age, and handed over at a throttled
   * pace once gossip sees the replica alive and up.
   */
  readonly hints: ReplicationManager;
  /** Quarantines the store after a long absence from the cluster (Cassandra's gc_grace rule, kept by the node itself). */
  readonly isolation: IsolationGuard;
  private joinTimer: Timer | null = null;
  /** Made once: the storage service asks for them on every read. */
  private hooks: StorageHooks | null = null;
  private sawSelfActive = false;
  private zoneChecked = false;

  constructor(private readonly options: ElasticMemberOptions) {
    const { self, bootstrap } = options;
    const initialRing = bootstrap
      ? new ConsistentHash(
          bootstrap.map((m) => ({
            id: m.id,
            address: m.address,
            role: 'storage',
            status: 'up',
            vnodes: m.vnodes,
            metadata: {},
            zone: m.zone ?? DEFAULT_ZONE,
          })),
        )
      : null;
    const initialEntries = bootstrap && initialRing ? bootstrap.map((m) => bootstrapEntry(m, ringId(initialRing))) : [];
    const gossipConfig = options.gossip ?? DEFAULT_GOSSIPER_CONFIG;
    this.gossiper = new Gossiper({
      selfId: self.id,
      initialEntries,
      seeds: options.seeds,
      nodeClient: options.nodeClient,
      clock: options.clock,
      scheduler: options.scheduler,
      rng: options.rng,
      config: gossipConfig,
      settings: { ...options.settings, n: options.n },
    });
    const dataDeps = {
      selfId: self.id,
      gossiper: this.gossiper,
      engine: options.engine,
      nodeClient: options.nodeClient,
      clock: options.clock,
      scheduler: options.scheduler,
      ...(options.maxClockOffsetMs === undefined ? {} : { maxClockOffsetMs: options.maxClockOffsetMs }),
    };
    this.sync = new RangeSyncManager({
      ...dataDeps,
      config: { ...DEFAULT_RANGE_SYNC_CONFIG, n: options.n, ...options.sync },
      completeFor: initialRing,
      recoveredData: options.recoveredData === true,
    });
    this.admin = new ClusterAdmin(this.gossiper, options.n);
    const gossiper = this.gossiper;
    this.hints = new ReplicationManager(
      options.nodeClient,
      {
        nodeById: (id) => {
          const entry = gossiper.entry(id);
          return entry === undefined || entry.status === 'removed' ? undefined : entryNode(entry);
        },
        isAvailable: (id) => gossiper.entry(id)?.status === 'up' && gossiper.livenessOf(id) === 'alive',
      },
      options.clock,
      options.scheduler,
      options.rng,
      { ...DEFAULT_FALLBACK_HINTS_CONFIG, ...options.hints },
    );
    this.isolation = new IsolationGuard({
      ...dataDeps,
      onWiped: () => this.sync.markDataLost(),
      ...(options.isolation ? { config: options.isolation } : {}),
      ...(options.isolationStore ? { store: options.isolationStore } : {}),
    });
    this.antiEntropy =
      options.antiEntropy === false
        ? null
        : new AntiEntropyManager({
            ...dataDeps,
            hasCompleteData: () => this.sync.hasCompleteData() && !this.isolation.isQuarantined(),
            config: { ...options.antiEntropy, n: options.n },
          });
    if (initialRing && options.recoveredData !== true) this.gossiper.onPreviousIncarnation(() => this.sync.markDataLost());
  }

  /**
   * The storage service's hooks: answer GOSSIP, and serve reads and scans only when the store is
   * complete and, for a member of the bootstrap cluster, only once a peer has had the chance to
   * say whether this process is a restart.
   */
  storageHooks() {
    this.hooks ??= {
      gossip: this.gossiper,
      canRead: () => this.isComplete(),
      canScan: () => this.isComplete(),
      hints: {
        keep: (key: string, record: VersionedValue, targetNodeId: string): boolean => {
          const entry = this.gossiper.entry(targetNodeId);
          if (entry === undefined || entry.status === 'removed' || entry.role !== 'storage') return false;
          this.hints.enqueue(key, record, targetNodeId);
          return true;
        },
      },
    };
    return this.hooks;
  }

  private isComplete(): boolean {
    return this.sync.hasCompleteData() && this.gossiper.hasHeardFromPeers() && !this.isolation.isQuarantined();
  }

  start(): void {
    this.gossiper.start();
    this.sync.start();
    this.antiEntropy?.start();
    this.isolation.start();
    this.hints.start();
    if (!this.joinTimer) {
      this.joinTimer = this.options.scheduler.every((this.options.gossip ?? DEFAULT_GOSSIPER_CONFIG).intervalMs, () => {
        if (this.options.autoJoin) this.joinIfUnknown();
        this.moveToOwnZoneOnce();
        // Both look once: after that the timer would only wake an idle process.
        if (this.zoneChecked && (!this.options.autoJoin || this.sawSelfActive)) {
          this.joinTimer?.cancel();
          this.joinTimer = null;
        }
      });
    }
  }

  stop(): void {
    this.gossiper.stop();
    this.sync.stop();
    this.antiEntropy?.stop();
    this.isolation.stop();
    this.hints.stop();
    this.joinTimer?.cancel();
    this.joinTimer = null;
  }

  /**
   * Once, when the document has come from a peer and lists this node: a node started with another
   * zone than its entry holds (`--zone` changed across a restart) asks to move there, and data
   * moves as for `ClusterAdmin.setZone`. Only once per process, so that a later move made through
   * the admin API is not undone by this process's flag.
   */
  private moveToOwnZoneOnce(): void {
    if (this.zoneChecked || !this.gossiper.hasHeardFromPeers()) return;
    const entry = this.gossiper.entry(this.options.self.id);
    if (entry === undefined || entry.status === 'removed') return;
    this.zoneChecked = true;
    const zone = this.options.self.zone ?? DEFAULT_ZONE;
    if (entry.status !== 'leaving' && (entry.zone ?? DEFAULT_ZONE) !== zone) this.admin.setZone(entry.id, zone);
  }

  /** Once the document has come from a peer: adds this node if it is missing (or removed before this process). */
  private joinIfUnknown(): void {
    const document = this.gossiper.document();
    if (document.length === 0) return;
    const entry = this.gossiper.entry(this.options.self.id);
    if (entry !== undefined && entry.status !== 'removed') {
      this.sawSelfActive = true;
      return;
    }
    if (this.sawSelfActive) return;
    this.admin.rebalanceForNode(this.options.self);
  }
}
