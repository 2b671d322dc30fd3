// Goal: the Redis door answers every command of API.md as Redis does (replies, options, error
// texts), keeps replies in request order and same-key commands in the order sent while other
// keys run concurrently, and holds its bounds (pipelined commands in flight, connections, idle
// time, protocol errors close). Method: a real server on a free 127.0.0.1 port over the in-memory
// backend with a controllable clock, driven by a raw client that sends exact bytes; backend calls
// are held back per key to force completions out of order.
import { DkvError, QuorumNotMetError } from '@dkv/core';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryRespBackend } from './in-memory-resp-backend.js';
import type { RespBackend } from './resp-backend.js';
import { respServerLimits } from './defaults.js';
import { startRespServer, type RespServerOptions, type RunningRespServer } from './resp-server.js';
import { RawRespClient } from './test-support.js';

const START = Date.UTC(2026, 0, 1);
let clockMs = START;
const running: RunningRespServer[] = [];
const clients: RawRespClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(running.splice(0).map((server) => server.close()));
  clockMs = START;
});

async function setup(overrides: Partial<RespServerOptions> & { backend?: RespBackend } = {}) {
  const memory = new InMemoryRespBackend({ now: () => clockMs, maxValueBytes: 1000 });
  const server = await startRespServer({
    host: '127.0.0.1',
    port: 0,
    backend: memory,
    now: () => clockMs,
    maxConnections: 100,
    idleTimeoutMs: 0,
    maxPipelined: 1000,
    maxQueuedReplyBytes: 1024 * 1024,
    maxReplyBufferBytes: 8 * 1024 * 1024,
    limits: respServerLimits(1000),
    maxKeysReply: 50,
    ...overrides,
  });
  running.push(server);
  const client = await RawRespClient.connect(server.port);
  clients.push(client);
  return { server, memory, client };
}

