/**
 * Checking credentials against the users of an auth file, in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthFile, Role } from './auth-file.js';

/** Who a request or connection proved to be. */
export interface Principal {
  readonly name: string;
  readonly role: Role;
}

/**
 * The port both doors check credentials with. `authenticate` answers the user a name and
 * password prove, or null; `roleOf` the current role of a user authenticated earlier (null once
 * the user is gone), so that a connection authenticated before a reload gets the new role.
 */
export interface Authenticator {
  authenticate(name: string, password: string | Uint8Array): Principal | null;
  roleOf(name: string): Role | null;
}

/**
 * True when `a` and `b` are the same bytes, in time that depends on neither their contents nor
 * their lengths: both are hashed (SHA-256) first and the digests compared with
 * `crypto.timingSafeEqual`, which needs equal lengths, so a different length costs the same as
 * a different byte.
 */
export function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function digest(value: string | Uint8Array): Buffer {
  return createHash('sha256').update(value).digest();
}

/** What is kept of a user: the digest of the password, never the password itself. */
interface StoredUser {
  readonly role: Role;
  readonly passwordDigest: Buffer;
}

/** Compared against when a name is unknown, so that an unknown name costs what a wrong password does. */
const UNKNOWN_USER_DIGEST = digest('dkv: no such user');

/**
 * The users of one auth file. Keeps the SHA-256 digest of each password, compares a given
 * password's digest with `timingSafeEqual`, and does the same work for an unknown name.
 */
export class UserTable implements Authenticator {
  private readonly users = new Map<string, StoredUser>();

  constructor(file: Pick<AuthFile, 'users'>) {
    for (const user of file.users) this.users.set(user.name, { role: user.role, passwordDigest: digest(user.password) });
  }

  authenticate(name: string, password: string | Uint8Array): Principal | null {
    const user = this.users.get(name);
    const matches = timingSafeEqual(digest(password), user?.passwordDigest ?? UNKNOWN_USER_DIGEST);
    return user !== undefined && matches ? { name, role: user.role } : null;
  }

  roleOf(name: string): Role | null {
    return this.users.get(name)?.role ?? null;
  }

  /** The number of users (for log lines: counts, never names of secrets). */
  get size(): number {
    return this.users.size;
  }
}
