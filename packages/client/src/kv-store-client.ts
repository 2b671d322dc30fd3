import {
  DkvError,
  type ClusterInfo,
  type DistributionEntry,
  type DeleteOptions,
  type DeleteResult,
  type ErrorCode,
  type KVStore,
  type ReadOptions,
  type ReadResult,
  type WriteOptions,
  type WriteResult,
} from '@dkv/core';
import { Pool } from 'undici';

/**
 * How a {@link KVStoreClient} reaches the cluster: one coordinator's `url`, or the `urls` of
 * several coordinating processes (coordinators, or nodes that coordinate) to fail over between.
 */
export interface KVStoreClientOptions {
  /** A coordinator's base URL, e.g. `http://127.0.0.1:7070`. A path prefix is kept. */
  readonly url?: string;
  /**
   * Base URLs of several coordinating processes of one cluster. The client sends every request
   * to one of them and stays there while it answers; when it cannot serve, the request goes to
   * the next (see {@link KVStoreClient}). Given with `url`, `url` comes first.
   */
  readonly urls?: readonly string[];
  /** Deadline of one request to one endpoint, from sending to the last byte of the answer. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Keep-alive connections the client may open to each endpoint. Default 16. */
  readonly connections?: number;
  /** Bounds of failover; each has a default. */
  readonly retry?: RetryOptions;
  /**
   * A user of the cluster's auth file (`--auth-file`), sent as `Authorization: Basic` with every
   * request. Give both or neither; without them requests carry no credentials (a cluster with
   * authentication on answers them 401 `UNAUTHENTICATED`).
   */
  readonly username?: string;
  /** The password of {@link username}. */
  readonly password?: string;
  /**
   * TLS for `https://` URLs (a cluster run with `--tls-cert`): the CA to trust instead of the
   * system's (`dkv cluster up --tls` prints its own), a client certificate, the name to check the
   * server's certificate against. Ignored for `http://` URLs.
   */
  readonly tls?: KVStoreClientTlsOptions;
}

/** The TLS options of {@link KVStoreClientOptions} (as `tls.connect` takes them). */
export interface KVStoreClientTlsOptions {
  /** PEM CA certificate(s) the server's certificate must chain to; absent: the system's CAs. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** A PEM client certificate, for a server that asks for one; with {@link key}. */
  readonly cert?: string | Buffer;
  /** The PEM private key of {@link cert}. */
  readonly key?: string | Buffer;
  /** The name the server's certificate must be valid for, when it differs from the URL's host. */
  readonly servername?: string;
  /** False accepts any certificate (testing only: anyone on the path can then read and change the traffic). Default true. */
  readonly rejectUnauthorized?: boolean;
}

/** How often and how patiently a request moves on to another endpoint. */
export interface RetryOptions {
  /** Attempts of one request in all, over every endpoint (1 = no retry). Default: 2 per endpoint, at least 2, at most 10. */
  readonly maxAttempts?: number;
  /** Pause after a round in which every endpoint failed, doubled each round. Default 50 ms. */
  readonly baseBackoffMs?: number;
  /** The longest such pause. Default 1000 ms. */
  readonly maxBackoffMs?: number;
  /**
   * Whether a PUT or DELETE whose outcome is unknown (no answer in time, the connection lost
   * mid-request, a 503 after the coordinator began the write) is sent again to another endpoint.
   * Default false: only writes that surely never reached a server (connection refused) are
   * retried, and the others fail with `outcomeUnknown` set. True suits data whose writes may
   * safely land twice: a retried PUT writes the same bytes again under a new, higher version (a
   * session store's case; it can also overwrite a concurrent writer's newer value of the same
   * key), a retried DELETE writes another tombstone.
   */
  readonly retryUnknownWrites?: boolean;
}

/** One page of a key scan (`GET /v1/kv`): keys, and the cursor to continue from (null at the end). */
export interface ScanPage {
  readonly keys: string[];
  readonly cursor: string | null;
}

