// Goal: a process handles SIGTERM from the moment holdInForeground is called, while its server is
// still starting: a supervisor that stops it as soon as it says it listens gets a graceful stop
// (exit 0, `stopped`), never the default action of the signal (killed, no exit code).
// Method: a child process holds a server whose start it finishes only when told on stdin; the
// test sends SIGTERM during the start, then lets the start finish, and reads the exit and output.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '@dkv/testkit';

const FOREGROUND = fileURLToPath(new URL('./foreground.ts', import.meta.url));
const SCRIPT = `
import { holdInForeground } from ${JSON.stringify(FOREGROUND)};
let finishStart;
const starting = new Promise((resolve) => (finishStart = resolve));
holdInForeground(starting, (level, message) => process.stdout.write(level + ' ' + message + '\\n'));
process.stdout.write('starting\\n');
process.stdin.once('data', () => finishStart({ close: async () => void process.stdout.write('closed\\n') }));
`;

describe('holdInForeground', () => {
  it('stops gracefully on a SIGTERM that arrives while the server is still starting', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      await waitUntil('the child to start holding', () => (out.includes('starting') ? true : undefined), { deadlineMs: 15_000 });
      child.kill('SIGTERM');
      await waitUntil('the child to take the signal', () => (out.includes('SIGTERM, stopping') ? true : undefined), {
        deadlineMs: 15_000,
      });
      expect(out).not.toContain('closed');
      child.stdin.write('go\n');
      const [code, signal] = await exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(out.split('\n').filter(Boolean)).toEqual(['starting', 'info SIGTERM, stopping', 'closed', 'info stopped']);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
