import { join } from 'node:path';
import { ReloadableAuth } from '@dkv/auth';
import { processLogger, reloadTlsOnSighup, type SecureContextTarget } from '@dkv/app-config';
import {
  coordinationModule,
  createMemoryEngine,
  storageMembershipModule,
  storageModule,
  TOKENS,
  transportModule,
  type MemberOptions,
  type StorageSettings,
} from '@dkv/composition';
import type { Coordinator, CoordinatorConfig } from '@dkv/coordination';
import type { Clock, Node, NodeClient, RangeScanStorageEngine, Rng, Scheduler, StorageRequestHandler } from '@dkv/core';
import { DEFAULT_GOSSIPER_CONFIG } from '@dkv/membership';
import type { ElasticMember } from '@dkv/replication';
import { startRespServer, type RunningRespServer } from '@dkv/resp';
import { LastContactFile, lockDataDirectory, NodeLogDirectory, SystemClock, SystemRng, TimerScheduler } from '@dkv/runtime';
import { DurableStorageEngine, PersistingRequestHandler, StorageService } from '@dkv/storage';
import {
  bindMultiplexed,
  CONTROL_FRAME_BYTES,
  createControlClient,
  LocalFirstNodeClient,
  TcpStorageServer,
  type BoundMultiplexedPort,
  type InternodeTls,
  type MaybeAsyncStorageRequestHandler,
  type WireStackSettings,
} from '@dkv/transport';
import type { FastifyBaseLogger } from 'fastify';
import { Container } from 'inversify';
import type { NodeConfig } from './config.js';
import { staticMembership } from './config.js';
import { NodeCoordination } from './coordinate.composition.js';
import { buildNodeApp } from './node-app.js';
import { createNodeMetrics, type NodeMetrics } from './node-metrics.js';
import { NODE_TOKENS as T, type NodeLifecycle } from './tokens.js';

/** A running storage node. */
export interface RunningNode {
  /** `http://host:port` of its internal API. */
  readonly url: string;
  /** `host:port`, as the membership names it. */
  readonly address: string;
  /** With `--coordinate`: `redis://host:port` (`rediss://` with TLS) of its Redis protocol door; null otherwise. */
  readonly redisUrl: string | null;
  /** Stops the sweeper, gossip, range sync and the server; in-flight requests finish first. */
  close(): Promise<void>;
  /**
   * Calls `listener` if the node refuses to join because a cluster-wide setting (N, the tombstone
   * grace) differs from the cluster's; the error names the setting and both values.
   */
  onRefused(listener: (error: Error) => void): void;
}

/**
 * The node's object graph, built in one pass: the port is bound first (see {@link startNode}), so
 * the node's `address` is known and nothing waits for a placeholder. It loads the production
 * modules of `@dkv/composition` (storage, membership, transport, coordination) and binds the
 * node's settings and system ports; a test takes it and rebinds one token (an engine, the wire)
 * through `startNode`'s `customize`.
 */
export function nodeContainer(config: NodeConfig, address: string): Container {
  const c = new Container({ defaultScope: 'Singleton' });
  c.load(storageModule, storageMembershipModule, transportModule, coordinationModule);
  c.bind<NodeConfig>(T.config).toConstantValue(config);
  c.bind<NodeLifecycle>(T.lifecycle).toConstantValue({ ready: false });
  c.bind<Clock>(TOKENS.clock).toConstantValue(new SystemClock());
  c.bind<Scheduler>(TOKENS.scheduler).toConstantValue(new TimerScheduler());
  c.bind<Rng>(TOKENS.rng).toConstantValue(new SystemRng());
  c.bind<FastifyBaseLogger>(T.logger).toResolvedValue((cfg: NodeConfig) => processLogger(cfg.logLevel, { node: cfg.id }), [T.config]);
  c.bind<StorageSettings>(TOKENS.storageSettings).toConstantValue({
    engine: config.engine,
    tombstoneGraceMs: config.tombstoneGraceMs,
    maxKeys: config.maxKeys,
  });
  // With --data-dir the engine of the settings is kept in a log too (and replayed at start).
  if (config.dataDir !== null) {
    c.rebind<RangeScanStorageEngine>(TOKENS.engine).toResolvedValue(
      (settings: StorageSettings, clock: Clock, scheduler: Scheduler, logger: FastifyBaseLogger) =>
        openDurableEngine(config, createMemoryEngine(settings, clock), clock, scheduler, logger),
      [TOKENS.storageSettings, TOKENS.clock, TOKENS.scheduler, T.logger],
    );
  }
  // Gossip and streaming have a binary-protocol client of their own.
  c.bind<NodeClient>(TOKENS.controlClient).toConstantValue(
    createControlClient(Math.max(config.bodyLimitBytes, CONTROL_FRAME_BYTES), config.clusterSecret, internodeTlsOf(config)),
  );
  c.bind<MemberOptions>(TOKENS.memberOptions).toResolvedValue(
    (engine: RangeScanStorageEngine) => memberOptions(config, address, engine),
    [TOKENS.engine],
  );
  c.bind<NodeMetrics>(T.metrics).toResolvedValue(
    (engine: RangeScanStorageEngine, member: ElasticMember) =>
      createNodeMetrics(
        engine,
        config.id,
        () => member.sync,
        () => member.antiEntropy,
        config.maxKeys,
      ),
    [TOKENS.engine, TOKENS.member],
  );
  c.bind<MaybeAsyncStorageRequestHandler>(T.handler).toResolvedValue(
    (engine: RangeScanStorageEngine, metrics: NodeMetrics, member: ElasticMember, clock: Clock) => {
      const handler: StorageRequestHandler = metrics.countRequests(
        metrics.countRefusals(
          new StorageService({ nodeId: config.id, engine, clock, maxClockOffsetMs: config.maxClockOffsetMs, ...member.storageHooks() }),
        ),
      );
      // A durable node answers a PUT once its write is durable under the fsync policy.
      return engine instanceof DurableStorageEngine ? new PersistingRequestHandler(handler, engine) : handler;
    },
    [TOKENS.engine, T.metrics, TOKENS.member, TOKENS.clock],
  );
  if (config.coordinator !== null && config.coordinatorClient !== null)
    bindCoordination(c, config, config.coordinator, config.coordinatorClient);
  return c;
}

