import { setTimeout as sleep } from 'node:timers/promises';

/** How {@link waitUntil} polls: its deadline, its pause between probes, and what to add to a time-out's message. */
export interface WaitUntilOptions {
  readonly deadlineMs: number;
  /** Pause between two probes; 100 ms by default. */
  readonly intervalMs?: number;
  /** Said after the time-out's first line (the recent output of the processes waited on, say). */
  readonly context?: () => string;
}

/**
 * Polls `probe` until it answers a value other than undefined, and answers that value; a probe
 * that throws counts as not yet (its last error is reported). Fails after `deadlineMs` naming
 * `what`, so tests await a condition with a bound instead of sleeping a guessed time.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: WaitUntilOptions,
): Promise<T> {
  const giveUpAt = Date.now() + options.deadlineMs;
  let last: unknown;
  while (Date.now() < giveUpAt) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(options.intervalMs ?? 100);
  }
  const context = options.context === undefined ? '' : `\n${options.context()}`;
  throw new Error(`timed out after ${options.deadlineMs} ms waiting for ${what}${last ? ` (${String(last)})` : ''}${context}`);
}
