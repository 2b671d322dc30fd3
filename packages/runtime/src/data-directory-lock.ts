import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DkvError } from '@dkv/core';

/** The lock file in a node's data directory. */
export const LOCK_FILE = 'LOCK';

/** Who holds a lock: the process id, and its start time when the system tells it (Linux `/proc`). */
interface LockOwner {
  readonly pid: number;
  /** Clock ticks since boot at which the process started (`/proc/<pid>/stat` field 22); null when unknown. */
  readonly startTicks: string | null;
}

/** Directories this process holds: a second engine in the same process is refused like another process. */
const heldHere = new Set<string>();

/** A held data-directory lock. */
export interface DataDirectoryLock {
  /** The lock file's path. */
  readonly path: string;
  /** Deletes the lock file if it is still this process's; idempotent. */
  release(): void;
}

/**
 * Takes the lock of a node's data directory, or refuses to start: two processes appending to one
 * log would interleave their records and each would merge away the other's segments. The lock
 * is a file, `LOCK`, created with O_EXCL and holding the owner's pid and start time.
 *
 * A lock whose owner is gone (the node was killed: SIGKILL leaves the file behind) is taken over:
 * its owner is gone when no process has its pid, or the process with its pid started at another
 * time (the pid was reused; a container's node is often pid 1 on every start). The takeover
 * renames the stale file to a name of this process's own before deleting it, and checks that the
 * file it moved is the stale one it judged: if another process took the lock meanwhile, its file
 * is put back and this start is refused. Then the lock is created with O_EXCL again, so of two
 * processes taking over at once one wins.
 * @throws DkvError INVALID_REQUEST naming the directory and the pid holding it.
 */
export function lockDataDirectory(directory: string): DataDirectoryLock {
  mkdirSync(directory, { recursive: true });
  const path = join(directory, LOCK_FILE);
  if (heldHere.has(path)) throw inUse(directory, { pid: process.pid, startTicks: null });
  const self: LockOwner = { pid: process.pid, startTicks: startTicksOf(process.pid) };
  // Each round either creates the lock, refuses, or removes one stale lock; three rounds bound the races.
  for (let round = 0; round < 3; round += 1) {
    if (createExclusive(path, self)) {
      heldHere.add(path);
      return lockHandle(path, self);
    }
    const owner = readOwner(path);
    if (owner === undefined) continue;
    if (owner !== null && isRunning(owner)) throw inUse(directory, owner);
    removeStale(directory, path, owner);
  }
  throw new DkvError(
    'INVALID_REQUEST',
    `data directory ${directory}: could not take its ${LOCK_FILE} file (other processes keep taking it over); refusing to start`,
  );
}

function lockHandle(path: string, self: LockOwner): DataDirectoryLock {
  let released = false;
  return {
    path,
    release(): void {
      if (released) return;
      released = true;
      heldHere.delete(path);
      const owner = readOwner(path);
      if (owner !== undefined && owner !== null && owner.pid === self.pid && owner.startTicks === self.startTicks) unlinkSync(path);
    },
  };
}

function inUse(directory: string, owner: LockOwner): DkvError {
  return new DkvError(
    'INVALID_REQUEST',
    `data directory ${directory} is in use by process ${owner.pid} (its ${LOCK_FILE} file): two nodes must not share a data directory; stop that process or give this node another --data-dir or --id`,
  );
}

/**
 * Creates the lock file holding `self`; false when it exists. The file is written under a name
 * of this process's own and linked into place (link fails when the name exists), so a lock file
 * is never seen empty: one that names no owner is damage, not a start in progress.
 */
function createExclusive(path: string, self: LockOwner): boolean {
  const temporary = `${path}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'w');
  try {
    writeSync(fd, `${JSON.stringify(self)}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temporary, path);
    return true;
  } catch (error) {
    // ENOENT: the holder's engine, starting, deleted the temporary file as a leftover.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' || (error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** The owner named in the lock file; null when the file does not name one (a start killed before it wrote it); undefined when there is no file. */
function readOwner(path: string): LockOwner | null | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as { pid?: unknown; startTicks?: unknown };
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid < 1) return null;
    return { pid: parsed.pid, startTicks: typeof parsed.startTicks === 'string' ? parsed.startTicks : null };
  } catch {
    return null;
  }
}

/** Whether `owner` is still running: a process with its pid exists and, when both start times are known, started when it did. */
function isRunning(owner: LockOwner): boolean {
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTicksOf(owner.pid);
  return owner.startTicks === null || now === null || now === owner.startTicks;
}

/** Moves a stale lock aside and deletes it; puts it back and refuses when what was moved is not the lock judged stale. */
function removeStale(directory: string, path: string, judged: LockOwner | null): void {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = readOwner(aside);
  const same =
    moved === null || moved === undefined
      ? judged === null
      : judged !== null && moved.pid === judged.pid && moved.startTicks === judged.startTicks;
  if (!same && moved !== null && moved !== undefined) {
    try {
      linkSync(aside, path);
    } finally {
      unlinkSync(aside);
    }
    throw inUse(directory, moved);
  }
  unlinkSync(aside);
}

/** The start time of process `pid` in clock ticks since boot, from `/proc/<pid>/stat`; null where there is no `/proc`. */
function startTicksOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}
