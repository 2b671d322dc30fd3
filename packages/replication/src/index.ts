export {
  DEFAULT_HINT_BOUNDS,
  type ReplicaDelivery,
  type ReplicaDirectory,
  type ReplicationConfig,
  ReplicationManager,
  type ReplicationStats,
  type TargetBacklog,
  type TargetHints,
} from './replication-manager.js';
export {
  DEFAULT_CLEANUP_SLICES,
  DEFAULT_IDLE_CHECK_INTERVAL_MS,
  DEFAULT_LIVENESS_WARMUP_MS,
  DEFAULT_RANGE_SYNC_CONFIG,
  isRingSettled,
  type NodeDataDeps,
  type RangeSyncConfig,
  type RangeSyncDeps,
  RangeSyncManager,
  type RangeSyncStats,
} from './range-sync-manager.js';
export { ClusterAdmin, type DecommissionOptions } from './cluster-admin.js';
export { DEFAULT_FALLBACK_HINTS_CONFIG, ElasticMember, type ElasticMemberOptions, type StorageHooks } from './elastic-member.js';
export {
  type AntiEntropyConfig,
  type AntiEntropyDeps,
  AntiEntropyManager,
  type AntiEntropyStats,
  DEFAULT_ANTI_ENTROPY_CONFIG,
  partRange,
  sharedRanges,
} from './anti-entropy-manager.js';
export {
  DEFAULT_ISOLATION_CONFIG,
  type IsolationConfig,
  IsolationGuard,
  type IsolationGuardDeps,
  type IsolationStats,
  QUARANTINED_METADATA_KEY,
} from './isolation-guard.js';
