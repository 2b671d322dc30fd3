import { ReloadableAuth } from '@dkv/auth';
import { coordinationModule, coordinatorMembershipModule, TOKENS, transportModule, type CoordinatorGossipSettings } from '@dkv/composition';
import type { Coordinator, CoordinatorConfig } from '@dkv/coordination';
import type { Clock, Membership, NodeClient, Rng, Scheduler } from '@dkv/core';
import { DEFAULT_GOSSIPER_CONFIG, type Gossiper } from '@dkv/membership';
import { ClusterAdmin } from '@dkv/replication';
import { SystemClock, SystemRng, TimerScheduler } from '@dkv/runtime';
import { clusterAdminApi, clusterOperationsApi } from '@dkv/public-api';
import { CoordinatorRespBackend, startRespServer, type RunningRespServer } from '@dkv/resp';
import {
  applyHttpPortBounds,
  CONTROL_FRAME_BYTES,
  createControlClient,
  httpServerBoundsOptions,
  type InternodeTls,
  type WireStackSettings,
} from '@dkv/transport';
import type { FastifyBaseLogger } from 'fastify';
import { Container } from 'inversify';
import { processLogger, reloadTlsOnSighup, type SecureContextTarget, type TlsConfig } from '@dkv/app-config';
import type { CoordinatorAppConfig } from './config.js';
import { buildCoordinatorApp } from './coordinator-app.js';
import { createCoordinatorMetrics, type CoordinatorAppMetrics } from './coordinator-metrics.js';
import { DEFAULT_JOIN_BACKOFF, joinCluster } from './membership-client.js';
import { COORDINATOR_TOKENS as T } from './tokens.js';

/** The mutual-TLS material of the coordinator's calls to the storage nodes: with `--tls-ca` only. */
export function internodeTlsOf(tls: TlsConfig | null): InternodeTls | null {
  return tls?.ca == null ? null : { cert: tls.cert, key: tls.key, ca: tls.ca };
}

/** A running coordinator. */
export interface RunningCoordinator {
  /** `http://host:port` (`https://` with TLS) of the public API. */
  readonly url: string;
  readonly address: string;
  /** `redis://host:port` (`rediss://` with TLS) of the Redis protocol door. */
  readonly redisUrl: string;
  /** Stops serving, heartbeats, replication and gossip, and closes connections. */
  close(): Promise<void>;
}

/**
 * The coordinator's object graph around a membership already learned. Tests can take it and
 * rebind one port (say, the NodeClient) before {@link startCoordinator} uses it.
 */
export function coordinatorContainer(config: CoordinatorAppConfig, initial: Membership): Container {
  const c = new Container({ defaultScope: 'Singleton' });
  // The production modules: the data client's wire stack, membership by gossip, the coordinator.
  c.load(transportModule, coordinatorMembershipModule, coordinationModule);
  c.bind<CoordinatorAppConfig>(T.config).toConstantValue(config);
  c.bind<Clock>(T.clock).toConstantValue(new SystemClock(config.clockOffsetMs));
  c.bind<Scheduler>(T.scheduler).toConstantValue(new TimerScheduler());
  c.bind<Rng>(T.rng).toConstantValue(new SystemRng());
  c.bind<FastifyBaseLogger>(T.logger).toResolvedValue(
    (cfg: CoordinatorAppConfig) => processLogger(cfg.logLevel, { coordinator: cfg.coordinator.nodeId }),
    [T.config],
  );
  c.bind<CoordinatorConfig>(TOKENS.coordinatorConfig).toConstantValue(config.coordinator);
  // The stack to the storage nodes (`--transport`): a wire adapter, bounded retries of what surely
  // did not run, and a per-node circuit breaker over both (`transportModule`).
  c.bind<WireStackSettings>(TOKENS.wireSettings).toConstantValue({
    transport: config.transport,
    connectionsPerNode: config.connectionsPerNode,
    maxInFlightPerNode: config.maxInFlightPerNode,
    maxValueBytes: config.coordinator.maxValueBytes,
    nodeRetry: config.nodeRetry,
    circuitBreaker: config.circuitBreaker,
    clusterSecret: config.clusterSecret,
    tls: internodeTlsOf(config.tls),
  });
  // Membership by gossip (pull and push) with the storage nodes, starting from the ones the join
  // answered with: no single node is needed once the coordinator knows the document. It has its
  // own small client, so that gossip does not queue behind data requests (and a test can swap
  // the data client alone).
  c.bind<NodeClient>(T.gossipClient).toResolvedValue(
    (cfg: CoordinatorAppConfig) =>
      createControlClient(CONTROL_FRAME_BYTES + cfg.coordinator.maxValueBytes, cfg.clusterSecret, internodeTlsOf(cfg.tls)),
    [T.config],
  );
  c.bind<CoordinatorGossipSettings>(TOKENS.gossipSettings).toConstantValue({
    heartbeatId: config.coordinator.nodeId,
    seeds: initial.nodes.filter((node) => node.role === 'storage'),
    config: DEFAULT_GOSSIPER_CONFIG,
    n: config.coordinator.n,
  });
  c.bind<CoordinatorAppMetrics>(T.metrics).toResolvedValue(
    (coordinator: Coordinator, cfg: CoordinatorAppConfig) => createCoordinatorMetrics(coordinator.service, cfg.coordinator.nodeId),
    [T.coordinator, T.config],
  );
  return c;
}