/** What a scan asks for: a Redis glob pattern over keys, and how many keys per page (1..1000, default 100). */
export interface ScanOptions {
  readonly match?: string;
  readonly count?: number;
}

/** The answer shapes of `/v1/cluster` and `/v1/cluster/distribution`, from `@dkv/core`. */
export type { ClusterInfo, ClusterNodeInfo, DistributionEntry } from '@dkv/core';

/**
 * An error answered by the server (or the failure to get an answer at all), as a {@link DkvError}
 * with the server's code and message. `status` is the HTTP status, or null when no answer came
 * (connection refused, timeout): those carry the code `UNAVAILABLE`.
 */
export class KVStoreClientError extends DkvError {
  /** The endpoint that gave this answer (or failed to), when known. */
  readonly endpoint: string | null;
  /**
   * True when a write failed in a way that leaves its outcome unknown (no answer in time, the
   * connection lost mid-request): it may or may not have been applied. A read of the key tells.
   */
  readonly outcomeUnknown: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number | null,
    context: { readonly endpoint?: string; readonly outcomeUnknown?: boolean } = {},
  ) {
    super(code, message, { status });
    this.name = 'KVStoreClientError';
    this.endpoint = context.endpoint ?? null;
    this.outcomeUnknown = context.outcomeUnknown ?? false;
  }
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_CONNECTIONS = 16;
const DEFAULT_BASE_BACKOFF_MS = 50;
const DEFAULT_MAX_BACKOFF_MS = 1000;
/** The most attempts one request may make, whatever the options say. */
const MAX_ATTEMPTS_LIMIT = 100;
/** Errors of a connection that was never established: the request cannot have reached a server. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
/** Error bodies are small JSON documents; anything longer is cut before it is parsed. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const KNOWN_CODES = new Set<string>([
  'INVALID_KEY',
  'INVALID_TTL',
  'INVALID_CONSISTENCY',
  'INVALID_REQUEST',
  'NOT_FOUND',
  'VALUE_TOO_LARGE',
  'QUORUM_NOT_MET',
  'NOT_IMPLEMENTED',
  'UNAVAILABLE',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'INTERNAL',
]);

type Method = 'GET' | 'PUT' | 'DELETE';

/** One coordinating process the client may send to: its pool and path prefix. */
interface Endpoint {
  readonly label: string;
  readonly pool: Pool;
  readonly basePath: string;
}

/** A request that got no answer: the error, and whether it may have reached the server. */
interface Failure {
  readonly error: KVStoreClientError;
  readonly mayHaveRun: boolean;
}
interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/**
 * The seed's `KVStoreClient`: the {@link KVStore} interface over dkv's public HTTP API. It keeps a
 * pool of keep-alive connections to each endpoint; call {@link KVStoreClient.close} when done.
 * Reads of a missing, expired or deleted key give null; every other failure is a
 * {@link KVStoreClientError} carrying the API's error code.
 *
 * With several endpoints (`urls`) it fails over: requests go to one endpoint, sticky while it
 * answers; a request that meets a connection error, a timeout or a 503 (the node cannot serve:
 * not ready, or its quorum not met) moves on to the next endpoint in order, with a bounded number
 * of attempts and a growing, bounded pause after each round in which all failed. Reads (GET, the
 * key scan, the cluster views) are always retried so; writes only when they surely never reached
 * a server, unless `retry.retryUnknownWrites` is set (see {@link RetryOptions}). The next
 * successful endpoint becomes the sticky one.
 */
export class KVStoreClient implements KVStore {
  private readonly endpoints: Endpoint[];
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly retryUnknownWrites: boolean;
  /** The `Authorization` header of every request, or null without credentials. */
  private readonly authorization: string | null;
  /** The endpoint requests go to first: the last one that answered. */
  private current = 0;

