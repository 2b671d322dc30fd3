import { checkCoordinatorConfig, DEFAULT_COORDINATOR_CONFIG, type CoordinatorConfig } from '@dkv/coordination';
import { NODE_ID_PATTERN } from '@dkv/core';
import { randomId } from '@dkv/runtime';
import { z } from 'zod';
import { ConfigError, LOG_LEVELS, enumSchema, intSchema, isValidAddress, parseSettings, patternSchema, settingName, type Setting } from '@dkv/app-config';

/** Everything a coordinator process is configured with: its own edges plus the coordination core's settings. */
export interface CoordinatorAppConfig {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** `host:port` of the storage node whose membership document this coordinator starts from. */
  readonly join: string;
  /** How long start-up keeps retrying the join before it gives up. */
  readonly joinTimeoutMs: number;
  /** Time between two refreshes of the membership document. */
  readonly membershipRefreshMs: number;
  /** How the coordinator talks to storage nodes: the binary protocol (default) or HTTP. */
  readonly transport: 'tcp' | 'http';
  readonly connectionsPerNode: number;
  readonly maxInFlightPerNode: number;
  readonly nodeRetry: { readonly maxAttempts: number; readonly baseDelayMs: number; readonly maxDelayMs: number };
  /** Failures in a row after which sends to a node fail fast, and for how long. */
  readonly circuitBreaker: { readonly failureThreshold: number; readonly openMs: number };
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** Added to the wall clock: only for injecting clock skew in tests. */
  readonly clockOffsetMs: number;
  readonly coordinator: CoordinatorConfig;
}

const d = DEFAULT_COORDINATOR_CONFIG;

/** A whole number of milliseconds from -limit to limit (a clock offset may be negative). */
function signedIntSchema(limit: number): z.ZodType<number, string> {
  return z.string().transform((text, ctx) => {
    const value = /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
    if (!Number.isSafeInteger(value) || Math.abs(value) > limit) {
      ctx.addIssue({ code: 'custom', message: `must be a whole number from -${limit} to ${limit}` });
      return z.NEVER;
    }
    return value;
  });
}
const ms = (max = 3_600_000) => intSchema(1, max);

