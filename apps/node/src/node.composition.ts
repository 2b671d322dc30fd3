import { join } from 'node:path';
import { ReloadableAuth } from '@dkv/auth';
import type { Clock, Node, RangeScanStorageEngine, Scheduler, StorageRequestHandler } from '@dkv/core';
import { DEFAULT_GOSSIPER_CONFIG } from '@dkv/membership';
import { ElasticMember } from '@dkv/replication';
import { lockDataDirectory, NodeLogDirectory, SystemClock, SystemRng, TimerScheduler } from '@dkv/runtime';
import { CompactStorageEngine, DurableStorageEngine, InMemoryStorageEngine, PersistingRequestHandler, StorageService } from '@dkv/storage';
import { startRespServer, type RunningRespServer } from '@dkv/resp';
import { DEFAULT_PORT_BOUNDS, listenMultiplexed, TcpNodeClient, TcpStorageServer, type MaybeAsyncStorageRequestHandler } from '@dkv/transport';
import type { FastifyBaseLogger } from 'fastify';
import { Container } from 'inversify';
import { processLogger } from '@dkv/app-config';
import type { NodeConfig } from './config.js';
import { staticMembership } from './config.js';
import { ElasticHooks } from './elastic-hooks.js';
import { NodeCoordination } from './coordinate.composition.js';
import { buildNodeApp } from './node-app.js';
import { createNodeMetrics, type NodeMetrics } from './node-metrics.js';
import { NODE_TOKENS as T } from './tokens.js';

/** A running storage node. */
export interface RunningNode {
  /** `http://host:port` of its internal API. */
  readonly url: string;
  /** `host:port`, as the membership names it. */
  readonly address: string;
  /** With `--coordinate`: `redis://host:port` of its Redis protocol door; null otherwise. */
  readonly redisUrl: string | null;
  /** Stops the sweeper, gossip, range sync and the server; in-flight requests finish first. */
  close(): Promise<void>;
  /**
   * Calls `listener` if the node refuses to join because a cluster-wide setting (N, the tombstone
   * grace) differs from the cluster's; the error names the setting and both values.
   */
  onRefused(listener: (error: Error) => void): void;
}

/** The node's object graph. Tests can take it and rebind one port before calling {@link startNode}'s parts. */
export function nodeContainer(config: NodeConfig): Container {
  const c = new Container({ defaultScope: 'Singleton' });
  c.bind<NodeConfig>(T.config).toConstantValue(config);
  c.bind<Clock>(T.clock).toConstantValue(new SystemClock());
  c.bind<Scheduler>(T.scheduler).toConstantValue(new TimerScheduler());
  c.bind<FastifyBaseLogger>(T.logger).toResolvedValue((cfg: NodeConfig) => processLogger(cfg.logLevel, { node: cfg.id }), [T.config]);
  c.bind<RangeScanStorageEngine>(T.engine).toResolvedValue(
    (clock: Clock, cfg: NodeConfig, scheduler: Scheduler, logger: FastifyBaseLogger) => {
      const memory = cfg.engine === 'compact' ? new CompactStorageEngine({ clock, tombstoneGraceMs: cfg.tombstoneGraceMs }) : new InMemoryStorageEngine({ clock, tombstoneGraceMs: cfg.tombstoneGraceMs });
      if (cfg.dataDir === null) return memory;
      const directory = join(cfg.dataDir, cfg.id);
      // Refuses a second process on the same directory before anything in it is read.
      const lock = lockDataDirectory(directory);
      try {
        return DurableStorageEngine.open({
          engine: memory,
          directory: new NodeLogDirectory(directory),
          nodeId: cfg.id,
          fsync: cfg.fsync,
          mergeMinBytes: cfg.mergeMinBytes,
          clock,
          scheduler,
          logger: (level, message, fields) => logger[level](fields, message),
          onClose: () => lock.release(),
        });
      } catch (error) {
        lock.release();
        throw error;
      }
    },
    [T.clock, T.config, T.scheduler, T.logger],
  );
  c.bind<ElasticHooks>(T.elastic).toConstantValue(new ElasticHooks());
  c.bind<NodeMetrics>(T.metrics).toResolvedValue(
    (engine: RangeScanStorageEngine, cfg: NodeConfig, elastic: ElasticHooks) => createNodeMetrics(engine, cfg.id, () => elastic.current()?.sync ?? null, () => elastic.current()?.antiEntropy ?? null),
    [T.engine, T.config, T.elastic],
  );
  c.bind<MaybeAsyncStorageRequestHandler>(T.handler).toResolvedValue(
    (engine: RangeScanStorageEngine, cfg: NodeConfig, metrics: NodeMetrics, elastic: ElasticHooks, clock: Clock) => {
      const handler: StorageRequestHandler = metrics.countRequests(
        metrics.countRefusals(
          new StorageService({ nodeId: cfg.id, engine, clock, maxClockOffsetMs: cfg.maxClockOffsetMs, gossip: elastic, canRead: () => elastic.canRead(), canScan: () => elastic.canScan(), hints: elastic }),
        ),
      );
      // A durable node answers a PUT once its write is durable under the fsync policy.
      return engine instanceof DurableStorageEngine ? new PersistingRequestHandler(handler, engine) : handler;
    },
    [T.engine, T.config, T.metrics, T.elastic, T.clock],
  );
  return c;
}

