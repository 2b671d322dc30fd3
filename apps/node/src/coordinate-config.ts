import { checkCoordinatorConfig, type CoordinatorConfig } from '@dkv/coordination';
import { FRAME_OVERHEAD_BYTES } from '@dkv/transport';
import {
  booleanSchema,
  boundProblems,
  clientSettingsFrom,
  ConfigError,
  COORDINATOR_TUNING_SETTINGS as T,
  coordinatorConfigFrom,
  forCoordinatingNode,
  quorumProblems,
  RESP_SETTINGS as R,
  respDoorConfigFrom,
  respProblems,
  settingName,
  type CoordinatorClientSettings,
  type RespDoorConfig,
  type Setting,
  type SettingsValues,
} from '@dkv/app-config';

/**
 * The settings of a storage node that also coordinates (`--coordinate`): the public API on the
 * node's own port, over a coordinator that routes by the node's gossiped membership.
 *
 * Every setting but the switch is one of the stand-alone coordinator's (`dkv coordinator`,
 * `COORDINATOR_SETTINGS` in apps/coordinator) under the same flag, variable, default and schema,
 * its description worded for a node ({@link forCoordinatingNode}); both apps take them from
 * `COORDINATOR_TUNING_SETTINGS` (@dkv/app-config), so one environment configures both topologies
 * alike. Left out on purpose: the
 * coordinator's own identity and edges (`--id`, `--host`, `--port`, `--join`, `--n`, `--log-level`
 * are the node's), `--transport` (a node talks to its peers over TCP by design: the binary
 * protocol is what every node serves), `--join-timeout-ms` and `--membership-refresh-ms` (the
 * coordinator routes by the node's own gossip), and `--clock-offset-ms` (the node's clock is its
 * storage engine's too).
 */
export const NODE_COORDINATE_SETTINGS = {
  coordinate: {
    flag: 'coordinate',
    env: 'DKV_COORDINATE',
    defaultValue: 'false',
    switch: true,
    description:
      'also serve the public API (API.md) on this port and coordinate requests, reading and writing the own replica in-process (any node can coordinate)',
    schema: booleanSchema(),
  },
  w: forCoordinatingNode(T.w),
  r: forCoordinatingNode(T.r),
  requestTimeoutMs: forCoordinatingNode(T.requestTimeoutMs),
  readFanout: forCoordinatingNode(
    T.readFanout,
    'whom reads ask first: all N replicas, or the quorum R (the own replica first, in-process) with spares and hedging',
  ),
  writeQuorum: forCoordinatingNode(
    T.writeQuorum,
    "strict (W of the key's own replicas) or sloppy (stand-ins keep hints and count toward W when fewer than W are available; weaker, see README)",
  ),
  maxValueBytes: forCoordinatingNode(
    T.maxValueBytes,
    'largest value accepted (larger answers 413); at most --body-limit-bytes minus 64 KiB',
  ),
  writeVersioning: forCoordinatingNode(T.writeVersioning),
  hedgeMinDelayMs: forCoordinatingNode(T.hedgeMinDelayMs),
  hedgeMaxDelayMs: forCoordinatingNode(T.hedgeMaxDelayMs),
  readRepairMaxInFlight: forCoordinatingNode(T.readRepairMaxInFlight),
  replicationMaxQueuedTasks: forCoordinatingNode(T.replicationMaxQueuedTasks),
  replicationRetryIntervalMs: forCoordinatingNode(T.replicationRetryIntervalMs),
  replicationBaseBackoffMs: forCoordinatingNode(T.replicationBaseBackoffMs),
  replicationMaxBackoffMs: forCoordinatingNode(T.replicationMaxBackoffMs),
  replicationMaxTaskAgeMs: forCoordinatingNode(T.replicationMaxTaskAgeMs),
  replicationMaxTasksPerTarget: forCoordinatingNode(T.replicationMaxTasksPerTarget),
  replicationMaxBytesPerTarget: forCoordinatingNode(T.replicationMaxBytesPerTarget),
  replicationMaxSendsPerTargetPerPass: forCoordinatingNode(T.replicationMaxSendsPerTargetPerPass),
  replicationBatchSize: forCoordinatingNode(T.replicationBatchSize),
  heartbeatIntervalMs: forCoordinatingNode(T.heartbeatIntervalMs),
  heartbeatTimeoutMs: forCoordinatingNode(T.heartbeatTimeoutMs),
  heartbeatFailureThreshold: forCoordinatingNode(T.heartbeatFailureThreshold),
  connectionsPerNode: forCoordinatingNode(
    T.connectionsPerNode,
    'keep-alive connections to each storage node, at most (over TCP at most 4 are used: each is multiplexed)',
  ),
  maxInFlightPerNode: forCoordinatingNode(T.maxInFlightPerNode),
  nodeRetryAttempts: forCoordinatingNode(T.nodeRetryAttempts),
  nodeRetryBaseDelayMs: forCoordinatingNode(T.nodeRetryBaseDelayMs),
  nodeRetryMaxDelayMs: forCoordinatingNode(T.nodeRetryMaxDelayMs),
  circuitFailureThreshold: forCoordinatingNode(T.circuitFailureThreshold),
  circuitOpenMs: forCoordinatingNode(T.circuitOpenMs),
  respPort: forCoordinatingNode(R.respPort),
  respMaxConnections: forCoordinatingNode(R.respMaxConnections),
  respIdleTimeoutMs: forCoordinatingNode(R.respIdleTimeoutMs),
  respMaxPipelined: forCoordinatingNode(R.respMaxPipelined),
  respMaxInFlight: forCoordinatingNode(R.respMaxInFlight),
  respMaxQueuedReplyBytes: forCoordinatingNode(R.respMaxQueuedReplyBytes),
  respMaxReplyBufferBytes: forCoordinatingNode(R.respMaxReplyBufferBytes),
  respMaxKeys: forCoordinatingNode(R.respMaxKeys),
} satisfies Record<string, Setting<unknown>>;

