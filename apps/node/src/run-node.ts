import { parseNodeConfig, NODE_SETTINGS, type NodeConfig } from './config.js';
import { holdInForeground } from '@dkv/app-config';
import { startNode } from './node.composition.js';
import { ConfigError, formatHelp, parseFlags } from '@dkv/app-config';

/** Exit code of a process stopped by bad configuration (API.md: "stops the process at start"). */
export const EXIT_BAD_CONFIG = 2;

/** Runs one storage node in the foreground until SIGINT/SIGTERM; failures to start exit 1, a refused join (cluster-wide settings differ) exits 2. */
export async function runNode(config: NodeConfig): Promise<void> {
  try {
    const node = await startNode(config);
    holdInForeground(`dkv node ${config.id}`, node, (line) => process.stderr.write(`${line}\n`));
    // A cluster-wide setting that differs from the cluster's is bad configuration, found at the first gossip answer.
    node.onRefused((error) => {
      process.stderr.write(`dkv node ${config.id}: ${error.message}\n`);
      void node.close().finally(() => process.exit(EXIT_BAD_CONFIG));
    });
  } catch (error) {
    process.stderr.write(`dkv node ${config.id}: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

/** The node's command line: `main.js [--id ...] [--port ...] ...`; bad settings exit 2 with a message naming them. */
export async function nodeMain(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<void> {
  let config: NodeConfig;
  try {
    const { flags, help } = parseFlags(NODE_SETTINGS, argv);
    if (help) {
      process.stdout.write(`${formatHelp('dkv node --id <id> [options]', NODE_SETTINGS)}\n`);
      return;
    }
    config = parseNodeConfig(flags, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`dkv node: ${error.message}\n`);
    process.exit(EXIT_BAD_CONFIG);
  }
  await runNode(config);
}
