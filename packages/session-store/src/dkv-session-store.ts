import { KVStoreClient, type KVStoreClientOptions, type KVStoreClientTlsOptions } from '@dkv/client';
import { DkvError, MAX_TTL_SECONDS } from '@dkv/core';
import { Store, type SessionData } from 'express-session';

/** A Node-style callback, as express-session and @fastify/session pass them. */
export type SessionCallback<T = unknown> = (error: unknown, data?: T) => void;

/** How sessions become the bytes dkv stores, and back. JSON by default. */
export interface SessionSerializer {
  parse(text: string): SessionData | Promise<SessionData>;
  stringify(session: SessionData): string;
}

/** The options of a {@link DkvSessionStore}. */
export interface DkvSessionStoreOptions {
  /**
   * The dkv client to use (it is not closed by {@link DkvSessionStore.close}); or give
   * `endpoints` and the store makes its own.
   */
  readonly client?: KVStoreClient;
  /**
   * Base URLs of the cluster's coordinating processes (coordinators, or nodes run with
   * `--coordinate`): the store's own client fails over between them. Writes of unknown outcome
   * are retried by default (`retry.retryUnknownWrites`): a session written twice is the same session.
   */
  readonly endpoints?: readonly string[];
  /** Further options of the store's own client (timeouts, connections, retry bounds). */
  readonly clientOptions?: Omit<KVStoreClientOptions, 'url' | 'urls'>;
  /**
   * A user of the cluster's `--auth-file`, for the store's own client (with `endpoints`): its
   * role must be `readwrite` or `admin`, since sessions are written and deleted. Give both or
   * neither; with `client`, give them to that client instead.
   */
  readonly username?: string;
  /** The password of {@link username}. */
  readonly password?: string;
  /**
   * TLS for `https://` endpoints (a cluster run with `--tls-cert`): `ca` to trust (what
   * `dkv cluster up --tls` prints, or your CA), and if asked a client `cert` and `key`,
   * `servername`, `rejectUnauthorized`, as `KVStoreClient`'s `tls`. With `client`, give them to that client instead.
   */
  readonly tls?: KVStoreClientTlsOptions;
  /** Prefix of every session's key. Default `"sess:"`. */
  readonly prefix?: string;
  /**
   * Seconds a session lives when its cookie has no expiry (or always, given a function of the
   * session). Default 86400 (one day), as connect-redis.
   */
  readonly ttl?: number | ((session: SessionData) => number);
  /** When true, `touch` does nothing: sessions expire `ttl` after their last change, not their last use. */
  readonly disableTouch?: boolean;
  /** Default JSON. */
  readonly serializer?: SessionSerializer;
  /** Keys per page when `all`, `ids`, `length` and `clear` scan the cluster (1..1000). Default 100. */
  readonly scanCount?: number;
  /** Session reads or deletes `all` and `clear` keep in flight at once. Default 16. */
  readonly concurrency?: number;
}

/** A session with the version dkv stored it under and its expiry: what a Redis store cannot tell. */
export interface VersionedSession {
  readonly session: SessionData;
  /** The version of the stored session: it grows with every write of the key, whoever wrote it. */
  readonly version: number;
  /** Epoch ms at which dkv drops the session, or null. */
  readonly expiresAt: number | null;
}

const DEFAULT_PREFIX = 'sess:';
const DEFAULT_TTL_SECONDS = 86_400;
const DEFAULT_SCAN_COUNT = 100;
const DEFAULT_CONCURRENCY = 16;
const MAX_SCAN_COUNT = 1000;

