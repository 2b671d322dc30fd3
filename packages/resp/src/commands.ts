/**
 * The command table of the Redis door (API.md, "Redis protocol"): what each command answers, with
 * Redis's arity, options and error texts, run against a {@link RespBackend}. The server decides
 * when a command runs (in order per key, concurrently otherwise); this file decides what it does.
 */
import { isUtf8 } from 'node:buffer';
import { roleAllows, type Authenticator } from '@dkv/auth';
import { DkvError, globMatch, MAX_TTL_SECONDS } from '@dkv/core';
import type { RespBackend, RespStoredValue } from './resp-backend.js';
import { reply, type RespProtocol, type RespReply } from './resp-reply.js';

/** The state of one connection that commands read and change (HELLO, SELECT, CLIENT SETNAME, RESET). */
export interface ClientSession {
  readonly id: number;
  readonly address: string;
  readonly localAddress: string;
  readonly connectedAt: number;
  protocol: RespProtocol;
  name: string | null;
  libName: string | null;
  libVersion: string | null;
  /** Set by QUIT: the connection closes once this command's reply and those before it are written. */
  closeAfterReply: boolean;
  /**
   * The user this connection authenticated as (`AUTH`, `HELLO ... AUTH`), or null. Only read
   * when the server has an authenticator; its role is looked up per command, so a reload of the
   * auth file applies to connections already open.
   */
  user: string | null;
}

/** What commands may ask of the server around them (INFO, CLIENT LIST, CONFIG GET, SCAN cursors). */
export interface ServerContext {
  readonly backend: RespBackend;
  /** Epoch milliseconds now (the coordinator's clock, so TTLs agree with the store's). */
  now(): number;
  readonly port: number;
  readonly startedAt: number;
  connectedClients(): number;
  clients(): readonly ClientSession[];
  /** The settings CONFIG GET shows, by Redis parameter name. */
  readonly config: Readonly<Record<string, string>>;
  /** Most keys KEYS answers; above it KEYS is refused (use SCAN). */
  readonly maxKeysReply: number;
  /** SCAN's numeric cursor for a backend cursor, and back (null: unknown or expired). */
  cursorId(cursor: string): string;
  cursorOf(id: string): string | null;
  /** With authentication on, who may connect and what each may run; null: every client is the `default` user with every right. */
  readonly auth: Authenticator | null;
}

/** A command as the table holds it. */
export interface CommandSpec {
  /** Redis's arity: n exactly n arguments (the name included), -n at least n. */
  readonly arity: number;
  /** Indices of the arguments that are keys (the server orders commands of one connection by them). */
  readonly keys: (args: readonly Buffer[]) => readonly number[];
  /** Flags COMMAND shows (`readonly`, `write`, `fast`...). */
  readonly flags: readonly string[];
  readonly run: (args: readonly Buffer[], session: ClientSession, server: ServerContext) => RespReply | Promise<RespReply>;
  /**
   * The same command split in two, for one that is a single backend call (GET, SET): the call,
   * and the reply to what it resolves to. The server awaits the backend's own promise and makes
   * the reply itself, one promise per command fewer than `run`'s `.then`. Such a command's `run`
   * is made from it (see `callCommand`), so the two cannot answer differently.
   */
  readonly call?: CommandCall;
}

/** A command as its backend call and the reply to that call's result (see {@link CommandSpec.call}). */
export interface CommandCall {
  /** Starts the command; may throw (a bad argument), which is answered as {@link errorReply} of the error. */
  readonly start: (args: readonly Buffer[], session: ClientSession, server: ServerContext) => Promise<unknown>;
  /**
   * The reply to the value the started call resolved to, for the command `args`. A backend's
   * `Promise<void>` may resolve to a value of its own (the coordinator's write result does), so
   * an answer tells its cases apart by `args`, never by the value's shape.
   */
  readonly answer: (value: unknown, args: readonly Buffer[]) => RespReply;
}

/** The version this door tells clients (HELLO, INFO): the Redis release whose commands it follows. */
export const REDIS_VERSION = '7.2.0';

const NOT_INTEGER = 'ERR value is not an integer or out of range';
const SYNTAX = 'ERR syntax error';
const MAX_TTL_MS = MAX_TTL_SECONDS * 1000;
/** SCAN's COUNT is a hint: above this it counts as this (the cluster-wide scan's own page limit). */
const MAX_SCAN_COUNT = 1000;

const none = (): readonly number[] => [];
const ONLY_FIRST: readonly number[] = Object.freeze([1]);
/**
 * The key indices of a command whose one key is its first argument. The server knows this
 * function by identity and takes the key without asking for the indices (most commands are such).
 */
