import type { Membership, Node, VersionedValue } from '@dkv/core';
import { createCoordinator, DEFAULT_COORDINATOR_CONFIG, type Coordinator, type CoordinatorConfig } from '@dkv/coordination';
import { StaticMembershipView } from '@dkv/membership';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
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
  /** Overrides of the coordinators' configuration (quorums, timeouts, queue bounds). */
  readonly coordinator?: Partial<Omit<CoordinatorConfig, 'nodeId'>>;
  /** How often each storage node runs its active expiry pass, and how much work it may do. */
  readonly sweepIntervalMs?: number;
  readonly sweepMaxWork?: number;
}

/** One simulated storage node: its own clock and engine behind the simulated network. */
export interface SimStorageNode {
  readonly node: Node;
  readonly clock: SimulatedClock;
  engine: InMemoryStorageEngine;
}

/** One simulated coordinator: its own clock and network client. */
export interface SimCoordinator {
  readonly id: string;
  readonly clock: SimulatedClock;
  readonly coordinator: Coordinator;
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

  constructor(readonly options: SimClusterOptions) {
    this.scheduler = new SimulatedScheduler();
    this.rng = new SeededRng(options.seed);
    this.network = new SimulatedNetwork({
      scheduler: this.scheduler,
      rng: this.rng.fork('network'),
      latencyMs: options.latencyMs ?? { min: 1, max: 3 },
      lossRate: options.lossRate ?? 0,
    });
    this.tombstoneGraceMs = options.tombstoneGraceMs ?? 3_600_000;
    const storageCount = options.storageNodes ?? 3;
    const nodes: Node[] = [];
    for (let i = 1; i <= storageCount; i += 1) {
      nodes.push({ id: `n${i}`, address: `sim-n${i}:7000`, role: 'storage', status: 'up', vnodes: 64, metadata: {} });
    }
    this.membership = { epoch: 1, nodes };
    for (const node of nodes) {
      const clock = new SimulatedClock(this.scheduler);
      const engine = new InMemoryStorageEngine({ clock, tombstoneGraceMs: this.tombstoneGraceMs });
      const entry: SimStorageNode = { node, clock, engine };
      this.storage.push(entry);
      this.network.register(node.id, new StorageService({ nodeId: node.id, engine }));
      const sweepMaxWork = options.sweepMaxWork ?? 1000;
      this.scheduler.every(options.sweepIntervalMs ?? 100, () => entry.engine.sweep(sweepMaxWork));
    }
    const coordinatorCount = options.coordinators ?? 1;
    for (let i = 1; i <= coordinatorCount; i += 1) {
      const id = `c${i}`;
      const clock = new SimulatedClock(this.scheduler, { offsetMs: options.coordinatorSkewMs?.[i - 1] ?? 0 });
      const config: CoordinatorConfig = { ...DEFAULT_COORDINATOR_CONFIG, ...options.coordinator, nodeId: id };
      const coordinator = createCoordinator({
        config,
        membership: new StaticMembershipView(this.membership),
        nodeClient: this.network.clientFor(id),
        clock,
        scheduler: this.scheduler,
        rng: this.rng.fork(id),
      });
      coordinator.start();
      this.coordinators.push({ id, clock, coordinator });
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
    return this.service().replicasOf(key).map((node) => node.id);
  }

  /** Restarts a storage node with an empty engine (in-memory storage loses everything). */
  restartEmpty(nodeId: string): void {
    const entry = this.storageNode(nodeId);
    entry.engine = new InMemoryStorageEngine({ clock: entry.clock, tombstoneGraceMs: this.tombstoneGraceMs });
    this.network.recover(nodeId, new StorageService({ nodeId, engine: entry.engine }));
  }

  stop(): void {
    for (const c of this.coordinators) c.coordinator.stop();
  }
}
