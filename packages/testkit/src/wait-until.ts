import { setTimeout as sleep } from 'node:timers/promises';

/** How {@link waitUntil} polls: its deadline, its pause between probes, and what to add to a time-out's message. */
export interface WaitUntilOptions {
  readonly deadlineMs: number;
  /** Pause between two probes; 100 ms by default. */
  readonly intervalMs?: number;
  /** Said after the time-out's first line (the recent output of the processes waited on, say). */
  readonly context?: () => string;
  /** Says why the condition can no longer come (the process that would bring it exited), to fail at once; undefined while it may. */
  readonly hopeless?: () => string | undefined;
}

/**
 * Polls `probe` until it answers a value other than undefined, and answers that value; a probe
 * that throws counts as not yet (its last error is reported). Fails after `deadlineMs` naming
 * `what`, so tests await a condition with a bound instead of sleeping a guessed time; fails at
 * once, after a last probe, when `hopeless` gives a reason.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: WaitUntilOptions,
): Promise<T> {
  const giveUpAt = Date.now() + options.deadlineMs;
  let last: unknown;
  const context = (): string => (options.context === undefined ? '' : `\n${options.context()}`);
  while (Date.now() < giveUpAt) {
    const reason = options.hopeless?.();
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (reason !== undefined) throw new Error(`gave up waiting for ${what}: ${reason}${context()}`);
    await sleep(options.intervalMs ?? 100);
  }
  throw new Error(`timed out after ${options.deadlineMs} ms waiting for ${what}${last ? ` (${String(last)})` : ''}${context()}`);
}
