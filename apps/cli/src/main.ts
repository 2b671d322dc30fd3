/**
 * The `dkv` command's entry (`bin/dkv.js` imports the built copy). It wires the real commands
 * into the program and turns usage errors into exit code 2. The node and coordinator apps are
 * imported (dynamic `import()`) only by the commands that run them: an admin command such as
 * `dkv status` does not load the servers.
 */
// The polyfill @peculiar/x509 (`cluster up --tls`'s certificates) needs before it loads.
import 'reflect-metadata';
import { CommanderError } from 'commander';
import { adminRequest, EXIT_USAGE } from './admin-http.js';
import { clusterUp } from './cluster-up.js';
import { buildProgram, fetchCluster, fetchDistribution } from './program.js';

const program = buildProgram({
  clusterUp: (options) =>
    clusterUp(options, { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) }),
  runNode: async (config) => (await import('@dkv/node')).runNode(config),
  runCoordinator: async (config) => (await import('@dkv/coordinator')).runCoordinator(config),
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
