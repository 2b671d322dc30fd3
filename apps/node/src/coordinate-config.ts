import { checkCoordinatorConfig, DEFAULT_COORDINATOR_CONFIG, type CoordinatorConfig } from '@dkv/coordination';
import { booleanSchema, ConfigError, enumSchema, intSchema, settingName, type Setting, type SettingsValues } from '@dkv/app-config';
import type { CircuitBreakerOptions, RetryOptions } from '@dkv/transport';

const d = DEFAULT_COORDINATOR_CONFIG;

/** A whole number of milliseconds from 1 to `max` (as the coordinator's). */
const ms = (max = 3_600_000) => intSchema(1, max);

/** Room for a frame's key and metadata beyond the value itself (as the coordinator's). */
export const FRAME_OVERHEAD_BYTES = 64 * 1024;

/**
 * The settings of a storage node that also coordinates (`--coordinate`): the public API on the
 * node's own port, over a coordinator that routes by the node's gossiped membership.
 *
 * Every setting but the switch is one of the stand-alone coordinator's (`dkv coordinator`,
 * `COORDINATOR_SETTINGS` in apps/coordinator) under the same flag, variable, default and schema,
 * its description prefixed with "with --coordinate:", so one environment configures both
 * topologies alike. They are repeated here rather than imported: the coordinator app's tests
 * depend on this app, and the coordination core takes no zod. Left out on purpose: the
 * coordinator's own identity and edges (`--id`, `--host`, `--port`, `--join`, `--n`, `--log-level`
 * are the node's), `--transport` (a node talks to its peers over TCP by design: the binary
 * protocol is what every node serves), `--join-timeout-ms` and `--membership-refresh-ms` (the
 * coordinator routes by the node's own gossip), and `--clock-offset-ms` (the node's clock is its
 * storage engine's too).
 */
