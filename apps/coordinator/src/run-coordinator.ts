import { COORDINATOR_SETTINGS, parseCoordinatorConfig, type CoordinatorAppConfig } from './config.js';
import { startCoordinator } from './coordinator.composition.js';
import { holdInForeground } from '@dkv/app-config';
import { ClusterSettingsConflictError } from '@dkv/membership';
import { ConfigError, formatHelp, parseFlags } from '@dkv/app-config';

/** Exit code of a process stopped by bad configuration (API.md: "stops the process at start"). */
export const EXIT_BAD_CONFIG = 2;

/** Runs one coordinator in the foreground until SIGINT/SIGTERM; failures to start (join, listen) exit 1, a refused join (another N than the cluster's) exits 2. */
export async function runCoordinator(config: CoordinatorAppConfig): Promise<void> {
  const name = `dkv coordinator ${config.coordinator.nodeId}`;
  try {
    const coordinator = await startCoordinator(config);
    holdInForeground(name, coordinator, (line) => process.stderr.write(`${line}\n`));
  } catch (error) {
    process.stderr.write(`${name}: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof ClusterSettingsConflictError ? EXIT_BAD_CONFIG : 1);
  }
}

/** The coordinator's command line: `main.js --join host:port [--port ...] ...`; bad settings exit 2 with a message naming them. */
export async function coordinatorMain(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<void> {
  let config: CoordinatorAppConfig;
  try {
    const { flags, help } = parseFlags(COORDINATOR_SETTINGS, argv);
    if (help) {
      process.stdout.write(`${formatHelp('dkv coordinator --join <host:port> [options]', COORDINATOR_SETTINGS)}\n`);
      return;
    }
    config = parseCoordinatorConfig(flags, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`dkv coordinator: ${error.message}\n`);
    process.exit(EXIT_BAD_CONFIG);
  }
  await runCoordinator(config);
}
