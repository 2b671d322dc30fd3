import { TOKENS } from '@dkv/composition';
import { token } from '@dkv/core';
import type { FastifyBaseLogger } from 'fastify';
import type { CoordinatorAppConfig } from './config.js';
import type { CoordinatorAppMetrics } from './coordinator-metrics.js';

/**
 * The coordinator's dependency tokens, bound in `coordinator.composition.ts`: its own (config,
 * logger, metrics) and, under the names it has always used, the shared ones of `@dkv/composition`
 * that the production modules bind (rebinding `TOKENS.wire` swaps the transport alone).
 */
export const COORDINATOR_TOKENS = {
  config: token<CoordinatorAppConfig>('dkv.coordinator.Config'),
  clock: TOKENS.clock,
  scheduler: TOKENS.scheduler,
  rng: TOKENS.rng,
  logger: token<FastifyBaseLogger>('dkv.coordinator.Logger'),
  membership: TOKENS.gossiper,
  gossipClient: TOKENS.controlClient,
  nodeClient: TOKENS.nodeClient,
  coordinator: TOKENS.coordinator,
  metrics: token<CoordinatorAppMetrics>('dkv.coordinator.Metrics'),
} as const;
