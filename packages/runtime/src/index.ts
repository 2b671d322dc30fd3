/**
 * Node.js adapters of the domain's time and randomness ports: the wall clock, real timers and
 * `Math.random` as the random source (V8 seeds it per process from the OS, which is all that
 * backoff jitter and gossip peer choice need; nothing here draws secrets); and the durable storage
 * engine's log directory on disk. Apps bind these in their composition roots; tests and
 * simulations bind the virtual ones from `@dkv/testkit` (and `MemoryLogDirectory`) instead.
 */
import { randomInt } from 'node:crypto';
import type { Clock, Rng, Scheduler, Timer } from '@dkv/core';

/** The process's wall clock, optionally shifted by a fixed offset (to inject clock skew in tests). */
export class SystemClock implements Clock {
  constructor(private readonly offsetMs = 0) {}
  now(): number {
    return Date.now() + this.offsetMs;
  }
}

/** Real timers. They are unref'd: a pending timer never keeps a process alive on its own. */
export class TimerScheduler implements Scheduler {
  after(delayMs: number, callback: () => void): Timer {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  }

  every(intervalMs: number, callback: () => void): Timer {
    const handle = setInterval(callback, Math.max(1, intervalMs));
    handle.unref();
    return { cancel: () => clearInterval(handle) };
  }
}

/** Randomness for production: `Math.random` for speed, which is fine for jitter and peer choice. */
export class SystemRng implements Rng {
  next(): number {
    return Math.random();
  }
  int(maxExclusive: number): number {
    return maxExclusive <= 1 ? 0 : Math.floor(Math.random() * maxExclusive);
  }
}

/** A random id for process instances (e.g. a coordinator's writer id when none is configured). */
export function randomId(prefix: string): string {
  return `${prefix}-${randomInt(0, 2 ** 40).toString(36)}`;
}

export { NodeLogDirectory } from './node-log-directory.js';
export { lockDataDirectory, LOCK_FILE, type DataDirectoryLock } from './data-directory-lock.js';
export { LastContactFile, LAST_CONTACT_FILE } from './last-contact-file.js';