export const firstKey = (): readonly number[] => ONLY_FIRST;
const first = firstKey;
const allFrom1 = (args: readonly Buffer[]): readonly number[] => args.map((_, i) => i).slice(1);
const everyOther = (args: readonly Buffer[]): readonly number[] => args.map((_, i) => i).filter((i) => i % 2 === 1);

/** A thrown reply: validation deep in a command answers with it. */
class ReplyError extends Error {
  constructor(readonly text: string) {
    super(text);
  }
}

/** Keys up to this long are first scanned for ASCII in JS; longer ones go to the binding's UTF-8 check at once. */
const ASCII_SCAN_BYTES = 64;

/** A key argument as dkv keys are: UTF-8 text (a key that is not is refused, not altered). */
export function keyOf(arg: Buffer): string {
  // ASCII (nearly every key) is UTF-8 and reads the same as latin1: a short scan here costs less than the binding's check.
  if (arg.length <= ASCII_SCAN_BYTES) {
    let i = 0;
    while (i < arg.length && (arg[i] as number) < 0x80) i += 1;
    if (i === arg.length) return arg.toString('latin1');
  }
  if (!isUtf8(arg)) throw new ReplyError('ERR invalid key: dkv keys are 1 to 512 bytes of UTF-8, and this one is not valid UTF-8');
  return arg.toString('utf8');
}

