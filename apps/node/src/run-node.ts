import { parseNodeConfig, NODE_SETTINGS, type NodeConfig } from './config.js';
import { announceListening, announcePortTaken, holdInForeground, processLogger } from '@dkv/app-config';
import { startNode } from './node.composition.js';
import { ConfigError, formatHelp, parseFlags } from '@dkv/app-config';

/** Exit code of a process stopped by bad configuration (API.md: "stops the process at start"). */
export const EXIT_BAD_CONFIG = 2;

/**
 * Runs one storage node in the foreground until SIGINT/SIGTERM; failures to start exit 1, a
 * refused join (cluster-wide settings differ) exits 2. Its lifecycle lines (a failure to start,
 * a refused join, a signal's stop) are JSON lines of the process logger, like every other.
 */
export async function runNode(config: NodeConfig): Promise<void> {
  const logger = processLogger(config.logLevel, { node: config.id });
  try {
    // Signals are handled from the start on: a supervisor may stop the node as soon as it logs that it listens.
    const starting = startNode(config);
    holdInForeground(starting, (level, message) => logger[level](message));
    const node = await starting;
    announceListening(node);
    // A cluster-wide setting that differs from the cluster's is bad configuration, found at the first gossip answer.
    node.onRefused((error) => {
      logger.fatal(error.message);
      void node.close().finally(() => process.exit(EXIT_BAD_CONFIG));
    });
  } catch (error) {
    logger.fatal(`cannot start: ${error instanceof Error ? error.message : String(error)}`);
    await announcePortTaken(error);
    process.exit(1);
  }
}

/**
 * Logs bad configuration of `dkv node` as the process's last line (a JSON line at level fatal,
 * with the node id when the flags or variables gave one, else null) before it exits 2.
 */
function logBadNodeConfig(
  error: ConfigError,
  flags: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): void {
  processLogger('info', { node: flags['id'] ?? env['DKV_NODE_ID'] ?? null }).fatal(error.message);
}

/** The node's command line: `main.js [--id ...] [--port ...] ...`; bad settings exit 2 with a message naming them. */
export async function nodeMain(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<void> {
  let config: NodeConfig;
  let flags: Record<string, string | undefined> = {};
  try {
    const parsed = parseFlags(NODE_SETTINGS, argv);
    if (parsed.help) {
      process.stdout.write(`${formatHelp('dkv node --id <id> [options]', NODE_SETTINGS)}\n`);
      return;
    }
    flags = parsed.flags;
    config = parseNodeConfig(flags, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    logBadNodeConfig(error, flags, env);
    process.exit(EXIT_BAD_CONFIG);
  }
  await runNode(config);
}
