import type { Clock, MembershipView, NodeClient, Rng, Scheduler } from '@dkv/core';
import { NodeManager } from '@dkv/membership';
import { QuorumManager } from '@dkv/quorum';
import { ReplicationManager } from '@dkv/replication';
import { ClusterRepair, type RepairBounds } from './cluster-repair.js';
import { checkCoordinatorConfig, type CoordinatorConfig } from './config.js';
import { CoordinatorService, type ClusterObserver } from './coordinator-service.js';

/** What a coordinator is made of, for the composition roots and the simulation. */
export interface Coordinator {
  readonly service: CoordinatorService;
  readonly nodeManager: NodeManager;
  readonly quorum: QuorumManager;
  readonly replication: ReplicationManager;
  /** Operator repairs on demand (`POST /v1/cluster/repair`). */
  readonly repair: ClusterRepair;
  /** Starts heartbeats and the replication retry loop. */
  start(): void;
  stop(): void;
}

/** The ports a coordinator runs on. */
export interface CoordinatorDeps {
  readonly config: CoordinatorConfig;
  readonly membership: MembershipView;
  readonly nodeClient: NodeClient;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  /** Liveness and sync progress from gossip, for `/v1/cluster`; absent with a static membership. */
  readonly observer?: ClusterObserver;
  /** Bounds of operator repairs; each has a default (`DEFAULT_REPAIR_BOUNDS`). */
  readonly repairBounds?: Partial<RepairBounds>;
}

/**
 * Wires a coordinator from its ports. Plain constructor calls: the apps' Inversify composition
 * roots bind the ports and call this, and the simulation calls it directly with virtual ones.
 * Throws if the configuration is unsound, naming each bad setting.
 */
export function createCoordinator(deps: CoordinatorDeps): Coordinator {
  const problems = checkCoordinatorConfig(deps.config);
  if (problems.length > 0) throw new Error(`invalid coordinator configuration: ${problems.join('; ')}`);
  const { config, membership, nodeClient, clock, scheduler, rng } = deps;
  const nodeManager = new NodeManager(membership, nodeClient, clock, scheduler, config.heartbeat);
  const quorum = new QuorumManager(
    nodeClient,
    {
      requestTimeoutMs: config.requestTimeoutMs,
      readRepairMaxInFlight: config.readRepairMaxInFlight,
      readFanout: config.readFanout,
      hedgeMinDelayMs: config.hedgeMinDelayMs,
      hedgeMaxDelayMs: config.hedgeMaxDelayMs,
      ...(config.localReplicaId !== undefined ? { preferNodeId: config.localReplicaId } : {}),
    },
    {
      isAvailable: (id) => nodeManager.isAvailable(id),
      onReplicaOutcome: (id, ok, error) => nodeManager.reportOutcome(id, ok, error),
      clock,
      scheduler,
    },
  );
  const replication = new ReplicationManager(
    nodeClient,
    { nodeById: (id) => nodeManager.nodes().find((node) => node.id === id), isAvailable: (id) => nodeManager.isAvailable(id) },
    clock,
    scheduler,
    rng,
    { ...config.replication, requestTimeoutMs: config.requestTimeoutMs },
  );
  const service = new CoordinatorService(config, membership, nodeManager, quorum, replication, nodeClient, clock, deps.observer ?? null);
  const repair = new ClusterRepair({
    views: () => service.ringViews(),
    nodeClient,
    isAvailable: (id) => nodeManager.isAvailable(id),
    clock,
    scheduler,
    n: config.n,
    requestTimeoutMs: config.requestTimeoutMs,
    ...(deps.repairBounds === undefined ? {} : { bounds: deps.repairBounds }),
  });
  return {
    service,
    nodeManager,
    quorum,
    replication,
    repair,
    start() {
      nodeManager.start();
      replication.start();
    },
    stop() {
      nodeManager.stop();
      replication.stop();
    },
  };
}
