import { token, type Clock, type RangeScanStorageEngine, type Scheduler } from '@dkv/core';
import type { MaybeAsyncStorageRequestHandler } from '@dkv/transport';
import type { FastifyBaseLogger } from 'fastify';
import type { NodeConfig } from './config.js';
import type { ElasticHooks } from './elastic-hooks.js';
import type { NodeMetrics } from './node-metrics.js';

/** The storage node's dependency tokens, bound in `node.composition.ts`. */
export const NODE_TOKENS = {
  config: token<NodeConfig>('dkv.node.Config'),
  clock: token<Clock>('dkv.node.Clock'),
  scheduler: token<Scheduler>('dkv.node.Scheduler'),
  logger: token<FastifyBaseLogger>('dkv.node.Logger'),
  engine: token<RangeScanStorageEngine>('dkv.node.StorageEngine'),
  elastic: token<ElasticHooks>('dkv.node.ElasticHooks'),
  metrics: token<NodeMetrics>('dkv.node.Metrics'),
  /** The replica handler the servers serve: a durable node's PUT answers wait for their fsync. */
  handler: token<MaybeAsyncStorageRequestHandler>('dkv.node.StorageRequestHandler'),
} as const;
