// Goal: real Redis clients work against a real dkv cluster unchanged (API.md, "Redis protocol"):
// ioredis (RESP2) and node-redis (RESP3 with HELLO 3) set, get, expire, read TTLs, delete,
// pipeline and MGET; errors come back as Redis's and the connection stays usable; the data is the
// same over HTTP; redis-cli works in RESP and inline (--pipe) modes. And bad input on the real
// server: malformed RESP, huge announced lengths, too many arguments, unknown commands and a
// client that never reads its replies each get an error or a closed connection, the process
// stays up with bounded memory, and nothing stored changes. (That the server stops reading such a
// client is shown deterministically by @dkv/resp's resp-server.test.ts; here it is the process's
// memory that is watched.)
// Method: `dkv cluster up --nodes 3 --port 0 --resp-port 0` from the built CLI on 127.0.0.1
// (e2e-support), its `dkv redis at` line for the door; raw sockets for the bad input; the
// coordinator's resident memory read from /proc by its announced pid. redis-cli comes from
// Debian's redis-tools, installed by tools/ensure-debian-tools.sh (which fails with the command to run
// when it cannot install). Every wait is bounded; afterAll stops every process by pid.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { createClient, RESP_TYPES } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses, ensureDebianTools, REDIS_TOOLS } from './e2e-support.js';

const DEADLINE_MS = 45_000;
const cli = new CliProcesses({ ...process.env, DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);
let redisPort = 0;
let httpUrl = '';
const closers: Array<() => Promise<unknown> | void> = [];

beforeAll(async () => {
  ensureDebianTools(REDIS_TOOLS);
  httpUrl = await cli.readyUrl(cli.start(['cluster', 'up', '--nodes', '3', '--port', '0', '--resp-port', '0']));
  redisPort = Number(new URL(cli.redisUrl).port);
}, 600_000);

afterAll(async () => {
  for (const close of closers.splice(0)) await close();
  await cli.stopAll();
}, 30_000);

function ioredis(): Redis {
  const client = new Redis({ host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: 1, lazyConnect: false });
  closers.push(() => client.disconnect());
  return client;
}

async function httpGet(key: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${httpUrl}/v1/kv/${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

/** Runs redis-cli against the door: its standard output and exit code. */
function redisCliRun(args: string[], input?: string): Promise<{ stdout: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(redisPort), ...args], { timeout: 20_000 }, (error, stdout) => {
      resolve({ stdout, code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1 });
    });
    child.stdin?.end(input ?? '');
  });
}

/** redis-cli's output for a command that must succeed (a non-TTY redis-cli prints bare values). */
async function redisCli(args: string[]): Promise<string> {
  const { stdout, code } = await redisCliRun(args);
  if (code !== 0) throw new Error(`redis-cli ${args.join(' ')} exited ${code}: ${stdout}`);
  return stdout;
}

describe('ioredis (RESP2) against dkv', () => {
  it('connects (its INFO ready check passes), sets, gets, expires and deletes', async () => {
    const redis = ioredis();
    expect(await redis.ping()).toBe('PONG');
    expect(await redis.set('io:a', 'hello')).toBe('OK');
    expect(await redis.get('io:a')).toBe('hello');
    expect(await redis.set('io:ttl', 'v', 'EX', 100)).toBe('OK');
    expect(await redis.ttl('io:ttl')).toBeGreaterThanOrEqual(99);
    expect(await redis.pexpire('io:ttl', 5000)).toBe(1);
    const pttl = await redis.pttl('io:ttl');
    expect(pttl).toBeGreaterThan(4000);
    expect(pttl).toBeLessThanOrEqual(5000);
    expect(await redis.set('io:a', 'x', 'NX')).toBeNull();
    expect(await redis.getdel('io:a')).toBe('hello');
    expect(await redis.exists('io:a', 'io:ttl')).toBe(1);
    expect(await redis.del('io:ttl', 'io:none')).toBe(1);
    expect(await redis.ttl('io:ttl')).toBe(-2);
  });

  it('pipelines: replies in order; MSET and MGET', async () => {
    const redis = ioredis();
    const pipeline = redis.pipeline();
    for (let i = 0; i < 50; i += 1) pipeline.set(`io:p${i}`, `v${i}`).get(`io:p${i}`);
    const results = await pipeline.exec();
    expect(results).toEqual(
      Array.from({ length: 50 }, (_, i) => [
        [null, 'OK'],
        [null, `v${i}`],
      ]).flat(),
    );
    expect(await redis.mset('io:m1', '1', 'io:m2', '2')).toBe('OK');
    expect(await redis.mget('io:m1', 'io:missing', 'io:m2')).toEqual(['1', null, '2']);
  });

  it('keeps binary values byte for byte, and the same data is seen over HTTP both ways', async () => {
    const redis = ioredis();
    const bytes = Buffer.from([0, 1, 2, 13, 10, 255, 254]);
    await redis.set('io:bin', bytes);
    expect(await redis.getBuffer('io:bin')).toEqual(bytes);
    await redis.set('io:json', '{"user":42}');
    expect(await httpGet('io:json')).toEqual({ status: 200, body: '{"user":42}' });
    const put = await fetch(`${httpUrl}/v1/kv/io%3Ahttp?ttl=60`, { method: 'PUT', body: 'from-http', signal: AbortSignal.timeout(5000) });
    expect(put.status).toBe(200);
    expect(await redis.get('io:http')).toBe('from-http');
    expect(await redis.ttl('io:http')).toBeGreaterThan(50);
  });

  it('errors as Redis words them, and the connection stays usable', async () => {
    const redis = ioredis();
    await expect(redis.call('HSET', 'h', 'f', 'v')).rejects.toThrow("ERR unknown command 'HSET', with args beginning with: 'h' 'f' 'v' ");
    await expect(redis.call('GET')).rejects.toThrow("ERR wrong number of arguments for 'get' command");
    await expect(redis.select(1)).rejects.toThrow('ERR DB index is out of range');
    await expect(redis.set('io:big', 'x'.repeat(1024 * 1024 + 1))).rejects.toThrow(
      /^VALUE_TOO_LARGE value is 1048577 bytes; the limit is 1048576 bytes/,
    );
    expect(await redis.get('io:big')).toBeNull();
    expect(await redis.ping()).toBe('PONG');
  });
});