/**
 * With --coordinate: the coordinator over the node's own gossip, sending to its own replica
 * in-process and to the others through the wire stack (always TCP: the binary protocol is what
 * every node serves), and the public API over it.
 */
function bindCoordination(
  c: Container,
  config: NodeConfig,
  coordinator: CoordinatorConfig,
  client: NonNullable<NodeConfig['coordinatorClient']>,
): void {
  c.bind<CoordinatorConfig>(TOKENS.coordinatorConfig).toConstantValue(coordinator);
  c.bind<WireStackSettings>(TOKENS.wireSettings).toConstantValue({
    transport: 'tcp',
    ...client,
    maxValueBytes: coordinator.maxValueBytes,
    clusterSecret: config.clusterSecret,
    tls: internodeTlsOf(config),
  });
  c.rebind<NodeClient>(TOKENS.nodeClient).toResolvedValue(
    (handler: MaybeAsyncStorageRequestHandler, remote: NodeClient) => new LocalFirstNodeClient(config.id, handler, remote),
    [T.handler, TOKENS.remoteClient],
  );
  c.bind<NodeCoordination>(T.coordination).toResolvedValue(
    (built: Coordinator, member: ElasticMember, nodeClient: NodeClient, metrics: NodeMetrics, lifecycle: NodeLifecycle) =>
      new NodeCoordination({
        config: coordinator,
        coordinator: built,
        member,
        nodeClient,
        registry: metrics.registry,
        isServing: () => lifecycle.ready,
      }),
    [TOKENS.coordinator, TOKENS.member, TOKENS.nodeClient, T.metrics, T.lifecycle],
  );
}

/** The engine of the settings kept in a log under `<dataDir>/<id>`, locked against a second process. */
function openDurableEngine(
  config: NodeConfig,
  memory: RangeScanStorageEngine,
  clock: Clock,
  scheduler: Scheduler,
  logger: FastifyBaseLogger,
): DurableStorageEngine {
  const directory = join(config.dataDir ?? '', config.id);
  // Refuses a second process on the same directory before anything in it is read.
  const lock = lockDataDirectory(directory);
  try {
    return DurableStorageEngine.open({
      engine: memory,
      directory: new NodeLogDirectory(directory),
      nodeId: config.id,
      fsync: config.fsync,
      mergeMinBytes: config.mergeMinBytes,
      clock,
      scheduler,
      logger: (level, message, fields) => logger[level](fields, message),
      onClose: () => lock.release(),
    });
  } catch (error) {
    lock.release();
    throw error;
  }
}

/**
 * The node's part of the elastic cluster: a member of the initial cluster (`--members`, or a
 * cluster of its own), or a node that asks the cluster at `--join` to add it.
 */
