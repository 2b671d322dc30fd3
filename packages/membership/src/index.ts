export { StaticMembershipView } from './static-membership-view.js';
export { CLOCK_SAMPLE_EVERY_ROUNDS, type ClockSample, type HeartbeatConfig, type NodeHealth, NodeManager } from './node-manager.js';
export {
  bootstrapEntry,
  canonicalEntry,
  changeEntry,
  ClusterSettingsConflictError,
  compareEntries,
  entryPendingSwitch,
  entryReadZone,
  epochOf,
  joiningEntry,
  mergeEntries,
  type MergeResult,
  mergeSettings,
  type NewMember,
  settingsConflicts,
  toMembership,
} from './cluster-document.js';
export {
  DEFAULT_FAILURE_DETECTOR_CONFIG,
  FailureDetector,
  type FailureDetectorConfig,
  isNewerHeartbeat,
  type Liveness,
} from './failure-detector.js';
export { DEFAULT_GOSSIPER_CONFIG, type EntryChange, entryNode, Gossiper, type GossiperConfig, type GossiperDeps } from './gossiper.js';
