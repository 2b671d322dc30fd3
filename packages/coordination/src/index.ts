export * from './config.js';
export * from './coordinator-service.js';
export * from './create-coordinator.js';
export { ClusterKeyScanner, DEFAULT_KEY_SCAN_BOUNDS, type KeyScanBounds, type KeyScanDeps, type ScanKeysOptions, type ScanKeysResult } from './key-scan.js';
export { decodeScanCursor, encodeScanCursor, type KeyScanPosition } from './key-scan-plan.js';
export { ClusterRepair, DEFAULT_REPAIR_BOUNDS, type ClusterRepairDeps, type RepairBounds, type RepairReport, type RepairState } from './cluster-repair.js';
