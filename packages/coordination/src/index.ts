export { checkCoordinatorConfig, type CoordinatorConfig, DEFAULT_COORDINATOR_CONFIG } from './config.js';
export {
  type ClusterInfo,
  type ClusterNodeInfo,
  type ClusterObserver,
  type CoordinatorMetrics,
  CoordinatorService,
  type DistributionEntry,
  type HintBacklog,
  type KeyEndpoint,
  type KeyEndpoints,
  MAX_DRAINING_RINGS,
  type PutOptions,
} from './coordinator-service.js';
export { type Coordinator, type CoordinatorDeps, createCoordinator } from './create-coordinator.js';
export {
  ClusterKeyScanner,
  DEFAULT_KEY_SCAN_BOUNDS,
  type KeyScanBounds,
  type KeyScanDeps,
  type ScanKeysOptions,
  type ScanKeysResult,
} from './key-scan.js';
export { decodeScanCursor, encodeScanCursor, type KeyScanPosition } from './key-scan-plan.js';
export {
  ClusterRepair,
  DEFAULT_REPAIR_BOUNDS,
  type ClusterRepairDeps,
  type RepairBounds,
  type RepairReport,
  type RepairState,
} from './cluster-repair.js';
