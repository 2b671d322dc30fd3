import { checkCoordinatorConfig, DEFAULT_COORDINATOR_CONFIG, type CoordinatorConfig } from '@dkv/coordination';
import { DEFAULT_MAX_CLOCK_OFFSET_MS, NODE_ID_PATTERN } from '@dkv/core';
import { randomId } from '@dkv/runtime';
import type { PortBounds } from '@dkv/transport';
import { z } from 'zod';
import {
  AUTH_SETTINGS,
  authFileConfigFrom,
  boundProblems,
  clientSettingsFrom,
  ConfigError,
  COORDINATOR_TUNING_SETTINGS as T,
  coordinatorConfigFrom,
  LOG_LEVELS,
  enumSchema,
  intSchema,
  isValidAddress,
  parseSettings,
  patternSchema,
  quorumProblems,
  RESP_SETTINGS,
  PORT_BOUNDS_SETTINGS,
  portBoundsFrom,
  respDoorConfigFrom,
  respProblems,
  settingName,
  TLS_SETTINGS,
  tlsConfigFrom,
  type AuthFileConfig,
  type TlsConfig,
  type CoordinatorClientSettings,
  type RespDoorConfig,
  type Setting,
} from '@dkv/app-config';

/** Everything a coordinator process is configured with: its own edges, its wire stack's settings and the coordination core's. */
export interface CoordinatorAppConfig extends CoordinatorClientSettings {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** `host:port` of the storage node whose membership document this coordinator starts from. */
  readonly join: string;
  /** How long start-up keeps retrying the join before it gives up. */
  readonly joinTimeoutMs: number;
  /** Unused since membership travels by gossip (`MembershipRefresher` is no longer wired); kept so that scripts passing it still start. */
  readonly membershipRefreshMs: number;
  /** How the coordinator talks to storage nodes: the binary protocol (default) or HTTP. */
  readonly transport: 'tcp' | 'http';
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** Added to the wall clock: only for injecting clock skew in tests. */
  readonly clockOffsetMs: number;
  readonly coordinator: CoordinatorConfig;
  /** The Redis protocol door, on `host` too. */
  readonly resp: RespDoorConfig;
  /**
   * With `--auth-file`: its users (both doors need credentials) and its `clusterSecret`, which
   * the internode transport proves to the storage nodes. Null: authentication off.
   */
  readonly auth: AuthFileConfig | null;
  /** The bounds of the public HTTP port. */
  readonly portBounds: PortBounds;
  /**
   * THE PLACE THE CLUSTER SECRET ENTERS A COORDINATOR (fed from the auth file's `clusterSecret` by
   * the process that parses it; no flag or variable of its own). When set, the coordinator proves
   * it to every storage node it calls: the binary port's handshake, the internal HTTP routes'
   * signed header, the membership document it joins from. Null: none.
   */
  readonly clusterSecret: string | null;
  /**
   * With `--tls-cert`/`--tls-key`: the public API is served over https and the Redis door over
   * TLS; with `--tls-ca` too, the coordinator calls the storage nodes over mutual TLS, showing
   * this certificate. Null: plain TCP everywhere.
   */
  readonly tls: TlsConfig | null;
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
  const address = text
    .trim()
    .replace(/^http:\/\//, '')
    .replace(/\/+$/, '');
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
  id: {
    flag: 'id',
    env: 'DKV_NODE_ID',
    description: "this coordinator's id, the writer id of the versions it issues; must be unique (default: coordinator-<random>)",
    schema: patternSchema(NODE_ID_PATTERN, '1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  },
  host: {
    flag: 'host',
    env: 'DKV_HOST',
    defaultValue: '127.0.0.1',
    description: 'interface the public API listens on',
    schema: patternSchema(/^[A-Za-z0-9.:-]+$/, 'a host name or IP address'),
  },
  port: {
    flag: 'port',
    env: 'DKV_PORT',
    defaultValue: '7070',
    description: 'port of the public API (0 picks a free one)',
    schema: intSchema(0, 65535),
  },
  join: {
    flag: 'join',
    env: 'DKV_JOIN',
    required: true,
    description: 'host:port of a storage node to learn the ring from',
    schema: joinSchema,
  },
  n: { flag: 'n', env: 'DKV_N', defaultValue: String(d.n), description: 'replication factor N', schema: intSchema(1, 16) },
  w: T.w,
  r: T.r,
  requestTimeoutMs: T.requestTimeoutMs,
  maxValueBytes: T.maxValueBytes,
  readRepairMaxInFlight: T.readRepairMaxInFlight,
  replicationMaxQueuedTasks: T.replicationMaxQueuedTasks,
  replicationRetryIntervalMs: T.replicationRetryIntervalMs,
  replicationBaseBackoffMs: T.replicationBaseBackoffMs,
  replicationMaxBackoffMs: T.replicationMaxBackoffMs,
  replicationMaxTaskAgeMs: T.replicationMaxTaskAgeMs,
  writeVersioning: T.writeVersioning,
  writeQuorum: T.writeQuorum,
  readFanout: T.readFanout,
  hedgeMinDelayMs: T.hedgeMinDelayMs,
  hedgeMaxDelayMs: T.hedgeMaxDelayMs,
  replicationMaxTasksPerTarget: T.replicationMaxTasksPerTarget,
  replicationMaxBytesPerTarget: T.replicationMaxBytesPerTarget,
  replicationMaxSendsPerTargetPerPass: T.replicationMaxSendsPerTargetPerPass,
  replicationBatchSize: T.replicationBatchSize,
  heartbeatIntervalMs: T.heartbeatIntervalMs,
  heartbeatTimeoutMs: T.heartbeatTimeoutMs,
  heartbeatFailureThreshold: T.heartbeatFailureThreshold,
  transport: {
    flag: 'transport',
    env: 'DKV_TRANSPORT',
    defaultValue: 'tcp',
    description: 'internode protocol to the storage nodes: tcp (binary frames) or http',
    schema: enumSchema(['tcp', 'http'] as const),
  },
  connectionsPerNode: T.connectionsPerNode,
  maxInFlightPerNode: T.maxInFlightPerNode,
  nodeRetryAttempts: T.nodeRetryAttempts,
  nodeRetryBaseDelayMs: T.nodeRetryBaseDelayMs,
  circuitFailureThreshold: T.circuitFailureThreshold,
  circuitOpenMs: T.circuitOpenMs,
  nodeRetryMaxDelayMs: T.nodeRetryMaxDelayMs,
  joinTimeoutMs: {
    flag: 'join-timeout-ms',
    env: 'DKV_JOIN_TIMEOUT_MS',
    defaultValue: '30000',
    description: 'how long start-up retries reaching --join before it gives up',
    schema: ms(86_400_000),
  },
  membershipRefreshMs: {
    flag: 'membership-refresh-ms',
    env: 'DKV_MEMBERSHIP_REFRESH_MS',
    defaultValue: '5000',
    description: 'unused since membership travels by gossip (kept so existing scripts still start)',
    schema: ms(),
  },
  maxClockOffsetMs: {
    flag: 'max-clock-offset-ms',
    env: 'DKV_MAX_CLOCK_OFFSET_MS',
    defaultValue: String(DEFAULT_MAX_CLOCK_OFFSET_MS),
    description:
      "largest clock offset the cluster tolerates: versions further ahead of this coordinator's clock are refused (VERSION_TOO_FAR_AHEAD)",
    schema: ms(31_536_000_000),
  },
  clockOffsetMs: {
    flag: 'clock-offset-ms',
    env: 'DKV_CLOCK_OFFSET_MS',
    defaultValue: '0',
    description: "shifts this coordinator's wall clock (fault injection: clock skew), -86400000..86400000",
    schema: signedIntSchema(86_400_000),
  },
  logLevel: {
    flag: 'log-level',
    env: 'DKV_LOG_LEVEL',
    defaultValue: 'info',
    description: 'pino log level',
    schema: enumSchema(LOG_LEVELS),
  },
  ...RESP_SETTINGS,
  ...AUTH_SETTINGS,
  ...PORT_BOUNDS_SETTINGS,
  ...TLS_SETTINGS,
} satisfies Record<string, Setting<unknown>>;

/**
 * The coordinator's configuration from flags (keyed like {@link COORDINATOR_SETTINGS}) and
 * environment. Throws a {@link ConfigError} naming every bad setting, quorums larger than N included.
 */
export function parseCoordinatorConfig(
  flags: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): CoordinatorAppConfig {
  const v = parseSettings(COORDINATOR_SETTINGS, flags, env);
  const S = COORDINATOR_SETTINGS;
  const problems = [...quorumProblems(v, v.n, settingName(S.n)), ...boundProblems(v), ...respProblems(v)];
  const auth = authFileConfigFrom(v, problems);
  const tls = tlsConfigFrom(v, problems);
  const coordinator = coordinatorConfigFrom(v, { nodeId: v.id ?? randomId('coordinator'), n: v.n, maxClockOffsetMs: v.maxClockOffsetMs });
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
    ...clientSettingsFrom(v),
    logLevel: v.logLevel,
    clockOffsetMs: v.clockOffsetMs,
    coordinator,
    resp: respDoorConfigFrom(v, coordinator.maxValueBytes),
    auth,
    portBounds: portBoundsFrom(v),
    clusterSecret: auth?.clusterSecret ?? null,
    tls,
  };
}
