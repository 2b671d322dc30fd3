// Goal: a node's data directory is held by one process at a time. A second process is refused
// with a message naming the directory and the holder's pid; the lock left by a process killed with
// SIGKILL, one whose pid now belongs to another process (a different start time), and a damaged
// lock file are taken over; release deletes only this process's own lock.
// Method: real child processes (node running this module through tsx) take the lock on a
// temporary directory and report on stdout; SIGKILL leaves the lock file behind as a crash does.
// Every child is killed by pid in afterEach and every directory removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDirectory } from './data-directory-lock.js';

const MODULE = fileURLToPath(new URL('./data-directory-lock.ts', import.meta.url));
const DEADLINE_MS = 20_000;
const children: ChildProcess[] = [];
const directories: string[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function tempDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'dkv-lock-'));
  directories.push(directory);
  return join(directory, 'n1');
}

/** A child that takes the lock of `directory` and prints `locked`, or prints the error and exits 1; it then waits to be killed. */
function lockInChild(directory: string): { child: ChildProcess; result: Promise<{ line: string; code: number | null }> } {
  const script = `import { lockDataDirectory } from ${JSON.stringify(MODULE)};
try { lockDataDirectory(${JSON.stringify(directory)}); console.log('locked'); setInterval(() => {}, 1000); }
catch (error) { console.log(String(error.message)); process.exit(1); }`;
  const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const result = new Promise<{ line: string; code: number | null }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the child said nothing in ${DEADLINE_MS} ms: ${out}`)), DEADLINE_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('locked\n')) {
        clearTimeout(timer);
        resolve({ line: 'locked', code: null });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ line: out.trim(), code });
    });
  });
  return { child, result };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

describe('lockDataDirectory', () => {
  it(
    'refuses a second process while the first holds the directory, naming the directory and its pid',
    async () => {
      const directory = tempDirectory();
      const first = lockInChild(directory);
      expect((await first.result).line).toBe('locked');
      const second = await lockInChild(directory).result;
      expect(second.code).toBe(1);
      expect(second.line).toBe(
        `data directory ${directory} is in use by process ${first.child.pid} (its LOCK file): two nodes must not share a data directory; stop that process or give this node another --data-dir or --id`,
      );
      expect(() => lockDataDirectory(directory)).toThrow(`is in use by process ${first.child.pid}`);
    },
    DEADLINE_MS * 2,
  );

  it(
    'takes over the lock of a process killed with SIGKILL',
    async () => {
      const directory = tempDirectory();
      const first = lockInChild(directory);
      expect((await first.result).line).toBe('locked');
      first.child.kill('SIGKILL');
      await exited(first.child);
      expect(JSON.parse(readFileSync(join(directory, LOCK_FILE), 'utf8'))).toMatchObject({ pid: first.child.pid });
      expect((await lockInChild(directory).result).line).toBe('locked');
    },
    DEADLINE_MS * 2,
  );

  it(
    'takes over a lock naming a live pid with another start time (a reused pid), and a damaged lock file',
    async () => {
      const directory = tempDirectory();
      const other = lockInChild(tempDirectory());
      expect((await other.result).line).toBe('locked');
      lockDataDirectory(directory).release();
      writeFileSync(join(directory, LOCK_FILE), `${JSON.stringify({ pid: other.child.pid, startTicks: '1' })}\n`);
      const reused = lockDataDirectory(directory);
      expect(JSON.parse(readFileSync(join(directory, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
      reused.release();
      writeFileSync(join(directory, LOCK_FILE), '{"pid":');
      const damaged = lockDataDirectory(directory);
      expect(JSON.parse(readFileSync(join(directory, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
      damaged.release();
    },
    DEADLINE_MS * 2,
  );

  it('refuses a second lock in the same process; release deletes only its own lock file', () => {
    const directory = tempDirectory();
    const lock = lockDataDirectory(directory);
    expect(() => lockDataDirectory(directory)).toThrow(/is in use by process/);
    lock.release();
    expect(existsSync(join(directory, LOCK_FILE))).toBe(false);
    const again = lockDataDirectory(directory);
    writeFileSync(join(directory, LOCK_FILE), `${JSON.stringify({ pid: 1, startTicks: 'another' })}\n`);
    again.release();
    expect(existsSync(join(directory, LOCK_FILE))).toBe(true);
  });
});
