import type { CoordinatorMetrics } from '@dkv/coordination';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KvOperation } from './public-api.js';

/** Records one key request of the public API: counted and timed by operation and status. */
export type ObserveKvRequest = (operation: KvOperation, status: number, seconds: number) => void;

/** The public API's Prometheus metrics and the registry that holds them. */
export interface PublicApiMetrics {
  readonly registry: Registry;
  readonly observe: ObserveKvRequest;
}

/** Where the coordination core's counters are read from, at scrape time. */
export interface CoordinatorMetricsSource {
  metrics(): CoordinatorMetrics;
  /**
   * The storage nodes and their states as this process sees them (`GET /v1/cluster`'s), for
   * `dkv_cluster_nodes`; absent, or throwing while the process starts, exports no states.
   */
  cluster?(): { readonly nodes: ReadonlyArray<{ readonly status: string }> };
}

/** The states `dkv_cluster_nodes` counts: every one is exported, 0 included, so an alert can compare. */
const NODE_STATES = ['joining', 'up', 'suspect', 'down', 'leaving'] as const;

/** Latency buckets in seconds, from a loopback hit to a replica timeout. */
const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Creates a registry of its own (no global state) with the process's default metrics, labelled
 * with `defaultLabels` (e.g. `{coordinator: id}`), and the public API's metrics in it.
 */
export function createPublicApiMetrics(
  source: CoordinatorMetricsSource,
  defaultLabels: Readonly<Record<string, string>>,
): PublicApiMetrics {
  const registry = createProcessRegistry(defaultLabels);
  return { registry, observe: registerPublicApiMetrics(registry, source) };
}

/**
 * How often the event-loop delay histogram (`nodejs_eventloop_lag_p50_seconds` and the rest)
 * samples, in ms. prom-client's default, 10 ms, arms a timer that wakes an idle process 100 times
 * a second: measured on the 2-core machine, that was about 5 ms of CPU per second in every dkv
 * process, a sixth to a quarter of what an idle process spent. At 100 ms a 15 s scrape interval
 * still holds 150 samples, and a stall longer than 100 ms is seen as before.
 */
const EVENT_LOOP_MONITORING_PRECISION_MS = 100;

/**
 * A registry of its own (no global state) with the process's default metrics (CPU, memory, event
 * loop), every metric labelled with `defaultLabels` (`{node: id}` or `{coordinator: id}`): how
 * every dkv process starts its metrics, so that they share labels and defaults.
 */
export function createProcessRegistry(defaultLabels: Readonly<Record<string, string>>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ ...defaultLabels });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS });
  return registry;
}

/**
 * Adds the public API's metrics to `registry` (a storage node that coordinates adds them to its
 * own): request counts and latencies, recorded through the returned function as requests end, and
 * the coordination core's counters (quorum failures, read repairs, replication queue) and the
 * nodes by state, read from `source` only when scraped, so the hot path pays nothing for them.
 */
