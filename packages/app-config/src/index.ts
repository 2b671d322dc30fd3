export {
  ADDRESS_PATTERN,
  autoOrIntSchema,
  booleanSchema,
  ConfigError,
  enumSchema,
  formatHelp,
  intSchema,
  isValidAddress,
  LOG_LEVELS,
  parseFlags,
  parseSettings,
  patternSchema,
  type Setting,
  settingName,
  type SettingsTable,
  type SettingsValues,
} from './settings.js';
export {
  announceListening,
  announcePortTaken,
  type Closable,
  type ForegroundLog,
  holdInForeground,
  type ListeningAnnouncement,
  type PortTakenAnnouncement,
} from './foreground.js';
export {
  boundProblems,
  clientSettingsFrom,
  COORDINATOR_TUNING_SETTINGS,
  type CoordinatorClientSettings,
  coordinatorConfigFrom,
  type CoordinatorTuningValues,
  forCoordinatingNode,
  quorumProblems,
} from './coordinator-settings.js';
export { DEFAULT_FSYNC, DEFAULT_MERGE_MIN_BYTES, DURABILITY_SETTINGS, type FsyncSetting } from './durability-settings.js';
export { RESP_SETTINGS, type RespDoorConfig, respDoorConfigFrom, respProblems, type RespSettingsValues } from './resp-settings.js';
export { AUTH_SETTINGS, type AuthFileConfig, authFileConfigFrom, type AuthSettingsValues } from './auth-settings.js';
export { PORT_BOUNDS_SETTINGS, portBoundsFrom } from './port-bounds-settings.js';
export { LOG_REDACT_PATHS, processLogger, processLoggerOptions, REDACTED } from './logging.js';
export {
  loadTlsMaterial,
  reloadTlsOnSighup,
  tlsConfigFrom,
  TlsFilesError,
  TLS_SETTINGS,
  type SecureContextTarget,
  type TlsConfig,
  type TlsFiles,
  type TlsMaterial,
  type TlsSettingsValues,
} from './tls-settings.js';