export const NODE_COORDINATE_SETTINGS = {
  coordinate: { flag: 'coordinate', env: 'DKV_COORDINATE', defaultValue: 'false', switch: true, description: 'also serve the public API (API.md) on this port and coordinate requests, reading and writing the own replica in-process (any node can coordinate)', schema: booleanSchema() },
  w: { flag: 'w', env: 'DKV_W', defaultValue: String(d.w), description: 'with --coordinate: default write quorum W (1..N)', schema: intSchema(1, 16) },
  r: { flag: 'r', env: 'DKV_R', defaultValue: String(d.r), description: 'with --coordinate: default read quorum R (1..N)', schema: intSchema(1, 16) },
  requestTimeoutMs: { flag: 'request-timeout-ms', env: 'DKV_REQUEST_TIMEOUT_MS', defaultValue: String(d.requestTimeoutMs), description: 'with --coordinate: deadline of each replica request', schema: ms(60_000) },
  readFanout: { flag: 'read-fanout', env: 'DKV_READ_FANOUT', defaultValue: 'all', description: 'with --coordinate: whom reads ask first: all N replicas, or the quorum R (the own replica first, in-process) with spares and hedging', schema: enumSchema(['all', 'quorum'] as const) },
  writeQuorum: { flag: 'write-quorum', env: 'DKV_WRITE_QUORUM', defaultValue: 'strict', description: 'with --coordinate: strict (W of the key\'s own replicas) or sloppy (stand-ins keep hints and count toward W when fewer than W are available; weaker, see README)', schema: enumSchema(['strict', 'sloppy'] as const) },
  maxValueBytes: { flag: 'max-value-bytes', env: 'DKV_MAX_VALUE_BYTES', defaultValue: String(d.maxValueBytes), description: 'with --coordinate: largest value accepted (larger answers 413); at most --body-limit-bytes minus 64 KiB', schema: intSchema(1, 512 * 1024 * 1024) },
  writeVersioning: { flag: 'write-versioning', env: 'DKV_WRITE_VERSIONING', defaultValue: 'optimistic', description: 'with --coordinate: how writes get their version: optimistic (one round trip, counted where it applied over a lower version, retried above a newer one) or read-first (read the current version from a quorum, then write)', schema: enumSchema(['optimistic', 'read-first'] as const) },
  hedgeMinDelayMs: { flag: 'hedge-min-delay-ms', env: 'DKV_HEDGE_MIN_DELAY_MS', defaultValue: '2', description: 'with --coordinate and --read-fanout quorum: the least wait before asking a spare replica', schema: ms(60_000) },
  hedgeMaxDelayMs: { flag: 'hedge-max-delay-ms', env: 'DKV_HEDGE_MAX_DELAY_MS', defaultValue: '250', description: 'with --coordinate and --read-fanout quorum: the most wait before asking a spare replica (the recent p99 lies between)', schema: ms(60_000) },
  readRepairMaxInFlight: { flag: 'read-repair-max-in-flight', env: 'DKV_READ_REPAIR_MAX_IN_FLIGHT', defaultValue: String(d.readRepairMaxInFlight), description: 'with --coordinate: read repairs in flight at once; more are dropped', schema: intSchema(1, 1_000_000) },
  replicationMaxQueuedTasks: { flag: 'replication-max-queued-tasks', env: 'DKV_REPLICATION_MAX_QUEUED_TASKS', defaultValue: String(d.replication.maxQueuedTasks), description: 'with --coordinate: replications waiting for an unavailable replica, at most', schema: intSchema(1, 100_000_000) },
  replicationRetryIntervalMs: { flag: 'replication-retry-interval-ms', env: 'DKV_REPLICATION_RETRY_INTERVAL_MS', defaultValue: String(d.replication.retryIntervalMs), description: 'with --coordinate: time between two passes over the replication queue', schema: ms() },
  replicationBaseBackoffMs: { flag: 'replication-base-backoff-ms', env: 'DKV_REPLICATION_BASE_BACKOFF_MS', defaultValue: String(d.replication.baseBackoffMs), description: 'with --coordinate: first backoff of a failed replication (doubles per attempt)', schema: ms() },
  replicationMaxBackoffMs: { flag: 'replication-max-backoff-ms', env: 'DKV_REPLICATION_MAX_BACKOFF_MS', defaultValue: String(d.replication.maxBackoffMs), description: 'with --coordinate: cap on a replication\'s backoff', schema: ms() },
  replicationMaxTaskAgeMs: { flag: 'replication-max-task-age-ms', env: 'DKV_REPLICATION_MAX_TASK_AGE_MS', defaultValue: String(d.replication.maxTaskAgeMs), description: 'with --coordinate: a replication not delivered by then is dropped', schema: ms(7 * 86_400_000) },
  replicationMaxTasksPerTarget: { flag: 'replication-max-tasks-per-target', env: 'DKV_REPLICATION_MAX_TASKS_PER_TARGET', defaultValue: String(d.replication.maxTasksPerTarget), description: 'with --coordinate: queued replications (hints) for one replica, at most', schema: intSchema(1, 100_000_000) },
  replicationMaxBytesPerTarget: { flag: 'replication-max-bytes-per-target', env: 'DKV_REPLICATION_MAX_BYTES_PER_TARGET', defaultValue: String(d.replication.maxBytesPerTarget), description: 'with --coordinate: bytes of queued replications for one replica, at most', schema: intSchema(1, 2 ** 40) },
  replicationMaxSendsPerTargetPerPass: { flag: 'replication-max-sends-per-target-per-pass', env: 'DKV_REPLICATION_MAX_SENDS_PER_TARGET_PER_PASS', defaultValue: String(d.replication.maxSendsPerTargetPerPass), description: 'with --coordinate: replications replayed to one replica per pass, at most (a recovering node is not flooded)', schema: intSchema(1, 1_000_000) },
  replicationBatchSize: { flag: 'replication-batch-size', env: 'DKV_REPLICATION_BATCH_SIZE', defaultValue: String(d.replication.batchSize), description: 'with --coordinate: replications sent per pass, at most', schema: intSchema(1, 1_000_000) },
  heartbeatIntervalMs: { flag: 'heartbeat-interval-ms', env: 'DKV_HEARTBEAT_INTERVAL_MS', defaultValue: String(d.heartbeat.intervalMs), description: 'with --coordinate: time between two heartbeats to each storage node', schema: ms() },
  heartbeatTimeoutMs: { flag: 'heartbeat-timeout-ms', env: 'DKV_HEARTBEAT_TIMEOUT_MS', defaultValue: String(d.heartbeat.timeoutMs), description: 'with --coordinate: a heartbeat not answered by then is missed', schema: ms() },
  heartbeatFailureThreshold: { flag: 'heartbeat-failure-threshold', env: 'DKV_HEARTBEAT_FAILURE_THRESHOLD', defaultValue: String(d.heartbeat.failureThreshold), description: 'with --coordinate: missed heartbeats in a row that mark a node down', schema: intSchema(1, 1000) },
  connectionsPerNode: { flag: 'connections-per-node', env: 'DKV_CONNECTIONS_PER_NODE', defaultValue: '16', description: 'with --coordinate: keep-alive connections to each storage node, at most (over TCP at most 4 are used: each is multiplexed)', schema: intSchema(1, 1024) },
  maxInFlightPerNode: { flag: 'max-in-flight-per-node', env: 'DKV_MAX_IN_FLIGHT_PER_NODE', defaultValue: '512', description: 'with --coordinate: requests to one storage node in flight or queued; more fail fast', schema: intSchema(1, 1_000_000) },
  nodeRetryAttempts: { flag: 'node-retry-attempts', env: 'DKV_NODE_RETRY_ATTEMPTS', defaultValue: '2', description: 'with --coordinate: attempts of a replica request that surely did not run (connection refused), within its deadline', schema: intSchema(1, 10) },
  nodeRetryBaseDelayMs: { flag: 'node-retry-base-delay-ms', env: 'DKV_NODE_RETRY_BASE_DELAY_MS', defaultValue: '20', description: 'with --coordinate: backoff before the first such retry (doubles per retry)', schema: ms(60_000) },
  nodeRetryMaxDelayMs: { flag: 'node-retry-max-delay-ms', env: 'DKV_NODE_RETRY_MAX_DELAY_MS', defaultValue: '200', description: 'with --coordinate: cap on that backoff', schema: ms(60_000) },
  circuitFailureThreshold: { flag: 'circuit-failure-threshold', env: 'DKV_CIRCUIT_FAILURE_THRESHOLD', defaultValue: '5', description: 'with --coordinate: failed requests in a row to one node after which sends to it fail fast', schema: intSchema(1, 1_000_000) },
  circuitOpenMs: { flag: 'circuit-open-ms', env: 'DKV_CIRCUIT_OPEN_MS', defaultValue: '1000', description: 'with --coordinate: how long sends to such a node fail fast before one probe is let through', schema: ms(3_600_000) },
} satisfies Record<string, Setting<unknown>>;

