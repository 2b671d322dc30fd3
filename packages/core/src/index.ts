export {
  compareVersionedValues,
  deathTimeOf,
  isLive,
  isPastPurge,
  MAX_VERSION,
  metaOf,
  toTombstone,
  type VersionedValue,
  type VersionMeta,
} from './versioned-value.js';
export {
  DEFAULT_ZONE,
  type Membership,
  type Node,
  NODE_ID_PATTERN,
  type NodeRole,
  type NodeStatus,
  ZONE_PATTERN,
  zoneOf,
  zoneProblem,
} from './node.js';
export {
  type ClusterSettings,
  digestRequestProblem,
  type GossipState,
  type HashRange,
  type Heartbeat,
  MAX_DIGEST_PARTS,
  MAX_DIGEST_SEGMENTS,
  type MemberEntry,
  type MemberStatus,
  type RangeDigest,
  type ScanCursor,
  type SyncProgress,
} from './cluster-state.js';
export { type ReplicationTask } from './replication-task.js';
export { type ResponseFor, type StorageRequest, type StorageResponse } from './storage-request.js';
export {
  DkvError,
  errorBody,
  type ErrorCode,
  HTTP_STATUS_BY_CODE,
  isReplicaFullRefusal,
  type NodeFailureEvidence,
  type NodeFailureKind,
  NodeUnavailableError,
  QuorumNotMetError,
  type QuorumOperation,
  REPLICA_FULL_PREFIX,
} from './errors.js';
export {
  type ApplyResult,
  type Clock,
  type MembershipView,
  failSoon,
  type NodeClient,
  type RangeScanStorageEngine,
  type ReplyTo,
  type RequestOptions,
  type Rng,
  type ScanBatch,
  type Scheduler,
  type StorageEngine,
  type StorageRequestHandler,
  type StorageStats,
  type Timer,
  sendTo,
} from './ports.js';
export {
  DEFAULT_MAX_VALUE_BYTES,
  MAX_KEY_BYTES,
  MAX_TTL_SECONDS,
  validateConsistency,
  validateKey,
  validateTtlSeconds,
  validateValueSize,
  DEFAULT_REPLICATION_FACTOR,
  DEFAULT_TOMBSTONE_GRACE_MS,
} from './limits.js';
export {
  type DeleteOptions,
  type DeleteResult,
  type KVStore,
  type ReadOptions,
  type ReadResult,
  type WriteOptions,
  type WriteResult,
} from './kv-store.js';
export { token, type Token } from './token.js';
export { type ClusterInfo, type ClusterNodeInfo, type DistributionEntry } from './cluster-info.js';
export {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  LOGICAL_BITS,
  physicalMsOfVersion,
  VERSION_EPOCH_MS,
  versionAheadProblem,
  VersionTooFarAheadError,
} from './version-clock.js';
export { globMatch } from './glob.js';
export { BinaryHeap } from './binary-heap.js';
