/**
 * Test support for the end-to-end tests that drive real processes through the `dkv` command:
 * testkit's `CliProcesses` bound to this app's `bin/dkv.js`, and the Debian tools some tests need.
 * Not part of the CLI's build.
 */
import { execFileSync } from 'node:child_process';
import { CliProcesses as TestkitCliProcesses } from '@dkv/testkit';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../bin/dkv.js', import.meta.url));
const ENSURE_DEBIAN_TOOLS = fileURLToPath(new URL('../../../tools/ensure-debian-tools.sh', import.meta.url));

export { freePort, isAlive, waitUntil } from '@dkv/testkit';

/** The Redis commands the Redis door's tests run, with the Debian packages that have them. */
export const REDIS_TOOLS: readonly string[] = ['redis-server', 'redis-cli:redis-tools', 'redis-benchmark:redis-tools'];

/**
 * Makes sure `tools` (each `<command>[:<debian-package>]`) are on PATH through
 * `tools/ensure-debian-tools.sh`: installed with apt-get when this runs as root, otherwise the
 * test fails with the exact command to run (never skipped). Up to 10 minutes for an install.
 */
export function ensureDebianTools(tools: readonly string[]): void {
  execFileSync(ENSURE_DEBIAN_TOOLS, tools, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
}

/** The processes one test file started through this CLI (`bin/dkv.js`), and what they announced. */
export class CliProcesses extends TestkitCliProcesses {
  constructor(env: NodeJS.ProcessEnv, deadlineMs: number) {
    super(CLI, env, deadlineMs);
  }
}
