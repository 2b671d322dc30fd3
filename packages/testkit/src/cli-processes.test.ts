import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CliProcesses } from './cli-processes.js';

// Scripts that stand in for `dkv`: CliProcesses runs them with this node, as it runs the CLI.
const dir = mkdtempSync(join(tmpdir(), 'dkv-cli-processes-'));
const script = (name: string, body: string): string => {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
};
const READY = script('ready.mjs', "console.log('dkv ready at http://127.0.0.1:1234'); setInterval(() => undefined, 1000);\n");
const FAILS = script('fails.mjs', "console.error('cannot start: listen EADDRINUSE'); process.exit(1);\n");
/** Far longer than the test may take: a wait that reaches it has not failed fast. */
const DEADLINE_MS = 60_000;

let processes: CliProcesses[] = [];
afterEach(async () => {
  await Promise.all(processes.map((p) => p.stopAll()));
  processes = [];
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('CliProcesses.readyUrl', () => {
  it('answers the URL of the ready line the process printed', async () => {
    const cli = new CliProcesses(READY, {}, DEADLINE_MS);
    processes.push(cli);
    expect(await cli.readyUrl(cli.start([]))).toBe('http://127.0.0.1:1234');
  });

  it('fails as soon as the process exits without a ready line, with what it printed', async () => {
    const cli = new CliProcesses(FAILS, {}, DEADLINE_MS);
    processes.push(cli);
    await expect(cli.readyUrl(cli.start([]))).rejects.toThrow(
      /gave up waiting for the ready line: dkv exited with code 1 before printing it\n.*EADDRINUSE/,
    );
  }, 10_000);
});
