import { DEFAULT_COORDINATOR_CONFIG, type CoordinatorConfig } from '@dkv/coordination';
import { enumSchema, intSchema, settingName, type Setting, type SettingsValues } from './settings.js';

const d = DEFAULT_COORDINATOR_CONFIG;

/** A whole number of milliseconds from 1 to `max`. */
const ms = (max = 3_600_000) => intSchema(1, max);

/**
 * The coordination core's tuning settings and the wire stack's, as both a stand-alone coordinator
 * (`dkv coordinator`) and a storage node that coordinates (`dkv node --coordinate`) take them:
 * one flag, variable, default and schema each, so one environment configures both topologies
 * alike. The descriptions are the coordinator's; {@link forCoordinatingNode} words them for a node.
 * Each app adds its own identity and edges (`--id`, `--n`, `--transport`, ...).
 */
export const COORDINATOR_TUNING_SETTINGS = {
  w: { flag: 'w', env: 'DKV_W', defaultValue: String(d.w), description: 'default write quorum W (1..N)', schema: intSchema(1, 16) },
  r: { flag: 'r', env: 'DKV_R', defaultValue: String(d.r), description: 'default read quorum R (1..N)', schema: intSchema(1, 16) },
  requestTimeoutMs: {
    flag: 'request-timeout-ms',
    env: 'DKV_REQUEST_TIMEOUT_MS',
    defaultValue: String(d.requestTimeoutMs),
    description: 'deadline of each replica request',
    schema: ms(60_000),
  },
  maxValueBytes: {
    flag: 'max-value-bytes',
    env: 'DKV_MAX_VALUE_BYTES',
    defaultValue: String(d.maxValueBytes),
    description: 'largest value accepted (larger answers 413)',
    schema: intSchema(1, 512 * 1024 * 1024),
  },
  readRepairMaxInFlight: {
    flag: 'read-repair-max-in-flight',
    env: 'DKV_READ_REPAIR_MAX_IN_FLIGHT',
    defaultValue: String(d.readRepairMaxInFlight),
    description: 'read repairs in flight at once; more are dropped',
    schema: intSchema(1, 1_000_000),
  },
  replicationMaxQueuedTasks: {
    flag: 'replication-max-queued-tasks',
    env: 'DKV_REPLICATION_MAX_QUEUED_TASKS',
    defaultValue: String(d.replication.maxQueuedTasks),
    description: 'replications waiting for an unavailable replica, at most',
    schema: intSchema(1, 100_000_000),
  },
  replicationRetryIntervalMs: {
    flag: 'replication-retry-interval-ms',
    env: 'DKV_REPLICATION_RETRY_INTERVAL_MS',
    defaultValue: String(d.replication.retryIntervalMs),
    description: 'time between two passes over the replication queue',
    schema: ms(),
  },
  replicationBaseBackoffMs: {
    flag: 'replication-base-backoff-ms',
    env: 'DKV_REPLICATION_BASE_BACKOFF_MS',
    defaultValue: String(d.replication.baseBackoffMs),
    description: 'first backoff of a failed replication (doubles per attempt)',
    schema: ms(),
  },
  replicationMaxBackoffMs: {
    flag: 'replication-max-backoff-ms',
    env: 'DKV_REPLICATION_MAX_BACKOFF_MS',
    defaultValue: String(d.replication.maxBackoffMs),
    description: "cap on a replication's backoff",
    schema: ms(),
  },
  replicationMaxTaskAgeMs: {
    flag: 'replication-max-task-age-ms',
    env: 'DKV_REPLICATION_MAX_TASK_AGE_MS',
    defaultValue: String(d.replication.maxTaskAgeMs),
    description: 'a replication not delivered by then is dropped',
    schema: ms(7 * 86_400_000),
  },
  writeVersioning: {
    flag: 'write-versioning',
    env: 'DKV_WRITE_VERSIONING',
    defaultValue: d.writeVersioning,
    description:
      'how writes get their version: optimistic (one round trip, counted where it applied over a lower version, retried above a newer one) or read-first (read the current version from a quorum, then write)',
    schema: enumSchema(['optimistic', 'read-first'] as const),
  },
  writeQuorum: {
    flag: 'write-quorum',
    env: 'DKV_WRITE_QUORUM',
    defaultValue: d.writeQuorum,
    description:
      "strict (W of the key's own replicas) or sloppy (when fewer than W are available, the next nodes on the ring keep hints and count toward W; weaker, see README)",
    schema: enumSchema(['strict', 'sloppy'] as const),
  },
  readFanout: {
    flag: 'read-fanout',
    env: 'DKV_READ_FANOUT',
    defaultValue: d.readFanout,
    description: 'whom reads ask first: all N replicas, or the quorum R with spares and hedging',
    schema: enumSchema(['all', 'quorum'] as const),
  },
  hedgeMinDelayMs: {
    flag: 'hedge-min-delay-ms',
    env: 'DKV_HEDGE_MIN_DELAY_MS',
    defaultValue: String(d.hedgeMinDelayMs),
    description: 'with --read-fanout quorum: the least wait before asking a spare replica',
    schema: ms(60_000),
  },
  hedgeMaxDelayMs: {
    flag: 'hedge-max-delay-ms',
    env: 'DKV_HEDGE_MAX_DELAY_MS',
    defaultValue: String(d.hedgeMaxDelayMs),
    description: 'with --read-fanout quorum: the most wait before asking a spare replica (the recent p99 lies between)',
    schema: ms(60_000),
  },
  replicationMaxTasksPerTarget: {
    flag: 'replication-max-tasks-per-target',
    env: 'DKV_REPLICATION_MAX_TASKS_PER_TARGET',
    defaultValue: String(d.replication.maxTasksPerTarget),
    description: 'queued replications (hints) for one replica, at most',
    schema: intSchema(1, 100_000_000),
  },
  replicationMaxBytesPerTarget: {
    flag: 'replication-max-bytes-per-target',
    env: 'DKV_REPLICATION_MAX_BYTES_PER_TARGET',
    defaultValue: String(d.replication.maxBytesPerTarget),
    description: 'bytes of queued replications for one replica, at most',
    schema: intSchema(1, 2 ** 40),
  },
  replicationMaxSendsPerTargetPerPass: {
    flag: 'replication-max-sends-per-target-per-pass',
    env: 'DKV_REPLICATION_MAX_SENDS_PER_TARGET_PER_PASS',
    defaultValue: String(d.replication.maxSendsPerTargetPerPass),
    description: 'replications replayed to one replica per pass, at most (a recovering node is not flooded)',
    schema: intSchema(1, 1_000_000),
  },
  replicationBatchSize: {
    flag: 'replication-batch-size',
    env: 'DKV_REPLICATION_BATCH_SIZE',
    defaultValue: String(d.replication.batchSize),
    description: 'replications sent per pass, at most',
    schema: intSchema(1, 1_000_000),
  },
  heartbeatIntervalMs: {
    flag: 'heartbeat-interval-ms',
    env: 'DKV_HEARTBEAT_INTERVAL_MS',
    defaultValue: String(d.heartbeat.intervalMs),
    description: 'time between two heartbeats to each storage node',
    schema: ms(),
  },
  heartbeatTimeoutMs: {
    flag: 'heartbeat-timeout-ms',
    env: 'DKV_HEARTBEAT_TIMEOUT_MS',
    defaultValue: String(d.heartbeat.timeoutMs),
    description: 'a heartbeat not answered by then is missed',
    schema: ms(),
  },
  heartbeatFailureThreshold: {
    flag: 'heartbeat-failure-threshold',
    env: 'DKV_HEARTBEAT_FAILURE_THRESHOLD',
    defaultValue: String(d.heartbeat.failureThreshold),
    description: 'missed heartbeats in a row that mark a node down',
    schema: intSchema(1, 1000),
  },
  connectionsPerNode: {
    flag: 'connections-per-node',
    env: 'DKV_CONNECTIONS_PER_NODE',
    defaultValue: '16',
    description: 'keep-alive connections to each storage node, at most',
    schema: intSchema(1, 1024),
  },
  maxInFlightPerNode: {
    flag: 'max-in-flight-per-node',
    env: 'DKV_MAX_IN_FLIGHT_PER_NODE',
    defaultValue: '512',
    description: 'requests to one storage node in flight or queued; more fail fast',
    schema: intSchema(1, 1_000_000),
  },
  nodeRetryAttempts: {
    flag: 'node-retry-attempts',
    env: 'DKV_NODE_RETRY_ATTEMPTS',
    defaultValue: '2',
    description: 'attempts of a replica request that surely did not run (connection refused), within its deadline',
    schema: intSchema(1, 10),
  },
  nodeRetryBaseDelayMs: {
    flag: 'node-retry-base-delay-ms',
    env: 'DKV_NODE_RETRY_BASE_DELAY_MS',
    defaultValue: '20',
    description: 'backoff before the first such retry (doubles per retry)',
    schema: ms(60_000),
  },
  nodeRetryMaxDelayMs: {
    flag: 'node-retry-max-delay-ms',
    env: 'DKV_NODE_RETRY_MAX_DELAY_MS',
    defaultValue: '200',
    description: 'cap on that backoff',
    schema: ms(60_000),
  },
  circuitFailureThreshold: {
    flag: 'circuit-failure-threshold',
    env: 'DKV_CIRCUIT_FAILURE_THRESHOLD',
    defaultValue: '5',
    description: 'failed requests in a row to one node after which sends to it fail fast',
    schema: intSchema(1, 1_000_000),
  },
  circuitOpenMs: {
    flag: 'circuit-open-ms',
    env: 'DKV_CIRCUIT_OPEN_MS',
    defaultValue: '1000',
    description: 'how long sends to such a node fail fast before one probe is let through',
    schema: ms(3_600_000),
  },
} satisfies Record<string, Setting<unknown>>;