describe('connection commands', () => {
  it('PING, ECHO, SELECT, AUTH, QUIT as Redis answers them with no password configured', async () => {
    const { client } = await setup();
    expect(await client.call('PING')).toBe('PONG');
    expect(await client.call('ping', 'hi')).toBe('hi');
    expect(await client.call('PING', 'a', 'b')).toEqual({ err: "ERR wrong number of arguments for 'ping' command" });
    expect(await client.call('ECHO', 'x y')).toBe('x y');
    expect(await client.call('SELECT', '0')).toBe('OK');
    expect(await client.call('SELECT', '1')).toEqual({ err: 'ERR DB index is out of range' });
    expect(await client.call('SELECT', 'x')).toEqual({ err: 'ERR value is not an integer or out of range' });
    expect(await client.call('AUTH', 'secret')).toEqual({
      err: 'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
    });
    expect(await client.call('AUTH', 'default', 'anything')).toBe('OK');
    expect(await client.call('AUTH', 'alice', 'pw')).toEqual({ err: 'WRONGPASS invalid username-password pair or user is disabled.' });
    expect(await client.call('QUIT')).toBe('OK');
    await client.closedByServer();
  });

  it('HELLO switches the protocol from its own reply on; RESET goes back to RESP2', async () => {
    const { client } = await setup();
    client.send(['GET', 'missing'], ['HELLO', '3', 'SETNAME', 'app'], ['GET', 'missing']);
    client.sendRaw('');
    const raw = await client.read(3);
    expect(raw[0]).toBeNull();
    expect(raw[1]).toMatchObject({
      map: expect.arrayContaining([
        ['server', 'redis'],
        ['proto', 3],
        ['mode', 'standalone'],
        ['role', 'master'],
      ]),
    });
    expect(await client.call('CLIENT', 'GETNAME')).toBe('app');
    expect(await client.call('HELLO', '4')).toEqual({ err: 'NOPROTO unsupported protocol version' });
    expect(await client.call('HELLO', 'x')).toEqual({ err: 'ERR Protocol version is not an integer or out of range' });
    expect(await client.call('HELLO', '3', 'AUTH', 'bob', 'pw')).toEqual({
      err: 'WRONGPASS invalid username-password pair or user is disabled.',
    });
    expect(await client.call('RESET')).toBe('RESET');
    expect(await client.call('HELLO')).toEqual(expect.arrayContaining(['proto', 2]));
  });

  it('the RESP3 null is `_` and the RESP2 one `$-1`, byte for byte', async () => {
    const { client } = await setup();
    client.send(['GET', 'nothing']);
    await client.read(1);
    client.send(['HELLO', '3']);
    await client.read(1);
    const before = client.pendingBytes;
    expect(before).toBe(0);
    client.send(['GET', 'nothing']);
    await expect(client.read(1)).resolves.toEqual([null]);
  });

  it('CLIENT SETNAME / GETNAME / SETINFO / ID / LIST / INFO, and unknown subcommands', async () => {
    const { client } = await setup();
    expect(await client.call('CLIENT', 'GETNAME')).toBeNull();
    expect(await client.call('CLIENT', 'SETNAME', 'sessions')).toBe('OK');
    expect(await client.call('CLIENT', 'SETNAME', 'has space')).toEqual({
      err: 'ERR Client names cannot contain spaces, newlines or special characters.',
    });
    expect(await client.call('CLIENT', 'SETINFO', 'LIB-NAME', 'ioredis')).toBe('OK');
    expect(await client.call('CLIENT', 'SETINFO', 'COLOR', 'x')).toEqual({ err: "ERR Unrecognized option 'COLOR'" });
    expect(typeof (await client.call('CLIENT', 'ID'))).toBe('number');
    expect(await client.call('CLIENT', 'LIST')).toMatch(/^id=\d+ addr=127\.0\.0\.1:\d+ .*name=sessions .*lib-name=ioredis .*resp=2\n$/);
    expect(await client.call('CLIENT', 'KILL')).toEqual({ err: "ERR unknown subcommand 'KILL'. Try CLIENT HELP." });
  });

  it('INFO has what clients parse; CONFIG GET, COMMAND COUNT/INFO/DOCS, DBSIZE answer', async () => {
    const { client } = await setup();
    const info = (await client.call('INFO')) as string;
    expect(info).toContain('redis_version:7.2.0\r\n');
    expect(info).toContain('loading:0\r\n');
    expect(info).toContain('role:master\r\n');
    expect(await client.call('INFO', 'persistence')).toBe(
      '# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_bgsave_in_progress:0\r\naof_enabled:0\r\n',
    );
    expect(await client.call('CONFIG', 'GET', 'save')).toEqual(['save', '']);
    expect(await client.call('CONFIG', 'GET', 'data*')).toEqual(['databases', '1']);
    expect(await client.call('CONFIG', 'SET', 'save', '')).toEqual({ err: "ERR unknown subcommand 'SET'. Try CONFIG HELP." });
    const count = (await client.call('COMMAND', 'COUNT')) as number;
    expect(count).toBeGreaterThan(30);
    expect(await client.call('COMMAND', 'INFO', 'get', 'nope')).toEqual([['get', 2, ['readonly', 'fast'], 1, 1, 1], null]);
    expect(((await client.call('COMMAND')) as unknown[]).length).toBe(count);
    expect(await client.call('COMMAND', 'DOCS', 'get')).toEqual(['get', expect.arrayContaining(['summary', 'group', 'generic'])]);
    client.send(['SET', 'a', '1'], ['SET', 'b', '2']);
    await client.read(2);
    expect(await client.call('DBSIZE')).toBe(2);
  });
});