/**
 * A session store for express-session and @fastify/session (both call the same interface) that
 * keeps sessions in dkv. It is express-session's `Store` (an EventEmitter with `regenerate`,
 * `load` and `createSession`), shaped as connect-redis@9 is, so it drops in where connect-redis
 * was: `get`, `set`, `destroy`, `touch`, `all`, `length`, `clear` and `ids`, each taking a
 * callback or, without one, returning a promise.
 *
 * Each session is one key, `prefix + sid`, its value the serialized session, with dkv's TTL set
 * from the cookie (`cookie.expires`, else `ttl`), so expired sessions disappear on every replica
 * without a sweep. Over a {@link KVStoreClient} that knows every coordinating node, a node that
 * dies costs nothing but a retry, where a Redis client pointed at one node loses that node's
 * availability. Beyond Redis's answers it gives the stored version ({@link getWithVersion},
 * {@link setWithVersion}) and errors that carry dkv's codes (`code: 'QUORUM_NOT_MET'` when too
 * few replicas answered, `outcomeUnknown` when a write may or may not have landed).
 *
 * What it does not promise: writes of one session from two requests at once end with one of them
 * (the higher version), as with Redis; `touch` reads the session and writes it back with a new
 * TTL, so a `destroy` between its read and its write is undone (the window is one round trip).
 */
export class DkvSessionStore extends Store {
  /** The dkv client the store talks through. */
  readonly client: KVStoreClient;
  readonly prefix: string;
  private readonly ownsClient: boolean;
  private readonly ttl: number | ((session: SessionData) => number);
  private readonly disableTouch: boolean;
  private readonly serializer: SessionSerializer;
  private readonly scanCount: number;
  private readonly concurrency: number;

  constructor(options: DkvSessionStoreOptions) {
    super();
    if (options.client !== undefined && options.endpoints !== undefined) throw invalid('give either `client` or `endpoints`, not both');
    if (options.client === undefined && (options.endpoints === undefined || options.endpoints.length === 0)) {
      throw invalid(
        'give `client` (a KVStoreClient) or `endpoints` (the base URLs of the coordinating nodes, e.g. ["http://127.0.0.1:7070"])',
      );
    }
    const credentials = {
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
    };
    this.client =
      options.client ??
      new KVStoreClient({
        ...options.clientOptions,
        ...credentials,
        urls: options.endpoints ?? [],
        retry: { retryUnknownWrites: true, ...options.clientOptions?.retry },
      });
    this.ownsClient = options.client === undefined;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.ttl = options.ttl ?? DEFAULT_TTL_SECONDS;
    if (typeof this.ttl === 'number' && (!Number.isInteger(this.ttl) || this.ttl < 1 || this.ttl > MAX_TTL_SECONDS)) {
      throw invalid(`ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}, got ${this.ttl}`);
    }
    this.disableTouch = options.disableTouch ?? false;
    this.serializer = options.serializer ?? JSON;
    this.scanCount = bounded('scanCount', options.scanCount ?? DEFAULT_SCAN_COUNT, MAX_SCAN_COUNT);
    this.concurrency = bounded('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY, 1024);
  }

  /** The session `sid`, or null (undefined to a callback) when it is missing, expired or destroyed. */
  get(sid: string, callback?: SessionCallback<SessionData | null>): Promise<SessionData | null | undefined> {
    return settle(async () => (await this.getWithVersion(sid))?.session ?? null, callback);
  }

  /** The session `sid` with its stored version and expiry, or null. */
  async getWithVersion(sid: string): Promise<VersionedSession | null> {
    const read = await this.client.get(this.key(sid));
    if (read === null) return null;
    const session = await this.serializer.parse(
      Buffer.from(read.value.buffer, read.value.byteOffset, read.value.byteLength).toString('utf8'),
    );
    return { session, version: read.version, expiresAt: read.expiresAt };
  }

  /** Stores the session `sid` with the TTL its cookie gives; a session already expired is destroyed. */
  set(sid: string, session: SessionData, callback?: SessionCallback<void>): Promise<void> {
    return settle(async () => {
      await this.setWithVersion(sid, session);
    }, callback);
  }

  /**
   * As {@link set}, answering the version the session was stored under and its expiry, or null
   * when the cookie had already expired and the session was destroyed instead.
   */
  async setWithVersion(sid: string, session: SessionData): Promise<{ version: number; expiresAt: number | null } | null> {
    const ttl = this.ttlOf(session);
    if (ttl <= 0) {
      await this.client.delete(this.key(sid));
      return null;
    }
    const written = await this.client.put(this.key(sid), this.serializer.stringify(session), ttl);
    return { version: written.version, expiresAt: written.expiresAt };
  }

  /**
   * Restarts the session's TTL from its cookie (express-session calls it when a request used the
   * session without changing it). A session that is no longer stored stays gone.
   */
  override touch(sid: string, session: SessionData, callback?: SessionCallback<void>): Promise<void> {
    return settle(async () => {
      if (this.disableTouch) return;
      if ((await this.client.get(this.key(sid))) === null) return;
      await this.setWithVersion(sid, session);
    }, callback);
  }

  /** Deletes the session `sid` (deleting a missing one succeeds). */
  destroy(sid: string, callback?: SessionCallback<void>): Promise<void> {
    return settle(async () => {
      await this.client.delete(this.key(sid));
    }, callback);
  }

  /** The ids of every stored session, from a full scan of the prefix across the cluster. */
  ids(callback?: SessionCallback<string[]>): Promise<string[] | undefined> {
    return settle(async () => (await this.allKeys()).map((key) => key.slice(this.prefix.length)), callback);
  }

  /** How many sessions are stored (a full scan of the prefix). */
  override length(callback?: SessionCallback<number>): Promise<number | undefined> {
    return settle(async () => (await this.allKeys()).length, callback);
  }

  /** Every stored session, each with its `id`, read `concurrency` at a time; sessions gone meanwhile are left out. */
  override all(callback?: SessionCallback<SessionData[]>): Promise<SessionData[] | undefined> {
    return settle(async () => {
      const keys = await this.allKeys();
      const sessions = await mapBounded(keys, this.concurrency, async (key) => {
        const found = await this.getWithVersion(key.slice(this.prefix.length));
        return found === null ? null : ({ ...found.session, id: key.slice(this.prefix.length) } as SessionData & { id: string });
      });
      return sessions.filter((session): session is SessionData & { id: string } => session !== null);
    }, callback);
  }

  /** Destroys every stored session (every key under the prefix), `concurrency` deletes at a time. */
  override clear(callback?: SessionCallback<void>): Promise<void> {
    return settle(async () => {
      await mapBounded(await this.allKeys(), this.concurrency, (key) => this.client.delete(key));
    }, callback);
  }

  /** Closes the store's own client (a client passed in stays open). */
  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }

  private key(sid: string): string {
    return this.prefix + sid;
  }

  /**
   * The TTL in seconds: the `ttl` function's answer if one was given, else the seconds left until
   * `cookie.expires` (rounded up, at most a year: dkv's limit), else `ttl`. Zero or less means expired.
   */
  private ttlOf(session: SessionData): number {
    if (typeof this.ttl === 'function') return Math.min(MAX_TTL_SECONDS, Math.ceil(this.ttl(session)));
    const expires = session?.cookie?.expires;
    if (expires) {
      const ms = new Date(expires as Date | string).getTime() - Date.now();
      if (Number.isFinite(ms)) return Math.min(MAX_TTL_SECONDS, Math.ceil(ms / 1000));
    }
    return this.ttl;
  }

  /** Every key under the prefix, once each (a full scan may yield a key twice). */
  private async allKeys(): Promise<string[]> {
    const keys = new Set<string>();
    for await (const key of this.client.keys({ match: `${escapeGlob(this.prefix)}*`, count: this.scanCount })) keys.add(key);
    return [...keys];
  }
}

/** Runs `work`, handing its outcome to `callback` when there is one (the promise then resolves), else to the promise. */
async function settle<T>(work: () => Promise<T>, callback?: SessionCallback<T>): Promise<T | undefined> {
  let result: T;
  try {
    result = await work();
  } catch (error) {
    if (callback === undefined) throw error;
    callback(error);
    return undefined;
  }
  if (callback !== undefined) {
    // express-session takes a missing session as `undefined` data, not null.
    callback(null, (result === null ? undefined : result) as T);
    return undefined;
  }
  return result;
}

/** `fn` over `items`, at most `limit` at once, results in order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A prefix as a literal in a Redis glob pattern: its `*`, `?`, `[`, `]` and `\` escaped. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

function invalid(message: string): DkvError {
  return new DkvError('INVALID_REQUEST', `DkvSessionStore: ${message}`);
}

function bounded(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) throw invalid(`${name} must be a whole number from 1 to ${max}, got ${value}`);
  return value;
}