/**
 * The wire stack a coordinating node sends to the other nodes through, as the stand-alone
 * coordinator's (`--connections-per-node`, `--max-in-flight-per-node`, `--node-retry-*`,
 * `--circuit-*`): always TCP, its own replica answered in-process.
 */
export interface CoordinatorClientConfig {
  readonly connectionsPerNode: number;
  readonly maxInFlightPerNode: number;
  /** Retries of what surely did not run, within each request's deadline. */
  readonly nodeRetry: RetryOptions;
  /** Failures in a row after which sends to a node fail fast, and for how long. */
  readonly circuitBreaker: CircuitBreakerOptions;
}

/** A coordinating node's configuration: the coordination core's and its wire stack's. */
export interface NodeCoordinatorSettings {
  readonly coordinator: CoordinatorConfig;
  readonly client: CoordinatorClientConfig;
}

/** What {@link nodeCoordinatorConfig} reads: the coordinate settings and the node's own id, N, body limit and tombstone grace. */
export type NodeCoordinateValues = SettingsValues<typeof NODE_COORDINATE_SETTINGS> & {
  readonly id: string;
  readonly n: number;
  readonly bodyLimitBytes: number;
  readonly tombstoneGraceMs: number;
};

/**
 * The configuration of a node that coordinates: the node's id is the writer id of the versions it
 * issues (node ids are unique in a cluster) and the replica every quorum asks first
 * (`localReplicaId`: read in-process), N is the node's own, and the rest comes from
 * {@link NODE_COORDINATE_SETTINGS}. Throws a {@link ConfigError} naming every bad setting.
 */
