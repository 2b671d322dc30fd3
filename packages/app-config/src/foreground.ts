/** Something started that a signal should stop. */
export interface Closable {
  close(): Promise<void>;
}

/** Where {@link holdInForeground} reports a stop: the process's logger (which names the process). */
export type ForegroundLog = (level: 'info' | 'error', message: string) => void;

/** How long a graceful stop may take before the process exits anyway. */
const CLOSE_DEADLINE_MS = 10_000;

/**
 * Keeps a started server in the foreground: SIGINT or SIGTERM closes it and exits 0 (1 if closing
 * fails or overruns its deadline). When the process was spawned with an IPC channel (by
 * `dkv cluster up`), losing that channel means the parent died, so it closes too: a killed
 * `cluster up` leaves no orphans behind. A process that has stopped logs a last line too: `stopped`.
 */
export function holdInForeground(server: Closable, log: ForegroundLog): void {
  let closing = false;
  const stop = (reason: string): void => {
    if (closing) return;
    closing = true;
    log('info', `${reason}, stopping`);
    const deadline = setTimeout(() => {
      log('error', `not stopped within ${CLOSE_DEADLINE_MS} ms, exiting`);
      process.exit(1);
    }, CLOSE_DEADLINE_MS);
    deadline.unref();
    server.close().then(
      () => {
        log('info', 'stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log('error', `close failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', () => stop('parent process gone'));
  }
}
