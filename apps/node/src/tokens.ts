import { token } from '@dkv/core';
import type { MaybeAsyncStorageRequestHandler } from '@dkv/transport';
import type { FastifyBaseLogger } from 'fastify';
import type { NodeConfig } from './config.js';
import type { NodeCoordination } from './coordinate.composition.js';
import type { NodeMetrics } from './node-metrics.js';

/** Whether the node serves (listening, not stopping): `/readyz`, and the public API's readiness with --coordinate. */
export interface NodeLifecycle {
  ready: boolean;
}

/**
 * The storage node's own dependency tokens, bound in `node.composition.ts`. The ports it shares
 * with the other processes (clock, engine, member, wire, coordinator) are `TOKENS` of
 * `@dkv/composition`, bound by its modules.
 */
export const NODE_TOKENS = {
  config: token<NodeConfig>('dkv.node.Config'),
  logger: token<FastifyBaseLogger>('dkv.node.Logger'),
  lifecycle: token<NodeLifecycle>('dkv.node.Lifecycle'),
  metrics: token<NodeMetrics>('dkv.node.Metrics'),
  /** The replica handler the servers serve: a durable node's PUT answers wait for their fsync. */
  handler: token<MaybeAsyncStorageRequestHandler>('dkv.node.StorageRequestHandler'),
  /** With --coordinate: the public API and Redis door over the node's coordinator. */
  coordination: token<NodeCoordination>('dkv.node.Coordination'),
} as const;
