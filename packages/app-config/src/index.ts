export * from './settings.js';
export * from './foreground.js';
export * from './coordinator-settings.js';
export * from './durability-settings.js';
export * from './resp-settings.js';
export * from './auth-settings.js';
export * from './port-bounds-settings.js';
export * from './logging.js';
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