describe('string and key commands', () => {
  it("answers SET with OK when the backend's put resolves to a value of its own, as the coordinator's write result does", async () => {
    // The coordinator's adapter passes the write's promise on as `Promise<void>`; the door once
    // replied with that result object instead of OK, and no SET through a cluster was answered.
    const { client } = await setup({ backend: new WriteResultBackend({ now: () => clockMs, maxValueBytes: 1000 }) });
    expect(await client.call('SET', 'k', 'v')).toBe('OK');
    expect(await client.call('GET', 'k')).toBe('v');
    expect(await client.call('SET', 'k', 'w', 'EX', '60')).toBe('OK');
    expect(await client.call('SET', 'k', 'x', 'GET')).toBe('w');
    expect(await client.call('SET', 'k', 'y', 'NX')).toBeNull();
    // Pipelined on one key, the later SETs wait for the first and run as the table's `run`, not its backend call.
    client.send(['SET', 'k', 'a'], ['SET', 'k', 'b'], ['SET', 'k', 'c', 'GET'], ['GET', 'k']);
    expect(await client.read(4)).toEqual(['OK', 'OK', 'b', 'c']);
  });

  it('SET and GET, with every option as Redis takes it', async () => {
    const { client, memory } = await setup();
    expect(await client.call('SET', 'k', 'v1')).toBe('OK');
    expect(await client.call('GET', 'k')).toBe('v1');
    expect(await client.call('GET', 'none')).toBeNull();
    expect(await client.call('SET', 'k', 'v2', 'NX')).toBeNull();
    expect(await client.call('SET', 'k', 'v2', 'XX', 'GET')).toBe('v1');
    expect(await client.call('SET', 'new', 'x', 'XX')).toBeNull();
    expect(await client.call('SET', 'new', 'x', 'NX', 'GET')).toBeNull();
    expect(await client.call('GET', 'new')).toBe('x');
    expect(await client.call('SET', 'k', 'v3', 'PX', '1500')).toBe('OK');
    expect(memory.peek('k')?.expiresAt).toBe(START + 1500);
    expect(await client.call('SET', 'k', 'v4', 'KEEPTTL')).toBe('OK');
    expect(memory.peek('k')?.expiresAt).toBe(START + 1500);
    expect(await client.call('SET', 'k', 'v5', 'EX', '10')).toBe('OK');
    expect(memory.peek('k')?.expiresAt).toBe(START + 10_000);
    expect(await client.call('SET', 'k', 'v6', 'EXAT', String(START / 1000 + 20))).toBe('OK');
    expect(memory.peek('k')?.expiresAt).toBe(START + 20_000);
    expect(await client.call('SET', 'k', 'v7', 'PXAT', String(START + 123))).toBe('OK');
    expect(memory.peek('k')?.expiresAt).toBe(START + 123);
    expect(await client.call('SET', 'k', 'v8')).toBe('OK');
    expect(memory.peek('k')?.expiresAt).toBeNull();
    expect(await client.call('SET', 'k', 'v', 'PXAT', String(START - 1))).toBe('OK');
    expect(await client.call('EXISTS', 'k')).toBe(0);
  });

  it.each([
    [['SET', 'k', 'v', 'EX', '0'], "ERR invalid expire time in 'set' command"],
    [['SET', 'k', 'v', 'EX', '-5'], "ERR invalid expire time in 'set' command"],
    [['SET', 'k', 'v', 'EX', 'ten'], 'ERR value is not an integer or out of range'],
    [['SET', 'k', 'v', 'EX', String(400 * 86400)], "ERR invalid expire time in 'set' command"],
    [['SET', 'k', 'v', 'NX', 'XX'], 'ERR syntax error'],
    [['SET', 'k', 'v', 'EX', '10', 'PX', '10'], 'ERR syntax error'],
    [['SET', 'k', 'v', 'KEEPTTL', 'EX', '10'], 'ERR syntax error'],
    [['SET', 'k', 'v', 'EX'], 'ERR syntax error'],
    [['SET', 'k', 'v', 'FOO'], 'ERR syntax error'],
    [['SET', 'k'], "ERR wrong number of arguments for 'set' command"],
    [['GET'], "ERR wrong number of arguments for 'get' command"],
    [['GET', 'a', 'b'], "ERR wrong number of arguments for 'get' command"],
    [['SETEX', 'k', '0', 'v'], "ERR invalid expire time in 'setex' command"],
    [['PSETEX', 'k', '-1', 'v'], "ERR invalid expire time in 'psetex' command"],
    [['MSET', 'a', '1', 'b'], "ERR wrong number of arguments for 'mset' command"],
    [['GETEX', 'k', 'PERSIST', 'EX', '1'], 'ERR syntax error'],
    [['EXPIRE', 'k', '10', 'NX', 'XX'], 'ERR NX and XX, GT or LT options at the same time are not compatible'],
    [['EXPIRE', 'k', '10', 'GT', 'LT'], 'ERR GT and LT options at the same time are not compatible'],
    [['EXPIRE', 'k', '10', 'SOON'], 'ERR Unsupported option SOON'],
    [['EXPIRE', 'k', '1.5'], 'ERR value is not an integer or out of range'],
    [['SCAN', 'abc'], 'ERR invalid cursor'],
    [['SCAN', '0', 'COUNT', '0'], 'ERR syntax error'],
    [['SCAN', '0', 'MATCH'], 'ERR syntax error'],
    [['SET', Buffer.from([0xff, 0xfe]), 'v'], 'ERR invalid key: dkv keys are 1 to 512 bytes of UTF-8, and this one is not valid UTF-8'],
  ])('%j answers %s and stores nothing', async (args, error) => {
    const { client, memory } = await setup();
    expect(await client.call(...args)).toEqual({ err: error });
    expect(memory.keys()).toEqual([]);
  });

  it('SETEX, PSETEX, GETDEL, GETEX, MGET, MSET', async () => {
    const { client, memory } = await setup();
    expect(await client.call('SETEX', 'a', '5', 'x')).toBe('OK');
    expect(memory.peek('a')?.expiresAt).toBe(START + 5000);
    expect(await client.call('PSETEX', 'b', '250', 'y')).toBe('OK');
    expect(memory.peek('b')?.expiresAt).toBe(START + 250);
    expect(await client.call('GETEX', 'a', 'PX', '700')).toBe('x');
    expect(memory.peek('a')?.expiresAt).toBe(START + 700);
    expect(await client.call('GETEX', 'a', 'PERSIST')).toBe('x');
    expect(memory.peek('a')?.expiresAt).toBeNull();
    expect(await client.call('GETEX', 'a')).toBe('x');
    expect(await client.call('GETEX', 'zz', 'EX', '5')).toBeNull();
    // As Redis 7 does (found by redis-differential.e2e.test.ts): the expiry's number is judged only for a key that exists.
    expect(await client.call('GETEX', 'zz', 'EX', '0')).toBeNull();
    expect(await client.call('GETEX', 'zz', 'PX', 'ten')).toBeNull();
    expect(await client.call('GETEX', 'a', 'EX', '0')).toEqual({ err: "ERR invalid expire time in 'getex' command" });
    expect(await client.call('GETEX', 'a', 'PX', 'ten')).toEqual({ err: 'ERR value is not an integer or out of range' });
    expect(memory.peek('a')?.expiresAt).toBeNull();
    expect(await client.call('GETDEL', 'a')).toBe('x');
    expect(await client.call('GETDEL', 'a')).toBeNull();
    expect(await client.call('MSET', 'm1', '1', 'm2', '2', 'm1', '3')).toBe('OK');
    expect(await client.call('MGET', 'm1', 'nope', 'm2')).toEqual(['3', null, '2']);
  });

  it('DEL, UNLINK and EXISTS count as Redis does', async () => {
    const { client } = await setup();
    await client.call('MSET', 'a', '1', 'b', '2', 'c', '3');
    expect(await client.call('EXISTS', 'a', 'a', 'x', 'b')).toBe(3);
    expect(await client.call('DEL', 'a', 'a', 'x')).toBe(1);
    expect(await client.call('UNLINK', 'b', 'c', 'a')).toBe(2);
    expect(await client.call('EXISTS', 'a', 'b', 'c')).toBe(0);
  });

  it('EXPIRE family with NX/XX/GT/LT, PERSIST, TTL, PTTL, TYPE', async () => {
    const { client, memory } = await setup();
    expect(await client.call('TTL', 'k')).toBe(-2);
    expect(await client.call('PTTL', 'k')).toBe(-2);
    expect(await client.call('TYPE', 'k')).toBe('none');
    expect(await client.call('EXPIRE', 'k', '10')).toBe(0);
    await client.call('SET', 'k', 'v');
    expect(await client.call('TYPE', 'k')).toBe('string');
    expect(await client.call('TTL', 'k')).toBe(-1);
    expect(await client.call('EXPIRE', 'k', '10', 'XX')).toBe(0);
    expect(await client.call('EXPIRE', 'k', '10', 'GT')).toBe(0);
    expect(await client.call('EXPIRE', 'k', '10', 'NX')).toBe(1);
    expect(await client.call('EXPIRE', 'k', '20', 'NX')).toBe(0);
    expect(await client.call('EXPIRE', 'k', '5', 'GT')).toBe(0);
    expect(await client.call('EXPIRE', 'k', '30', 'GT')).toBe(1);
    expect(await client.call('PEXPIRE', 'k', '40000', 'LT')).toBe(0);
    expect(await client.call('PEXPIRE', 'k', '1500', 'LT')).toBe(1);
    expect(await client.call('PTTL', 'k')).toBe(1500);
    clockMs += 499;
    expect(await client.call('TTL', 'k')).toBe(1);
    expect(await client.call('PTTL', 'k')).toBe(1001);
    expect(await client.call('EXPIREAT', 'k', String(START / 1000 + 100))).toBe(1);
    expect(memory.peek('k')?.expiresAt).toBe(START + 100_000);
    expect(await client.call('PEXPIREAT', 'k', String(START + 200_000), 'XX')).toBe(1);
    expect(memory.peek('k')?.expiresAt).toBe(START + 200_000);
    expect(await client.call('PERSIST', 'k')).toBe(1);
    expect(await client.call('PERSIST', 'k')).toBe(0);
    expect(await client.call('TTL', 'k')).toBe(-1);
    expect(await client.call('EXPIRE', 'k', '10', 'LT')).toBe(1);
    expect(await client.call('EXPIRE', 'k', '0')).toBe(1);
    expect(await client.call('EXISTS', 'k')).toBe(0);
  });

  it('a key expires to the millisecond', async () => {
    const { client } = await setup();
    await client.call('SET', 'k', 'v', 'PX', '10');
    clockMs += 9;
    expect(await client.call('GET', 'k')).toBe('v');
    clockMs += 1;
    expect(await client.call('GET', 'k')).toBeNull();
  });

  it('SCAN pages through every key; MATCH and TYPE filter; KEYS answers or refuses above its bound', async () => {
    const { client } = await setup();
    const keys = Array.from({ length: 45 }, (_, i) => `user:${i}`);
    await client.call('MSET', ...keys.flatMap((key) => [key, 'v']), 'other', 'v');
    const seen = new Set<string>();
    let cursor = '0';
    let pages = 0;
    do {
      const [next, page] = (await client.call('SCAN', cursor, 'MATCH', 'user:*', 'COUNT', '7')) as [string, string[]];
      page.forEach((key) => seen.add(key));
      cursor = next;
      pages += 1;
    } while (cursor !== '0' && pages < 100);
    expect([...seen].sort()).toEqual([...keys].sort());
    expect(pages).toBeGreaterThan(1);
    expect(await client.call('SCAN', '0', 'TYPE', 'hash', 'COUNT', '100')).toEqual(['0', []]);
    expect(((await client.call('KEYS', 'user:1*')) as string[]).sort()).toEqual(keys.filter((key) => key.startsWith('user:1')).sort());
    await client.call('MSET', ...Array.from({ length: 10 }, (_, i) => [`more:${i}`, 'v']).flat());
    expect(await client.call('KEYS', '*')).toEqual({
      err: "ERR KEYS refused: more than 50 keys match '*'; use SCAN, which pages through any number of keys",
    });
  });

  it('store errors answer with their codes and the connection stays usable', async () => {
    const { client, memory } = await setup();
    memory.failNext(new QuorumNotMetError('write', 2, 1, 3));
    expect(await client.call('SET', 'k', 'v')).toEqual({
      err: 'QUORUM_NOT_MET write quorum not met: needed 2 replica answers, received 1 of 3 contacted',
    });
    expect(await client.call('SET', 'k', 'x'.repeat(1001))).toEqual({
      err: 'VALUE_TOO_LARGE value is 1001 bytes; the limit is 1000 bytes',
    });
    memory.failNext(new DkvError('INVALID_KEY', 'key must be 1 to 512 bytes of UTF-8, got 0 bytes'));
    expect(await client.call('GET', '')).toEqual({ err: 'ERR key must be 1 to 512 bytes of UTF-8, got 0 bytes' });
    expect(await client.call('GET', 'k')).toBeNull();
  });

  it('unknown commands answer as Redis does and the connection stays usable', async () => {
    const { client } = await setup();
    expect(await client.call('MULTI')).toEqual({ err: "ERR unknown command 'MULTI', with args beginning with: " });
    expect(await client.call('HSET', 'h', 'f', 'v')).toEqual({ err: "ERR unknown command 'HSET', with args beginning with: 'h' 'f' 'v' " });
    expect(await client.call('EVAL', 'x'.repeat(300))).toEqual({
      err: `ERR unknown command 'EVAL', with args beginning with: '${'x'.repeat(128)}' `,
    });
    expect(await client.call('PING')).toBe('PONG');
  });

  it('inline commands work as redis-cli sends them', async () => {
    const { client } = await setup();
    client.sendRaw('SET greeting "hello world"\r\nGET greeting\r\n');
    expect(await client.read(2)).toEqual(['OK', 'hello world']);
  });
});