type Tuning = typeof COORDINATOR_TUNING_SETTINGS;

/** The parsed values of the tuning settings (any table that holds them all). */
export type CoordinatorTuningValues = SettingsValues<Tuning>;

/**
 * `setting` as a coordinating node offers it: its description (or `description`, where the node's
 * differs) prefixed "with --coordinate: ", or merged into the condition it already starts with
 * ("with --read-fanout quorum: ..." becomes "with --coordinate and --read-fanout quorum: ...").
 */
export function forCoordinatingNode<S extends Setting<unknown>>(setting: S, description: string = setting.description): S {
  const worded = description.startsWith('with ')
    ? `with --coordinate and ${description.slice('with '.length)}`
    : `with --coordinate: ${description}`;
  return { ...setting, description: worded };
}

/** The wire stack to the storage nodes: connections, retries and circuit breaker. */
export interface CoordinatorClientSettings {
  readonly connectionsPerNode: number;
  readonly maxInFlightPerNode: number;
  /** Retries of what surely did not run, within each request's deadline. */
  readonly nodeRetry: { readonly maxAttempts: number; readonly baseDelayMs: number; readonly maxDelayMs: number };
  /** Failures in a row after which sends to a node fail fast, and for how long. */
  readonly circuitBreaker: { readonly failureThreshold: number; readonly openMs: number };
}