describe('SCAN, KEYS and DBSIZE against the cluster-wide key scan', () => {
  it('a full SCAN with MATCH returns every matching key; KEYS agrees; DBSIZE is a count', async () => {
    const redis = ioredis();
    const keys = Array.from({ length: 30 }, (_, i) => `scan:${i}`);
    await redis.mset(...keys.flatMap((key) => [key, 'v']));
    const seen = new Set<string>();
    let cursor = '0';
    let pages = 0;
    do {
      const [next, page] = await redis.scan(cursor, 'MATCH', 'scan:*', 'COUNT', 7);
      page.forEach((key) => seen.add(key));
      cursor = next;
      pages += 1;
    } while (cursor !== '0' && pages < 1000);
    expect([...seen].sort()).toEqual([...keys].sort());
    expect((await redis.keys('scan:1*')).sort()).toEqual(keys.filter((key) => key.startsWith('scan:1')).sort());
    expect(Number.isInteger(await redis.dbsize())).toBe(true);
  });
});

describe('node-redis with RESP3 against dkv', () => {
  it('says HELLO 3 and runs commands; replies are RESP3', async () => {
    const client = createClient({ url: `redis://127.0.0.1:${redisPort}`, RESP: 3 });
    client.on('error', () => undefined);
    await client.connect();
    closers.push(() => client.destroy());
    const hello = (await client.sendCommand(['HELLO', '3'])) as unknown as Map<string, unknown> | Record<string, unknown>;
    const proto = hello instanceof Map ? hello.get('proto') : hello['proto'];
    expect(proto).toBe(3);
    expect(await client.set('nr:a', 'v1', { expiration: { type: 'PX', value: 30_000 } })).toBe('OK');
    expect(await client.get('nr:a')).toBe('v1');
    const pttl = await client.pTTL('nr:a');
    expect(pttl).toBeGreaterThan(25_000);
    expect(await client.get('nr:none')).toBeNull();
    // Commands sent together are pipelined by node-redis.
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => client.set(`nr:p${i}`, `${i}`)).concat(
        Array.from({ length: 30 }, (_, i) => client.get(`nr:p${i}`)),
      ),
    );
    expect(replies).toEqual([...Array.from({ length: 30 }, () => 'OK'), ...Array.from({ length: 30 }, (_, i) => `${i}`)]);
    expect(await client.mGet(['nr:p1', 'nr:none', 'nr:p2'])).toEqual(['1', null, '2']);
    expect(await client.del(['nr:p1', 'nr:p2', 'nr:none'])).toBe(2);
    expect(await client.expire('nr:a', 0)).toBe(1);
    expect(await client.exists('nr:a')).toBe(0);
    await expect(client.sendCommand(['LPUSH', 'l', 'x'])).rejects.toThrow("ERR unknown command 'LPUSH'");
    const info = await client.withTypeMapping({ [RESP_TYPES.VERBATIM_STRING]: String }).info('persistence');
    expect(String(info)).toContain('loading:0');
  });
});

