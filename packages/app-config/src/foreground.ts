/** Something started that a signal should stop. */
export interface Closable {
  close(): Promise<void>;
}

/** Where {@link holdInForeground} reports a stop: the process's logger (which names the process). */
export type ForegroundLog = (level: 'info' | 'error', message: string) => void;

/** How long a graceful stop may take before the process exits anyway. */
const CLOSE_DEADLINE_MS = 10_000;

/**
 * Keeps a server in the foreground: SIGINT or SIGTERM closes it and exits 0 (1 if closing fails
 * or overruns its deadline). When the process was spawned with an IPC channel (by
 * `dkv cluster up`), losing that channel means the parent died, so it closes too: a killed
 * `cluster up` leaves no orphans behind. A process that has stopped logs a last line too: `stopped`.
 *
 * Call it with the server's start still under way (`server` a promise): the signals are then
 * handled from before the server logs that it listens, so a supervisor that stops the process as
 * soon as it reads that line gets a graceful stop, not the default action of SIGTERM (killed, no
 * exit code). A signal during the start stops the server once it has started; a start that fails
 * is the caller's to report (the stop then exits 1).
 */
export function holdInForeground(server: Closable | Promise<Closable>, log: ForegroundLog): void {
  const started = Promise.resolve(server);
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
    started
      .then((running) => running.close())
      .then(
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

/** The message a process spawned with an IPC channel sends once its ports are bound (see {@link announceListening}). */
export interface ListeningAnnouncement {
  readonly type: 'dkv.listening';
  /** `http://host:port` of the port it serves HTTP on. */
  readonly url: string;
  /** `redis://host:port` of its Redis protocol door, or null when it has none. */
  readonly redisUrl: string | null;
}

/**
 * Tells the parent (`dkv cluster up`), over the IPC channel it was spawned with, which ports this
 * process has bound. A port that was free when the parent chose it can be taken by another
 * process before the child binds it; the parent trusts a `/readyz` answer only after this
 * message, so it never mistakes a stranger on that port for its child. Without a channel
 * (started by hand, by systemd, in a container) it does nothing.
 */
export function announceListening(urls: { readonly url: string; readonly redisUrl: string | null }): void {
  if (process.send === undefined || !process.connected) return;
  const message: ListeningAnnouncement = { type: 'dkv.listening', url: urls.url, redisUrl: urls.redisUrl };
  process.send(message);
}

/**
 * The message a process spawned with an IPC channel sends when it cannot start because a port it
 * was given is in use (see {@link announcePortTaken}).
 */
export interface PortTakenAnnouncement {
  readonly type: 'dkv.port-taken';
  /** The port another process holds. */
  readonly port: number;
}

/**
 * When `error` is a listen failure on a port another process holds (`EADDRINUSE`), tells the
 * parent (`dkv cluster up`) over the IPC channel, and resolves once the message has gone out, so
 * that the caller can exit right after. `cluster up` gives its storage nodes ports that were free
 * when it chose them; one taken meanwhile by another process is a reason to start again on other
 * ports, not a failure of the cluster. Does nothing for other errors or without a channel.
 */
export async function announcePortTaken(error: unknown): Promise<void> {
  const port = takenPort(error);
  if (port === null || process.send === undefined || !process.connected) return;
  const message: PortTakenAnnouncement = { type: 'dkv.port-taken', port };
  await new Promise<void>((resolve) => {
    process.send?.(message, undefined, {}, () => resolve());
  });
}

/** The port of a listen error `EADDRINUSE`, or null for any other error. */
function takenPort(error: unknown): number | null {
  if (typeof error !== 'object' || error === null) return null;
  const { code, port } = error as { code?: unknown; port?: unknown };
  return code === 'EADDRINUSE' && typeof port === 'number' ? port : null;
}
