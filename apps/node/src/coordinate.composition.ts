import type { Coordinator, CoordinatorConfig } from '@dkv/coordination';
import type { NodeClient } from '@dkv/core';
import {
  clusterAdminApi,
  clusterOperationsApi,
  registerPublicApiMetrics,
  type PublicApiOptions,
  type PublicApiService,
} from '@dkv/public-api';
import type { ElasticMember } from '@dkv/replication';
import { CoordinatorRespBackend, type RespBackend } from '@dkv/resp';
import type { Registry } from 'prom-client';

/** What a storage node's coordinating part is built from: the node's graph, built once (see `nodeContainer`). */
export interface NodeCoordinationDeps {
  readonly config: CoordinatorConfig;
  /** The coordinator over the node's own gossip (`coordinationModule`). */
  readonly coordinator: Coordinator;
  /** The node's elastic membership: its admin entry points and the hints it keeps. */
  readonly member: ElasticMember;
  /** The coordinator's NodeClient (own replica in-process, the others over the wire stack): closed with it. */
  readonly nodeClient: NodeClient;
  /** The node's metrics registry: the public API's metrics are added to it (one `/metrics`). */
  readonly registry: Registry;
  /** Whether the node itself is serving (listening, not stopping): `/readyz` needs it too. */
  readonly isServing: () => boolean;
}

/**
 * A storage node's coordinating part (`--coordinate`, Dynamo's "any node can coordinate"): the
 * public API's service and the Redis door's backend over the node's coordinator.
 *
 * The coordinator routes by the node's own gossiped membership (its {@link ElasticMember}'s
 * `Gossiper` is both the `MembershipView` and the `ClusterObserver`): no join, no second gossiper.
 * It reports the ring it routes writes by on the node's own heartbeat, so a node that gains ranges
 * waits for this one as for any coordinator before it streams. Its NodeClient answers the node's
 * own replica in-process (`LocalFirstNodeClient`) and the others over TCP (never HTTP: the binary
 * protocol is what every node serves) with the retries and circuit breaker of the wire stack.
 * Versions it issues carry the node's id as writer id.
 */
export class NodeCoordination {
  /** The public API to register on the node's app. */
  readonly api: { readonly service: PublicApiService; readonly options: PublicApiOptions };
  /** What the node's Redis door runs commands against: the same coordinator. */
  readonly respBackend: RespBackend;

  constructor(private readonly deps: NodeCoordinationDeps) {
    const { config, coordinator, member } = deps;
    const core = coordinator.service;
    const observe = registerPublicApiMetrics(deps.registry, { metrics: () => core.metrics(), cluster: () => core.cluster() });
    const service: PublicApiService = {
      get: (key, options) => core.get(key, options),
      put: (key, value, ttlSeconds, options) => core.put(key, value, ttlSeconds, options),
      delete: (key, options) => core.delete(key, options),
      scanKeys: (cursor, options) => core.scanKeys(cursor, options),
      cluster: () => core.cluster(),
      distribution: () => core.distribution(),
      isReady: () => deps.isServing() && core.isReady(),
    };
    // Hints pending: what the coordinator owes replicas, and what the node keeps for others (sloppy quorums).
    const hintsPending = (): number => core.metrics().replicationQueueDepth + member.hints.queueDepth;
    const options: PublicApiOptions = {
      n: config.n,
      maxValueBytes: config.maxValueBytes,
      observe,
      admin: clusterAdminApi(member.admin),
      operations: clusterOperationsApi(coordinator),
      dashboard: { processId: config.nodeId, hintsPending },
    };
    this.api = { service, options };
    this.respBackend = new CoordinatorRespBackend(() => core, config.n);
  }

  /** Starts the coordinator's heartbeats and replication (once the node serves). */
  start(): void {
    this.deps.coordinator.start();
  }

  /** Stops heartbeats and replication and closes the connections to the other nodes. */
  async close(): Promise<void> {
    this.deps.coordinator.stop();
    await this.deps.nodeClient.close();
  }
}