/**
 * Starts a coordinator: reaches the node at `config.join` (retrying until `joinTimeoutMs`),
 * learns the membership document by gossip from the nodes it names, starts heartbeats,
 * replication and gossip, and serves the public API, membership changes included. Resolves once
 * it listens; rejects if the join or the listen fails.
 */
export async function startCoordinator(
  config: CoordinatorAppConfig,
  makeContainer: (initial: Membership) => Container = (m) => coordinatorContainer(config, m),
): Promise<RunningCoordinator> {
  const initial = await joinCluster(config.join, {
    deadlineMs: config.joinTimeoutMs,
    ...DEFAULT_JOIN_BACKOFF,
    clusterSecret: config.clusterSecret,
    tls: internodeTlsOf(config.tls),
  });
  const container = makeContainer(initial);
  const logger = container.get<FastifyBaseLogger>(T.logger);
  const membership = container.get<Gossiper>(T.membership);
  const coordinator = container.get<Coordinator>(T.coordinator);
  const metrics = container.get<CoordinatorAppMetrics>(T.metrics);
  const nodeClient = container.get<NodeClient>(T.nodeClient);
  const gossipClient = container.get<NodeClient>(T.gossipClient);
  membership.subscribe((next) => {
    logger.info({ epoch: next.epoch, nodes: next.nodes.map((node) => `${node.id}:${node.status}`).join(' ') }, 'membership changed');
  });
  membership.start();
  await learnDocument(membership, config.joinTimeoutMs);
  // With --auth-file: both doors check users against it, re-read on SIGHUP (see SECURITY.md).
  const auth =
    config.auth === null
      ? null
      : new ReloadableAuth(config.auth.path, config.auth, (level, message, fields) => logger[level](fields, message));
  const bounds = config.portBounds;
  const app = buildCoordinatorApp({
    service: coordinator.service,
    n: config.coordinator.n,
    maxValueBytes: config.coordinator.maxValueBytes,
    observe: (operation, status, seconds) => metrics.observe(operation, status, seconds),
    registry: metrics.registry,
    logger,
    admin: clusterAdminApi(new ClusterAdmin(membership, config.coordinator.n)),
    ...(auth === null ? {} : { auth }),
    serverBounds: httpServerBoundsOptions(bounds),
    operations: clusterOperationsApi(coordinator),
    dashboard: { processId: config.coordinator.nodeId, hintsPending: () => coordinator.service.metrics().replicationQueueDepth },
    ...(config.tls === null ? {} : { https: { cert: config.tls.cert, key: config.tls.key } }),
  });
  applyHttpPortBounds(app.server, bounds, metrics.portBounds);
  coordinator.start();
  // The Redis door opens before the HTTP API, so a ready /readyz means both doors are open.
  let resp: RunningRespServer | null = null;
  try {
    const clock = container.get<Clock>(T.clock);
    resp = await startRespServer({
      ...config.resp,
      host: config.host,
      backend: new CoordinatorRespBackend(() => coordinator.service, config.coordinator.n),
      now: () => clock.now(),
      log: (message, fields) => logger.warn(fields, message),
      ...(auth === null ? {} : { auth }),
      readTimeoutMs: bounds.readTimeoutMs,
      onBound: (event) => metrics.respBounds.hit(event),
      ...(config.tls === null ? {} : { tls: { cert: config.tls.cert, key: config.tls.key } }),
    });
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await resp?.close();
    membership.stop();
    coordinator.stop();
    await nodeClient.close();
    await gossipClient.close();
    throw error;
  }
  const redis = resp;
  const stopReloadingAuth = auth?.reloadOnSighup() ?? (() => undefined);
  // With TLS, SIGHUP also re-reads the certificate (a renewal): new connections of both doors get it.
  const tls = config.tls;
  const stopReloadingTls =
    tls === null
      ? () => undefined
      : reloadTlsOnSighup(
          tls.files,
          () => [app.server as unknown as SecureContextTarget, redis],
          (level, message, fields) => logger[level](fields, message),
        );
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : config.port;
  const address = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info(
    {
      address,
      redis: redis.url,
      epoch: initial.epoch,
      storageNodes: initial.nodes.length,
      n: config.coordinator.n,
      w: config.coordinator.w,
      r: config.coordinator.r,
    },
    'coordinator listening',
  );
  if (auth !== null) logger.info({ authFile: auth.path }, 'authentication on: both doors need a user of the auth file; SIGHUP re-reads it');
  return {
    url: `${tls === null ? 'http' : 'https'}://${address}`,
    address,
    redisUrl: redis.url,
    async close() {
      stopReloadingAuth();
      stopReloadingTls();
      membership.stop();
      await redis.close();
      await app.close();
      coordinator.stop();
      await nodeClient.close();
      await gossipClient.close();
    },
  };
}

/**
 * Waits until gossip has brought the membership document (the join already reached a node, so
 * this is a round or two), for at most `deadlineMs`. Serving before would answer QUORUM_NOT_MET.
 * Throws the gossiper's `ClusterSettingsConflictError` when the cluster's N differs from this
 * coordinator's (it refuses to join).
 */
async function learnDocument(membership: Gossiper, deadlineMs: number): Promise<void> {
  const giveUpAt = Date.now() + deadlineMs;
  while (membership.current().nodes.length === 0) {
    const refused = membership.settingsConflict();
    if (refused !== null) throw refused;
    if (Date.now() >= giveUpAt) throw new Error(`no storage node answered membership gossip within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