function memberOptions(config: NodeConfig, address: string, engine: RangeScanStorageEngine): MemberOptions {
  const members = staticMembership(config, address).nodes;
  const seeds: Node[] =
    config.join !== null
      ? config.join
          .filter((seed) => seed !== address)
          .map((seed) => ({
            id: `seed-${seed.replace(/[^A-Za-z0-9.-]/g, '-')}`.slice(0, 64),
            address: seed,
            role: 'storage',
            status: 'up',
            vnodes: config.vnodes,
            metadata: {},
          }))
      : members.filter((node) => node.id !== config.id);
  return {
    self: { id: config.id, address, vnodes: config.vnodes, zone: config.zone },
    n: config.n,
    bootstrap:
      config.join === null ? members.map((node) => ({ id: node.id, address: node.address, vnodes: node.vnodes, zone: node.zone })) : null,
    seeds,
    autoJoin: config.join !== null,
    gossip: { ...DEFAULT_GOSSIPER_CONFIG, intervalMs: config.gossipIntervalMs },
    settings: { tombstoneGraceMs: config.tombstoneGraceMs },
    sync: { bytesPerSecond: config.syncBytesPerSecond, settleDelayMs: config.syncSettleDelayMs },
    antiEntropy:
      config.antiEntropyIntervalMs === 0
        ? false
        : { intervalMs: config.antiEntropyIntervalMs, bytesPerSecond: config.antiEntropyBytesPerSecond },
    // A node that replayed its own log serves it instead of streaming its ranges again.
    recoveredData: engine instanceof DurableStorageEngine && engine.durability().recoveredEntries > 0,
    // Half the grace: the other half leaves anti-entropy (at most half the grace apart) time to
    // bring a returning node the tombstones it missed before anyone purges them.
    isolation: { maxIsolationMs: config.tombstoneGraceMs / 2 },
    maxClockOffsetMs: config.maxClockOffsetMs,
    // With --data-dir the last-contact time lives with the data: a restart after a long stop counts as away.
    ...(config.dataDir === null ? {} : { isolationStore: new LastContactFile(join(config.dataDir, config.id)) }),
  };
}

/**
 * On SIGHUP: the auth file is re-read, and with TLS the certificate too (a renewal), given to
 * `targets` for new connections; files that fail their checks leave what is in force. Returns the
 * function that stops listening.
 */
function reloadOnSighup(
  auth: ReloadableAuth | null,
  tls: NodeConfig['tls'],
  targets: readonly SecureContextTarget[],
  logger: FastifyBaseLogger,
): () => void {
  const stopAuth = auth?.reloadOnSighup() ?? (() => undefined);
  const stopTls =
    tls === null
      ? () => undefined
      : reloadTlsOnSighup(
          tls.files,
          () => targets,
          (level, message, fields) => logger[level](fields, message),
        );
  return () => {
    stopAuth();
    stopTls();
  };
}

/** The mutual-TLS material of the node's calls to its peers: with `--tls-ca` only (the config requires it with TLS). */
function internodeTlsOf(config: NodeConfig): InternodeTls | null {
  const tls = config.tls;
  return tls?.ca == null ? null : { cert: tls.cert, key: tls.key, ca: tls.ca };
}

/**
 * Starts a storage node: binds its port first (so its address is known), builds its object graph
 * once ({@link nodeContainer}; `customize` may rebind a token first, as the swap tests do), then
 * serves the internal replica API, its membership document, `/livez`, `/readyz` and `/metrics`,
 * and with `config.coordinator` the public API and the Redis door (see `NodeCoordination`), on
 * that port. Resolves once it serves.
 */
export async function startNode(config: NodeConfig, customize: (container: Container) => void = () => undefined): Promise<RunningNode> {
  const bounds = config.portBounds;
  const port = await bindMultiplexed({
    host: config.host,
    port: config.port,
    maxFrameBytes: config.bodyLimitBytes,
    maxConnections: bounds.maxConnections,
    ...(config.tls === null ? {} : { tls: { cert: config.tls.cert, key: config.tls.key, ca: config.tls.ca } }),
  });
  // The address the others reach this node at: advertised (a pod's DNS name), or where it listens.
  const address = config.advertiseAddress ?? `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port.port}`;
  let graph: NodeGraph;
  try {
    const container = nodeContainer(config, address);
    customize(container);
    graph = resolveGraph(container, config);
  } catch (error) {
    await port.close();
    throw error;
  }
  return serveNode(config, address, port, graph);
}

/** What {@link startNode} serves: the roots of the node's object graph, each built once. */
interface NodeGraph {
  readonly engine: RangeScanStorageEngine;
  readonly member: ElasticMember;
  readonly handler: MaybeAsyncStorageRequestHandler;
  readonly metrics: NodeMetrics;
  readonly controlClient: NodeClient;
  readonly coordination: NodeCoordination | null;
  readonly lifecycle: NodeLifecycle;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly logger: FastifyBaseLogger;
}

