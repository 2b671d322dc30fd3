import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import { Agent, request as undiciRequest } from 'undici';

/**
 * The one door through which the admin commands (`status` to `hints`) talk to a coordinator:
 * {@link adminRequest}. Anything every admin request needs (credentials, TLS options, headers)
 * is added here, once.
 */

/** Exit code of a command that succeeded. */
export const EXIT_OK = 0;
/** Exit code of a request the cluster refused (an error answer) or an operation that failed. */
export const EXIT_FAILED = 1;
/** Exit code of bad arguments or configuration. */
export const EXIT_USAGE = 2;
/** Exit code when the coordinator could not be reached (refused connection, no answer in time, not a dkv URL). */
export const EXIT_UNREACHABLE = 3;
/** Exit code of a long operation still under way when `--timeout-ms` ran out (it goes on in the background). */
export const EXIT_TIMEOUT = 4;

/** A user of the cluster's auth file, as the admin commands send it (HTTP Basic). */
export interface AdminCredentials {
  readonly username: string;
  readonly password: string;
}

/** One request of an admin command: the coordinator's base URL, the method, the path (with its query), an optional JSON body and the user's credentials. */
export interface AdminRequest {
  readonly url: string;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
  readonly credentials?: AdminCredentials;
  /** The PEM CA certificate(s) an `https://` coordinator's certificate must chain to (`--tls-ca`); absent: the system's CAs. */
  readonly tlsCa?: Buffer;
}

/** How the admin commands send requests: {@link adminRequest}, or a double in tests. Resolves the answer's JSON (null for an empty answer). */
export type AdminHttp = (request: AdminRequest) => Promise<unknown>;

/**
 * Why an admin request failed: `unreachable` when no answer came (exit 3), `refused` when the
 * coordinator answered an error (exit 1), with its HTTP status and the API's error code.
 */
export class AdminHttpError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'refused',
    message: string,
    readonly status: number | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'AdminHttpError';
  }

  /** The exit code this failure ends a command with. */
  get exitCode(): number {
    return this.kind === 'unreachable' ? EXIT_UNREACHABLE : EXIT_FAILED;
  }
}

/** Deadline of one admin request (repairs and decommissions are followed by polling, so each request is short). */
export const ADMIN_REQUEST_TIMEOUT_MS = 10_000;
/** Answers are small JSON documents; a longer one is refused rather than read whole. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * Sends one admin request (with undici rather than `fetch`, whose list of "bad ports" would
 * refuse coordinators on ports such as 6000) and answers its JSON. A connection that fails or an answer
 * that does not come within {@link ADMIN_REQUEST_TIMEOUT_MS} is `unreachable`; an error status is
 * `refused`, with the server's `{"error": {"code", "message"}}` when it sent one.
 */
export async function adminRequest(request: AdminRequest): Promise<unknown> {
  let target: URL;
  try {
    target = new URL(`${request.url.replace(/\/+$/, '')}${request.path}`);
  } catch {
    throw new AdminHttpError(
      'unreachable',
      `${JSON.stringify(request.url)} is not a URL: give a coordinator's base URL such as http://127.0.0.1:7070`,
    );
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    throw new AdminHttpError('unreachable', `${JSON.stringify(request.url)}: only http: and https: URLs are served`);
  let status: number;
  let text: string;
  // One connection per request: an admin command sends a handful.
  const dispatcher = request.tlsCa === undefined ? undefined : new Agent({ connect: { ca: request.tlsCa } });
  try {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (request.credentials !== undefined)
      headers['authorization'] =
        `Basic ${Buffer.from(`${request.credentials.username}:${request.credentials.password}`, 'utf8').toString('base64')}`;
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    const response = await undiciRequest(target, {
      ...(dispatcher === undefined ? {} : { dispatcher }),
      method: request.method,
      signal: AbortSignal.timeout(ADMIN_REQUEST_TIMEOUT_MS),
      headers,
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
    });
    status = response.statusCode;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_ANSWER_BYTES) {
        response.body.destroy();
        throw new AdminHttpError('refused', `${request.method} ${request.path}: the answer is over ${MAX_ANSWER_BYTES} bytes`, status);
      }
      chunks.push(chunk as Buffer);
    }
    text = Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    if (error instanceof AdminHttpError) throw error;
    throw new AdminHttpError('unreachable', `cannot reach the coordinator: ${describe(error)}`);
  } finally {
    void dispatcher?.close();
  }
  if (status < 200 || status > 299) {
    const error = errorOf(text);
    const hint = status === 401 ? ' (give --user and --password, or DKV_USER and DKV_PASSWORD)' : '';
    throw new AdminHttpError(
      'refused',
      `${request.method} ${request.path} refused (${status}${error ? ` ${error.code}` : ''}): ${error?.message ?? text.slice(0, 200)}${hint}`,
      status,
      error?.code ?? null,
    );
  }
  if (text.length === 0) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AdminHttpError(
      'refused',
      `${request.method} ${request.path}: the answer is not JSON (is ${request.url} a dkv coordinator?)`,
      status,
    );
  }
}

function errorOf(text: string): { code: string; message: string } | null {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === 'string' && typeof parsed.error.message === 'string')
      return { code: parsed.error.code, message: parsed.error.message };
  } catch {
    // Not the API's error body: the caller shows the text.
  }
  return null;
}

/** The innermost useful message of a request failure (with its code, e.g. ECONNREFUSED). */
function describe(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
    return `no answer within ${ADMIN_REQUEST_TIMEOUT_MS} ms`;
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e instanceof Error && e.cause !== undefined; depth += 1) e = e.cause;
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  const message = e instanceof Error ? e.message : String(e);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}

/** `--user`, `--password` and `--tls-ca` (also `DKV_USER`, `DKV_PASSWORD`, `DKV_TLS_CA`), for every admin command. */
export function credentialOptions(): Option[] {
  return [
    new Option(
      '--tls-ca <pem>',
      "PEM CA certificate an https:// --url's certificate must chain to (e.g. what `dkv cluster up --tls` prints); default: the system's CAs",
    ).env('DKV_TLS_CA'),
    new Option('--user <name>', "a user of the cluster's auth file, when authentication is on").env('DKV_USER'),
    new Option(
      '--password <password>',
      "that user's password (prefer DKV_PASSWORD: a command line is visible to other users of the machine)",
    ).env('DKV_PASSWORD'),
  ];
}

/** The credentials of parsed {@link credentialOptions}: none, or both; one without the other is an error naming the missing one. */
export function credentialsFrom(opts: { readonly user?: string; readonly password?: string }): AdminCredentials | undefined {
  if (opts.user === undefined && opts.password === undefined) return undefined;
  if (opts.user === undefined) throw new Error('--password (DKV_PASSWORD) was given without --user (DKV_USER): give both, or neither');
  if (opts.password === undefined) throw new Error('--user (DKV_USER) was given without --password (DKV_PASSWORD): give both, or neither');
  return { username: opts.user, password: opts.password };
}

/** The CA of parsed {@link credentialOptions}' `--tls-ca`, read: undefined when none is given; an unreadable file is an error naming it. */
export function tlsCaFrom(opts: { readonly tlsCa?: string }): Buffer | undefined {
  if (opts.tlsCa === undefined) return undefined;
  try {
    return readFileSync(opts.tlsCa);
  } catch (error) {
    throw new Error(
      `--tls-ca (DKV_TLS_CA) cannot read ${opts.tlsCa} (${(error as NodeJS.ErrnoException).code ?? 'error'}): give a PEM CA certificate file`,
    );
  }
}