export function nodeCoordinatorConfig(values: NodeCoordinateValues): NodeCoordinatorSettings {
  const problems = coordinateProblems(values);
  const coordinator: CoordinatorConfig = {
    nodeId: values.id,
    localReplicaId: values.id,
    n: values.n,
    w: values.w,
    r: values.r,
    requestTimeoutMs: values.requestTimeoutMs,
    maxValueBytes: values.maxValueBytes,
    readRepairMaxInFlight: values.readRepairMaxInFlight,
    readFanout: values.readFanout,
    writeVersioning: values.writeVersioning,
    writeQuorum: values.writeQuorum,
    hedgeMinDelayMs: values.hedgeMinDelayMs,
    hedgeMaxDelayMs: values.hedgeMaxDelayMs,
    replication: {
      ...d.replication,
      maxQueuedTasks: values.replicationMaxQueuedTasks,
      retryIntervalMs: values.replicationRetryIntervalMs,
      baseBackoffMs: values.replicationBaseBackoffMs,
      maxBackoffMs: values.replicationMaxBackoffMs,
      maxTaskAgeMs: values.replicationMaxTaskAgeMs,
      batchSize: values.replicationBatchSize,
      maxTasksPerTarget: values.replicationMaxTasksPerTarget,
      maxBytesPerTarget: values.replicationMaxBytesPerTarget,
      maxSendsPerTargetPerPass: values.replicationMaxSendsPerTargetPerPass,
    },
    heartbeat: { intervalMs: values.heartbeatIntervalMs, timeoutMs: values.heartbeatTimeoutMs, failureThreshold: values.heartbeatFailureThreshold },
  };
  // The core's own check last, as the coordinator's: it names fields, not flags, so only what the checks above missed reaches it.
  if (problems.length === 0) problems.push(...checkCoordinatorConfig(coordinator));
  if (problems.length > 0) throw new ConfigError(problems);
  const client: CoordinatorClientConfig = {
    connectionsPerNode: values.connectionsPerNode,
    maxInFlightPerNode: values.maxInFlightPerNode,
    nodeRetry: { maxAttempts: values.nodeRetryAttempts, baseDelayMs: values.nodeRetryBaseDelayMs, maxDelayMs: values.nodeRetryMaxDelayMs },
    circuitBreaker: { failureThreshold: values.circuitFailureThreshold, openMs: values.circuitOpenMs },
  };
  return { coordinator, client };
}

/**
 * The relations between coordinate settings that a schema of single fields cannot check: the
 * coordinator's (quorums within N, each cap at least its base) and a node's own (a value fits a
 * frame to the other replicas; hints die before the tombstones they could resurrect a key over).
 */
function coordinateProblems(values: NodeCoordinateValues): string[] {
  const S = NODE_COORDINATE_SETTINGS;
  const problems: string[] = [];
  if (values.w > values.n) problems.push(`${settingName(S.w)} must be at most N (${values.n}, --n (DKV_N)), got ${values.w}`);
  if (values.r > values.n) problems.push(`${settingName(S.r)} must be at most N (${values.n}, --n (DKV_N)), got ${values.r}`);
  if (values.maxValueBytes + FRAME_OVERHEAD_BYTES > values.bodyLimitBytes) {
    problems.push(`${settingName(S.maxValueBytes)} (${values.maxValueBytes}) must be at most --body-limit-bytes (DKV_BODY_LIMIT_BYTES) minus ${FRAME_OVERHEAD_BYTES} (${values.bodyLimitBytes - FRAME_OVERHEAD_BYTES}): a value travels to the other replicas in one frame`);
  }
  if (values.hedgeMaxDelayMs < values.hedgeMinDelayMs) problems.push(`${settingName(S.hedgeMaxDelayMs)} must be at least ${settingName(S.hedgeMinDelayMs)} (${values.hedgeMinDelayMs})`);
  if (values.replicationMaxBackoffMs < values.replicationBaseBackoffMs) problems.push(`${settingName(S.replicationMaxBackoffMs)} must be at least ${settingName(S.replicationBaseBackoffMs)} (${values.replicationBaseBackoffMs})`);
  if (values.nodeRetryMaxDelayMs < values.nodeRetryBaseDelayMs) problems.push(`${settingName(S.nodeRetryMaxDelayMs)} must be at least ${settingName(S.nodeRetryBaseDelayMs)} (${values.nodeRetryBaseDelayMs})`);
  if (values.replicationMaxTaskAgeMs >= values.tombstoneGraceMs) {
    problems.push(
      `${settingName(S.replicationMaxTaskAgeMs)} (${values.replicationMaxTaskAgeMs}) must be below --tombstone-grace-ms (DKV_TOMBSTONE_GRACE_MS) (${values.tombstoneGraceMs}): a hint older than a tombstone's grace could bring a deleted key back`,
    );
  }
  return problems;
}
