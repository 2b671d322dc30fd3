/**
 * `@dkv/cli`: the `dkv` command. `buildProgram` is the command line with its actions injected;
 * `clusterUp` runs a local cluster of child processes.
 */
export {
  type AdminDeps,
  DEFAULT_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_URL,
  jsonOption,
  registerAdminCommands,
  urlOption,
} from './admin-commands.js';
export {
  ADMIN_REQUEST_TIMEOUT_MS,
  type AdminCredentials,
  type AdminHttp,
  AdminHttpError,
  adminRequest,
  type AdminRequest,
  credentialOptions,
  credentialsFrom,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_TIMEOUT,
  EXIT_UNREACHABLE,
  EXIT_USAGE,
} from './admin-http.js';
export {
  formatAge,
  formatEndpoints,
  formatHints,
  formatMoveProgress,
  formatRemoval,
  formatRepair,
  formatRepairProgress,
  formatVnodes,
  type HintsJson,
  type MoveProgress,
  moveProgressOf,
  type RemovalJson,
  type VnodesJson,
} from './admin-views.js';
export {
  clusterUp,
  type ClusterUpControl,
  type ClusterUpIo,
  type ClusterUpOptions,
  COORDINATOR_MAIN,
  LOCAL_HOST,
  localQuorums,
  localZone,
  memberList,
  NODE_MAIN,
  type PortChooser,
  START_ATTEMPTS,
  TOPOLOGIES,
  type Topology,
} from './cluster-up.js';
export { findFreePorts } from './ports.js';
export { buildProgram, camelCase, type CliDeps, fetchCluster, fetchDistribution, wholeNumber } from './program.js';
export {
  PROCESS_SETTINGS,
  type ClusterUpSettings,
  type CoordinatorSettings,
  type NodeSettings,
  type ProcessSettingsLoader,
} from './process-settings.js';
export { formatRing, formatRingPreview, formatStatus, formatTable } from './views.js';
