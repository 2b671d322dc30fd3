// Goal: a dkv process's standard error is a log stream from its first line to its last, as API.md
// says (JSON lines with level, time, msg and the process's id), also when it cannot start: a port
// already taken, a bad flag value, an unknown flag, a bad coordinator setting; and on a SIGTERM
// stop. A supervisor (Kubernetes, systemd, `cluster up`) that parses every line must not meet text.
// Method: the built `dkv` (and the node app's own main) run as child processes on 127.0.0.1, one
// port held by a listener of this test; every stderr line of every run is parsed as JSON. Every
// run is bounded by a timeout; the one long-running node is stopped by its pid. The runs share
// nothing but the taken port, so every test runs side by side (describe.concurrent).
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses } from './e2e-support.js';

/** Generous: seven processes start at once on a loaded 2-core machine (one run took 25 s). */
const DEADLINE_MS = 60_000;
const CLI = fileURLToPath(new URL('../bin/dkv.js', import.meta.url));
const NODE_MAIN = fileURLToPath(new URL('../../node/dist/main.js', import.meta.url));
/** This environment without any DKV_* setting of its own, at log level info. */
const ENV = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DKV_'))),
  DKV_LOG_LEVEL: 'info',
  DKV_RESP_PORT: '0',
};
const cli = new CliProcesses(ENV, DEADLINE_MS);
let taken: Server;
let takenPort = 0;

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly lines: Array<Record<string, unknown>>;
}

/** Every stderr line parsed as JSON; a line that is not fails the test, quoted. */
function jsonLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`a stderr line is not JSON: ${line}`);
      }
    });
}

/** Runs `node <script> <args>` to its end (bounded). */
function run(script: string, args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, ...args], { env: ENV, timeout: DEADLINE_MS }, (error, stdout, stderr) => {
      try {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, lines: jsonLines(stderr) });
      } catch (notJson) {
        reject(notJson as Error);
      }
    });
  });
}

/** The fields API.md promises on every line, with `idKey` (node or coordinator) holding `id`. */
function expectLogLine(line: Record<string, unknown>, idKey: string, id: string | null): void {
  expect(typeof line['level']).toBe('number');
  expect(typeof line['time']).toBe('number');
  expect(typeof line['msg']).toBe('string');
  expect(line[idKey]).toBe(id);
}

beforeAll(async () => {
  taken = createServer();
  taken.listen(0, '127.0.0.1');
  await once(taken, 'listening');
  takenPort = (taken.address() as { port: number }).port;
});

afterAll(async () => {
  await cli.stopAll();
  taken.close();
});

describe.concurrent('a process that cannot start logs JSON lines only', () => {
  it(
    'a taken port: exit 1, one fatal line naming the port',
    async () => {
      const ran = await run(CLI, ['node', '--id', 'p1', '--port', String(takenPort)]);
      expect(ran.code).toBe(1);
      for (const line of ran.lines) expectLogLine(line, 'node', 'p1');
      expect(ran.lines.at(-1)).toMatchObject({
        level: 60,
        msg: expect.stringMatching(new RegExp(`^cannot start: .*EADDRINUSE.*${takenPort}`)),
      });
    },
    DEADLINE_MS,
  );

  it(
    'bad flag values, an unknown flag, a bad coordinator setting: exit 2, one fatal line each naming it',
    async () => {
      const [badValue, unknown, appMain, coordinator] = await Promise.all([
        run(CLI, ['node', '--id', 'p2', '--port', 'eighty']),
        run(CLI, ['node', '--id', 'p3', '--no-such-flag']),
        run(NODE_MAIN, ['--port', 'eighty']),
        run(CLI, ['coordinator', '--join', '127.0.0.1:1', '--r', '7']),
      ]);
      for (const ran of [badValue, unknown, appMain, coordinator]) {
        expect(ran.code).toBe(2);
        expect(ran.lines).toHaveLength(1);
        expect(ran.lines[0]!['level']).toBe(60);
      }
      expectLogLine(badValue.lines[0]!, 'node', 'p2');
      expect(badValue.lines[0]!['msg']).toContain('--port (DKV_PORT) must be a whole number from 0 to 65535, got "eighty"');
      expectLogLine(unknown.lines[0]!, 'node', 'p3');
      expect(unknown.lines[0]!['msg']).toBe("unknown option '--no-such-flag' (dkv node --help lists the settings)");
      // No id given: the line says so with null rather than leaving the field out.
      expectLogLine(appMain.lines[0]!, 'node', null);
      expect(appMain.lines[0]!['msg']).toMatch(/--id \(DKV_NODE_ID\) is required/);
      expectLogLine(coordinator.lines[0]!, 'coordinator', null);
      expect(coordinator.lines[0]!['msg']).toContain('--r (DKV_R) must be at most N');
    },
    DEADLINE_MS,
  );

  it(
    '--help stays text for the reader, on stdout, with nothing on stderr',
    async () => {
      const ran = await run(CLI, ['node', '--help']);
      expect(ran.code).toBe(0);
      expect(ran.stdout).toContain('--port <value>');
      expect(ran.lines).toEqual([]);
    },
    DEADLINE_MS,
  );
});

describe.concurrent('a process stopped by SIGTERM', () => {
  it(
    'logs its start, the signal and its stop as JSON lines, and exits 0',
    async () => {
      const child = cli.start(['node', '--id', 'p4', '--port', '0']);
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const exited = once(child, 'exit') as Promise<[number | null]>;
      await cli.waitFor('the node to listen', async () => (stderr.includes('storage node listening') ? true : undefined));
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
      const lines = jsonLines(stderr);
      for (const line of lines) expectLogLine(line, 'node', 'p4');
      expect(lines.map((line) => line['msg'])).toEqual(expect.arrayContaining(['storage node listening', 'SIGTERM, stopping', 'stopped']));
      expect(lines.at(-1)!['msg']).toBe('stopped');
    },
    DEADLINE_MS,
  );
});