  constructor(options: KVStoreClientOptions) {
    const urls = [...(options.url === undefined ? [] : [options.url]), ...(options.urls ?? [])];
    if (urls.length === 0)
      throw new KVStoreClientError(
        'INVALID_REQUEST',
        'KVStoreClient needs `url` or a non-empty `urls`: the base URL of at least one coordinating process',
        null,
      );
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const connections = positive('connections', options.connections ?? DEFAULT_CONNECTIONS);
    const seen = new Set<string>();
    this.endpoints = [];
    for (const raw of urls) {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new KVStoreClientError(
          'INVALID_REQUEST',
          `${JSON.stringify(raw)} is not a URL: give base URLs such as http://127.0.0.1:7070`,
          null,
        );
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new KVStoreClientError('INVALID_REQUEST', `${JSON.stringify(raw)}: only http: and https: URLs are served`, null);
      const label = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
      if (seen.has(label)) continue;
      seen.add(label);
      const connect = url.protocol === 'https:' && options.tls !== undefined ? { connect: tlsConnectOptions(options.tls) } : {};
      this.endpoints.push({
        label,
        pool: new Pool(url.origin, { connections, pipelining: 1, ...connect }),
        basePath: url.pathname.replace(/\/+$/, ''),
      });
    }
    const retry = options.retry ?? {};
    this.maxAttempts = Math.min(
      MAX_ATTEMPTS_LIMIT,
      positive('retry.maxAttempts', retry.maxAttempts ?? Math.min(10, Math.max(2, 2 * this.endpoints.length))),
    );
    this.baseBackoffMs = positive('retry.baseBackoffMs', retry.baseBackoffMs ?? DEFAULT_BASE_BACKOFF_MS);
    this.maxBackoffMs = Math.max(this.baseBackoffMs, positive('retry.maxBackoffMs', retry.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS));
    this.retryUnknownWrites = retry.retryUnknownWrites ?? false;
    this.authorization = basicAuthorization(options.username, options.password);
  }

  /** The endpoint requests go to first now (the last one that answered), as its base URL. */
  get activeEndpoint(): string {
    return (this.endpoints[this.current] as Endpoint).label;
  }

  /** Reads `key`; null when it is missing, expired or deleted. `r` overrides the read quorum. */
  async get(key: string, options: ReadOptions = {}): Promise<ReadResult | null> {
    const response = await this.request('GET', keyPath(key), { r: options.r });
    if (response.status === 404) return null;
    if (response.status !== 200) throw toError(response);
    const version = Number(header(response, 'x-dkv-version'));
    const expires = header(response, 'x-dkv-expires-at');
    return {
      key,
      value: new Uint8Array(response.body.buffer, response.body.byteOffset, response.body.byteLength),
      version,
      expiresAt: expires === undefined ? null : Number(expires),
    };
  }

  /** Stores `value` (bytes, or a string sent as UTF-8); `ttlSeconds` makes it expire, `w` overrides the write quorum. */
  async put(key: string, value: Uint8Array | string, ttlSeconds?: number, options: WriteOptions = {}): Promise<WriteResult> {
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const response = await this.request('PUT', keyPath(key), { ttl: ttlSeconds, w: options.w }, body);
    if (response.status !== 200) throw toError(response);
    const result = JSON.parse(response.body.toString('utf8')) as WriteResult;
    return { key: result.key, version: result.version, expiresAt: result.expiresAt };
  }