const joinSchema: z.ZodType<string, string> = z.string().transform((text, ctx) => {
  const address = text.trim().replace(/^http:\/\//, '').replace(/\/+$/, '');
  if (!isValidAddress(address)) {
    ctx.addIssue({ code: 'custom', message: 'must be the host:port of a storage node' });
    return z.NEVER;
  }
  return address;
});

/**
 * The coordinator's settings: the flags of `dkv coordinator` and `apps/coordinator/dist/main.js`,
 * their `DKV_*` variables and defaults (those of the coordination core for its own bounds). The
 * README's configuration table is this table.
 */
export const COORDINATOR_SETTINGS = {
  id: { flag: 'id', env: 'DKV_NODE_ID', description: 'this coordinator\'s id, the writer id of the versions it issues; must be unique (default: coordinator-<random>)', schema: patternSchema(NODE_ID_PATTERN, '1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit') },
  host: { flag: 'host', env: 'DKV_HOST', defaultValue: '127.0.0.1', description: 'interface the public API listens on', schema: patternSchema(/^[A-Za-z0-9.:-]+$/, 'a host name or IP address') },
  port: { flag: 'port', env: 'DKV_PORT', defaultValue: '7070', description: 'port of the public API (0 picks a free one)', schema: intSchema(0, 65535) },
  join: { flag: 'join', env: 'DKV_JOIN', required: true, description: 'host:port of a storage node to learn the ring from', schema: joinSchema },
  n: { flag: 'n', env: 'DKV_N', defaultValue: String(d.n), description: 'replication factor N', schema: intSchema(1, 16) },
  w: { flag: 'w', env: 'DKV_W', defaultValue: String(d.w), description: 'default write quorum W (1..N)', schema: intSchema(1, 16) },
  r: { flag: 'r', env: 'DKV_R', defaultValue: String(d.r), description: 'default read quorum R (1..N)', schema: intSchema(1, 16) },
  requestTimeoutMs: { flag: 'request-timeout-ms', env: 'DKV_REQUEST_TIMEOUT_MS', defaultValue: String(d.requestTimeoutMs), description: 'deadline of each replica request', schema: ms(60_000) },
  maxValueBytes: { flag: 'max-value-bytes', env: 'DKV_MAX_VALUE_BYTES', defaultValue: String(d.maxValueBytes), description: 'largest value accepted (larger answers 413)', schema: intSchema(1, 512 * 1024 * 1024) },
  readRepairMaxInFlight: { flag: 'read-repair-max-in-flight', env: 'DKV_READ_REPAIR_MAX_IN_FLIGHT', defaultValue: String(d.readRepairMaxInFlight), description: 'read repairs in flight at once; more are dropped', schema: intSchema(1, 1_000_000) },
  replicationMaxQueuedTasks: { flag: 'replication-max-queued-tasks', env: 'DKV_REPLICATION_MAX_QUEUED_TASKS', defaultValue: String(d.replication.maxQueuedTasks), description: 'replications waiting for an unavailable replica, at most', schema: intSchema(1, 100_000_000) },
  replicationRetryIntervalMs: { flag: 'replication-retry-interval-ms', env: 'DKV_REPLICATION_RETRY_INTERVAL_MS', defaultValue: String(d.replication.retryIntervalMs), description: 'time between two passes over the replication queue', schema: ms() },
  replicationBaseBackoffMs: { flag: 'replication-base-backoff-ms', env: 'DKV_REPLICATION_BASE_BACKOFF_MS', defaultValue: String(d.replication.baseBackoffMs), description: 'first backoff of a failed replication (doubles per attempt)', schema: ms() },
  replicationMaxBackoffMs: { flag: 'replication-max-backoff-ms', env: 'DKV_REPLICATION_MAX_BACKOFF_MS', defaultValue: String(d.replication.maxBackoffMs), description: 'cap on a replication\'s backoff', schema: ms() },
  replicationMaxTaskAgeMs: { flag: 'replication-max-task-age-ms', env: 'DKV_REPLICATION_MAX_TASK_AGE_MS', defaultValue: String(d.replication.maxTaskAgeMs), description: 'a replication not delivered by then is dropped', schema: ms(7 * 86_400_000) },
  writeVersioning: { flag: 'write-versioning', env: 'DKV_WRITE_VERSIONING', defaultValue: 'optimistic', description: 'how writes get their version: optimistic (one round trip, counted where it applied over a lower version, retried above a newer one) or read-first (read the current version from a quorum, then write)', schema: enumSchema(['optimistic', 'read-first'] as const) },
  writeQuorum: { flag: 'write-quorum', env: 'DKV_WRITE_QUORUM', defaultValue: 'strict', description: 'strict (W of the key\'s own replicas) or sloppy (when fewer than W are available, the next nodes on the ring keep hints and count toward W; weaker, see README)', schema: enumSchema(['strict', 'sloppy'] as const) },
  readFanout: { flag: 'read-fanout', env: 'DKV_READ_FANOUT', defaultValue: 'all', description: 'whom reads ask first: all N replicas, or the quorum R with spares and hedging', schema: enumSchema(['all', 'quorum'] as const) },
  hedgeMinDelayMs: { flag: 'hedge-min-delay-ms', env: 'DKV_HEDGE_MIN_DELAY_MS', defaultValue: '2', description: 'with --read-fanout quorum: the least wait before asking a spare replica', schema: ms(60_000) },
  hedgeMaxDelayMs: { flag: 'hedge-max-delay-ms', env: 'DKV_HEDGE_MAX_DELAY_MS', defaultValue: '250', description: 'with --read-fanout quorum: the most wait before asking a spare replica (the recent p99 lies between)', schema: ms(60_000) },
  replicationMaxTasksPerTarget: { flag: 'replication-max-tasks-per-target', env: 'DKV_REPLICATION_MAX_TASKS_PER_TARGET', defaultValue: String(d.replication.maxTasksPerTarget), description: 'queued replications (hints) for one replica, at most', schema: intSchema(1, 100_000_000) },
  replicationMaxBytesPerTarget: { flag: 'replication-max-bytes-per-target', env: 'DKV_REPLICATION_MAX_BYTES_PER_TARGET', defaultValue: String(d.replication.maxBytesPerTarget), description: 'bytes of queued replications for one replica, at most', schema: intSchema(1, 2 ** 40) },
  replicationMaxSendsPerTargetPerPass: { flag: 'replication-max-sends-per-target-per-pass', env: 'DKV_REPLICATION_MAX_SENDS_PER_TARGET_PER_PASS', defaultValue: String(d.replication.maxSendsPerTargetPerPass), description: 'replications replayed to one replica per pass, at most (a recovering node is not flooded)', schema: intSchema(1, 1_000_000) },
  replicationBatchSize: { flag: 'replication-batch-size', env: 'DKV_REPLICATION_BATCH_SIZE', defaultValue: String(d.replication.batchSize), description: 'replications sent per pass, at most', schema: intSchema(1, 1_000_000) },
  heartbeatIntervalMs: { flag: 'heartbeat-interval-ms', env: 'DKV_HEARTBEAT_INTERVAL_MS', defaultValue: String(d.heartbeat.intervalMs), description: 'time between two heartbeats to each storage node', schema: ms() },
  heartbeatTimeoutMs: { flag: 'heartbeat-timeout-ms', env: 'DKV_HEARTBEAT_TIMEOUT_MS', defaultValue: String(d.heartbeat.timeoutMs), description: 'a heartbeat not answered by then is missed', schema: ms() },
  heartbeatFailureThreshold: { flag: 'heartbeat-failure-threshold', env: 'DKV_HEARTBEAT_FAILURE_THRESHOLD', defaultValue: String(d.heartbeat.failureThreshold), description: 'missed heartbeats in a row that mark a node down', schema: intSchema(1, 1000) },
  transport: { flag: 'transport', env: 'DKV_TRANSPORT', defaultValue: 'tcp', description: 'internode protocol to the storage nodes: tcp (binary frames) or http', schema: enumSchema(['tcp', 'http'] as const) },
  connectionsPerNode: { flag: 'connections-per-node', env: 'DKV_CONNECTIONS_PER_NODE', defaultValue: '16', description: 'keep-alive connections to each storage node, at most', schema: intSchema(1, 1024) },
  maxInFlightPerNode: { flag: 'max-in-flight-per-node', env: 'DKV_MAX_IN_FLIGHT_PER_NODE', defaultValue: '512', description: 'requests to one storage node in flight or queued; more fail fast', schema: intSchema(1, 1_000_000) },
  nodeRetryAttempts: { flag: 'node-retry-attempts', env: 'DKV_NODE_RETRY_ATTEMPTS', defaultValue: '2', description: 'attempts of a replica request that surely did not run (connection refused), within its deadline', schema: intSchema(1, 10) },
  nodeRetryBaseDelayMs: { flag: 'node-retry-base-delay-ms', env: 'DKV_NODE_RETRY_BASE_DELAY_MS', defaultValue: '20', description: 'backoff before the first such retry (doubles per retry)', schema: ms(60_000) },
  circuitFailureThreshold: { flag: 'circuit-failure-threshold', env: 'DKV_CIRCUIT_FAILURE_THRESHOLD', defaultValue: '5', description: 'failed requests in a row to one node after which sends to it fail fast', schema: intSchema(1, 1_000_000) },
  circuitOpenMs: { flag: 'circuit-open-ms', env: 'DKV_CIRCUIT_OPEN_MS', defaultValue: '1000', description: 'how long sends to such a node fail fast before one probe is let through', schema: ms(3_600_000) },
  nodeRetryMaxDelayMs: { flag: 'node-retry-max-delay-ms', env: 'DKV_NODE_RETRY_MAX_DELAY_MS', defaultValue: '200', description: 'cap on that backoff', schema: ms(60_000) },
  joinTimeoutMs: { flag: 'join-timeout-ms', env: 'DKV_JOIN_TIMEOUT_MS', defaultValue: '30000', description: 'how long start-up retries reaching --join before it gives up', schema: ms(86_400_000) },
  membershipRefreshMs: { flag: 'membership-refresh-ms', env: 'DKV_MEMBERSHIP_REFRESH_MS', defaultValue: '5000', description: 'unused since membership travels by gossip (kept so existing scripts still start)', schema: ms() },
  clockOffsetMs: { flag: 'clock-offset-ms', env: 'DKV_CLOCK_OFFSET_MS', defaultValue: '0', description: 'shifts this coordinator\'s wall clock (fault injection: clock skew), -86400000..86400000', schema: signedIntSchema(86_400_000) },
  logLevel: { flag: 'log-level', env: 'DKV_LOG_LEVEL', defaultValue: 'info', description: 'pino log level', schema: enumSchema(LOG_LEVELS) },
} satisfies Record<string, Setting<unknown>>;

/**
 * The coordinator's configuration from flags (keyed like {@link COORDINATOR_SETTINGS}) and
 * environment. Throws a {@link ConfigError} naming every bad setting, quorums larger than N included.
 */
export function parseCoordinatorConfig(flags: Readonly<Record<string, string | undefined>>, env: Readonly<Record<string, string | undefined>>): CoordinatorAppConfig {
  const v = parseSettings(COORDINATOR_SETTINGS, flags, env);
  const S = COORDINATOR_SETTINGS;
  const problems: string[] = [];
  if (v.w > v.n) problems.push(`${settingName(S.w)} must be at most N (${v.n}, ${settingName(S.n)}), got ${v.w}`);
  if (v.r > v.n) problems.push(`${settingName(S.r)} must be at most N (${v.n}, ${settingName(S.n)}), got ${v.r}`);
  if (v.hedgeMaxDelayMs < v.hedgeMinDelayMs) problems.push(`${settingName(S.hedgeMaxDelayMs)} must be at least ${settingName(S.hedgeMinDelayMs)} (${v.hedgeMinDelayMs})`);
  if (v.replicationMaxBackoffMs < v.replicationBaseBackoffMs) problems.push(`${settingName(S.replicationMaxBackoffMs)} must be at least ${settingName(S.replicationBaseBackoffMs)} (${v.replicationBaseBackoffMs})`);
  if (v.nodeRetryMaxDelayMs < v.nodeRetryBaseDelayMs) problems.push(`${settingName(S.nodeRetryMaxDelayMs)} must be at least ${settingName(S.nodeRetryBaseDelayMs)} (${v.nodeRetryBaseDelayMs})`);
  const coordinator: CoordinatorConfig = {
    nodeId: v.id ?? randomId('coordinator'),
    n: v.n,
    w: v.w,
    r: v.r,
    requestTimeoutMs: v.requestTimeoutMs,
    maxValueBytes: v.maxValueBytes,
    readRepairMaxInFlight: v.readRepairMaxInFlight,
    readFanout: v.readFanout,
    writeVersioning: v.writeVersioning,
    writeQuorum: v.writeQuorum,
    hedgeMinDelayMs: v.hedgeMinDelayMs,
    hedgeMaxDelayMs: v.hedgeMaxDelayMs,
    replication: {
      ...d.replication,
      maxQueuedTasks: v.replicationMaxQueuedTasks,
      retryIntervalMs: v.replicationRetryIntervalMs,
      baseBackoffMs: v.replicationBaseBackoffMs,
      maxBackoffMs: v.replicationMaxBackoffMs,
      maxTaskAgeMs: v.replicationMaxTaskAgeMs,
      batchSize: v.replicationBatchSize,
      maxTasksPerTarget: v.replicationMaxTasksPerTarget,
      maxBytesPerTarget: v.replicationMaxBytesPerTarget,
      maxSendsPerTargetPerPass: v.replicationMaxSendsPerTargetPerPass,
    },
    heartbeat: { intervalMs: v.heartbeatIntervalMs, timeoutMs: v.heartbeatTimeoutMs, failureThreshold: v.heartbeatFailureThreshold },
  };
  // The core's own check last, as the node's: it names fields, not flags, so only what the checks above missed reaches it.
  if (problems.length === 0) problems.push(...checkCoordinatorConfig(coordinator));
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    host: v.host,
    port: v.port,
    join: v.join,
    joinTimeoutMs: v.joinTimeoutMs,
    membershipRefreshMs: v.membershipRefreshMs,
    transport: v.transport,
    connectionsPerNode: v.connectionsPerNode,
    maxInFlightPerNode: v.maxInFlightPerNode,
    nodeRetry: { maxAttempts: v.nodeRetryAttempts, baseDelayMs: v.nodeRetryBaseDelayMs, maxDelayMs: v.nodeRetryMaxDelayMs },
    circuitBreaker: { failureThreshold: v.circuitFailureThreshold, openMs: v.circuitOpenMs },
    logLevel: v.logLevel,
    clockOffsetMs: v.clockOffsetMs,
    coordinator,
  };
}
