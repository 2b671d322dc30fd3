import { checkCoordinatorConfig, DEFAULT_COORDINATOR_CONFIG, type CoordinatorConfig } from '@dkv/coordination';
import { booleanSchema, ConfigError, enumSchema, intSchema, settingName, type Setting } from '@dkv/app-config';

const d = DEFAULT_COORDINATOR_CONFIG;

/** Room for a frame's key and metadata beyond the value itself (as the coordinator's). */
export const FRAME_OVERHEAD_BYTES = 64 * 1024;

/**
 * The settings of a storage node that also coordinates (`--coordinate`): the public API on the
 * node's own port, over a coordinator that routes by the node's gossiped membership. The flags and
 * variables are the coordinator's (`dkv coordinator`), so one environment configures both
 * topologies alike; the coordinator's other settings keep their defaults on a node.
 */
export const NODE_COORDINATE_SETTINGS = {
  coordinate: { flag: 'coordinate', env: 'DKV_COORDINATE', defaultValue: 'false', switch: true, description: 'also serve the public API (API.md) on this port and coordinate requests, reading and writing the own replica in-process (any node can coordinate)', schema: booleanSchema() },
  w: { flag: 'w', env: 'DKV_W', defaultValue: String(d.w), description: 'with --coordinate: default write quorum W (1..N)', schema: intSchema(1, 16) },
  r: { flag: 'r', env: 'DKV_R', defaultValue: String(d.r), description: 'with --coordinate: default read quorum R (1..N)', schema: intSchema(1, 16) },
  requestTimeoutMs: { flag: 'request-timeout-ms', env: 'DKV_REQUEST_TIMEOUT_MS', defaultValue: String(d.requestTimeoutMs), description: 'with --coordinate: deadline of each replica request', schema: intSchema(1, 60_000) },
  readFanout: { flag: 'read-fanout', env: 'DKV_READ_FANOUT', defaultValue: 'all', description: 'with --coordinate: whom reads ask first: all N replicas, or the quorum R (the own replica first, in-process) with spares and hedging', schema: enumSchema(['all', 'quorum'] as const) },
  writeQuorum: { flag: 'write-quorum', env: 'DKV_WRITE_QUORUM', defaultValue: 'strict', description: 'with --coordinate: strict (W of the key\'s own replicas) or sloppy (stand-ins keep hints and count toward W when fewer than W are available; weaker, see README)', schema: enumSchema(['strict', 'sloppy'] as const) },
  maxValueBytes: { flag: 'max-value-bytes', env: 'DKV_MAX_VALUE_BYTES', defaultValue: String(d.maxValueBytes), description: 'with --coordinate: largest value accepted (larger answers 413); at most --body-limit-bytes minus 64 KiB', schema: intSchema(1, 512 * 1024 * 1024) },
} satisfies Record<string, Setting<unknown>>;

/** What {@link nodeCoordinatorConfig} reads: the coordinate settings and the node's own id, N and body limit. */
export interface NodeCoordinateValues {
  readonly id: string;
  readonly n: number;
  readonly bodyLimitBytes: number;
  readonly w: number;
  readonly r: number;
  readonly requestTimeoutMs: number;
  readonly readFanout: 'all' | 'quorum';
  readonly writeQuorum: 'strict' | 'sloppy';
  readonly maxValueBytes: number;
}

/**
 * The coordination core's configuration of a node that coordinates: the node's id is the writer
 * id of the versions it issues (node ids are unique in a cluster) and the replica every quorum
 * asks first (`localReplicaId`: read in-process), N is the node's own, and every bound not listed
 * in {@link NODE_COORDINATE_SETTINGS} is the coordinator's default. Throws a
 * {@link ConfigError} naming every bad setting: quorums above N, or a value limit the nodes'
 * frames cannot carry.
 */
export function nodeCoordinatorConfig(values: NodeCoordinateValues): CoordinatorConfig {
  const S = NODE_COORDINATE_SETTINGS;
  const problems: string[] = [];
  if (values.w > values.n) problems.push(`${settingName(S.w)} must be at most N (${values.n}, --n (DKV_N)), got ${values.w}`);
  if (values.r > values.n) problems.push(`${settingName(S.r)} must be at most N (${values.n}, --n (DKV_N)), got ${values.r}`);
  if (values.maxValueBytes + FRAME_OVERHEAD_BYTES > values.bodyLimitBytes) {
    problems.push(`${settingName(S.maxValueBytes)} (${values.maxValueBytes}) must be at most --body-limit-bytes (DKV_BODY_LIMIT_BYTES) minus ${FRAME_OVERHEAD_BYTES} (${values.bodyLimitBytes - FRAME_OVERHEAD_BYTES}): a value travels to the other replicas in one frame`);
  }
  const config: CoordinatorConfig = {
    ...d,
    nodeId: values.id,
    localReplicaId: values.id,
    n: values.n,
    w: values.w,
    r: values.r,
    requestTimeoutMs: values.requestTimeoutMs,
    readFanout: values.readFanout,
    writeQuorum: values.writeQuorum,
    maxValueBytes: values.maxValueBytes,
  };
  if (problems.length === 0) problems.push(...checkCoordinatorConfig(config));
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