/** The wire stack a coordinating node sends to the other nodes through: always TCP, its own replica answered in-process. */
export type CoordinatorClientConfig = CoordinatorClientSettings;

/** A coordinating node's configuration: the coordination core's, its wire stack's and its Redis door's. */
export interface NodeCoordinatorSettings {
  readonly coordinator: CoordinatorConfig;
  readonly client: CoordinatorClientConfig;
  readonly resp: RespDoorConfig;
}

/** What {@link nodeCoordinatorConfig} reads: the coordinate settings and the node's own id, N, body limit and tombstone grace. */
export type NodeCoordinateValues = SettingsValues<typeof NODE_COORDINATE_SETTINGS> & {
  readonly id: string;
  readonly n: number;
  readonly bodyLimitBytes: number;
  readonly maxClockOffsetMs: number;
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
  const coordinator = coordinatorConfigFrom(values, {
    nodeId: values.id,
    localReplicaId: values.id,
    n: values.n,
    maxClockOffsetMs: values.maxClockOffsetMs,
  });
  // The core's own check last, as the coordinator's: it names fields, not flags, so only what the checks above missed reaches it.
  if (problems.length === 0) problems.push(...checkCoordinatorConfig(coordinator));
  if (problems.length > 0) throw new ConfigError(problems);
  return { coordinator, client: clientSettingsFrom(values), resp: respDoorConfigFrom(values, coordinator.maxValueBytes) };
}

/**
 * The relations between coordinate settings that a schema of single fields cannot check: the
 * coordinator's (quorums within N, each cap at least its base) and a node's own (a value fits a
 * frame to the other replicas; hints die before the tombstones they could resurrect a key over).
 */
function coordinateProblems(values: NodeCoordinateValues): string[] {
  const S = NODE_COORDINATE_SETTINGS;
  const problems = quorumProblems(values, values.n, '--n (DKV_N)');
  if (values.maxValueBytes + FRAME_OVERHEAD_BYTES > values.bodyLimitBytes) {
    problems.push(
      `${settingName(S.maxValueBytes)} (${values.maxValueBytes}) must be at most --body-limit-bytes (DKV_BODY_LIMIT_BYTES) minus ${FRAME_OVERHEAD_BYTES} (${values.bodyLimitBytes - FRAME_OVERHEAD_BYTES}): a value travels to the other replicas in one frame`,
    );
  }
  problems.push(...boundProblems(values), ...respProblems(values));
  if (values.replicationMaxTaskAgeMs >= values.tombstoneGraceMs) {
    problems.push(
      `${settingName(S.replicationMaxTaskAgeMs)} (${values.replicationMaxTaskAgeMs}) must be below --tombstone-grace-ms (DKV_TOMBSTONE_GRACE_MS) (${values.tombstoneGraceMs}): a hint older than a tombstone's grace could bring a deleted key back`,
    );
  }
  return problems;
}
