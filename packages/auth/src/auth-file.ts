/**
 * The `--auth-file` document (API.md, "Security"): users with a password and a role, and the
 * cluster secret the processes of one cluster share. Validated with zod at the edge; every
 * problem names the field (`users[1].role`) and says what is allowed, and never quotes a secret.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** The roles, smallest first: each may do what the ones before it may. */
export const ROLES = ['read', 'readwrite', 'admin'] as const;

/**
 * What a user may do: `read` reads keys, scans and the cluster views; `readwrite` also writes and
 * deletes keys; `admin` also changes the cluster (membership, vnodes, repair).
 */
export type Role = (typeof ROLES)[number];

/** True when `role` is at least `needed` (admin ⊇ readwrite ⊇ read). */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** A user name: printable ASCII without spaces or `:` (HTTP Basic splits at the first `:`), 1 to 64 characters. */
export const USER_NAME_PATTERN = /^[!-9;-~]{1,64}$/;
/** The longest password or cluster secret accepted. A bound, as every input has one. */
export const MAX_SECRET_LENGTH = 1024;
/** The most users one file may list. */
export const MAX_USERS = 10_000;
/** The largest auth file read. */
export const MAX_AUTH_FILE_BYTES = 4 * 1024 * 1024;

const secret = (what: string, min: number) =>
  z
    .string({ error: `must be a string (the ${what})` })
    .min(min, `must be ${min} to ${MAX_SECRET_LENGTH} characters`)
    .max(MAX_SECRET_LENGTH, `must be ${min} to ${MAX_SECRET_LENGTH} characters`);

const userSchema = z.strictObject(
  {
    name: z
      .string({ error: 'must be a string' })
      .regex(USER_NAME_PATTERN, 'must be 1 to 64 printable ASCII characters without spaces or ":"'),
    password: secret('password', 1),
    role: z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` }),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field(s) ${issue.keys.join(', ')}: a user has "name", "password" and "role"`
        : 'must be an object {"name", "password", "role"}',
  },
);

/** The file's schema: `{"users": [...], "clusterSecret": "..."}`, nothing else. */
export const authFileSchema = z
  .strictObject(
    {
      users: z
        .array(userSchema, { error: 'must be an array of {"name", "password", "role"}' })
        .min(1, 'must list at least one user')
        .max(MAX_USERS, `must list at most ${MAX_USERS} users`),
      clusterSecret: secret('secret every process of the cluster shares', 16),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown field(s) ${issue.keys.join(', ')}: the file has "users" and "clusterSecret"`
          : 'must be a JSON object {"users": [...], "clusterSecret": "..."}',
    },
  )
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.users.forEach((user, index) => {
      if (seen.has(user.name))
        ctx.addIssue({ code: 'custom', path: ['users', index, 'name'], message: `"${user.name}" is listed twice: each user once` });
      seen.add(user.name);
    });
  });

/** One user as the file lists it. */
export interface AuthUser {
  readonly name: string;
  readonly password: string;
  readonly role: Role;
}

/** A parsed, valid auth file. */
export interface AuthFile {
  readonly users: readonly AuthUser[];
  /** The secret internode traffic proves (see SECURITY.md); at least 16 characters. */
  readonly clusterSecret: string;
}

/** A bad auth file: every problem, each naming its field. The message never contains a secret. */
export class AuthFileError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`${source}: ${problems.join('; ')}`);
    this.name = 'AuthFileError';
  }
}

/**
 * Parses the text of an auth file. `source` names it in errors (the path). Throws an
 * {@link AuthFileError} naming each bad field and what is allowed.
 */
export function parseAuthFile(text: string, source: string): AuthFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // JSON.parse's message quotes the text near the error, which may be a password: only its position is kept.
    const at = error instanceof Error ? /position (\d+)/.exec(error.message)?.[1] : undefined;
    throw new AuthFileError(source, [
      `is not valid JSON${at === undefined ? '' : ` (at character ${at})`}: it must be {"users": [{"name", "password", "role"}], "clusterSecret": "..."}`,
    ]);
  }
  const parsed = authFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new AuthFileError(
      source,
      parsed.error.issues.map((issue) => `${issue.path.length === 0 ? 'the file' : formatPath(issue.path)} ${issue.message}`),
    );
  }
  return parsed.data;
}

/** Reads and parses the auth file at `path` (at most {@link MAX_AUTH_FILE_BYTES}); throws {@link AuthFileError}. */
export function loadAuthFile(path: string): AuthFile {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_AUTH_FILE_BYTES)
      throw new AuthFileError(path, [`is ${bytes.length} bytes; the limit is ${MAX_AUTH_FILE_BYTES}`]);
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof AuthFileError) throw error;
    throw new AuthFileError(path, [`cannot be read: ${error instanceof Error ? error.message : String(error)}`]);
  }
  return parseAuthFile(text, path);
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`)).join('');
}
