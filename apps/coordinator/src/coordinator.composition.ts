import { createCoordinator, type Coordinator } from '@dkv/coordination';
import type { Clock, Membership, NodeClient, Rng, Scheduler } from '@dkv/core';
import { StaticMembershipView } from '@dkv/membership';
import { SystemClock, SystemRng, TimerScheduler } from '@dkv/runtime';
import { HttpNodeClient, RetryingNodeClient, TcpNodeClient } from '@dkv/transport';
import type { FastifyBaseLogger } from 'fastify';
import { Container } from 'inversify';
import { pino } from 'pino';
import type { CoordinatorAppConfig } from './config.js';
import { buildCoordinatorApp } from './coordinator-app.js';
import { createCoordinatorMetrics, type CoordinatorAppMetrics } from './coordinator-metrics.js';
import { DEFAULT_JOIN_BACKOFF, joinCluster, MembershipRefresher } from './membership-client.js';
import { COORDINATOR_TOKENS as T } from './tokens.js';

/**
 * The binary protocol multiplexes many requests per connection, so a few connections per node
 * suffice; `--connections-per-node` above this is meant for HTTP's one-request-per-connection.
 */
const TCP_CONNECTIONS_PER_NODE_MAX = 4;

/** Room for a frame's key and metadata beyond the value itself. */
const FRAME_OVERHEAD_BYTES = 64 * 1024;

/** A running coordinator. */
export interface RunningCoordinator {
  /** `http://host:port` of the public API. */
  readonly url: string;
  readonly address: string;
  /** Stops serving, heartbeats, replication and the membership refresh, and closes connections. */
  close(): Promise<void>;
}

/**
 * The coordinator's object graph around a membership already learned. Tests can take it and
 * rebind one port (say, the NodeClient) before {@link startCoordinator} uses it.
 */
export function coordinatorContainer(config: CoordinatorAppConfig, initial: Membership): Container {
  const c = new Container({ defaultScope: 'Singleton' });
  c.bind<CoordinatorAppConfig>(T.config).toConstantValue(config);
  c.bind<Clock>(T.clock).toConstantValue(new SystemClock());
  c.bind<Scheduler>(T.scheduler).toConstantValue(new TimerScheduler());
  c.bind<Rng>(T.rng).toConstantValue(new SystemRng());
  c.bind<FastifyBaseLogger>(T.logger).toResolvedValue((cfg: CoordinatorAppConfig) => pino({ level: cfg.logLevel, base: { coordinator: cfg.coordinator.nodeId } }), [T.config]);
  c.bind<StaticMembershipView>(T.membership).toConstantValue(new StaticMembershipView(initial));
  c.bind<NodeClient>(T.nodeClient).toResolvedValue(
    (cfg: CoordinatorAppConfig, scheduler: Scheduler, rng: Rng) =>
      new RetryingNodeClient(
        cfg.transport === 'tcp'
          ? new TcpNodeClient({
              connectionsPerNode: Math.min(cfg.connectionsPerNode, TCP_CONNECTIONS_PER_NODE_MAX),
              maxInFlightPerNode: cfg.maxInFlightPerNode,
              maxFrameBytes: cfg.coordinator.maxValueBytes + FRAME_OVERHEAD_BYTES,
            })
          : new HttpNodeClient({
              connectionsPerNode: cfg.connectionsPerNode,
              maxInFlightPerNode: cfg.maxInFlightPerNode,
              maxResponseBytes: cfg.coordinator.maxValueBytes + FRAME_OVERHEAD_BYTES,
            }),
        cfg.nodeRetry,
        scheduler,
        rng,
      ),
    [T.config, T.scheduler, T.rng],
  );
  c.bind<Coordinator>(T.coordinator).toResolvedValue(
    (cfg: CoordinatorAppConfig, membership: StaticMembershipView, nodeClient: NodeClient, clock: Clock, scheduler: Scheduler, rng: Rng) =>
      createCoordinator({ config: cfg.coordinator, membership, nodeClient, clock, scheduler, rng }),
    [T.config, T.membership, T.nodeClient, T.clock, T.scheduler, T.rng],
  );
  c.bind<CoordinatorAppMetrics>(T.metrics).toResolvedValue((coordinator: Coordinator, cfg: CoordinatorAppConfig) => createCoordinatorMetrics(coordinator.service, cfg.coordinator.nodeId), [T.coordinator, T.config]);
  return c;
}

/**
 * Starts a coordinator: learns the membership from `config.join` (retrying until
 * `joinTimeoutMs`), starts heartbeats, replication and the membership refresh, and serves the
 * public API. Resolves once it listens; rejects if the join or the listen fails.
 */
export async function startCoordinator(config: CoordinatorAppConfig, makeContainer: (initial: Membership) => Container = (m) => coordinatorContainer(config, m)): Promise<RunningCoordinator> {
  const initial = await joinCluster(config.join, { deadlineMs: config.joinTimeoutMs, ...DEFAULT_JOIN_BACKOFF });
  const container = makeContainer(initial);
  const logger = container.get<FastifyBaseLogger>(T.logger);
  const membership = container.get<StaticMembershipView>(T.membership);
  const coordinator = container.get<Coordinator>(T.coordinator);
  const metrics = container.get<CoordinatorAppMetrics>(T.metrics);
  const nodeClient = container.get<NodeClient>(T.nodeClient);
  const refresher = new MembershipRefresher(
    config.join,
    () => membership.current(),
    (next) => {
      if (membership.update(next)) logger.info({ epoch: next.epoch, nodes: next.nodes.length }, 'membership changed');
    },
    container.get<Scheduler>(T.scheduler),
    config.membershipRefreshMs,
    DEFAULT_JOIN_BACKOFF.attemptTimeoutMs,
  );
  const app = buildCoordinatorApp({
    service: coordinator.service,
    n: config.coordinator.n,
    maxValueBytes: config.coordinator.maxValueBytes,
    observe: (operation, status, seconds) => metrics.observe(operation, status, seconds),
    registry: metrics.registry,
    logger,
  });
  coordinator.start();
  refresher.start();
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    refresher.stop();
    coordinator.stop();
    await nodeClient.close();
    throw error;
  }
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : config.port;
  const address = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ address, epoch: initial.epoch, storageNodes: initial.nodes.length, n: config.coordinator.n, w: config.coordinator.w, r: config.coordinator.r }, 'coordinator listening');
  return {
    url: `http://${address}`,
    address,
    async close() {
      refresher.stop();
      await app.close();
      coordinator.stop();
      await nodeClient.close();
    },
  };
}
