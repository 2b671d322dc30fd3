import { COORDINATOR_SETTINGS, parseCoordinatorConfig, type CoordinatorAppConfig } from './config.js';
import { startCoordinator } from './coordinator.composition.js';
import { announceListening, announcePortTaken, holdInForeground, processLogger } from '@dkv/app-config';
import { ClusterSettingsConflictError } from '@dkv/membership';
import { ConfigError, formatHelp, parseFlags } from '@dkv/app-config';

/** Exit code of a process stopped by bad configuration (API.md: "stops the process at start"). */
export const EXIT_BAD_CONFIG = 2;

/**
 * Runs one coordinator in the foreground until SIGINT/SIGTERM; failures to start (join, listen)
 * exit 1, a refused join (another N than the cluster's) exits 2. Its lifecycle lines (a failure
 * to start, a signal's stop) are JSON lines of the process logger, like every other.
 */
export async function runCoordinator(config: CoordinatorAppConfig): Promise<void> {
  const logger = processLogger(config.logLevel, { coordinator: config.coordinator.nodeId });
  try {
    // Signals are handled from the start on: a supervisor may stop the coordinator as soon as it logs that it listens.
    const starting = startCoordinator(config);
    holdInForeground(starting, (level, message) => logger[level](message));
    const coordinator = await starting;
    announceListening(coordinator);
  } catch (error) {
    logger.fatal(`cannot start: ${error instanceof Error ? error.message : String(error)}`);
    await announcePortTaken(error);
    process.exit(error instanceof ClusterSettingsConflictError ? EXIT_BAD_CONFIG : 1);
  }
}

/**
 * Logs bad configuration of `dkv coordinator` as the process's last line (a JSON line at level
 * fatal, with the coordinator id when the flags or variables gave one, else null) before it exits 2.
 */
function logBadCoordinatorConfig(
  error: ConfigError,
  flags: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): void {
  processLogger('info', { coordinator: flags['id'] ?? env['DKV_NODE_ID'] ?? null }).fatal(error.message);
}

/** The coordinator's command line: `main.js --join host:port [--port ...] ...`; bad settings exit 2 with a message naming them. */
export async function coordinatorMain(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<void> {
  let config: CoordinatorAppConfig;
  let flags: Record<string, string | undefined> = {};
  try {
    const parsed = parseFlags(COORDINATOR_SETTINGS, argv);
    if (parsed.help) {
      process.stdout.write(`${formatHelp('dkv coordinator --join <host:port> [options]', COORDINATOR_SETTINGS)}\n`);
      return;
    }
    flags = parsed.flags;
    config = parseCoordinatorConfig(flags, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    logBadCoordinatorConfig(error, flags, env);
    process.exit(EXIT_BAD_CONFIG);
  }
  await runCoordinator(config);
}