/**
 * The node's part of the elastic cluster: a member of the initial cluster (`--members`, or a
 * cluster of its own), or a node that asks the cluster at `--join` to add it. It gossips and
 * streams over its own binary-protocol client.
 */
function elasticMember(config: NodeConfig, address: string, engine: RangeScanStorageEngine, clock: Clock, scheduler: Scheduler): { member: ElasticMember; client: TcpNodeClient } {
  const client = new TcpNodeClient({ connectionsPerNode: 1, maxInFlightPerNode: 64, maxFrameBytes: Math.max(config.bodyLimitBytes, 16 * 1024 * 1024), clusterSecret: config.clusterSecret ?? null });
  const members = staticMembership(config, address).nodes;
  const seeds: Node[] =
    config.join !== null
      ? config.join
          .filter((seed) => seed !== address)
          .map((seed) => ({ id: `seed-${seed.replace(/[^A-Za-z0-9.-]/g, '-')}`.slice(0, 64), address: seed, role: 'storage', status: 'up', vnodes: config.vnodes, metadata: {} }))
      : members.filter((node) => node.id !== config.id);
  const member = new ElasticMember({
    self: { id: config.id, address, vnodes: config.vnodes, zone: config.zone },
    n: config.n,
    bootstrap: config.join === null ? members.map((node) => ({ id: node.id, address: node.address, vnodes: node.vnodes, zone: node.zone })) : null,
    seeds,
    autoJoin: config.join !== null,
    engine,
    nodeClient: client,
    clock,
    scheduler,
    rng: new SystemRng(),
    gossip: { ...DEFAULT_GOSSIPER_CONFIG, intervalMs: config.gossipIntervalMs },
    settings: { tombstoneGraceMs: config.tombstoneGraceMs },
    sync: { bytesPerSecond: config.syncBytesPerSecond, settleDelayMs: config.syncSettleDelayMs },
    antiEntropy: config.antiEntropyIntervalMs === 0 ? false : { intervalMs: config.antiEntropyIntervalMs, bytesPerSecond: config.antiEntropyBytesPerSecond },
    // A node that replayed its own log serves it instead of streaming its ranges again.
    recoveredData: engine instanceof DurableStorageEngine && engine.durability().recoveredEntries > 0,
    // Half the grace: the other half leaves anti-entropy (at most half the grace apart) time to
    // bring a returning node the tombstones it missed before anyone purges them.
    isolation: { maxIsolationMs: config.tombstoneGraceMs / 2 },
  });
  return { member, client };
}

/**
 * Starts a storage node: in-memory engine with active expiry every `sweepIntervalMs` (at most
 * `sweepMaxWork` keys per tick), the internal replica API, its membership document, `/livez`,
 * `/readyz` and `/metrics`, and with `config.coordinator` the public API (see
 * `NodeCoordination`). Resolves once it listens.
 */