  /** Deletes `key` (idempotent: deleting a missing key succeeds). The version is read from the answer when the server gives it. */
  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const response = await this.request('DELETE', keyPath(key), { w: options.w });
    if (response.status !== 204 && response.status !== 200) throw toError(response);
    return { key, version: Number(header(response, 'x-dkv-version') ?? 0) };
  }

  /**
   * One page of a cluster-wide key scan (`GET /v1/kv`), as Redis's `SCAN`: start with a null
   * cursor and pass each page's cursor back until it is null. Any endpoint can continue a cursor.
   */
  async scan(cursor: string | null, options: ScanOptions = {}): Promise<ScanPage> {
    const query = new URLSearchParams();
    if (cursor !== null) query.set('cursor', cursor);
    if (options.match !== undefined) query.set('match', options.match);
    if (options.count !== undefined) query.set('count', String(options.count));
    const page = await this.getJson<ScanPage>('/v1/kv', query);
    return { keys: page.keys, cursor: page.cursor };
  }

  /**
   * Every key of the cluster (matching `options.match`), page by page: a full scan, which yields
   * every key that held a live value throughout it and may yield a key more than once. Only one
   * page is held at a time.
   */
  async *keys(options: ScanOptions = {}): AsyncGenerator<string, void, undefined> {
    let cursor: string | null = null;
    do {
      const page: ScanPage = await this.scan(cursor, options);
      yield* page.keys;
      cursor = page.cursor;
    } while (cursor !== null);
  }

  /** The cluster's membership and replication settings (`GET /v1/cluster`). */
  async cluster(): Promise<ClusterInfo> {
    return this.getJson<ClusterInfo>('/v1/cluster');
  }

  /** Each node's share of the ring, keys and bytes (`GET /v1/cluster/distribution`). */
  async distribution(): Promise<DistributionEntry[]> {
    return this.getJson<DistributionEntry[]>('/v1/cluster/distribution');
  }

  /** Closes the pooled connections; later calls fail. */
  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((endpoint) => endpoint.pool.close()));
  }

  private async getJson<T>(path: string, query?: URLSearchParams): Promise<T> {
    const response = await this.request('GET', path, query ?? {});
    if (response.status !== 200) throw toError(response);
    return JSON.parse(response.body.toString('utf8')) as T;
  }

  /**
   * Sends one request with failover: to the sticky endpoint first, then to the next ones in turn,
   * pausing after each round in which every endpoint failed, for at most `maxAttempts` attempts.
   * Answers other than 503 are returned as they are; see the class comment for what is retried.
   */
  private async request(
    method: Method,
    path: string,
    query: Record<string, number | undefined> | URLSearchParams,
    body?: Uint8Array,
  ): Promise<RawResponse> {
    const search = query instanceof URLSearchParams ? query : new URLSearchParams();
    if (!(query instanceof URLSearchParams))
      for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
    const qs = search.size > 0 ? `?${search.toString()}` : '';
    const retriesUnknown = method === 'GET' || this.retryUnknownWrites;
    let index = this.current;
    let lastError: KVStoreClientError | null = null;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      if (attempt > 1) {
        index = (index + 1) % this.endpoints.length;
        if ((attempt - 1) % this.endpoints.length === 0) await sleep(this.backoffMs((attempt - 1) / this.endpoints.length));
      }
      const endpoint = this.endpoints[index] as Endpoint;
      const outcome = await this.send(endpoint, method, `${path}${qs}`, body);
      if ('status' in outcome) {
        if (outcome.status !== 503 || !retriesUnknown || attempt === this.maxAttempts) {
          if (outcome.status !== 503) this.current = index;
          return outcome;
        }
        lastError = toError(outcome, endpoint.label);
        continue;
      }
      lastError = outcome.error;
      if (outcome.mayHaveRun && !retriesUnknown) {
        throw new KVStoreClientError(
          outcome.error.code,
          `${outcome.error.message}; the ${method} may or may not have been applied (not retried: set retry.retryUnknownWrites to retry such writes)`,
          null,
          {
            endpoint: endpoint.label,
            outcomeUnknown: true,
          },
        );
      }
    }
    const tried = Math.min(this.maxAttempts, this.endpoints.length);
    throw new KVStoreClientError(
      lastError?.code ?? 'UNAVAILABLE',
      `${method} ${path}: no endpoint could serve it after ${this.maxAttempts} attempts over ${tried} endpoint(s); last: ${lastError?.message ?? 'none'}`,
      lastError?.status ?? null,
      {
        ...(lastError?.endpoint ? { endpoint: lastError.endpoint } : {}),
        outcomeUnknown: method !== 'GET' && (lastError?.outcomeUnknown ?? false),
      },
    );
  }

  /** The pause after `round` rounds in which every endpoint failed: doubling from the base, capped. */
  private backoffMs(round: number): number {
    return Math.min(this.maxBackoffMs, this.baseBackoffMs * 2 ** Math.min(20, Math.max(0, round - 1)));
  }

  /** One attempt at one endpoint: its answer, or why none came and whether the request may have run. */
  private async send(endpoint: Endpoint, method: Method, pathAndQuery: string, body?: Uint8Array): Promise<RawResponse | Failure> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    const what = `${method} ${endpoint.label}${pathAndQuery.split('?')[0] ?? ''}`;
    try {
      const response = await endpoint.pool.request({
        method,
        path: `${endpoint.basePath}${pathAndQuery}`,
        signal,
        ...(body === undefined ? {} : { body }),
        headers: this.headers(body !== undefined),
      });
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) chunks.push(chunk as Buffer);
      return { status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) };
    } catch (error) {
      const mayHaveRun = method !== 'GET' && !isNotSent(error);
      const context = { endpoint: endpoint.label, outcomeUnknown: mayHaveRun };
      if (signal.aborted)
        return {
          error: new KVStoreClientError('UNAVAILABLE', `${what}: no answer within ${this.timeoutMs} ms`, null, context),
          mayHaveRun,
        };
      const detail = error instanceof Error ? error.message : String(error);
      return { error: new KVStoreClientError('UNAVAILABLE', `${what}: ${detail}`, null, context), mayHaveRun };
    }
  }

  /** The headers of a request: its credentials, and the content type of a body. */
  private headers(withBody: boolean): Record<string, string> {
    const headers: Record<string, string> = {};
    if (this.authorization !== null) headers['authorization'] = this.authorization;
    if (withBody) headers['content-type'] = 'application/octet-stream';
    return headers;
  }
}