export function registerPublicApiMetrics(registry: Registry, source: CoordinatorMetricsSource): ObserveKvRequest {
  const requests = new Counter({
    name: 'dkv_requests_total',
    help: 'Key requests answered, by operation and HTTP status',
    labelNames: ['operation', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'dkv_request_duration_seconds',
    help: 'Time to answer a key request, by operation and HTTP status',
    labelNames: ['operation', 'status'] as const,
    buckets: LATENCY_BUCKETS_S,
    registers: [registry],
  });
  new Counter({
    name: 'dkv_quorum_failures_total',
    help: 'Requests that failed because fewer than R or W replicas answered, by operation',
    labelNames: ['operation'] as const,
    registers: [registry],
    collect() {
      const m = source.metrics();
      this.reset();
      this.inc({ operation: 'read' }, m.quorumFailures.read);
      this.inc({ operation: 'write' }, m.quorumFailures.write);
    },
  });
  new Gauge({
    name: 'dkv_cluster_nodes',
    help: 'Storage nodes by state (joining, up, suspect, down, leaving) as this process sees them',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      let nodes: ReadonlyArray<{ readonly status: string }> = [];
      try {
        nodes = source.cluster?.().nodes ?? [];
      } catch {
        // Still starting: no membership yet.
      }
      for (const status of NODE_STATES) this.set({ status }, nodes.filter((node) => node.status === status).length);
    },
  });
  counterFrom(registry, 'dkv_read_repairs_total', 'Stale replicas repaired after a read', () => source.metrics().readRepairs);
  counterFrom(
    registry,
    'dkv_read_repairs_dropped_total',
    'Read repairs not started because too many were in flight',
    () => source.metrics().readRepairsDropped,
  );
  counterFrom(
    registry,
    'dkv_hedged_reads_total',
    'Reads that asked a spare replica because the first ones were slow (read fan-out quorum)',
    () => source.metrics().hedgedReads ?? 0,
  );
  counterFrom(
    registry,
    'dkv_version_conflicts_total',
    'Optimistic writes retried because a replica held a newer version (concurrent writers)',
    () => source.metrics().versionConflicts ?? 0,
  );
  counterFrom(
    registry,
    'dkv_versions_refused_total',
    'Versions refused for being beyond this clock plus --max-clock-offset-ms (read from a replica, or met by a write)',
    () => source.metrics().versionsRefused ?? 0,
  );
  gaugeFrom(
    registry,
    'dkv_clock_offset_seconds',
    "This process's clock minus the storage nodes' (median of their measured offsets; 0 before the first measurement)",
    () => (source.metrics().clockOffsetMs ?? 0) / 1000,
  );
  counterFrom(
    registry,
    'dkv_sloppy_writes_total',
    'Writes acknowledged with stand-ins for replicas that were down (write quorum sloppy)',
    () => source.metrics().sloppyWrites ?? 0,
  );
  counterFrom(
    registry,
    'dkv_replication_delivered_total',
    'Background replications delivered to a replica',
    () => source.metrics().replicationDelivered,
  );
  counterFrom(
    registry,
    'dkv_replication_dropped_total',
    'Background replications dropped (queue full or too old)',
    () => source.metrics().replicationDropped,
  );
  gaugeFrom(registry, 'dkv_replication_queue_depth', 'Replications waiting to be delivered', () => source.metrics().replicationQueueDepth);
  // The two metrics' children of each operation and status, made on first use: given labels,
  // prom-client turns them into a key string on every `inc` and `observe`; a child keeps its key.
  // Bounded: a few operations, and HTTP statuses are three digits.
  const children = new Map<
    KvOperation,
    Map<number, { readonly count: Counter.Internal; readonly time: Histogram.Internal<'operation' | 'status'> }>
  >();
  return (operation, status, seconds) => {
    let byStatus = children.get(operation);
    if (byStatus === undefined) children.set(operation, (byStatus = new Map()));
    let child = byStatus.get(status);
    if (child === undefined) {
      const labels = { operation, status: String(status) };
      child = { count: requests.labels(labels), time: latency.labels(labels) };
      byStatus.set(status, child);
    }
    child.count.inc();
    child.time.observe(seconds);
  };
}

/** A gauge whose value is read from `read` at scrape time, so the hot path pays nothing for it. */
export function gaugeFrom(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/**
 * A counter whose value is read from `read` at scrape time: the component keeps the count (from
 * its start), the metric only shows it, so it is a counter by Prometheus's rules (`_total`).
 * Shared by the public API's metrics and the storage node's, so both export counts the same way.
 */
export function counterFrom(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * Exports a port's bound counters (`@dkv/transport`'s `PortBoundCounters.counts`: connections
 * refused, idle and read timeouts, failed handshakes, paused reads) as
 * `dkv_port_bounds_total{port, bound}`, read when scraped: one entry of `ports` per listening port
 * of the process (`node`, `http`, `resp` for the Redis door). Every process with a listening port
 * uses it, so the metric has one name and shape everywhere.
 */
export function registerPortBoundMetrics(registry: Registry, ports: Readonly<Record<string, Readonly<Record<string, number>>>>): void {
  new Counter({
    name: 'dkv_port_bounds_total',
    help: 'Connections refused or closed, and reads paused, by a bound of a listening port, since start',
    labelNames: ['port', 'bound'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [port, counts] of Object.entries(ports)) {
        for (const [bound, count] of Object.entries(counts)) this.inc({ port, bound }, count);
      }
    },
  });
}