export async function startNode(config: NodeConfig, container: Container = nodeContainer(config)): Promise<RunningNode> {
  const engine = container.get<RangeScanStorageEngine>(T.engine);
  const elastic = container.get<ElasticHooks>(T.elastic);
  const scheduler = container.get<Scheduler>(T.scheduler);
  const logger = container.get<FastifyBaseLogger>(T.logger);
  let ready = false;
  let address = `${config.host}:${config.port}`;
  // With --auth-file: the public API, the Redis door and /metrics check users against it, re-read on SIGHUP.
  const auth = config.auth === null ? null : new ReloadableAuth(config.auth.path, config.auth, (level, message, fields) => logger[level](fields, message));
  const bounds = config.portBounds ?? DEFAULT_PORT_BOUNDS;
  const counters = container.get<NodeMetrics>(T.metrics).portBounds;
  // With --coordinate: the public API on this port too, over a coordinator composed once the member exists.
  const coordination =
    config.coordinator === null || config.coordinatorClient === null
      ? null
      : new NodeCoordination({
          config: config.coordinator,
          client: config.coordinatorClient,
          handler: container.get<MaybeAsyncStorageRequestHandler>(T.handler),
          registry: container.get<NodeMetrics>(T.metrics).registry,
          clock: container.get<Clock>(T.clock),
          scheduler,
          rng: new SystemRng(),
          isServing: () => ready,
          clusterSecret: config.clusterSecret ?? null,
        });
  const app = buildNodeApp({
    handler: container.get<MaybeAsyncStorageRequestHandler>(T.handler),
    membership: () => elastic.current()?.gossiper.current() ?? staticMembership(config, address),
    isReady: () => ready,
    registry: container.get<NodeMetrics>(T.metrics).registry,
    bodyLimitBytes: config.bodyLimitBytes,
    logger,
    ...(coordination ? { publicApi: { service: coordination.api.service, options: { ...coordination.api.options, ...(auth === null ? {} : { auth }) } } } : {}),
    ...(auth === null ? {} : { auth }),
    bounds,
    clusterSecret: config.clusterSecret ?? null,
    counters,
  });
  // One port serves both the binary internode protocol (the default between processes) and
  // HTTP (internal routes, health, metrics): the node has one address whatever the transport.
  await app.ready();
  const tcp = new TcpStorageServer(container.get<MaybeAsyncStorageRequestHandler>(T.handler), {
    maxFrameBytes: config.bodyLimitBytes,
    ...bounds,
    clusterSecret: config.clusterSecret ?? null,
    counters,
    onWarning: (message) => logger.warn(message),
  });
  const listener = await listenMultiplexed({ host: config.host, port: config.port, tcp, http: app.server, maxFrameBytes: config.bodyLimitBytes, maxConnections: bounds.maxConnections, counters });
  const port = listener.port;
  // The address the others reach this node at: advertised (a pod's DNS name), or where it listens.
  address = config.advertiseAddress ?? `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const sweeper = scheduler.every(config.sweepIntervalMs, () => engine.sweep(config.sweepMaxWork));
  const { member, client } = elasticMember(config, address, engine, container.get<Clock>(T.clock), scheduler);
  member.gossiper.subscribe((membership) => {
    const states = membership.nodes.map((node) => `${node.id}:${node.status}`).join(' ');
    logger.info({ epoch: membership.epoch, nodes: states }, 'membership changed');
  });
  elastic.attach(member);
  member.start();
  coordination?.attach(member);
  // With --coordinate, the Redis door opens before the node reports ready (cluster up waits for /readyz).
  let resp: RunningRespServer | null = null;
  if (coordination !== null && config.resp !== null) {
    const clock = container.get<Clock>(T.clock);
    try {
      resp = await startRespServer({ ...config.resp, host: config.host, backend: coordination.respBackend, now: () => clock.now(), log: (message, fields) => logger.warn(fields, message), ...(auth === null ? {} : { auth }) });
    } catch (error) {
      sweeper.cancel();
      member.stop();
      await client.close();
      await listener.close();
      await tcp.close();
      await app.close();
      await coordination.close();
      throw error;
    }
  }
  ready = true;
  const stopReloading = auth?.reloadOnSighup() ?? (() => undefined);
  logger.info({ address, zone: config.zone, redis: resp?.url ?? null, members: staticMembership(config, address).nodes.length, join: config.join, coordinate: coordination !== null }, 'storage node listening');
  member.gossiper.onSettingsConflict((error) => logger.error({ err: error.message }, 'refusing to join the cluster'));
  return {
    url: `http://${address}`,
    address,
    redisUrl: resp?.url ?? null,
    onRefused(listener) {
      const known = member.gossiper.settingsConflict();
      if (known !== null) listener(known);
      else member.gossiper.onSettingsConflict(listener);
    },
    async close() {
      stopReloading();
      ready = false;
      await resp?.close();
      sweeper.cancel();
      member.stop();
      await client.close();
      await listener.close();
      await tcp.close();
      await app.close();
      // After the app: public requests still in flight finish against the other replicas.
      await coordination?.close();
      // Last: every write that was answered is in the log; this syncs and closes it.
      if (engine instanceof DurableStorageEngine) engine.close();
    },
  };
}
