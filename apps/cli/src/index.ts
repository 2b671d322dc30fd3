/**
 * `@dkv/cli`: the `dkv` command. `buildProgram` is the command line with its actions injected;
 * `clusterUp` runs a local cluster of child processes.
 */
export * from './admin-commands.js';
export * from './admin-http.js';
export * from './admin-views.js';
export * from './cluster-up.js';
export * from './ports.js';
export * from './program.js';
export {
  PROCESS_SETTINGS,
  type ClusterUpSettings,
  type CoordinatorSettings,
  type NodeSettings,
  type ProcessSettingsLoader,
} from './process-settings.js';
export * from './views.js';
export * from './admin-http.js';