/** Whether an undici error says the connection was never made, so the request never left. */
function isNotSent(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return true;
  }
  return false;
}

/** HTTP Basic credentials (RFC 7617) as a header value; null without them; both or neither must be given. */
function basicAuthorization(username: string | undefined, password: string | undefined): string | null {
  if (username === undefined && password === undefined) return null;
  if (username === undefined || password === undefined)
    throw new KVStoreClientError(
      'INVALID_REQUEST',
      "give both `username` and `password` (a user of the cluster's auth file), or neither",
      null,
    );
  if (username.includes(':'))
    throw new KVStoreClientError(
      'INVALID_REQUEST',
      'a `username` cannot contain ":" (HTTP Basic splits the name from the password there)',
      null,
    );
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new KVStoreClientError('INVALID_REQUEST', `${name} must be a whole number of at least 1, got ${String(value)}`, null);
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function keyPath(key: string): string {
  return `/v1/kv/${encodeURIComponent(key)}`;
}

function header(response: RawResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The server's `{"error": {"code", "message"}}` as a typed error; a body that is not one still gives a code. */
function toError(response: RawResponse, endpoint?: string): KVStoreClientError {
  const context = endpoint === undefined ? {} : { endpoint };
  const text = response.body.subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const code = parsed.error?.code;
    const message = parsed.error?.message;
    if (typeof code === 'string' && KNOWN_CODES.has(code) && typeof message === 'string') {
      return new KVStoreClientError(code as ErrorCode, message, response.status, context);
    }
  } catch {
    // Not JSON: fall through to a code derived from the status.
  }
  return new KVStoreClientError(codeForStatus(response.status), `HTTP ${response.status}: ${text.slice(0, 200)}`, response.status, context);
}

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 413) return 'VALUE_TOO_LARGE';
  if (status === 501) return 'NOT_IMPLEMENTED';
  if (status === 503) return 'UNAVAILABLE';
  if (status >= 400 && status < 500) return 'INVALID_REQUEST';
  return 'INTERNAL';
}

/** The `tls.connect` options of {@link KVStoreClientTlsOptions}, only those given. */
function tlsConnectOptions(tls: KVStoreClientTlsOptions): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries({
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      servername: tls.servername,
      rejectUnauthorized: tls.rejectUnauthorized,
    }).filter(([, value]) => value !== undefined),
  );
}
