/**
 * The auth file of a running process: loaded at start, re-read on SIGHUP. A new file that is bad
 * keeps the users in force and says why in the log; a good one replaces them at once.
 */
import { AuthFileError, loadAuthFile, type AuthFile, type Role } from './auth-file.js';
import { UserTable, type Authenticator, type Principal } from './authenticator.js';

/** Where a {@link ReloadableAuth} reports what happened on a reload. Fields never hold secrets. */
export type AuthLog = (level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>) => void;

/** The outcome of one {@link ReloadableAuth.reload}. */
export type AuthReload = { readonly ok: true; readonly users: number } | { readonly ok: false; readonly reason: string };

/**
 * The users of the auth file at `path`, as an {@link Authenticator} whose table a reload swaps.
 * The cluster secret is the one read at start: internode connections are authenticated once,
 * so a secret changed in the file takes effect when the process restarts (a reload says so).
 */
export class ReloadableAuth implements Authenticator {
  private table: UserTable;
  private readonly startSecret: string;

  constructor(
    readonly path: string,
    initial: AuthFile,
    private readonly log: AuthLog = () => undefined,
  ) {
    this.table = new UserTable(initial);
    this.startSecret = initial.clusterSecret;
  }

  /** Loads the file at `path` (throws its {@link AuthFileError}, naming each bad field). */
  static load(path: string, log?: AuthLog): ReloadableAuth {
    return new ReloadableAuth(path, loadAuthFile(path), log);
  }

  /** The cluster secret the process started with: what its internode transport proves and checks. */
  get clusterSecret(): string {
    return this.startSecret;
  }

  authenticate(name: string, password: string | Uint8Array): Principal | null {
    return this.table.authenticate(name, password);
  }

  roleOf(name: string): Role | null {
    return this.table.roleOf(name);
  }

  /** Re-reads the file: a good one replaces the users, a bad one is logged and changes nothing. */
  reload(): AuthReload {
    let file: AuthFile;
    try {
      file = loadAuthFile(this.path);
    } catch (error) {
      const reason = error instanceof AuthFileError ? error.message : String(error);
      this.log('error', 'auth file not reloaded: keeping the users in force', { reason });
      return { ok: false, reason };
    }
    this.table = new UserTable(file);
    this.log('info', 'auth file reloaded', { path: this.path, users: this.table.size });
    if (file.clusterSecret !== this.startSecret) {
      this.log('warn', 'clusterSecret changed in the auth file: it takes effect when the process restarts', { path: this.path });
    }
    return { ok: true, users: this.table.size };
  }

  /** Reloads on every SIGHUP of `target` (the process); returns a function that stops listening. */
  reloadOnSighup(target: Pick<NodeJS.Process, 'on' | 'off'> = process): () => void {
    const onSignal = (): void => {
      this.reload();
    };
    target.on('SIGHUP', onSignal);
    return () => target.off('SIGHUP', onSignal);
  }
}
