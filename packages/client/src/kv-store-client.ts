import { DkvError, type ClusterInfo, type DistributionEntry, type DeleteOptions, type DeleteResult, type ErrorCode, type KVStore, type ReadOptions, type ReadResult, type WriteOptions, type WriteResult } from '@dkv/core';
import { Pool } from 'undici';

/** How a {@link KVStoreClient} reaches a coordinator. */
export interface KVStoreClientOptions {
  /** The coordinator's base URL, e.g. `http://127.0.0.1:7070`. A path prefix is kept. */
  readonly url: string;
  /** Deadline of one request, from sending to the last byte of the answer. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Keep-alive connections the client may open to the coordinator. Default 16. */
  readonly connections?: number;
}

/** The answer shapes of `/v1/cluster` and `/v1/cluster/distribution`, from `@dkv/core`. */
export type { ClusterInfo, ClusterNodeInfo, DistributionEntry } from '@dkv/core';

/**
 * An error answered by the server (or the failure to get an answer at all), as a {@link DkvError}
 * with the server's code and message. `status` is the HTTP status, or null when no answer came
 * (connection refused, timeout): those carry the code `UNAVAILABLE`.
 */
export class KVStoreClientError extends DkvError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number | null,
  ) {
    super(code, message, { status });
    this.name = 'KVStoreClientError';
  }
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_CONNECTIONS = 16;
/** Error bodies are small JSON documents; anything longer is cut before it is parsed. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const KNOWN_CODES = new Set<string>(['INVALID_KEY', 'INVALID_TTL', 'INVALID_CONSISTENCY', 'INVALID_REQUEST', 'NOT_FOUND', 'VALUE_TOO_LARGE', 'QUORUM_NOT_MET', 'NOT_IMPLEMENTED', 'UNAVAILABLE', 'INTERNAL']);

type Method = 'GET' | 'PUT' | 'DELETE';
interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/**
 * The seed's `KVStoreClient`: the {@link KVStore} interface over dkv's public HTTP API. It keeps a
 * pool of keep-alive connections to one coordinator; call {@link KVStoreClient.close} when done.
 * Reads of a missing, expired or deleted key give null; every other failure is a
 * {@link KVStoreClientError} carrying the API's error code.
 */
export class KVStoreClient implements KVStore {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly timeoutMs: number;

  constructor(options: KVStoreClientOptions) {
    const url = new URL(options.url);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.pool = new Pool(url.origin, { connections: options.connections ?? DEFAULT_CONNECTIONS, pipelining: 1 });
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
    await this.pool.close();
  }

  private async getJson<T>(path: string): Promise<T> {
    const response = await this.request('GET', path, {});
    if (response.status !== 200) throw toError(response);
    return JSON.parse(response.body.toString('utf8')) as T;
  }

  private async request(method: Method, path: string, query: Record<string, number | undefined>, body?: Uint8Array): Promise<RawResponse> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
    const qs = search.size > 0 ? `?${search.toString()}` : '';
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const response = await this.pool.request({
        method,
        path: `${this.basePath}${path}${qs}`,
        signal,
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/octet-stream' } }),
      });
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) chunks.push(chunk as Buffer);
      return { status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) };
    } catch (error) {
      if (signal.aborted) throw new KVStoreClientError('UNAVAILABLE', `${method} ${path}: no answer within ${this.timeoutMs} ms`, null);
      const detail = error instanceof Error ? error.message : String(error);
      throw new KVStoreClientError('UNAVAILABLE', `${method} ${path}: ${detail}`, null);
    }
  }
}

function keyPath(key: string): string {
  return `/v1/kv/${encodeURIComponent(key)}`;
}

function header(response: RawResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The server's `{"error": {"code", "message"}}` as a typed error; a body that is not one still gives a code. */
function toError(response: RawResponse): KVStoreClientError {
  const text = response.body.subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const code = parsed.error?.code;
    const message = parsed.error?.message;
    if (typeof code === 'string' && KNOWN_CODES.has(code) && typeof message === 'string') {
      return new KVStoreClientError(code as ErrorCode, message, response.status);
    }
  } catch {
    // Not JSON: fall through to a code derived from the status.
  }
  return new KVStoreClientError(codeForStatus(response.status), `HTTP ${response.status}: ${text.slice(0, 200)}`, response.status);
}

function codeForStatus(status: number): ErrorCode {
  if (status === 404) return 'NOT_FOUND';
  if (status === 413) return 'VALUE_TOO_LARGE';
  if (status === 501) return 'NOT_IMPLEMENTED';
  if (status === 503) return 'UNAVAILABLE';
  if (status >= 400 && status < 500) return 'INVALID_REQUEST';
  return 'INTERNAL';
}