/** A whole number as Redis's string2ll takes it (decimal, optional minus, no spaces or leading zeros). */
export function parseInteger(arg: Buffer | string): number | null {
  const text = typeof arg === 'string' ? arg : arg.toString('latin1');
  if (!/^(0|-?[1-9]\d*)$/.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : null;
}

function integerArg(arg: Buffer): number {
  const value = parseInteger(arg);
  if (value === null) throw new ReplyError(NOT_INTEGER);
  return value;
}

const upper = (arg: Buffer | undefined): string => (arg === undefined ? '' : arg.toString('latin1').toUpperCase());

/** An error thrown by a command or the backend as the reply a Redis client expects. */
export function errorReply(error: unknown): RespReply {
  if (error instanceof ReplyError) return reply.error(error.text);
  if (error instanceof DkvError) {
    if (error.code === 'QUORUM_NOT_MET' || error.code === 'VALUE_TOO_LARGE' || error.code === 'UNAVAILABLE')
      return reply.error(`${error.code} ${error.message}`);
    if (error.code === 'INTERNAL') return reply.error('ERR internal error');
    return reply.error(`ERR ${error.message}`);
  }
  return reply.error('ERR internal error');
}

/** An absolute expiry (epoch ms) from an option's unit and number; throws Redis's "invalid expire time" when it cannot be one. */
function expiryFrom(unit: 'EX' | 'PX' | 'EXAT' | 'PXAT', amount: number, now: number, command: string): number {
  const invalid = new ReplyError(`ERR invalid expire time in '${command}' command`);
  if (amount <= 0) throw invalid;
  const ms = unit === 'EX' || unit === 'EXAT' ? amount * 1000 : amount;
  const at = unit === 'EX' || unit === 'PX' ? now + ms : ms;
  if (!Number.isSafeInteger(at) || at - now > MAX_TTL_MS) throw invalid;
  return at;
}

/** Writes `value` expiring at `expiresAt`, or deletes the key when that time is already past (as Redis does). */
async function store(server: ServerContext, key: string, value: Uint8Array, expiresAt: number | null): Promise<void> {
  if (expiresAt !== null && expiresAt <= server.now()) await server.backend.delete(key);
  else await server.backend.put(key, value, expiresAt);
}

const bulkOrNull = (entry: RespStoredValue | null): RespReply => (entry === null ? reply.null : reply.bulk(entry.value));

// ---- strings ---------------------------------------------------------------------------------

/**
 * SET as its backend call: a plain `SET key value` (nearly every SET) is the backend's put,
 * answered OK whatever the put resolves to (the coordinator's resolves to its write result); a
 * SET with options is {@link setWithOptions}, which resolves to its own reply. A key that is not
 * UTF-8 throws here, which the caller answers as the same error reply.
 */
const setCall: CommandCall = {
  start: (args, session, server) =>
    args.length !== 3 ? setWithOptions(args, session, server) : server.backend.put(keyOf(args[1] as Buffer), args[2] as Buffer, null),
  answer: (value, args) => (args.length === 3 ? reply.ok : (value as RespReply)),
};

/** GET as its backend call: the stored value, or null. */
const getCall: CommandCall = {
  start: (args, _s, server) => server.backend.get(keyOf(args[1] as Buffer)),
  answer: (value) => bulkOrNull(value as RespStoredValue | null),
};

/**
 * The table entry of a command that is one backend call: its `run` is the call and its answer,
 * so that the call is the one source of truth for what the command does (the server takes
 * either: `call` where the command waits for no other, `run` after the commands it waits for).
 */
function callCommand(arity: number, flags: readonly string[], call: CommandCall): CommandSpec {
  // Both such commands (GET, SET) have one key, their first argument.
  return {
    arity,
    keys: first,
    flags,
    run: (args, session, server) => call.start(args, session, server).then((value) => call.answer(value, args)),
    call,
  };
}

async function setWithOptions(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  const key = keyOf(args[1] as Buffer);
  const value = args[2] as Buffer;
  let condition: 'NX' | 'XX' | null = null;
  let get = false;
  let keepTtl = false;
  let expiry: { unit: 'EX' | 'PX' | 'EXAT' | 'PXAT'; amount: Buffer } | null = null;
  for (let i = 3; i < args.length; i += 1) {
    const option = upper(args[i]);
    if ((option === 'NX' || option === 'XX') && condition === null) condition = option;
    else if (option === 'GET' && !get) get = true;
    else if (option === 'KEEPTTL' && !keepTtl && expiry === null) keepTtl = true;
    else if (
      (option === 'EX' || option === 'PX' || option === 'EXAT' || option === 'PXAT') &&
      expiry === null &&
      !keepTtl &&
      i + 1 < args.length
    ) {
      expiry = { unit: option, amount: args[i + 1] as Buffer };
      i += 1;
    } else throw new ReplyError(SYNTAX);
  }
  const now = server.now();
  const expiresAt = expiry === null ? null : expiryFrom(expiry.unit, integerArg(expiry.amount), now, 'set');
  if (condition === null && !get && !keepTtl) {
    await store(server, key, value, expiresAt);
    return reply.ok;
  }
  const previous = await server.backend.get(key);
  const answer = get ? bulkOrNull(previous) : reply.ok;
  if ((condition === 'NX' && previous !== null) || (condition === 'XX' && previous === null)) return get ? answer : reply.null;
  await store(server, key, value, keepTtl ? (previous?.expiresAt ?? null) : expiresAt);
  return answer;
}

function setWithExpiry(unit: 'EX' | 'PX', command: string) {
  return async (args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> => {
    const key = keyOf(args[1] as Buffer);
    const expiresAt = expiryFrom(unit, integerArg(args[2] as Buffer), server.now(), command);
    await store(server, key, args[3] as Buffer, expiresAt);
    return reply.ok;
  };
}

async function getdel(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  const key = keyOf(args[1] as Buffer);
  const previous = await server.backend.get(key);
  if (previous !== null) await server.backend.delete(key);
  return bulkOrNull(previous);
}

async function getex(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  const key = keyOf(args[1] as Buffer);
  let change: { unit: 'EX' | 'PX' | 'EXAT' | 'PXAT'; amount: Buffer } | 'PERSIST' | null = null;
  for (let i = 2; i < args.length; i += 1) {
    const option = upper(args[i]);
    if ((option === 'EX' || option === 'PX' || option === 'EXAT' || option === 'PXAT') && change === null && i + 1 < args.length) {
      change = { unit: option, amount: args[i + 1] as Buffer };
      i += 1;
    } else if (option === 'PERSIST' && change === null) change = 'PERSIST';
    else throw new ReplyError(SYNTAX);
  }
  // As Redis does, the expiry's number is judged only for a key that exists: a missing key answers nil whatever it is.
  const current = await server.backend.get(key);
  if (current === null || change === null) return bulkOrNull(current);
  const expiresAt = change === 'PERSIST' ? null : expiryFrom(change.unit, integerArg(change.amount), server.now(), 'getex');
  if (change === 'PERSIST') {
    if (current.expiresAt !== null) await server.backend.put(key, current.value, null);
  } else {
    await store(server, key, current.value, expiresAt);
  }
  return reply.bulk(current.value);
}

async function mget(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  const keys = args.slice(1).map(keyOf);
  const values = await Promise.all(keys.map((key) => server.backend.get(key)));
  return reply.array(values.map(bulkOrNull));
}

async function mset(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  if (args.length % 2 === 0) throw new ReplyError("ERR wrong number of arguments for 'mset' command");
  const pairs: [string, Buffer][] = [];
  for (let i = 1; i < args.length; i += 2) pairs.push([keyOf(args[i] as Buffer), args[i + 1] as Buffer]);
  // The last value of a key given twice wins, as in Redis: write each key once.
  const last = new Map(pairs);
  await Promise.all([...last].map(([key, value]) => server.backend.put(key, value, null)));
  return reply.ok;
}

// ---- keys ------------------------------------------------------------------------------------

async function del(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  const keys = [...new Set(args.slice(1).map(keyOf))];
  const removed = await Promise.all(
    keys.map(async (key) => {
      const existed = (await server.backend.get(key)) !== null;
      // Deleted whatever the read saw: a tombstone also covers a copy the read quorum missed.
      await server.backend.delete(key);
      return existed ? 1 : 0;
    }),
  );
  return reply.integer(removed.reduce<number>((sum, n) => sum + n, 0));
}

async function exists(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  const keys = args.slice(1).map(keyOf);
  const found = await Promise.all(keys.map((key) => server.backend.get(key)));
  return reply.integer(found.filter((entry) => entry !== null).length);
}

function expire(unit: 'EX' | 'PX' | 'EXAT' | 'PXAT', command: string) {
  return async (args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> => {
    const key = keyOf(args[1] as Buffer);
    const amount = integerArg(args[2] as Buffer);
    const flags = new Set<string>();
    for (const arg of args.slice(3)) {
      const flag = upper(arg);
      if (!['NX', 'XX', 'GT', 'LT'].includes(flag)) throw new ReplyError(`ERR Unsupported option ${arg.toString('utf8')}`);
      flags.add(flag);
    }
    if (flags.has('NX') && (flags.has('XX') || flags.has('GT') || flags.has('LT')))
      throw new ReplyError('ERR NX and XX, GT or LT options at the same time are not compatible');
    if (flags.has('GT') && flags.has('LT')) throw new ReplyError('ERR GT and LT options at the same time are not compatible');
    const now = server.now();
    const ms = unit === 'EX' || unit === 'EXAT' ? amount * 1000 : amount;
    const at = unit === 'EX' || unit === 'PX' ? now + ms : ms;
    if (!Number.isSafeInteger(at) || at - now > MAX_TTL_MS) throw new ReplyError(`ERR invalid expire time in '${command}' command`);
    const current = await server.backend.get(key);
    if (current === null) return reply.integer(0);
    const has = current.expiresAt !== null;
    // No expiry counts as an infinite one for GT and LT, as in Redis.
    const currentAt = current.expiresAt ?? Infinity;
    if (
      (flags.has('NX') && has) ||
      (flags.has('XX') && !has) ||
      (flags.has('GT') && !(at > currentAt)) ||
      (flags.has('LT') && !(at < currentAt))
    )
      return reply.integer(0);
    await store(server, key, current.value, at);
    return reply.integer(1);
  };
}

async function persist(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  const key = keyOf(args[1] as Buffer);
  const current = await server.backend.get(key);
  if (current === null || current.expiresAt === null) return reply.integer(0);
  await server.backend.put(key, current.value, null);
  return reply.integer(1);
}

function ttl(inMs: boolean) {
  return async (args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> => {
    const current = await server.backend.get(keyOf(args[1] as Buffer));
    if (current === null) return reply.integer(-2);
    if (current.expiresAt === null) return reply.integer(-1);
    const left = Math.max(0, current.expiresAt - server.now());
    return reply.integer(inMs ? left : Math.floor((left + 500) / 1000));
  };
}

async function type(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  const current = await server.backend.get(keyOf(args[1] as Buffer));
  return reply.simple(current === null ? 'none' : 'string');
}

async function scan(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  const cursorText = (args[1] as Buffer).toString('latin1');
  if (!/^\d+$/.test(cursorText)) throw new ReplyError('ERR invalid cursor');
  let match: string | undefined;
  let count = 10;
  let typeFilter: string | null = null;
  for (let i = 2; i < args.length; i += 2) {
    const option = upper(args[i]);
    const value = args[i + 1];
    if (value === undefined) throw new ReplyError(SYNTAX);
    if (option === 'MATCH') match = value.toString('utf8');
    else if (option === 'COUNT') {
      count = integerArg(value);
      if (count < 1) throw new ReplyError(SYNTAX);
    } else if (option === 'TYPE') typeFilter = value.toString('utf8').toLowerCase();
    else throw new ReplyError(SYNTAX);
  }
  const from = cursorText === '0' ? null : server.cursorOf(cursorText);
  if (cursorText !== '0' && from === null) throw new ReplyError('ERR invalid cursor');
  const page = await server.backend.scanKeys(from, {
    ...(match !== undefined && match !== '*' ? { match } : {}),
    count: Math.min(count, MAX_SCAN_COUNT),
  });
  const keys = typeFilter === null || typeFilter === 'string' ? page.keys : [];
  const next = page.cursor === null ? '0' : server.cursorId(page.cursor);
  return reply.array([reply.bulk(next), reply.array(keys.map((key) => reply.bulk(key)))]);
}

async function keys(args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  const pattern = (args[1] as Buffer).toString('utf8');
  const found = new Set<string>();
  let cursor: string | null = null;
  do {
    const page = await server.backend.scanKeys(cursor, { ...(pattern !== '*' ? { match: pattern } : {}), count: 1000 });
    for (const key of page.keys) found.add(key);
    if (found.size > server.maxKeysReply) {
      throw new ReplyError(
        `ERR KEYS refused: more than ${server.maxKeysReply} keys match '${pattern}'; use SCAN, which pages through any number of keys`,
      );
    }
    cursor = page.cursor;
  } while (cursor !== null);
  return reply.array([...found].map((key) => reply.bulk(key)));
}

async function dbsize(_args: readonly Buffer[], _s: ClientSession, server: ServerContext): Promise<RespReply> {
  return reply.integer(await server.backend.liveKeyCount());
}

// ---- connection ------------------------------------------------------------------------------

function ping(args: readonly Buffer[]): RespReply {
  if (args.length > 2) throw new ReplyError("ERR wrong number of arguments for 'ping' command");
  return args.length === 2 ? reply.bulk(args[1] as Buffer) : reply.simple('PONG');
}

function select(args: readonly Buffer[]): RespReply {
  const index = integerArg(args[1] as Buffer);
  if (index !== 0) throw new ReplyError('ERR DB index is out of range');
  return reply.ok;
}

const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';

/**
 * AUTH as Redis answers it. With an authenticator, the pair must be a user of the auth file (a
 * password alone is the user `default`, as Redis): the session then runs as that user. Without
 * one, as Redis with no password configured: the default user takes any password.
 */
function checkAuth(user: string | null, password: Buffer, session: ClientSession, server: ServerContext): void {
  if (server.auth !== null) {
    const principal = server.auth.authenticate(user ?? 'default', password);
    if (principal === null) throw new ReplyError(WRONGPASS);
    session.user = principal.name;
    return;
  }
  if (user === null)
    throw new ReplyError(
      'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
    );
  if (user !== 'default') throw new ReplyError(WRONGPASS);
}

function auth(args: readonly Buffer[], session: ClientSession, server: ServerContext): RespReply {
  if (args.length > 3) throw new ReplyError(SYNTAX);
  if (args.length === 2) checkAuth(null, args[1] as Buffer, session, server);
  else checkAuth((args[1] as Buffer).toString('utf8'), args[2] as Buffer, session, server);
  return reply.ok;
}

/** The commands a connection may run before it authenticates (Redis's `no-auth` flag). */
const NO_AUTH_COMMANDS: ReadonlySet<string> = new Set(['auth', 'hello', 'quit', 'reset']);

/**
 * Whether `session` may run command `name` now, with authentication on: null when it may, else
 * Redis's refusal: `-NOAUTH` before `AUTH` (but for AUTH, HELLO, QUIT and RESET), `-NOPERM`
 * when the user's role is too small (a write needs `readwrite`; everything else any user).
 */
export function accessRefusal(spec: CommandSpec, name: string, session: ClientSession, server: ServerContext): RespReply | null {
  if (server.auth === null || NO_AUTH_COMMANDS.has(name)) return null;
  const role = session.user === null ? null : server.auth.roleOf(session.user);
  if (role === null) {
    // A user removed by a reload of the auth file is signed out, as Redis's ACL DELUSER does.
    session.user = null;
    return reply.error('NOAUTH Authentication required.');
  }
  if (spec.flags.includes('write') && !roleAllows(role, 'readwrite')) {
    return reply.error(`NOPERM User ${session.user} has no permissions to run the '${name}' command`);
  }
  return null;
}

/** A client name as Redis allows it: printable characters without spaces. */
function validName(arg: Buffer): string {
  const name = arg.toString('utf8');
  if (!/^[!-~]*$/.test(name)) throw new ReplyError('ERR Client names cannot contain spaces, newlines or special characters.');
  return name;
}

function hello(args: readonly Buffer[], session: ClientSession, server: ServerContext): RespReply {
  let protocol = session.protocol;
  let authUser: { name: string; password: Buffer } | undefined;
  let name: string | undefined;
  if (args.length > 1) {
    const version = parseInteger(args[1] as Buffer);
    if (version === null) throw new ReplyError('ERR Protocol version is not an integer or out of range');
    if (version !== 2 && version !== 3) throw new ReplyError('NOPROTO unsupported protocol version');
    protocol = version;
    for (let i = 2; i < args.length; i += 1) {
      const option = upper(args[i]);
      if (option === 'AUTH' && i + 2 < args.length) {
        authUser = { name: (args[i + 1] as Buffer).toString('utf8'), password: args[i + 2] as Buffer };
        i += 2;
      } else if (option === 'SETNAME' && i + 1 < args.length) {
        name = validName(args[i + 1] as Buffer);
        i += 1;
      } else throw new ReplyError(`ERR Syntax error in HELLO option '${(args[i] as Buffer).toString('utf8')}'`);
    }
  }
  if (authUser !== undefined) checkAuth(authUser.name, authUser.password, session, server);
  if (server.auth !== null && session.user === null) {
    throw new ReplyError(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
  }
  session.protocol = protocol;
  if (name !== undefined) session.name = name === '' ? null : name;
  return reply.map([
    [reply.bulk('server'), reply.bulk('redis')],
    [reply.bulk('version'), reply.bulk(REDIS_VERSION)],
    [reply.bulk('proto'), reply.integer(protocol)],
    [reply.bulk('id'), reply.integer(session.id)],
    [reply.bulk('mode'), reply.bulk('standalone')],
    [reply.bulk('role'), reply.bulk('master')],
    [reply.bulk('modules'), reply.array([])],
  ]);
}

/** RESET as Redis: RESP2, no name, and back to the default user (so, with authentication on, not authenticated). */
function resetSession(_args: readonly Buffer[], session: ClientSession): RespReply {
  session.protocol = 2;
  session.name = null;
  session.user = null;
  return reply.simple('RESET');
}

function quit(_args: readonly Buffer[], session: ClientSession): RespReply {
  session.closeAfterReply = true;
  return reply.ok;
}

/** A line of CLIENT LIST / CLIENT INFO, with the fields clients and people read. */
function clientLine(client: ClientSession, now: number): string {
  const age = Math.floor((now - client.connectedAt) / 1000);
  return `id=${client.id} addr=${client.address} laddr=${client.localAddress} fd=-1 name=${client.name ?? ''} age=${age} idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 cmd=client|list user=${client.user ?? 'default'} lib-name=${client.libName ?? ''} lib-ver=${client.libVersion ?? ''} resp=${client.protocol}\n`;
}

function client(args: readonly Buffer[], session: ClientSession, server: ServerContext): RespReply {
  const sub = upper(args[1]);
  const arity = (n: number): void => {
    if (args.length !== n) throw new ReplyError(`ERR wrong number of arguments for 'client|${sub.toLowerCase()}' command`);
  };
  switch (sub) {
    case 'SETNAME': {
      arity(3);
      const name = validName(args[2] as Buffer);
      session.name = name === '' ? null : name;
      return reply.ok;
    }
    case 'GETNAME':
      arity(2);
      return session.name === null ? reply.null : reply.bulk(session.name);
    case 'ID':
      arity(2);
      return reply.integer(session.id);
    case 'SETINFO': {
      arity(4);
      const attribute = upper(args[2]);
      const value = validName(args[3] as Buffer);
      if (attribute === 'LIB-NAME') session.libName = value;
      else if (attribute === 'LIB-VER') session.libVersion = value;
      else throw new ReplyError(`ERR Unrecognized option '${(args[2] as Buffer).toString('utf8')}'`);
      return reply.ok;
    }
    case 'LIST':
      return reply.verbatim(
        server
          .clients()
          .map((c) => clientLine(c, server.now()))
          .join(''),
      );
    case 'INFO':
      arity(2);
      return reply.verbatim(clientLine(session, server.now()));
    default:
      throw new ReplyError(`ERR unknown subcommand '${(args[1] as Buffer).toString('utf8').slice(0, 128)}'. Try CLIENT HELP.`);
  }
}

const INFO_SECTIONS = ['server', 'clients', 'persistence', 'stats', 'replication', 'keyspace'] as const;

async function info(args: readonly Buffer[], _session: ClientSession, server: ServerContext): Promise<RespReply> {
  const asked = new Set(args.slice(1).map((arg) => arg.toString('utf8').toLowerCase()));
  const all = asked.size === 0 || asked.has('all') || asked.has('default') || asked.has('everything');
  const wanted = INFO_SECTIONS.filter((section) => all || asked.has(section));
  const now = server.now();
  const blocks: string[] = [];
  for (const section of wanted) {
    if (section === 'server') {
      const uptime = Math.floor((now - server.startedAt) / 1000);
      blocks.push(
        `# Server\r\nredis_version:${REDIS_VERSION}\r\nredis_mode:standalone\r\nserver_name:dkv\r\nos:${process.platform}\r\narch_bits:64\r\nprocess_id:${process.pid}\r\ntcp_port:${server.port}\r\nuptime_in_seconds:${uptime}\r\nuptime_in_days:${Math.floor(uptime / 86400)}\r\n`,
      );
    } else if (section === 'clients') {
      blocks.push(`# Clients\r\nconnected_clients:${server.connectedClients()}\r\nblocked_clients:0\r\n`);
    } else if (section === 'persistence') {
      blocks.push('# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_bgsave_in_progress:0\r\naof_enabled:0\r\n');
    } else if (section === 'stats') {
      blocks.push('# Stats\r\nexpired_keys:0\r\nevicted_keys:0\r\n');
    } else if (section === 'replication') {
      blocks.push('# Replication\r\nrole:master\r\nconnected_slaves:0\r\n');
    } else {
      const keys = await server.backend.liveKeyCount();
      blocks.push(`# Keyspace\r\n${keys > 0 ? `db0:keys=${keys},expires=0,avg_ttl=0\r\n` : ''}`);
    }
  }
  return reply.verbatim(blocks.join('\r\n'));
}

function config(args: readonly Buffer[], _session: ClientSession, server: ServerContext): RespReply {
  const sub = upper(args[1]);
  if (sub !== 'GET')
    throw new ReplyError(`ERR unknown subcommand '${(args[1] as Buffer).toString('utf8').slice(0, 128)}'. Try CONFIG HELP.`);
  if (args.length < 3) throw new ReplyError("ERR wrong number of arguments for 'config|get' command");
  const patterns = args.slice(2).map((arg) => arg.toString('utf8').toLowerCase());
  const entries = Object.entries(server.config).filter(([name]) => patterns.some((pattern) => globMatch(pattern, name)));
  return reply.map(entries.map(([name, value]) => [reply.bulk(name), reply.bulk(value)] as const));
}

function command(args: readonly Buffer[]): RespReply {
  const sub = upper(args[1]);
  const describe = (name: string, spec: CommandSpec): RespReply => {
    // Where the keys are, as COMMAND reports it: from the key indices of a sample of five arguments.
    const keys = spec.keys([Buffer.from(name), Buffer.from('k'), Buffer.from('v'), Buffer.from('k2'), Buffer.from('v2')]);
    const firstKey = keys.length > 0 ? 1 : 0;
    const lastKey = keys.length === 0 ? 0 : keys.length === 1 ? 1 : -1;
    const step = keys.length === 0 ? 0 : keys.length > 1 && (keys[1] as number) - (keys[0] as number) === 2 ? 2 : 1;
    return reply.array([
      reply.bulk(name),
      reply.integer(spec.arity),
      reply.set(spec.flags.map((flag) => reply.simple(flag))),
      reply.integer(firstKey),
      reply.integer(lastKey),
      reply.integer(step),
    ]);
  };
  if (sub === '') return reply.array(Object.entries(COMMANDS).map(([name, spec]) => describe(name, spec)));
  if (sub === 'COUNT') return reply.integer(Object.keys(COMMANDS).length);
  if (sub === 'LIST') return reply.array(Object.keys(COMMANDS).map((name) => reply.bulk(name)));
  if (sub === 'INFO') {
    return reply.array(
      args.slice(2).map((arg) => {
        const name = arg.toString('utf8').toLowerCase();
        const spec = COMMANDS[name];
        return spec === undefined ? reply.null : describe(name, spec);
      }),
    );
  }
  if (sub === 'DOCS') {
    const names = args.length > 2 ? args.slice(2).map((arg) => arg.toString('utf8').toLowerCase()) : Object.keys(COMMANDS);
    return reply.map(
      names
        .filter((name) => COMMANDS[name] !== undefined)
        .map(
          (name) =>
            [
              reply.bulk(name),
              reply.map([
                [reply.bulk('summary'), reply.bulk(`${name.toUpperCase()} as Redis has it, within what dkv supports`)],
                [reply.bulk('since'), reply.bulk('1.0.0')],
                [reply.bulk('group'), reply.bulk(groupOf(COMMANDS[name] as CommandSpec))],
              ]),
            ] as const,
        ),
    );
  }
  throw new ReplyError(`ERR unknown subcommand '${(args[1] as Buffer).toString('utf8').slice(0, 128)}'. Try COMMAND HELP.`);
}

/** The command group COMMAND DOCS names: commands on keys are `generic`, the others `connection`. */
function groupOf(spec: CommandSpec): string {
  return spec.flags.includes('write') || spec.flags.includes('readonly') ? 'generic' : 'connection';
}

/** Every command the door knows, by lower-case name. */
export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  get: callCommand(2, ['readonly', 'fast'], getCall),
  set: callCommand(-3, ['write', 'denyoom'], setCall),
  setex: { arity: 4, keys: first, flags: ['write', 'denyoom'], run: setWithExpiry('EX', 'setex') },
  psetex: { arity: 4, keys: first, flags: ['write', 'denyoom'], run: setWithExpiry('PX', 'psetex') },
  getdel: { arity: 2, keys: first, flags: ['write', 'fast'], run: getdel },
  getex: { arity: -2, keys: first, flags: ['write', 'fast'], run: getex },
  mget: { arity: -2, keys: allFrom1, flags: ['readonly', 'fast'], run: mget },
  mset: { arity: -3, keys: everyOther, flags: ['write', 'denyoom'], run: mset },
  del: { arity: -2, keys: allFrom1, flags: ['write'], run: del },
  unlink: { arity: -2, keys: allFrom1, flags: ['write', 'fast'], run: del },
  exists: { arity: -2, keys: allFrom1, flags: ['readonly', 'fast'], run: exists },
  expire: { arity: -3, keys: first, flags: ['write', 'fast'], run: expire('EX', 'expire') },
  pexpire: { arity: -3, keys: first, flags: ['write', 'fast'], run: expire('PX', 'pexpire') },
  expireat: { arity: -3, keys: first, flags: ['write', 'fast'], run: expire('EXAT', 'expireat') },
  pexpireat: { arity: -3, keys: first, flags: ['write', 'fast'], run: expire('PXAT', 'pexpireat') },
  persist: { arity: 2, keys: first, flags: ['write', 'fast'], run: persist },
  ttl: { arity: 2, keys: first, flags: ['readonly', 'fast'], run: ttl(false) },
  pttl: { arity: 2, keys: first, flags: ['readonly', 'fast'], run: ttl(true) },
  type: { arity: 2, keys: first, flags: ['readonly', 'fast'], run: type },
  scan: { arity: -2, keys: none, flags: ['readonly'], run: scan },
  keys: { arity: 2, keys: none, flags: ['readonly'], run: keys },
  dbsize: { arity: 1, keys: none, flags: ['readonly', 'fast'], run: dbsize },
  ping: { arity: -1, keys: none, flags: ['fast'], run: ping },
  echo: { arity: 2, keys: none, flags: ['fast'], run: (args) => reply.bulk(args[1] as Buffer) },
  select: { arity: 2, keys: none, flags: ['loading', 'fast'], run: select },
  quit: { arity: -1, keys: none, flags: ['fast'], run: quit },
  reset: { arity: 1, keys: none, flags: ['fast'], run: resetSession },
  hello: { arity: -1, keys: none, flags: ['fast'], run: hello },
  auth: { arity: -2, keys: none, flags: ['fast'], run: auth },
  client: { arity: -2, keys: none, flags: ['admin'], run: client },
  info: { arity: -1, keys: none, flags: ['loading'], run: info },
  command: { arity: -1, keys: none, flags: ['loading'], run: command },
  config: { arity: -2, keys: none, flags: ['admin'], run: config },
};

/** Redis's reply to a command it does not know: its name and the start of its arguments. */
export function unknownCommand(args: readonly Buffer[]): RespReply {
  let rest = '';
  for (let i = 1; i < args.length && rest.length < 128; i += 1)
    rest += `'${(args[i] as Buffer).toString('utf8').slice(0, 128 - rest.length)}' `;
  return reply.error(`ERR unknown command '${(args[0] as Buffer).toString('utf8').slice(0, 128)}', with args beginning with: ${rest}`);
}

/** Redis's reply to a known command with too few or too many arguments. */
export function wrongArity(name: string): RespReply {
  return reply.error(`ERR wrong number of arguments for '${name}' command`);
}

/**
 * Starts a command whose arity the caller checked, by `start`: its `run`, or its backend call's
 * `start` (see {@link CommandSpec.call}). A failure while starting is an error reply, and a
 * promise returned may reject, for the caller to turn into {@link errorReply} where it takes the
 * reply anyway (a `.catch` here would cost every command one more promise).
 */
export function startCommand<T>(
  start: (args: readonly Buffer[], session: ClientSession, server: ServerContext) => T,
  args: readonly Buffer[],
  session: ClientSession,
  server: ServerContext,
): T | RespReply {
  try {
    return start(args, session, server);
  } catch (error) {
    return errorReply(error);
  }
}
