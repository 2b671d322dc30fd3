/**
 * The `dkv` command's entry (`bin/dkv.js` imports the built copy). It wires the real commands
 * into the program and turns usage errors into exit code 2.
 */
import { runCoordinator } from '@dkv/coordinator';
import { runNode } from '@dkv/node';
import { CommanderError } from 'commander';
import { clusterUp } from './cluster-up.js';
import { adminRequest, EXIT_USAGE } from './admin-http.js';
import { buildProgram, fetchCluster, fetchDistribution } from './program.js';

const program = buildProgram({
  clusterUp: (options) => clusterUp(options, { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) }),
  runNode,
  runCoordinator,
  fetchCluster,
  fetchDistribution,
  http: adminRequest,
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  exit: (code) => process.exit(code),
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CommanderError)) throw error;
  process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
}
