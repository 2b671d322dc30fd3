import type { Coordinator } from '@dkv/coordination';
import { token, type Clock, type NodeClient, type Rng, type Scheduler } from '@dkv/core';
import type { Gossiper } from '@dkv/membership';
import type { FastifyBaseLogger } from 'fastify';
import type { CoordinatorAppConfig } from './config.js';
import type { CoordinatorAppMetrics } from './coordinator-metrics.js';

/** The coordinator's dependency tokens, bound in `coordinator.composition.ts`. */
export const COORDINATOR_TOKENS = {
  config: token<CoordinatorAppConfig>('dkv.coordinator.Config'),
  clock: token<Clock>('dkv.coordinator.Clock'),
  scheduler: token<Scheduler>('dkv.coordinator.Scheduler'),
  rng: token<Rng>('dkv.coordinator.Rng'),
  logger: token<FastifyBaseLogger>('dkv.coordinator.Logger'),
  membership: token<Gossiper>('dkv.coordinator.MembershipView'),
  gossipClient: token<NodeClient>('dkv.coordinator.GossipClient'),
  nodeClient: token<NodeClient>('dkv.coordinator.NodeClient'),
  coordinator: token<Coordinator>('dkv.coordinator.Coordinator'),
  metrics: token<CoordinatorAppMetrics>('dkv.coordinator.Metrics'),
} as const;
