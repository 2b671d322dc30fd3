import { createPublicApiMetrics, type CoordinatorMetricsSource, type PublicApiMetrics } from '@dkv/public-api';

/** The coordinator's Prometheus metrics, in a registry of its own (no global state). */
export type CoordinatorAppMetrics = PublicApiMetrics;

/**
 * Creates the coordinator's metrics: the process defaults and the public API's (`@dkv/public-api`:
 * request counts and latencies, the coordination core's counters and the nodes by state, read when
 * scraped), labelled `coordinator=<nodeId>`.
 */
export function createCoordinatorMetrics(source: CoordinatorMetricsSource, nodeId: string): CoordinatorAppMetrics {
  return createPublicApiMetrics(source, { coordinator: nodeId });
}
