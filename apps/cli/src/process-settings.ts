import type { AUTH_SETTINGS, ConfigError, DURABILITY_SETTINGS, processLogger, RESP_SETTINGS } from '@dkv/app-config';
import type { AuthFileError, loadAuthFile } from '@dkv/auth';
import type { COORDINATOR_SETTINGS, parseCoordinatorConfig } from '@dkv/coordinator';
import type { NODE_SETTINGS, parseNodeConfig } from '@dkv/node';

/** What `cluster up` declares its node-bound options with, and checks an auth file by. */
export interface ClusterUpSettings {
  readonly respSettings: typeof RESP_SETTINGS;
  readonly durabilitySettings: typeof DURABILITY_SETTINGS;
  readonly authSettings: typeof AUTH_SETTINGS;
  readonly loadAuthFile: typeof loadAuthFile;
  readonly AuthFileError: typeof AuthFileError;
}

/** The settings table and parser of `dkv node`, and the process logger its refusals go through. */
export interface NodeSettings {
  readonly settings: typeof NODE_SETTINGS;
  readonly parse: typeof parseNodeConfig;
  readonly ConfigError: typeof ConfigError;
  readonly processLogger: typeof processLogger;
}

/** The settings table and parser of `dkv coordinator`, and the process logger its refusals go through. */
export interface CoordinatorSettings {
  readonly settings: typeof COORDINATOR_SETTINGS;
  readonly parse: typeof parseCoordinatorConfig;
  readonly ConfigError: typeof ConfigError;
  readonly processLogger: typeof processLogger;
}

/**
 * The settings of the commands that start processes (`cluster up`, `node`, `coordinator`), each
 * loaded by dynamic `import()` when its command runs or shows its help. They come from the apps
 * and their configuration package, whose modules pull in most of the server (the transport, the
 * coordination, the Redis door; `dkv node` all of fastify and storage): seconds of loading on a
 * loaded machine. So an admin command such as `dkv status` starts without any of them.
 */
export interface ProcessSettingsLoader {
  clusterUp(): Promise<ClusterUpSettings>;
  node(): Promise<NodeSettings>;
  coordinator(): Promise<CoordinatorSettings>;
}

/** The real loader: the apps' own modules, imported on first use (Node caches them after). */
export const PROCESS_SETTINGS: ProcessSettingsLoader = {
  async clusterUp() {
    const [appConfig, auth] = await Promise.all([import('@dkv/app-config'), import('@dkv/auth')]);
    return {
      respSettings: appConfig.RESP_SETTINGS,
      durabilitySettings: appConfig.DURABILITY_SETTINGS,
      authSettings: appConfig.AUTH_SETTINGS,
      loadAuthFile: auth.loadAuthFile,
      AuthFileError: auth.AuthFileError,
    };
  },
  async node() {
    const [appConfig, node] = await Promise.all([import('@dkv/app-config'), import('@dkv/node')]);
    return {
      settings: node.NODE_SETTINGS,
      parse: node.parseNodeConfig,
      ConfigError: appConfig.ConfigError,
      processLogger: appConfig.processLogger,
    };
  },
  async coordinator() {
    const [appConfig, coordinator] = await Promise.all([import('@dkv/app-config'), import('@dkv/coordinator')]);
    return {
      settings: coordinator.COORDINATOR_SETTINGS,
      parse: coordinator.parseCoordinatorConfig,
      ConfigError: appConfig.ConfigError,
      processLogger: appConfig.processLogger,
    };
  },
};
