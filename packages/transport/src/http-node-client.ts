import { NodeUnavailableError, type Node, type NodeClient, type RequestOptions, type ResponseFor, type StorageRequest } from '@dkv/core';
import { Pool, type Dispatcher } from 'undici';
import { internodeConnectOptions, type InternodeTls } from './internode-tls.js';
import { decodeResponse, encodeRequest, FRAME_CONTENT_TYPE, FrameError } from './codec.js';
import { describeError, matchResponse } from './handler.js';
import { DEFAULT_FRAME_LIMIT_BYTES, INTERNAL_STORAGE_PATH } from './internal-routes.js';
import { INTERNODE_AUTH_HEADER, signInternalRequest } from './internode-auth.js';

/** Options of {@link HttpNodeClient}; every bound has a default and can be changed. */
export interface HttpNodeClientOptions {
  /** Keep-alive connections opened to each node at most. Default 16. */
  readonly connectionsPerNode?: number;
  /** Requests in flight on one connection at once (HTTP/1.1 pipelining). Default 1: none. */
  readonly pipelining?: number;
  /** The largest response frame read; a larger one fails with kind `remote`. Default 1 MiB + 64 KiB. */
  readonly maxResponseBytes?: number;
  /**
   * Requests to one node in flight at once, queued ones included. Beyond it a send fails at once
   * with kind `overloaded` instead of queueing without end behind a slow node. Default 512.
   */
  readonly maxInFlightPerNode?: number;
  /**
   * The cluster secret: each request carries the `internode-auth.ts` header proving it, as the
   * nodes' internal routes require when they have one. Null or absent: no header.
   */
  readonly clusterSecret?: string | null;
  /**
   * Mutual TLS (`--tls-ca`): requests go over https, show `cert` to the node and accept only a
   * node whose certificate chains to `ca` and is valid for its host. Null or absent: plain http.
   */
  readonly tls?: InternodeTls | null;
}

/** The defaults of {@link HttpNodeClientOptions}, sized for a coordinator on a LAN. */
export const DEFAULT_HTTP_NODE_CLIENT_OPTIONS: Readonly<Required<Omit<HttpNodeClientOptions, 'clusterSecret' | 'tls'>>> = {
  connectionsPerNode: 16,
  pipelining: 1,
  maxResponseBytes: DEFAULT_FRAME_LIMIT_BYTES,
  maxInFlightPerNode: 512,
};

/** Read at most this much of an error answer, to quote it in the error's detail. */
const ERROR_BODY_BYTES_MAX = 4096;

/**
 * Socket errors that happen before a request is written, so the node surely did not run it and
 * a retry is safe. A reset or close after that point may follow a request the node did run, so
 * those are `remote`, never `unreachable`.
 */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

interface NodePool {
  readonly pool: Pool;
  inFlight: number;
}

/** An answer of the wrong status or size: the node ran something and said no, or said too much. */
class RemoteAnswerError extends Error {}

/**
 * A {@link NodeClient} over HTTP/1.1 to the nodes' {@link INTERNAL_STORAGE_PATH} route, with one
 * keep-alive undici `Pool` per node address (`host:port`).
 *
 * Each send has its own timer: the promise settles with kind `timeout` at `timeoutMs` exactly,
 * whatever phase the request is in, and the request is aborted then. Connection refused and
 * name-resolution failures are `unreachable`, a non-2xx answer or a bad frame is `remote`, more
 * than `maxInFlightPerNode` requests to one node is `overloaded`, and sends after `close()` are
 * `closed`. Pools are kept per address for the client's life; the cluster's addresses are few.
 */
export class HttpNodeClient implements NodeClient {
  private readonly options: Readonly<Required<Omit<HttpNodeClientOptions, 'clusterSecret' | 'tls'>>>;
  private readonly secret: string | null;
  private readonly tls: InternodeTls | null;
  private readonly pools = new Map<string, NodePool>();
  private closing: Promise<void> | null = null;

