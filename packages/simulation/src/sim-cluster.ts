import { DEFAULT_TOMBSTONE_GRACE_MS, type Membership, type Node, type VersionedValue } from '@dkv/core';
import { createMemoryEngine } from '@dkv/composition';
import { DEFAULT_COORDINATOR_CONFIG, type Coordinator, type CoordinatorConfig } from '@dkv/coordination';
import { DEFAULT_GOSSIPER_CONFIG, entryPendingSwitch, Gossiper, StaticMembershipView, type GossiperConfig } from '@dkv/membership';
import {
  ClusterAdmin,
  RangeSyncManager,
  type ElasticMember,
  type AntiEntropyConfig,
  type AntiEntropyManager,
  type IsolationGuard,
  type RangeSyncConfig,
  type ReplicationManager,
} from '@dkv/replication';
import { CompactStorageEngine, InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { LocalFirstNodeClient } from '@dkv/transport';
import { simCoordinator, simStorageMember } from './sim-cluster.container.js';
import { SeededRng, SimulatedClock, SimulatedNetwork, SimulatedScheduler, type LatencyRange, type SimulationBounds } from '@dkv/testkit';

/** The shape of a simulated cluster. Every field has a default suited to fast, deterministic tests. */
export interface SimClusterOptions {
  readonly seed: number;
  readonly storageNodes?: number;
  readonly coordinators?: number;
  /** Clock offset of each coordinator, by index (ms); missing entries are 0. */
  readonly coordinatorSkewMs?: readonly number[];
  readonly latencyMs?: LatencyRange;
  readonly lossRate?: number;
  readonly tombstoneGraceMs?: number;
  /**
   * The storage nodes' engine: `compact` (the production default) or `map` (the reference
   * layout). Default: the `DKV_SIM_ENGINE` variable, else `compact`.
   */
  readonly engine?: 'map' | 'compact';
  /** Overrides of the coordinators' configuration (quorums, timeouts, queue bounds). */
  readonly coordinator?: Partial<Omit<CoordinatorConfig, 'nodeId'>>;
  /** How often each storage node runs its active expiry pass, and how much work it may do. */
  readonly sweepIntervalMs?: number;
  readonly sweepMaxWork?: number;
  /**
   * An elastic cluster: storage nodes and coordinators share membership by gossip, and storage
   * nodes run range sync, so nodes can be added, decommissioned and removed by force online.
   * Without it the membership is static, as in the seed's tests.
   */
  readonly elastic?: ElasticOptions;
  /**
   * Elastic clusters only. `nodes`: every storage node also coordinates (`dkv node --coordinate`):
   * a coordinator in the node's process, routing by the node's own gossip and reading its own
   * replica in-process (`LocalFirstNodeClient`); it lives and dies with the node. Default
   * `coordinators`: only the stand-alone coordinators (`coordinators` of them).
   */
  readonly topology?: 'coordinators' | 'nodes';
  /**
   * Zones to spread the storage nodes over, round-robin as `dkv cluster up --zones` does: n1 in
   * z1, n2 in z2, ... Absent: every node in the default zone.
   */
  readonly zones?: number;
}

/** Settings of an elastic simulated cluster; each has a default suited to fast tests. */
export interface ElasticOptions {
  readonly vnodes?: number;
  readonly gossip?: Partial<GossiperConfig>;
  readonly sync?: Partial<RangeSyncConfig>;
  /** Anti-entropy pacing of the storage nodes (production defaults, but 64 pieces per ring); false turns it off. */
  readonly antiEntropy?: Partial<AntiEntropyConfig> | false;
}

/** One simulated storage node: its own clock and engine behind the simulated network. */
export interface SimStorageNode {
  readonly node: Node;
  readonly clock: SimulatedClock;
  engine: InMemoryStorageEngine | CompactStorageEngine;
  /** Elastic clusters only: the node's gossiper and range sync, replaced on a restart. */
  gossiper?: Gossiper;
  sync?: RangeSyncManager;
  antiEntropy?: AntiEntropyManager | null;
  /** Elastic clusters only: the guard that quarantines the node's data after a long absence. */
  isolation?: IsolationGuard;
  /** With `topology: 'nodes'`: the coordinator running in this node's process. */
  coordinator?: Coordinator;
  /** The hints this node keeps for other replicas (sloppy-quorum stand-in). */
  hints?: ReplicationManager;
  /** The replica service its process answers with, replaced on a restart (its refusal counters). */
  service?: StorageService;
}

/** One simulated coordinator: its own clock and network client. */
export interface SimCoordinator {
  readonly id: string;
  readonly clock: SimulatedClock;
  readonly coordinator: Coordinator;
  /** Elastic clusters only: the gossiper the coordinator learns the ring from. */
  readonly gossiper?: Gossiper;
}

/**
 * A whole dkv cluster in one process, driven by one seed: storage nodes and coordinators built
 * from the production domain code, talking over a `SimulatedNetwork`, each with its own
 * `SimulatedClock`, all on one virtual timeline. The same seed replays the same run.
 */
export class SimCluster {
  readonly scheduler: SimulatedScheduler;
  readonly rng: SeededRng;
  readonly network: SimulatedNetwork;
  readonly membership: Membership;
  readonly storage: SimStorageNode[] = [];
  readonly coordinators: SimCoordinator[] = [];
  private readonly tombstoneGraceMs: number;
  private readonly members = new Map<string, ElasticMember>();

  constructor(readonly options: SimClusterOptions) {
    this.scheduler = new SimulatedScheduler();
    this.rng = new SeededRng(options.seed);
    this.network = new SimulatedNetwork({
      scheduler: this.scheduler,
      rng: this.rng.fork('network'),
      latencyMs: options.latencyMs ?? { min: 1, max: 3 },
      lossRate: options.lossRate ?? 0,
    });
    this.tombstoneGraceMs = options.tombstoneGraceMs ?? DEFAULT_TOMBSTONE_GRACE_MS;
    const storageCount = options.storageNodes ?? 3;
    const vnodes = options.elastic?.vnodes ?? 64;
    const nodes: Node[] = [];
    for (let i = 1; i <= storageCount; i += 1) {
      const zone = options.zones === undefined ? {} : { zone: `z${((i - 1) % options.zones) + 1}` };
      nodes.push({ id: `n${i}`, address: `sim-n${i}:7000`, role: 'storage', status: 'up', vnodes, metadata: {}, ...zone });
    }
    this.membership = { epoch: 1, nodes };
    for (const node of nodes) {
      const clock = new SimulatedClock(this.scheduler);
      const entry: SimStorageNode = { node, clock, engine: this.newEngine(clock) };
      this.storage.push(entry);
      this.startStorageProcess(entry, 'bootstrap');
      const sweepMaxWork = options.sweepMaxWork ?? 1000;
      this.scheduler.every(options.sweepIntervalMs ?? 100, () => entry.engine.sweep(sweepMaxWork));
    }
    const coordinatorCount = options.coordinators ?? 1;
    for (let i = 1; i <= coordinatorCount; i += 1) {
      const id = `c${i}`;
      const clock = new SimulatedClock(this.scheduler, { offsetMs: options.coordinatorSkewMs?.[i - 1] ?? 0 });
      const config: CoordinatorConfig = { ...DEFAULT_COORDINATOR_CONFIG, ...options.coordinator, nodeId: id };
      const nodeClient = this.network.clientFor(id);
      const rng = this.rng.fork(id);
      // An elastic coordinator starts knowing only one seed node and learns the ring by gossip.
      const gossiper = options.elastic
        ? new Gossiper({
            selfId: null,
            heartbeatId: id,
            initialEntries: [],
            seeds: nodes.slice(0, 1),
            nodeClient,
            clock,
            scheduler: this.scheduler,
            rng: rng.fork('gossip'),
            config: this.gossipConfig(),
          })
        : undefined;
      const coordinator = simCoordinator({
        config,
        membership: gossiper ?? new StaticMembershipView(this.membership),
        nodeClient,
        clock,
        scheduler: this.scheduler,
        rng,
        ...(gossiper ? { observer: gossiper } : {}),
      });
      gossiper?.start();
      coordinator.start();
      this.coordinators.push({ id, clock, coordinator, ...(gossiper ? { gossiper } : {}) });
    }
  }

  /** The i-th coordinator's service (0-based). */
  service(index = 0) {
    const entry = this.coordinators[index];
    if (!entry) throw new Error(`no coordinator ${index}`);
    return entry.coordinator.service;
  }

  storageNode(id: string): SimStorageNode {
    const entry = this.storage.find((s) => s.node.id === id);
    if (!entry) throw new Error(`no storage node ${id}`);
    return entry;
  }

  /** Runs the simulation until `promise` settles and returns its outcome. */
  run<T>(promise: Promise<T>, bounds: SimulationBounds = { maxVirtualMs: 120_000 }): Promise<T> {
    return this.scheduler.settle(promise, bounds);
  }

  /** Runs the simulation until `predicate()` holds (within `bounds`). */
  runUntil(predicate: () => boolean, bounds: SimulationBounds = { maxVirtualMs: 120_000 }): Promise<void> {
    return this.scheduler.runUntil(predicate, bounds);
  }

  /** Lets virtual time pass (heartbeats, retries, expiry). */
  runFor(ms: number): Promise<void> {
    return this.scheduler.runFor(ms);
  }

  /** What each storage node holds for `key`, read directly from its engine. */
  replicasOf(key: string): Array<{ nodeId: string; record: VersionedValue | null }> {
    return this.storage.map((s) => ({ nodeId: s.node.id, record: s.engine.get(key) }));
  }

  /** The key's preference list as the coordinators compute it. */
  preferenceList(key: string): string[] {
    const service = this.coordinators[0]?.coordinator.service ?? this.storage.find((s) => s.coordinator)?.coordinator?.service;
    if (!service) throw new Error('no coordinator to ask for a preference list');
    return service.replicasOf(key).map((node) => node.id);
  }

  /**
   * Restarts a storage node with an empty engine (in-memory storage loses everything). In an
   * elastic cluster the new process is configured as the old one was (an initial member with the
   * initial member list, a later one with seeds to join through): it recovers the membership by
   * gossip, learns from its peers that it is a restart, and catches up by range sync.
   */
  restartEmpty(nodeId: string): void {
    const entry = this.storageNode(nodeId);
    this.members.get(nodeId)?.stop();
    entry.engine = this.newEngine(entry.clock);
    const initial = this.membership.nodes.some((node) => node.id === nodeId);
    if (this.options.elastic) this.startStorageProcess(entry, initial ? 'bootstrap' : 'join');
    else {
      entry.service = new StorageService({ nodeId, engine: entry.engine, clock: entry.clock });
      this.network.recover(nodeId, entry.service);
    }
  }

  /**
   * Starts a new storage node process `nodeId` and asks the cluster (through `viaId`) to add it,
   * or, with `viaId` null, lets the node ask by itself through its seeds (`dkv node --join`).
   * `startedAlone`: the node first runs as a cluster of one (`dkv node` with neither `--members`
   * nor `--join`), as when an operator adds a running node with `POST /v1/cluster/nodes`.
   */
  addNode(nodeId: string, viaId: string | null = this.liveUpNodes()[0] ?? 'n1', options: { startedAlone?: boolean } = {}): SimStorageNode {
    const node: Node = {
      id: nodeId,
      address: `sim-${nodeId}:7000`,
      role: 'storage',
      status: 'joining',
      vnodes: this.options.elastic?.vnodes ?? 64,
      metadata: {},
    };
    const clock = new SimulatedClock(this.scheduler);
    const entry: SimStorageNode = { node, clock, engine: this.newEngine(clock) };
    this.storage.push(entry);
    this.startStorageProcess(entry, viaId === null ? 'join' : options.startedAlone ? 'alone' : 'added');
    const sweepMaxWork = this.options.sweepMaxWork ?? 1000;
    this.scheduler.every(this.options.sweepIntervalMs ?? 100, () => entry.engine.sweep(sweepMaxWork));
    if (viaId !== null) this.admin(viaId).rebalanceForNode({ id: nodeId, address: node.address, vnodes: node.vnodes });
    return entry;
  }

  /** Decommissions `nodeId` (or removes it by force when it is dead), through node `viaId`. */
  decommission(nodeId: string, options: { force?: boolean; via?: string } = {}): void {
    const via = options.via ?? this.liveUpNodes().find((id) => id !== nodeId) ?? 'n1';
    this.admin(via).migrateDataFromNode(nodeId, { force: options.force ?? false });
  }

  /** The admin entry points, acting on the membership document of storage node `viaId`. */
  admin(viaId: string): ClusterAdmin {
    const gossiper = this.storageNode(viaId).gossiper;
    if (!gossiper) throw new Error('admin needs an elastic cluster');
    return new ClusterAdmin(gossiper, this.options.coordinator?.n ?? DEFAULT_COORDINATOR_CONFIG.n);
  }

  /** Crashes a storage process: it neither sends nor receives, and its timers do nothing. */
  crash(nodeId: string): void {
    const entry = this.storageNode(nodeId);
    this.network.crash(nodeId);
    this.members.get(entry.node.id)?.stop();
    entry.coordinator?.stop();
  }

  /** Brings a crashed process back with its memory intact (a paused VM, a network outage). */
  recover(nodeId: string): void {
    const entry = this.storageNode(nodeId);
    this.network.recover(nodeId);
    this.members.get(entry.node.id)?.start();
    entry.coordinator?.start();
  }

  /**
   * The coordinator inside storage node `nodeId` (`topology: 'nodes'`), as a client reaches it:
   * a crashed process refuses the request, as a closed port would.
   */
  nodeService(nodeId: string) {
    const entry = this.storageNode(nodeId);
    const coordinator = entry.coordinator;
    if (!coordinator) throw new Error(`storage node ${nodeId} does not coordinate (topology: 'nodes')`);
    return {
      service: coordinator.service,
      reachable: () => !this.network.isCrashed(nodeId),
    };
  }

  /** Ids of the storage nodes that are up in their own document and not crashed. */
  liveUpNodes(): string[] {
    return this.storage
      .filter((s) => !this.network.isCrashed(s.node.id) && s.gossiper?.entry(s.node.id)?.status === 'up')
      .map((s) => s.node.id);
  }

  /**
   * True when every live storage node and coordinator holds the same document, in which every
   * member is up and placed with its own weight and zone: no data is moving and nothing is pending.
   */
  settled(): boolean {
    const live = this.storage.filter((s) => !this.network.isCrashed(s.node.id) && s.gossiper?.entry(s.node.id)?.status !== 'removed');
    const docs = [...live.map((s) => s.gossiper), ...this.coordinators.map((c) => c.gossiper)].map((g) =>
      JSON.stringify(g?.document() ?? []),
    );
    if (new Set(docs).size !== 1) return false;
    const doc = live[0]?.gossiper?.document() ?? [];
    return doc.every((e) => e.status === 'removed' || (e.status === 'up' && !entryPendingSwitch(e)));
  }

  stop(): void {
    for (const c of this.coordinators) {
      c.coordinator.stop();
      c.gossiper?.stop();
    }
    for (const member of this.members.values()) member.stop();
    for (const entry of this.storage) entry.coordinator?.stop();
  }

  private newEngine(clock: SimulatedClock): InMemoryStorageEngine | CompactStorageEngine {
    const kind = this.options.engine ?? (process.env['DKV_SIM_ENGINE'] === 'map' ? 'map' : 'compact');
    // The storage module's engines, as a node builds them from its settings.
    return createMemoryEngine({ engine: kind, tombstoneGraceMs: this.tombstoneGraceMs }, clock);
  }

  private gossipConfig(): GossiperConfig {
    return { ...DEFAULT_GOSSIPER_CONFIG, ...this.options.elastic?.gossip };
  }

  /** Seeds a (re)started process gossips with: the first two initial nodes other than itself. */
  private seedsFor(nodeId: string): Node[] {
    return this.membership.nodes.filter((node) => node.id !== nodeId).slice(0, 2);
  }

  /**
   * Starts the storage process of `entry`. Elastic: through {@link ElasticMember}, composed by the
   * production `storageMembershipModule` (`simStorageMember`), as an initial
   * member (`bootstrap`), a node the admin adds (`added`), one that asks to join through its
   * seeds (`join`), or one that runs as a cluster of its own until the admin adds it (`alone`).
   * Static: the storage service alone.
   */
  private startStorageProcess(entry: SimStorageNode, mode: 'bootstrap' | 'added' | 'join' | 'alone'): void {
    const nodeId = entry.node.id;
    if (!this.options.elastic) {
      entry.service = new StorageService({ nodeId, engine: entry.engine, clock: entry.clock });
      this.network.register(nodeId, entry.service);
      return;
    }
    const nodeClient = this.network.clientFor(nodeId);
    // Composed as apps/node composes it: the production membership module over this node's engine.
    const member = simStorageMember({
      options: {
        self: {
          id: nodeId,
          address: entry.node.address,
          vnodes: entry.node.vnodes,
          ...(entry.node.zone === undefined ? {} : { zone: entry.node.zone }),
        },
        n: this.options.coordinator?.n ?? DEFAULT_COORDINATOR_CONFIG.n,
        bootstrap: mode === 'bootstrap' ? this.membership.nodes : mode === 'alone' ? [entry.node] : null,
        seeds: mode === 'alone' ? [] : this.seedsFor(nodeId),
        autoJoin: mode === 'join',
        gossip: this.gossipConfig(),
        sync: { ...this.options.elastic.sync },
        // Rings of a few dozen keys: 64 first-level pieces instead of 4096 keep rounds short.
        antiEntropy: this.options.elastic.antiEntropy === false ? false : { piecesPerRing: 64, ...this.options.elastic.antiEntropy },
        // As apps/node: away for more than half the grace, the node quarantines its data.
        isolation: { maxIsolationMs: this.tombstoneGraceMs / 2 },
      },
      engine: entry.engine,
      controlClient: nodeClient,
      clock: entry.clock,
      scheduler: this.scheduler,
      rng: this.rng.fork(`${nodeId}@${this.scheduler.now()}`),
    });
    this.members.set(nodeId, member);
    entry.gossiper = member.gossiper;
    entry.sync = member.sync;
    entry.antiEntropy = member.antiEntropy;
    entry.isolation = member.isolation;
    entry.hints = member.hints;
    const service = new StorageService({ nodeId, engine: entry.engine, clock: entry.clock, ...member.storageHooks() });
    entry.service = service;
    if (this.network.isRegistered(nodeId)) this.network.recover(nodeId, service);
    else this.network.register(nodeId, service);
    member.start();
    if (this.options.topology === 'nodes') {
      // As apps/node's NodeCoordination: the node's gossip is the membership, its own replica is read in-process.
      entry.coordinator?.stop();
      const config: CoordinatorConfig = { ...DEFAULT_COORDINATOR_CONFIG, ...this.options.coordinator, nodeId, localReplicaId: nodeId };
      entry.coordinator = simCoordinator({
        config,
        membership: member.gossiper,
        nodeClient: new LocalFirstNodeClient(nodeId, service, nodeClient),
        clock: entry.clock,
        scheduler: this.scheduler,
        rng: this.rng.fork(`${nodeId}-coordinator@${this.scheduler.now()}`),
        observer: member.gossiper,
      });
      entry.coordinator.start();
    }
  }
}
