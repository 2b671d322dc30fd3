/**
 * The one HTTP helper of the admin commands (`status`, `ring`, and the commands that change the
 * cluster): a request to a coordinator's public API with the user's credentials, its JSON answer
 * or an error that carries the API's code and message. Credentials come from `--user` /
 * `--password` or `DKV_USER` / `DKV_PASSWORD` (see {@link credentialOptions}).
 */
import { Option } from 'commander';

/** A user of the cluster's auth file, as the admin commands send it (HTTP Basic). */
export interface AdminCredentials {
  readonly username: string;
  readonly password: string;
}

/** One request of an admin command. */
export interface AdminRequest {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path and query under the coordinator's URL, e.g. `/v1/cluster`. */
  readonly path: string;
  /** A JSON body. */
  readonly body?: unknown;
  readonly credentials?: AdminCredentials;
  /** Default 5000 ms. */
  readonly timeoutMs?: number;
}

/** An answer other than 2xx: the API's code (or `HTTP_<status>`) and message. */
export class AdminRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AdminRequestError';
  }
}

/** Error bodies are small JSON documents; anything longer is cut before it is parsed. */
const MAX_ERROR_BODY_CHARS = 64 * 1024;

/**
 * Sends `request` to the coordinator at `url` and answers its JSON body (null for an empty one).
 * A 401 says how to give credentials; any other failure status is an {@link AdminRequestError}
 * with the API's code and message.
 */
export async function adminRequest<T>(url: string, request: AdminRequest): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (request.credentials !== undefined) headers['authorization'] = `Basic ${Buffer.from(`${request.credentials.username}:${request.credentials.password}`, 'utf8').toString('base64')}`;
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(new URL(request.path, url.endsWith('/') ? url : `${url}/`), {
    method: request.method ?? 'GET',
    headers,
    ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
    signal: AbortSignal.timeout(request.timeoutMs ?? 5000),
  });
  const text = await response.text();
  if (response.ok) return (text.length === 0 ? null : JSON.parse(text)) as T;
  let code = `HTTP_${response.status}`;
  let message = text.slice(0, 200);
  try {
    const parsed = JSON.parse(text.slice(0, MAX_ERROR_BODY_CHARS)) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === 'string') code = parsed.error.code;
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    // Not the API's JSON error body: the status and the start of the text say what happened.
  }
  const hint = response.status === 401 ? ' (give --user and --password, or DKV_USER and DKV_PASSWORD)' : '';
  throw new AdminRequestError(response.status, code, `${code}: ${message}${hint}`);
}

/** `--user` and `--password` (also `DKV_USER`, `DKV_PASSWORD`), for every admin command. */
export function credentialOptions(): Option[] {
  return [
    new Option('--user <name>', 'a user of the cluster\'s auth file, when authentication is on').env('DKV_USER'),
    new Option('--password <password>', 'that user\'s password (prefer DKV_PASSWORD: a command line is visible to other users of the machine)').env('DKV_PASSWORD'),
  ];
}

/** The credentials of parsed {@link credentialOptions}: none, or both; one without the other is an error naming the missing one. */
export function credentialsFrom(opts: { readonly user?: string; readonly password?: string }): AdminCredentials | undefined {
  if (opts.user === undefined && opts.password === undefined) return undefined;
  if (opts.user === undefined) throw new Error('--password (DKV_PASSWORD) was given without --user (DKV_USER): give both, or neither');
  if (opts.password === undefined) throw new Error('--user (DKV_USER) was given without --password (DKV_PASSWORD): give both, or neither');
  return { username: opts.user, password: opts.password };
}
