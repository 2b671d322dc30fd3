import type { Clock, Scheduler, StorageEngine, StorageRequestHandler } from '@dkv/core';
import { SystemClock, TimerScheduler } from '@dkv/runtime';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { listenMultiplexed, TcpStorageServer } from '@dkv/transport';
import type { FastifyBaseLogger } from 'fastify';
import { Container } from 'inversify';
import { pino } from 'pino';
import type { NodeConfig } from './config.js';
import { staticMembership } from './config.js';
import { buildNodeApp } from './node-app.js';
import { createNodeMetrics, type NodeMetrics } from './node-metrics.js';
import { NODE_TOKENS as T } from './tokens.js';

/** A running storage node. */
export interface RunningNode {
  /** `http://host:port` of its internal API. */
  readonly url: string;
  /** `host:port`, as the membership names it. */
  readonly address: string;
  /** Stops the sweeper and the server; in-flight requests finish first. */
  close(): Promise<void>;
}

/** The node's object graph. Tests can take it and rebind one port before calling {@link startNode}'s parts. */
export function nodeContainer(config: NodeConfig): Container {
  const c = new Container({ defaultScope: 'Singleton' });
  c.bind<NodeConfig>(T.config).toConstantValue(config);
  c.bind<Clock>(T.clock).toConstantValue(new SystemClock());
  c.bind<Scheduler>(T.scheduler).toConstantValue(new TimerScheduler());
  c.bind<FastifyBaseLogger>(T.logger).toResolvedValue((cfg: NodeConfig) => pino({ level: cfg.logLevel, base: { node: cfg.id } }), [T.config]);
  c.bind<StorageEngine>(T.engine).toResolvedValue((clock: Clock, cfg: NodeConfig) => new InMemoryStorageEngine({ clock, tombstoneGraceMs: cfg.tombstoneGraceMs }), [T.clock, T.config]);
  c.bind<NodeMetrics>(T.metrics).toResolvedValue((engine: StorageEngine, cfg: NodeConfig) => createNodeMetrics(engine, cfg.id), [T.engine, T.config]);
  c.bind<StorageRequestHandler>(T.handler).toResolvedValue(
    (engine: StorageEngine, cfg: NodeConfig, metrics: NodeMetrics) => metrics.countRequests(new StorageService({ nodeId: cfg.id, engine })),
    [T.engine, T.config, T.metrics],
  );
  return c;
}

/**
 * Starts a storage node: in-memory engine with active expiry every `sweepIntervalMs` (at most
 * `sweepMaxWork` keys per tick), the internal replica API, its membership document, `/livez`,
 * `/readyz` and `/metrics`. Resolves once it listens.
 */
export async function startNode(config: NodeConfig, container: Container = nodeContainer(config)): Promise<RunningNode> {
  const engine = container.get<StorageEngine>(T.engine);
  const scheduler = container.get<Scheduler>(T.scheduler);
  const logger = container.get<FastifyBaseLogger>(T.logger);
  let ready = false;
  let address = `${config.host}:${config.port}`;
  const app = buildNodeApp({
    handler: container.get<StorageRequestHandler>(T.handler),
    membership: () => staticMembership(config, address),
    isReady: () => ready,
    registry: container.get<NodeMetrics>(T.metrics).registry,
    bodyLimitBytes: config.bodyLimitBytes,
    logger,
  });
  // One port serves both the binary internode protocol (the default between processes) and
  // HTTP (internal routes, health, metrics): the node has one address whatever the transport.
  await app.ready();
  const tcp = new TcpStorageServer(container.get<StorageRequestHandler>(T.handler), { maxFrameBytes: config.bodyLimitBytes });
  const listener = await listenMultiplexed({ host: config.host, port: config.port, tcp, http: app.server, maxFrameBytes: config.bodyLimitBytes });
  const port = listener.port;
  address = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const sweeper = scheduler.every(config.sweepIntervalMs, () => engine.sweep(config.sweepMaxWork));
  ready = true;
  logger.info({ address, members: staticMembership(config, address).nodes.length }, 'storage node listening');
  return {
    url: `http://${address}`,
    address,
    async close() {
      ready = false;
      sweeper.cancel();
      await listener.close();
      await tcp.close();
      await app.close();
    },
  };
}