/** The in-memory backend with a put that resolves to a write result, as `CoordinatorRespBackend`'s does. */
class WriteResultBackend extends InMemoryRespBackend {
  override put(key: string, value: Uint8Array, expiresAt: number | null): Promise<void> {
    return super.put(key, value, expiresAt).then(() => ({ key, version: 7, expiresAt })) as unknown as Promise<void>;
  }
}

/** A backend whose operations on chosen keys wait until released: completions come out of order. */
class GatedBackend implements RespBackend {
  private readonly gates = new Map<string, { promise: Promise<void>; open: () => void }>();
  readonly order: string[] = [];
  constructor(private readonly inner: InMemoryRespBackend) {}
  close(key: string): void {
    let open: () => void = () => undefined;
    const promise = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.gates.set(key, { promise, open });
  }
  open(key: string): void {
    this.gates.get(key)?.open();
    this.gates.delete(key);
  }
  private async pass(key: string, what: string): Promise<void> {
    await this.gates.get(key)?.promise;
    this.order.push(what);
  }
  async get(key: string) {
    await this.pass(key, `get ${key}`);
    return this.inner.get(key);
  }
  async put(key: string, value: Uint8Array, expiresAt: number | null) {
    await this.pass(key, `put ${key}=${Buffer.from(value).toString()}`);
    return this.inner.put(key, value, expiresAt);
  }
  async delete(key: string) {
    await this.pass(key, `delete ${key}`);
    return this.inner.delete(key);
  }
  scanKeys(cursor: string | null, options: { match?: string; count: number }) {
    return this.inner.scanKeys(cursor, options);
  }
  liveKeyCount() {
    return this.inner.liveKeyCount();
  }
}

