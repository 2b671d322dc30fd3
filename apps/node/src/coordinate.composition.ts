import { createCoordinator, type Coordinator, type CoordinatorConfig, type CoordinatorMetrics } from '@dkv/coordination';
import { DkvError, type Clock, type NodeClient, type Rng, type Scheduler } from '@dkv/core';
import { clusterAdminApi, clusterOperationsApi, registerPublicApiMetrics, type ClusterAdminApi, type ClusterOperationsApi, type PublicApiOptions, type PublicApiService } from '@dkv/public-api';
import type { ElasticMember } from '@dkv/replication';
import { createWireClient, createWireStack, LocalFirstNodeClient, type MaybeAsyncStorageRequestHandler } from '@dkv/transport';
import { CoordinatorRespBackend, type RespBackend } from '@dkv/resp';
import type { Registry } from 'prom-client';
import type { CoordinatorClientConfig } from './coordinate-config.js';

/** The coordination counters before the coordinator exists (a scrape cannot come before the listen, but it costs nothing to be safe). */
const NO_METRICS: CoordinatorMetrics = { readRepairs: 0, readRepairsDropped: 0, quorumFailures: { read: 0, write: 0 }, replicationQueueDepth: 0, replicationDelivered: 0, replicationDropped: 0 };

/** What a storage node's coordinating part is built from. */
export interface NodeCoordinationDeps {
  readonly config: CoordinatorConfig;
  /** The wire stack to the other nodes: connections, retries, circuit breaker. */
  readonly client: CoordinatorClientConfig;
  /** The node's own replica handler: requests to itself are answered by it, in-process. */
  readonly handler: MaybeAsyncStorageRequestHandler;
  /** The node's metrics registry: the public API's metrics are added to it (one `/metrics`). */
  readonly registry: Registry;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  /** Whether the node itself is serving (listening, not stopping): `/readyz` needs it too. */
  readonly isServing: () => boolean;
  /** The cluster secret its TCP client proves to the other nodes; null: none (see `NodeConfig.clusterSecret`). */
  readonly clusterSecret?: string | null;
}

/**
 * A storage node's coordinating part (`--coordinate`, Dynamo's "any node can coordinate"): the
 * public API's service, built before the node listens, and the coordinator behind it, composed
 * once the node's elastic membership exists ({@link attach}: the member needs the bound address).
 *
 * The coordinator routes by the node's own gossiped membership (its {@link ElasticMember}'s
 * `Gossiper` is both the `MembershipView` and the `ClusterObserver`): no join, no second gossiper.
 * It reports the ring it routes writes by on the node's own heartbeat, so a node that gains ranges
 * waits for this one as for any coordinator before it streams. Its NodeClient answers the node's
 * own replica in-process (`LocalFirstNodeClient`) and the others over TCP (never HTTP: the binary
 * protocol is what every node serves) with the retries and circuit breaker of `deps.client`.
 * Versions it issues carry the node's id as writer id.
 */
export class NodeCoordination {
  private coordinator: Coordinator | null = null;
  private admin: ClusterAdminApi | null = null;
  private member: ElasticMember | null = null;
  private readonly nodeClient: NodeClient;
  /** The public API to register on the node's app: a service and options that reach the coordinator once attached. */
  readonly api: { readonly service: PublicApiService; readonly options: PublicApiOptions };
  /** What the node's Redis door runs commands against: the same coordinator, once attached. */
  readonly respBackend: RespBackend;

  constructor(private readonly deps: NodeCoordinationDeps) {
    const { config, client, clock, scheduler, rng } = deps;
    // Always TCP to the other nodes: the binary protocol is what every node serves.
    const wire = createWireClient({ transport: 'tcp', connectionsPerNode: client.connectionsPerNode, maxInFlightPerNode: client.maxInFlightPerNode, maxValueBytes: config.maxValueBytes, clusterSecret: deps.clusterSecret ?? null });
    this.nodeClient = new LocalFirstNodeClient(config.nodeId, deps.handler, createWireStack(wire, client, { clock, scheduler, rng }));
    const observe = registerPublicApiMetrics(deps.registry, { metrics: () => this.coordinator?.service.metrics() ?? NO_METRICS, cluster: () => this.running().service.cluster() });
    const service: PublicApiService = {
      get: (key, options) => this.running().service.get(key, options),
      put: (key, value, ttlSeconds, options) => this.running().service.put(key, value, ttlSeconds, options),
      delete: (key, options) => this.running().service.delete(key, options),
      scanKeys: (cursor, options) => this.running().service.scanKeys(cursor, options),
      cluster: () => this.running().service.cluster(),
      distribution: () => this.running().service.distribution(),
      isReady: () => deps.isServing() && this.coordinator !== null && this.coordinator.service.isReady(),
    };
    const admin: ClusterAdminApi = {
      addNode: (request) => this.adminApi().addNode(request),
      removeNode: (id, force) => this.adminApi().removeNode(id, force),
      setVnodes: (id, vnodes) => this.adminApi().setVnodes(id, vnodes),
      setZone: (id, zone) => this.adminApi().setZone(id, zone),
    };
    const operations: ClusterOperationsApi = {
      endpoints: (key) => clusterOperationsApi(this.running()).endpoints(key),
      hints: () => clusterOperationsApi(this.running()).hints(),
      startRepair: (options) => clusterOperationsApi(this.running()).startRepair(options),
      repair: (id) => clusterOperationsApi(this.running()).repair(id),
    };
    // Hints pending: what the coordinator owes replicas, and what the node keeps for others (sloppy quorums).
    const hintsPending = (): number => (this.coordinator?.service.metrics().replicationQueueDepth ?? 0) + (this.member?.hints.queueDepth ?? 0);
    this.api = { service, options: { n: config.n, maxValueBytes: config.maxValueBytes, observe, admin, operations, dashboard: { processId: config.nodeId, hintsPending } } };
    this.respBackend = new CoordinatorRespBackend(() => this.running().service, config.n);
  }

  /** Composes the coordinator over the node's membership and starts its heartbeats and replication. */
  attach(member: ElasticMember): void {
    if (this.coordinator !== null) return;
    const { config, clock, scheduler, rng } = this.deps;
    this.coordinator = createCoordinator({ config, membership: member.gossiper, nodeClient: this.nodeClient, clock, scheduler, rng, observer: member.gossiper });
    this.admin = clusterAdminApi(member.admin);
    this.member = member;
    this.coordinator.start();
  }

  /** Stops heartbeats and replication and closes the connections to the other nodes. */
  async close(): Promise<void> {
    this.coordinator?.stop();
    await this.nodeClient.close();
  }

  /** The coordinator; before {@link attach} (nothing can arrive then: the node is not listening yet) UNAVAILABLE. */
  private running(): Coordinator {
    if (this.coordinator === null) throw new DkvError('UNAVAILABLE', 'the node is starting');
    return this.coordinator;
  }

  private adminApi(): ClusterAdminApi {
    if (this.admin === null) throw new DkvError('UNAVAILABLE', 'the node is starting');
    return this.admin;
  }
}