describe('redis-cli against dkv', () => {
  it('runs commands in RESP mode', async () => {
    expect(await redisCli(['SET', 'cli:a', 'from redis-cli'])).toBe('OK\n');
    expect(await redisCli(['GET', 'cli:a'])).toBe('from redis-cli\n');
    expect(await redisCli(['SETEX', 'cli:b', '100', 'x'])).toBe('OK\n');
    expect(Number(await redisCli(['TTL', 'cli:b']))).toBeGreaterThan(95);
    expect(await redisCli(['GET', 'cli:none'])).toBe('\n');
    expect(await redisCli(['-3', 'HELLO', '3'])).toMatch(/^server redis\nversion 7\.2\.0\nproto 3\n/);
    expect(await redisCli(['PING'])).toBe('PONG\n');
  });

  it('sends inline commands (--pipe sends the bytes as they are)', async () => {
    const { stdout, code } = await redisCliRun(['--pipe'], 'SET cli:inline "two words"\r\nGET cli:inline\r\nBOGUS x\r\n');
    // Three replies, one of them the error for BOGUS (which makes --pipe exit 1).
    expect(stdout).toContain('errors: 1, replies: 3');
    expect(code).toBe(1);
    expect(await redisCli(['GET', 'cli:inline'])).toBe('two words\n');
  });
});

/** A raw connection to the door: write bytes, collect everything answered until the server closes or `ms` pass. */
async function rawExchange(data: Buffer | string, ms = 2000): Promise<{ reply: string; closed: boolean }> {
  const socket: Socket = connect({ host: '127.0.0.1', port: redisPort });
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  const done = new Promise<void>((resolve) => socket.on('close', () => ((closed = true), resolve())));
  socket.write(data);
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, ms))]);
  socket.destroy();
  return { reply: Buffer.concat(chunks).toString('latin1'), closed };
}

function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

describe('bad input on the real server', () => {
  it('answers malformed requests, huge lengths and too many arguments with an error and a close; unknown commands leave it usable; nothing stored changes', async () => {
    const redis = ioredis();
    await redis.set('bad:keep', 'kept');
    const cases: Array<[string, string]> = [
      ['*99999999999\r\n', '-ERR Protocol error: invalid multibulk length\r\n'],
      ['*1\r\n$9999999999\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
      ['*2000000\r\n', '-ERR Protocol error: invalid multibulk length\r\n'],
      ['*3\r\n$3\r\nSET\r\n$8\r\nbad:keep\r\n:1\r\n', "-ERR Protocol error: expected '$', got ':'\r\n"],
      ['SET bad:keep "unclosed\r\n', '-ERR Protocol error: unbalanced quotes in request\r\n'],
      [`*1\r\n$${'9'.repeat(70_000)}`, '-ERR Protocol error: too big bulk count string\r\n'],
    ];
    for (const [input, error] of cases) {
      expect(await rawExchange(input), JSON.stringify(input.slice(0, 40))).toEqual({ reply: error, closed: true });
    }
    // A value announced over the limit is refused as a protocol error before it is read.
    expect(await rawExchange(`*3\r\n$3\r\nSET\r\n$8\r\nbad:keep\r\n$${1024 * 1024 * 64}\r\n`)).toEqual({
      reply: '-ERR Protocol error: invalid bulk length\r\n',
      closed: true,
    });
    const unknown = await rawExchange('MULTI\r\nEVAL x 0\r\nPING\r\n', 500);
    expect(unknown).toEqual({
      reply:
        "-ERR unknown command 'MULTI', with args beginning with: \r\n-ERR unknown command 'EVAL', with args beginning with: 'x' '0' \r\n+PONG\r\n",
      closed: false,
    });
    expect(await redis.get('bad:keep')).toBe('kept');
    expect(await httpGet('bad:keep')).toEqual({ status: 200, body: 'kept' });
  });

  it("a client that never reads its replies: the process's memory stays bounded, the client is kept, others are served", async () => {
    const redis = ioredis();
    const value = Buffer.alloc(64 * 1024, 0x61);
    await redis.set('bad:big', value);
    await redis.set('bad:other', 'kept');
    const coordinatorPid = await cli.waitFor('the coordinator pid', async () => cli.coordinators.get('c1')?.pid);
    const before = residentBytes(coordinatorPid);
    const socket = connect({ host: '127.0.0.1', port: redisPort });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause();
    closers.push(() => void socket.destroy());
    let closedByServer = false;
    socket.on('close', () => (closedByServer = true));
    // 20000 GETs of a 64 KiB value: 1.3 GB of replies if the server queued them all.
    const command = Buffer.from('*2\r\n$3\r\nGET\r\n$7\r\nbad:big\r\n');
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => command));
    for (let i = 0; i < 20; i += 1) socket.write(batch);
    let peak = before;
    for (let i = 0; i < 30; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      peak = Math.max(peak, residentBytes(coordinatorPid));
    }
    // Bounded by the queued-reply bound plus the commands in flight (256 x 64 KiB), far below 1.3 GB.
    expect(peak - before).toBeLessThan(200 * 1024 * 1024);
    // Within the reply-buffer bound, so it is kept (paused), not dropped.
    expect(closedByServer).toBe(false);
    expect(await redis.get('bad:other')).toBe('kept');
    expect(await redis.ping()).toBe('PONG');
    socket.destroy();
  }, 30_000);
});