describe('pipelining', () => {
  it('replies in request order when later commands finish first; other keys run meanwhile', async () => {
    const gated = new GatedBackend(new InMemoryRespBackend({ now: () => clockMs }));
    const { client } = await setup({ backend: gated });
    gated.close('slow');
    client.send(['SET', 'slow', '1'], ['SET', 'fast', '2'], ['GET', 'fast'], ['PING']);
    // The commands on `fast` ran while `slow` was held...
    await expect.poll(() => gated.order).toEqual(['put fast=2', 'get fast']);
    // ...but no reply leaves before the first one's.
    expect(client.pendingBytes).toBe(0);
    gated.open('slow');
    expect(await client.read(4)).toEqual(['OK', 'OK', '2', 'PONG']);
  });

  it('commands of one connection on the same key take effect in the order sent', async () => {
    const gated = new GatedBackend(new InMemoryRespBackend({ now: () => clockMs }));
    const { client } = await setup({ backend: gated });
    gated.close('k');
    client.send(
      ['SET', 'k', 'first'],
      ['SET', 'k', 'second'],
      ['GET', 'other'],
      ['MGET', 'other', 'k'],
      ['DEL', 'k'],
      ['SET', 'k', 'third'],
    );
    // The GET of another key runs at once; the MGET waits for the commands on `k` before it.
    await expect.poll(() => gated.order).toEqual(['get other']);
    gated.open('k');
    expect(await client.read(6)).toEqual(['OK', 'OK', null, [null, 'second'], 1, 'OK']);
    expect(gated.order).toEqual(['get other', 'put k=first', 'put k=second', 'get other', 'get k', 'get k', 'delete k', 'put k=third']);
  });

  it('a multi-key command waits for the one command on its key in flight before it, and chains end when it is done', async () => {
    const gated = new GatedBackend(new InMemoryRespBackend({ now: () => clockMs }));
    const { client } = await setup({ backend: gated });
    gated.close('k');
    // The first SET is the only command on keys in flight when it starts; the MGET and EXISTS after it must still wait for it.
    client.send(['SET', 'k', 'first'], ['MGET', 'other', 'k'], ['EXISTS', 'k'], ['GET', 'x']);
    // The GET of another key, sent last, runs at once; the two before it have not.
    await expect.poll(() => gated.order).toEqual(['get x']);
    gated.open('k');
    expect(await client.read(4)).toEqual(['OK', [null, 'first'], 1, null]);
    expect(gated.order).toEqual(['get x', 'put k=first', 'get other', 'get k', 'get k']);
    // Once everything settled, a new command on the key runs at once.
    client.send(['SET', 'k', 'second'], ['GET', 'k']);
    expect(await client.read(2)).toEqual(['OK', 'second']);
  });

  it('takes at most maxPipelined commands in flight; the rest wait unparsed and then run', async () => {
    const memory = new InMemoryRespBackend({ now: () => clockMs });
    let release: () => void = () => undefined;
    memory.hold(new Promise<void>((resolve) => (release = resolve)));
    const { client } = await setup({ backend: memory, maxPipelined: 8 });
    client.send(...Array.from({ length: 100 }, (_, i) => ['SET', `k${i}`, 'v']));
    await expect.poll(() => memory.calls.length).toBe(8);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(memory.calls.length).toBe(8);
    release();
    expect(await client.read(100)).toEqual(Array.from({ length: 100 }, () => 'OK'));
    expect(memory.keys()).toHaveLength(100);
  });

  it('keeps every pipelined SET value intact while later reads arrive, the values cut across reads anywhere', async () => {
    // The door parses arguments as views of the memory its socket reads into: a value held by a
    // command that has not run yet must not change when the next reads come in (a read buffer
    // reused, as `onread` allows, would break this).
    const memory = new InMemoryRespBackend({ now: () => clockMs, maxValueBytes: 60_000 });
    let release: () => void = () => undefined;
    memory.hold(new Promise<void>((resolve) => (release = resolve)));
    const { client } = await setup({ backend: memory, limits: respServerLimits(60_000) });
    // Distinct bytes per value, of sizes from a few bytes to several reads' worth.
    const values = Array.from({ length: 300 }, (_, i) => {
      const value = Buffer.alloc(1 + ((i * 7919) % 40_000));
      for (let at = 0; at < value.length; at += 1) value[at] = (i * 31 + at * 7) & 0xff;
      return value;
    });
    client.send(...values.map((value, i) => ['SET', `k${i}`, value]));
    // Every SET is read and waits on the store, its value a view of what was read.
    await expect.poll(() => memory.calls.length, { timeout: 10_000 }).toBe(values.length);
    client.send(['PING', Buffer.alloc(40_000, 0x78)]);
    release();
    const replies = await client.read(values.length + 1, 20_000);
    expect(replies.slice(0, -1).every((reply) => reply === 'OK')).toBe(true);
    expect(replies.at(-1)).toBe('x'.repeat(40_000));
    const corrupted: number[] = [];
    for (const [i, value] of values.entries()) {
      const stored = (await memory.get(`k${i}`))?.value;
      if (stored === undefined || !value.equals(stored)) corrupted.push(i);
    }
    expect(corrupted).toEqual([]);
  });

  it('a protocol error is answered after the replies before it, then the connection closes and nothing after it runs', async () => {
    const { client, memory } = await setup();
    client.sendRaw(
      Buffer.concat([
        Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n'),
        Buffer.from('*1\r\n$99999999999\r\n'),
        Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n'),
      ]),
    );
    expect(await client.read(2)).toEqual(['OK', { err: 'ERR Protocol error: invalid bulk length' }]);
    await client.closedByServer();
    expect(memory.keys()).toEqual(['a']);
  });
});

