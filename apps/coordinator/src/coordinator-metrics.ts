import { createPublicApiMetrics, registerPortBoundMetrics, type CoordinatorMetricsSource, type PublicApiMetrics } from '@dkv/public-api';
import { PortBoundCounters } from '@dkv/transport';

/** The coordinator's Prometheus metrics, in a registry of its own (no global state). */
export interface CoordinatorAppMetrics extends PublicApiMetrics {
  /** The public HTTP port's bound counters, exported as `dkv_port_bounds_total{port="http"}`. */
  readonly portBounds: PortBoundCounters;
  /** The Redis door's bound counters, exported as `dkv_port_bounds_total{port="resp"}`. */
  readonly respBounds: PortBoundCounters;
}

/**
 * Creates the coordinator's metrics: the process defaults and the public API's (`@dkv/public-api`:
 * request counts and latencies, the coordination core's counters and the nodes by state, read when
 * scraped) and the public port's bound counters, labelled `coordinator=<nodeId>`.
 */
export function createCoordinatorMetrics(source: CoordinatorMetricsSource, nodeId: string): CoordinatorAppMetrics {
  const metrics = createPublicApiMetrics(source, { coordinator: nodeId });
  const portBounds = new PortBoundCounters();
  const respBounds = new PortBoundCounters();
  registerPortBoundMetrics(metrics.registry, { http: portBounds.counts, resp: respBounds.counts });
  return { ...metrics, portBounds, respBounds };
}
