import type { CoordinatorMetrics } from '@dkv/coordination';
import { createPublicApiMetrics, type PublicApiMetrics } from '@dkv/public-api';

/** The coordinator's Prometheus metrics, in a registry of its own (no global state). */
export type CoordinatorAppMetrics = PublicApiMetrics;

/**
 * Creates the coordinator's metrics: the process defaults and the public API's (`@dkv/public-api`:
 * request counts and latencies, the coordination core's counters read when scraped), labelled
 * `coordinator=<nodeId>`.
 */
export function createCoordinatorMetrics(source: { metrics(): CoordinatorMetrics }, nodeId: string): CoordinatorAppMetrics {
  return createPublicApiMetrics(source, { coordinator: nodeId });
}