/** W and R within N; `nName` names the setting N comes from. */
export function quorumProblems(values: CoordinatorTuningValues, n: number, nName: string): string[] {
  const S = COORDINATOR_TUNING_SETTINGS;
  const problems: string[] = [];
  if (values.w > n) problems.push(`${settingName(S.w)} must be at most N (${n}, ${nName}), got ${values.w}`);
  if (values.r > n) problems.push(`${settingName(S.r)} must be at most N (${n}, ${nName}), got ${values.r}`);
  return problems;
}

/** Each cap at least its base: the hedge delays, the replication backoff, the node retry delay. */
export function boundProblems(values: CoordinatorTuningValues): string[] {
  const S = COORDINATOR_TUNING_SETTINGS;
  const problems: string[] = [];
  if (values.hedgeMaxDelayMs < values.hedgeMinDelayMs)
    problems.push(`${settingName(S.hedgeMaxDelayMs)} must be at least ${settingName(S.hedgeMinDelayMs)} (${values.hedgeMinDelayMs})`);
  if (values.replicationMaxBackoffMs < values.replicationBaseBackoffMs)
    problems.push(
      `${settingName(S.replicationMaxBackoffMs)} must be at least ${settingName(S.replicationBaseBackoffMs)} (${values.replicationBaseBackoffMs})`,
    );
  if (values.nodeRetryMaxDelayMs < values.nodeRetryBaseDelayMs)
    problems.push(
      `${settingName(S.nodeRetryMaxDelayMs)} must be at least ${settingName(S.nodeRetryBaseDelayMs)} (${values.nodeRetryBaseDelayMs})`,
    );
  return problems;
}

/** The coordination core's configuration from the tuning values and the app's identity. */
export function coordinatorConfigFrom(
  values: CoordinatorTuningValues,
  identity: { readonly nodeId: string; readonly n: number; readonly maxClockOffsetMs: number; readonly localReplicaId?: string },
): CoordinatorConfig {
  return {
    ...identity,
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
    heartbeat: {
      intervalMs: values.heartbeatIntervalMs,
      timeoutMs: values.heartbeatTimeoutMs,
      failureThreshold: values.heartbeatFailureThreshold,
    },
    // No flag sets the key scan's bounds: the core's defaults.
    keyScan: d.keyScan,
  };
}

/** The wire stack's settings from the tuning values. */
export function clientSettingsFrom(values: CoordinatorTuningValues): CoordinatorClientSettings {
  return {
    connectionsPerNode: values.connectionsPerNode,
    maxInFlightPerNode: values.maxInFlightPerNode,
    nodeRetry: { maxAttempts: values.nodeRetryAttempts, baseDelayMs: values.nodeRetryBaseDelayMs, maxDelayMs: values.nodeRetryMaxDelayMs },
    circuitBreaker: { failureThreshold: values.circuitFailureThreshold, openMs: values.circuitOpenMs },
  };
}