describe('connection bounds', () => {
  it('answers one connection over maxConnections with an error and closes it', async () => {
    const { server } = await setup({ maxConnections: 1 });
    const second = await RawRespClient.connect(server.port);
    clients.push(second);
    expect(await second.read(1)).toEqual([{ err: 'ERR max number of clients reached' }]);
    await second.closedByServer();
  });

  it('closes a connection idle for idleTimeoutMs', async () => {
    const { client } = await setup({ idleTimeoutMs: 200 });
    expect(await client.call('PING')).toBe('PONG');
    await client.closedByServer(3000);
  });

  it('closes a client that trickles a command slower than readTimeoutMs (slowloris), and counts it', async () => {
    const events: string[] = [];
    const { client, memory } = await setup({ idleTimeoutMs: 10_000, readTimeoutMs: 400, onBound: (event) => events.push(event) });
    const command = Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20\r\naaaaaaaaaaaaaaaaaaaa\r\n');
    // One byte every 50 ms: the idle timeout (10 s) never fires, the command would take 2.4 s.
    const trickle = setInterval(() => {
      const at = sent;
      if (at < command.length - 1) client.sendRaw(command.subarray(at, at + 1));
      sent += 1;
    }, 50);
    let sent = 0;
    try {
      await client.closedByServer(3000);
    } finally {
      clearInterval(trickle);
    }
    expect(sent).toBeLessThan(command.length - 1);
    expect(events).toEqual(['read_timeout']);
    expect(memory.calls.filter((call) => call.startsWith('put'))).toEqual([]);
  });

  it('keeps a client that sends whole commands slowly, each in pieces quicker than readTimeoutMs', async () => {
    const events: string[] = [];
    const { client } = await setup({ idleTimeoutMs: 10_000, readTimeoutMs: 300, onBound: (event) => events.push(event) });
    for (let i = 0; i < 4; i += 1) {
      client.sendRaw('*1\r\n$4\r\nPI');
      await new Promise((resolve) => setTimeout(resolve, 100));
      client.sendRaw('NG\r\n');
      expect(await client.read(1)).toEqual(['PONG']);
      // Between commands nothing is owed: the pause may outlast the read timeout.
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(client.closed).toBe(false);
    expect(events).toEqual([]);
  });

  it('stops reading from a client that does not read its replies', async () => {
    const memory = new InMemoryRespBackend({ now: () => clockMs });
    await memory.put('big', Buffer.alloc(100_000, 0x61), null);
    const { client, server } = await setup({
      backend: memory,
      maxQueuedReplyBytes: 256 * 1024,
      maxReplyBufferBytes: 2 * 1024 * 1024,
      maxPipelined: 16,
    });
    client.socket.pause();
    const get = Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n');
    // Far more than the server may queue: it reads until its bound, then pauses the socket.
    for (let i = 0; i < 2000; i += 1) client.sendRaw(get);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const gets = memory.calls.filter((call) => call === 'get big').length;
    expect(gets).toBeLessThan(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(memory.calls.filter((call) => call === 'get big').length).toBe(gets);
    expect(server.connectionCount()).toBe(1);
  });

  it('stops reading a client at maxPipelined until its commands finish, then reads on and answers all in order', async () => {
    // Pausing must stop the socket's reads (also for a socket read through `onread`, where
    // `pause()` is what stops the handle), or the input would pile up in the parser without bound.
    const memory = new InMemoryRespBackend({ now: () => clockMs });
    let release: () => void = () => undefined;
    memory.hold(new Promise<void>((resolve) => (release = resolve)));
    const { client } = await setup({ backend: memory, maxPipelined: 8 });
    const value = Buffer.alloc(1000, 0x76);
    // 12 MB in writes of 60 commands, several times what the kernel's buffers take.
    const writes = 200;
    for (let w = 0; w < writes; w += 1) client.send(...Array.from({ length: 60 }, (_, i) => ['SET', `k${w * 60 + i}`, value]));
    await expect.poll(() => memory.calls.length).toBe(8);
    // What the client could hand to the kernel stops growing, and much stays with it: the server reads nothing more.
    let held = -1;
    await expect
      .poll(
        () => {
          const now = client.socket.writableLength;
          const still = now === held;
          held = now;
          return still;
        },
        { interval: 200, timeout: 10_000 },
      )
      .toBe(true);
    expect(held).toBeGreaterThan(0);
    expect(memory.calls.length).toBe(8);
    release();
    const replies = await client.read(writes * 60, 30_000);
    expect(replies.every((reply) => reply === 'OK')).toBe(true);
    expect(memory.keys()).toHaveLength(writes * 60);
    await expect.poll(() => client.socket.writableLength).toBe(0);
  }, 60_000);

  it('answers every value intact to a client that reads late, while the kernel and the queue hold replies written alone', async () => {
    // One command at a time (maxPipelined 1): each reply is written alone, from a buffer the door
    // reuses for the next value of the same size only when the socket took it whole at once.
    const memory = new InMemoryRespBackend({ now: () => clockMs });
    const values = Array.from({ length: 400 }, (_, i) => Buffer.alloc(60_000, 97 + (i % 26)));
    for (const [i, value] of values.entries()) await memory.put(`k${i}`, value, null);
    const { client } = await setup({
      backend: memory,
      maxPipelined: 1,
      maxQueuedReplyBytes: 1024 * 1024,
      maxReplyBufferBytes: 64 * 1024 * 1024,
    });
    client.socket.pause();
    client.send(...values.map((_, i) => ['GET', `k${i}`]));
    // The server answers until the socket's buffers and its queue bound are full, then holds the rest back.
    let seen = -1;
    await expect
      .poll(
        () => {
          const gets = memory.calls.filter((call) => call.startsWith('get ')).length;
          const still = gets > 0 && gets === seen;
          seen = gets;
          return still;
        },
        { interval: 200, timeout: 10_000 },
      )
      .toBe(true);
    expect(seen).toBeLessThan(values.length);
    client.socket.resume();
    const replies = await client.read(values.length, 20_000);
    expect(replies.map((value, i) => value === values[i]?.toString('latin1'))).toEqual(values.map(() => true));
  });

  it('disconnects a client whose queued replies pass maxReplyBufferBytes', async () => {
    const memory = new InMemoryRespBackend({ now: () => clockMs });
    await memory.put('big', Buffer.alloc(100_000, 0x61), null);
    const { client, server } = await setup({
      backend: memory,
      maxQueuedReplyBytes: 64 * 1024,
      maxReplyBufferBytes: 512 * 1024,
      maxPipelined: 1000,
    });
    client.socket.pause();
    client.sendRaw(Buffer.concat(Array.from({ length: 500 }, () => Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n'))));
    await expect.poll(() => server.connectionCount(), { timeout: 5000 }).toBe(0);
  });

  it('runs at most maxInFlight commands on keys across connections; the others wait their turn and then run', async () => {
    const memory = new InMemoryRespBackend({ now: () => clockMs });
    let release: () => void = () => undefined;
    memory.hold(new Promise<void>((resolve) => (release = resolve)));
    const { client, server } = await setup({ backend: memory, maxInFlight: 3 });
    const other = await RawRespClient.connect(server.port);
    clients.push(other);
    client.send(...Array.from({ length: 10 }, (_, i) => ['SET', `a${i}`, 'v']));
    other.send(...Array.from({ length: 10 }, (_, i) => ['GET', `b${i}`]), ['PING']);
    await expect.poll(() => memory.calls.length).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(memory.calls.length).toBe(3);
    release();
    expect(await client.read(10)).toEqual(Array.from({ length: 10 }, () => 'OK'));
    expect(await other.read(11)).toEqual([...Array.from({ length: 10 }, () => null), 'PONG']);
    expect(memory.calls.length).toBe(20);
  });
});