  constructor(options: HttpNodeClientOptions = {}) {
    const { clusterSecret, tls, ...bounds } = options;
    this.secret = clusterSecret ?? null;
    this.tls = tls ?? null;
    this.options = { ...DEFAULT_HTTP_NODE_CLIENT_OPTIONS, ...definedOnly(bounds) };
    for (const [name, value] of Object.entries(this.options)) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`HttpNodeClient option ${name} must be a positive whole number, got ${String(value)}`);
      }
    }
  }

  /** Sends one frame to `target.address`; see the class comment for how each failure is named. */
  send<R extends StorageRequest>(target: Node, request: R, options: RequestOptions): Promise<ResponseFor<R>> {
    if (this.closing !== null) return Promise.reject(new NodeUnavailableError(target.id, 'closed', 'the client is closed'));
    const node = this.poolFor(target.address);
    if (node === null) {
      return Promise.reject(new NodeUnavailableError(target.id, 'unreachable', `address "${target.address}" is not host:port`));
    }
    if (node.inFlight >= this.options.maxInFlightPerNode) {
      return Promise.reject(
        new NodeUnavailableError(
          target.id,
          'overloaded',
          `${node.inFlight} requests in flight, the limit is ${this.options.maxInFlightPerNode}`,
        ),
      );
    }
    let frame: Buffer;
    try {
      frame = encodeRequest(request);
    } catch (error) {
      return Promise.reject(new NodeUnavailableError(target.id, 'remote', `the request could not be encoded: ${describeError(error)}`));
    }
    node.inFlight += 1;
    return new Promise<ResponseFor<R>>((resolve, reject) => {
      const controller = new AbortController();
      let settled = false;
      const timer = setTimeout(
        () => {
          settled = true;
          reject(new NodeUnavailableError(target.id, 'timeout', `no answer within ${options.timeoutMs} ms`));
          controller.abort();
        },
        Math.max(0, options.timeoutMs),
      );
      this.exchange(node.pool, frame, controller.signal)
        .then(
          (answer) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(matchResponse(target.id, request, decodeResponse(answer)));
          },
          (error: unknown) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            throw error;
          },
        )
        .catch((error: unknown) => reject(this.failure(target.id, error)))
        .finally(() => {
          node.inFlight -= 1;
        });
    });
  }

  /**
   * Refuses new sends (kind `closed`) and resolves once the requests in flight have settled, each
   * within its own timeout, and every connection is released. Calling it again is harmless.
   */
  close(): Promise<void> {
    this.closing ??= Promise.all([...this.pools.values()].map(({ pool }) => pool.close())).then(() => undefined);
    return this.closing;
  }

  private poolFor(address: string): NodePool | null {
    const existing = this.pools.get(address);
    if (existing !== undefined) return existing;
    const origin = originOf(address, this.tls === null ? 'http' : 'https');
    if (origin === null) return null;
    const connect =
      this.tls === null ? {} : { connect: internodeConnectOptions(this.tls, new URL(origin).hostname.replace(/^\[|\]$/g, '')) };
    const node: NodePool = {
      pool: new Pool(origin, { connections: this.options.connectionsPerNode, pipelining: this.options.pipelining, ...connect }),
      inFlight: 0,
    };
    this.pools.set(address, node);
    return node;
  }

  private async exchange(pool: Pool, frame: Buffer, signal: AbortSignal): Promise<Buffer> {
    const { statusCode, headers, body } = await pool.request({
      path: INTERNAL_STORAGE_PATH,
      method: 'POST',
      headers:
        this.secret === null
          ? { 'content-type': FRAME_CONTENT_TYPE }
          : {
              'content-type': FRAME_CONTENT_TYPE,
              [INTERNODE_AUTH_HEADER]: signInternalRequest(this.secret, 'POST', INTERNAL_STORAGE_PATH, Date.now()),
            },
      body: frame,
      signal,
      // Every storage request is idempotent (a PUT applies only if newer), and a short request
      // need not stop the pipeline behind it.
      idempotent: true,
      blocking: false,
    });
    if (statusCode < 200 || statusCode > 299) {
      const text = (await readBody(body, ERROR_BODY_BYTES_MAX, false)).toString('utf8');
      throw new RemoteAnswerError(`answered HTTP ${statusCode}: ${errorMessageOf(text)}`);
    }
    const declared = Number(headers['content-length']);
    if (declared > this.options.maxResponseBytes) {
      discard(body);
      throw new RemoteAnswerError(`answer of ${declared} bytes is over the limit of ${this.options.maxResponseBytes} bytes`);
    }
    return readBody(body, this.options.maxResponseBytes, true);
  }

  private failure(nodeId: string, error: unknown): NodeUnavailableError {
    if (error instanceof NodeUnavailableError) return error;
    if (error instanceof FrameError || error instanceof RemoteAnswerError) {
      return new NodeUnavailableError(nodeId, 'remote', error.message);
    }
    if (this.closing !== null) {
      return new NodeUnavailableError(nodeId, 'closed', `the client closed during the request: ${describeError(error)}`);
    }
    const code = errorCodeOf(error);
    if (code !== null && UNREACHABLE_CODES.has(code)) {
      return new NodeUnavailableError(nodeId, 'unreachable', `${code}: ${describeError(error)}`);
    }
    return new NodeUnavailableError(nodeId, 'remote', `${code ?? 'error'}: ${describeError(error)}`);
  }
}

/**
 * Reads a response body into one buffer, up to `limitBytes`. Over the limit it either fails
 * (`strict`, for frames, which are useless cut short) or stops and keeps what it has (for error
 * answers, which are only quoted).
 */
async function readBody(body: Dispatcher.ResponseData['body'], limitBytes: number, strict: boolean): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > limitBytes) {
      discard(body);
      if (strict) throw new RemoteAnswerError(`answer is over the limit of ${limitBytes} bytes`);
      chunks.push(chunk.subarray(0, chunk.byteLength - (total - limitBytes)));
      break;
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks);
}

/** Drops a body not read to its end. The stream then errors, so the error is expected and swallowed. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function errorMessageOf(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.message === 'string') return `${String(parsed.error.code)}: ${parsed.error.message}`;
  } catch {
    // Not the JSON error body of API.md: quote the text as it is.
  }
  return text.length > 0 ? text : '(empty body)';
}

function errorCodeOf(error: unknown): string | null {
  for (let current: unknown = error, depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}

function originOf(address: string, scheme: 'http' | 'https'): string | null {
  try {
    const url = new URL(`${scheme}://${address}`);
    if (url.port === '' || url.pathname !== '/' || url.username !== '' || url.search !== '') return null;
    return url.origin;
  } catch {
    return null;
  }
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