function resolveGraph(c: Container, config: NodeConfig): NodeGraph {
  return {
    engine: c.get<RangeScanStorageEngine>(TOKENS.engine),
    member: c.get<ElasticMember>(TOKENS.member),
    handler: c.get<MaybeAsyncStorageRequestHandler>(T.handler),
    metrics: c.get<NodeMetrics>(T.metrics),
    controlClient: c.get<NodeClient>(TOKENS.controlClient),
    coordination: config.coordinator === null ? null : c.get<NodeCoordination>(T.coordination),
    lifecycle: c.get<NodeLifecycle>(T.lifecycle),
    scheduler: c.get<Scheduler>(TOKENS.scheduler),
    clock: c.get<Clock>(TOKENS.clock),
    logger: c.get<FastifyBaseLogger>(T.logger),
  };
}

/** Serves the built graph on the bound port, starts the node's loops, and returns its handle. */
async function serveNode(config: NodeConfig, address: string, port: BoundMultiplexedPort, graph: NodeGraph): Promise<RunningNode> {
  const { engine, member, handler, metrics, controlClient, coordination, lifecycle, scheduler, clock, logger } = graph;
  const bounds = config.portBounds;
  const counters = metrics.portBounds;
  const tls = config.tls;
  // With --auth-file: the public API, the Redis door and /metrics check users against it, re-read on SIGHUP.
  const auth =
    config.auth === null
      ? null
      : new ReloadableAuth(config.auth.path, config.auth, (level, message, fields) => logger[level](fields, message));
  const app = buildNodeApp({
    handler,
    membership: () => member.gossiper.current(),
    isReady: () => lifecycle.ready,
    registry: metrics.registry,
    bodyLimitBytes: config.bodyLimitBytes,
    logger,
    ...(coordination
      ? { publicApi: { service: coordination.api.service, options: { ...coordination.api.options, ...(auth === null ? {} : { auth }) } } }
      : {}),
    ...(auth === null ? {} : { auth }),
    bounds,
    clusterSecret: config.clusterSecret,
    counters,
    requirePeerCertificate: internodeTlsOf(config) !== null,
  });
  // One port serves both the binary internode protocol (the default between processes) and
  // HTTP (internal routes, health, metrics): the node has one address whatever the transport.
  await app.ready();
  const tcp = new TcpStorageServer(handler, {
    maxFrameBytes: config.bodyLimitBytes,
    ...bounds,
    clusterSecret: config.clusterSecret,
    counters,
    onWarning: (message) => logger.warn(message),
  });
  port.serve({ tcp, http: app.server, counters });
  const sweeper = scheduler.every(config.sweepIntervalMs, () => engine.sweep(config.sweepMaxWork));
  member.gossiper.subscribe((membership) => {
    const states = membership.nodes.map((node) => `${node.id}:${node.status}`).join(' ');
    logger.info({ epoch: membership.epoch, nodes: states }, 'membership changed');
  });
  member.start();
  coordination?.start();
  const stop = async (): Promise<void> => {
    sweeper.cancel();
    member.stop();
    await controlClient.close();
    await port.close();
    await tcp.close();
    await app.close();
    // After the app: public requests still in flight finish against the other replicas.
    await coordination?.close();
  };
  // With --coordinate, the Redis door opens before the node reports ready (cluster up waits for /readyz).
  let resp: RunningRespServer | null = null;
  if (coordination !== null && config.resp !== null) {
    try {
      resp = await startRespServer({
        ...config.resp,
        host: config.host,
        backend: coordination.respBackend,
        now: () => clock.now(),
        log: (message, fields) => logger.warn(fields, message),
        ...(auth === null ? {} : { auth }),
        readTimeoutMs: bounds.readTimeoutMs,
        onBound: (event) => metrics.respBounds.hit(event),
        ...(tls === null ? {} : { tls: { cert: tls.cert, key: tls.key } }),
      });
    } catch (error) {
      await stop();
      if (engine instanceof DurableStorageEngine) engine.close();
      throw error;
    }
  }
  lifecycle.ready = true;
  const stopReloading = reloadOnSighup(auth, tls, [port, ...(resp === null ? [] : [resp])], logger);
  logger.info(
    {
      address,
      zone: config.zone,
      redis: resp?.url ?? null,
      members: staticMembership(config, address).nodes.length,
      join: config.join,
      coordinate: coordination !== null,
    },
    'storage node listening',
  );
  member.gossiper.onSettingsConflict((error) => logger.error({ err: error.message }, 'refusing to join the cluster'));
  return {
    url: `${tls === null ? 'http' : 'https'}://${address}`,
    address,
    redisUrl: resp?.url ?? null,
    onRefused(listener) {
      const known = member.gossiper.settingsConflict();
      if (known !== null) listener(known);
      else member.gossiper.onSettingsConflict(listener);
    },
    async close() {
      stopReloading();
      lifecycle.ready = false;
      await resp?.close();
      await stop();
      // Last: every write that was answered is in the log; this syncs and closes it.
      if (engine instanceof DurableStorageEngine) engine.close();
    },
  };
}
