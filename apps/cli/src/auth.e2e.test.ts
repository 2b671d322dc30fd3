// Goal: `dkv cluster up --auth-file` runs a cluster whose both doors need a user of the file, as
// API.md's "Security" says, on real processes: each role on HTTP (read GETs, readwrite writes,
// admin changes the cluster), on the Redis door (ioredis with AUTH, node-redis with HELLO 3 AUTH),
// through the SDK and `dkv status --user/--password`; missing and wrong credentials refused; a
// SIGHUP to `cluster up` makes every process re-read the file (a good file adds and changes
// users at once, a bad one is logged and changes nothing); and no password, no clusterSecret and
// no Authorization header value appears in any line any process wrote during the run.
// Method: the built CLI on 127.0.0.1 with free ports (e2e-support's CliProcesses), every line of
// its output (the children's logs included, at level info) kept for the secrets check; reloads
// awaited by polling with a deadline; afterAll stops every process by pid.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KVStoreClient } from '@dkv/client';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses } from './e2e-support.js';

const DEADLINE_MS = 45_000;
const CLI = fileURLToPath(new URL('../bin/dkv.js', import.meta.url));
const SECRET = 'e2e-cluster-secret-5b1f0c2a';
const USERS = [
  { name: 'reader', password: 'reader-pw-7d41', role: 'read' },
  { name: 'writer', password: 'writer-pw-93c2', role: 'readwrite' },
  { name: 'root', password: 'root-pw-1e88', role: 'admin' },
];
const LATE = { name: 'late', password: 'late-pw-5a07', role: 'readwrite' };
const NEW_READER_PASSWORD = 'reader-pw2-c6d9';
/** Every secret of the run: none may appear in any log line. */
const SECRETS = [SECRET, ...USERS.map((u) => u.password), LATE.password, NEW_READER_PASSWORD];

const dir = mkdtempSync(join(tmpdir(), 'dkv-auth-e2e-'));
const authFile = join(dir, 'auth.json');
const cli = new CliProcesses({ ...process.env, DKV_LOG_LEVEL: 'info' }, DEADLINE_MS);
const lines: string[] = [];
const closers: Array<() => Promise<unknown> | void> = [];
let clusterUpPid = 0;
let url = '';
let redisPort = 0;

function basic(name: string, password: string): string {
  return `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;
}

function as(name: string): string {
  const user = [...USERS, LATE].find((u) => u.name === name)!;
  return basic(user.name, user.password);
}

async function http(
  method: string,
  path: string,
  authorization?: string,
  body?: string,
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(authorization === undefined ? {} : { authorization }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const { DKV_USER: _user, DKV_PASSWORD: _password, ...inherited } = process.env;
    // Bounded generously: runs go side by side on a loaded 2-core machine.
    execFile(process.execPath, [CLI, ...args], { timeout: 40_000, env: { ...inherited, ...env } }, (error, stdout, stderr) => {
      const code = error && typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : error ? null : 0;
      lines.push(...stdout.split('\n'), ...stderr.split('\n'));
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  writeFileSync(authFile, JSON.stringify({ users: USERS, clusterSecret: SECRET }));
  const child = cli.start([
    'cluster',
    'up',
    '--nodes',
    '3',
    '--port',
    '0',
    '--resp-port',
    '0',
    '--auth-file',
    authFile,
    '--log-level',
    'info',
  ]);
  clusterUpPid = child.pid!;
  const keep = (chunk: Buffer): void => void lines.push(...chunk.toString('utf8').split('\n'));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  url = await cli.readyUrl(child);
  redisPort = Number(new URL(cli.redisUrl).port);
}, 120_000);

afterAll(async () => {
  for (const close of closers.splice(0)) await close();
  await cli.stopAll();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('HTTP with --auth-file', () => {
  it('keeps /livez and /readyz open and refuses everything else without valid credentials', async () => {
    expect((await http('GET', '/livez')).status).toBe(200);
    expect((await http('GET', '/readyz')).status).toBe(200);
    for (const authorization of [undefined, basic('root', 'wrong'), basic('nobody', USERS[2]!.password)]) {
      const answer = await http('GET', '/v1/cluster', authorization);
      expect(answer.status).toBe(401);
      expect(answer.headers.get('www-authenticate')).toBe('Basic realm="dkv"');
      expect(JSON.parse(answer.text).error.code).toBe('UNAUTHENTICATED');
    }
    expect((await http('GET', '/metrics')).status).toBe(401);
  });

  it('lets read GET, readwrite write, and only admin change the cluster', async () => {
    expect((await http('PUT', '/v1/kv/auth%3Ak', as('reader'), 'x')).status).toBe(403);
    expect((await http('PUT', '/v1/kv/auth%3Ak', as('writer'), 'v1')).status).toBe(200);
    const read = await http('GET', '/v1/kv/auth%3Ak', as('reader'));
    expect([read.status, read.text]).toEqual([200, 'v1']);
    expect((await http('GET', '/metrics', as('reader'))).status).toBe(200);
    expect((await http('GET', '/v1/cluster/distribution', as('reader'))).status).toBe(200);
    expect((await http('DELETE', '/v1/kv/auth%3Ak', as('reader'))).status).toBe(403);
    const body = JSON.stringify({ id: 'n9', address: 'not an address' });
    const denied = await http('POST', '/v1/cluster/nodes', as('writer'), body);
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.text).error.code).toBe('FORBIDDEN');
    expect((await http('DELETE', '/v1/cluster/nodes/n9', as('writer'))).status).toBe(403);
    // Past the role check, the admin's request reaches the route: its bad body is the route's 400.
    expect((await http('POST', '/v1/cluster/nodes', as('root'), body)).status).toBe(400);
    expect((await http('DELETE', '/v1/kv/auth%3Ak', as('writer'))).status).toBe(204);
  });

  it('serves the SDK with credentials and refuses it without', async () => {
    const client = new KVStoreClient({ url, username: 'writer', password: USERS[1]!.password });
    const anonymous = new KVStoreClient({ url });
    closers.push(
      () => client.close(),
      () => anonymous.close(),
    );
    await client.put('auth:sdk', 'hello', 60);
    expect(Buffer.from((await client.get('auth:sdk'))!.value).toString()).toBe('hello');
    await expect(anonymous.get('auth:sdk')).rejects.toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('runs dkv status with --user/--password or DKV_USER/DKV_PASSWORD, and says what to give without', async () => {
    // Side by side: each CLI start costs seconds on a loaded machine.
    const [flags, env, none] = await Promise.all([
      runCli(['status', '--url', url, '--user', 'reader', '--password', USERS[0]!.password]),
      runCli(['ring', '--url', url], { DKV_USER: 'reader', DKV_PASSWORD: USERS[0]!.password }),
      runCli(['status', '--url', url]),
    ]);
    expect(flags.code).toBe(0);
    expect(flags.stdout).toMatch(/3 of 3 nodes up/);
    expect(env.code).toBe(0);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/401 UNAUTHENTICATED\).*give --user and --password/);
  }, 90_000);
});

describe('a bad auth file at start', () => {
  it('stops dkv node and dkv coordinator with exit 2 and a message naming the field, quoting no secret', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ users: [{ name: 'root', password: 'bad-file-pw-0d3e', role: 'admin' }], clusterSecret: 'short' }));
    const results = await Promise.all(
      [
        ['node', '--id', 'n1', '--port', '0'],
        ['coordinator', '--join', '127.0.0.1:1', '--port', '0'],
      ].map((args) => runCli([...args, '--auth-file', bad])),
    );
    for (const result of results) {
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/--auth-file \(DKV_AUTH_FILE\) .*bad\.json: clusterSecret must be 16 to 1024 characters/);
      expect(result.stderr).not.toContain('bad-file-pw-0d3e');
    }
  }, 90_000);
});

describe('the Redis door with --auth-file', () => {
  it("answers NOAUTH before AUTH, WRONGPASS to a bad pair, NOPERM to a read user's write", async () => {
    const anonymous = new Redis({ host: '127.0.0.1', port: redisPort, enableReadyCheck: false, maxRetriesPerRequest: 0 });
    closers.push(() => anonymous.disconnect());
    await expect(anonymous.get('auth:r')).rejects.toThrow(/^NOAUTH Authentication required/);
    await expect(anonymous.auth('reader', 'wrong')).rejects.toThrow(/^WRONGPASS/);
    expect(await anonymous.auth('reader', USERS[0]!.password)).toBe('OK');
    await expect(anonymous.set('auth:r', 'x')).rejects.toThrow(/^NOPERM User reader has no permissions to run the 'set' command/);
  });

  it('serves ioredis (AUTH user pass) and node-redis (HELLO 3 AUTH) for a readwrite user', async () => {
    const io = new Redis({ host: '127.0.0.1', port: redisPort, username: 'writer', password: USERS[1]!.password, maxRetriesPerRequest: 1 });
    closers.push(() => io.disconnect());
    expect(await io.set('auth:io', 'v', 'EX', 60)).toBe('OK');
    const node = createClient({ url: `redis://127.0.0.1:${redisPort}`, username: 'root', password: USERS[2]!.password, RESP: 3 });
    await node.connect();
    closers.push(() => node.destroy());
    expect(await node.get('auth:io')).toBe('v');
    expect(await node.del('auth:io')).toBe(1);
    // Without reconnecting, which node-redis would do forever on a refused handshake.
    const wrong = createClient({
      url: `redis://127.0.0.1:${redisPort}`,
      username: 'root',
      password: 'wrong',
      RESP: 3,
      socket: { reconnectStrategy: false },
    });
    wrong.on('error', () => undefined);
    await expect(wrong.connect()).rejects.toThrow(/WRONGPASS/);
  });
});

describe('SIGHUP to cluster up', () => {
  const reloadLines = (pattern: RegExp): number => lines.filter((line) => pattern.test(line)).length;

  it('makes every process re-read the file: a good one applies at once, a bad one is logged and changes nothing', async () => {
    const reloadedBefore = reloadLines(/"msg":"auth file reloaded"/);
    writeFileSync(
      authFile,
      JSON.stringify({ users: [{ ...USERS[0]!, password: NEW_READER_PASSWORD }, USERS[1], USERS[2], LATE], clusterSecret: SECRET }),
    );
    process.kill(clusterUpPid, 'SIGHUP');
    // Three nodes and the coordinator each log the reload.
    await cli.waitFor('4 processes to reload', async () =>
      reloadLines(/"msg":"auth file reloaded"/) >= reloadedBefore + 4 ? true : undefined,
    );
    expect((await http('PUT', '/v1/kv/auth%3Alate', as('late'), 'late')).status).toBe(200);
    expect((await http('GET', '/v1/kv/auth%3Alate', as('reader'))).status).toBe(401);
    expect((await http('GET', '/v1/kv/auth%3Alate', basic('reader', NEW_READER_PASSWORD))).status).toBe(200);
    const late = new Redis({ host: '127.0.0.1', port: redisPort, username: 'late', password: LATE.password, maxRetriesPerRequest: 1 });
    closers.push(() => late.disconnect());
    expect(await late.get('auth:late')).toBe('late');

    const refusedBefore = reloadLines(/"msg":"auth file not reloaded: keeping the users in force"/);
    writeFileSync(
      authFile,
      JSON.stringify({ users: [{ name: 'late', password: 'changed-but-bad', role: 'superuser' }], clusterSecret: SECRET }),
    );
    process.kill(clusterUpPid, 'SIGHUP');
    await cli.waitFor('4 processes to refuse the bad file', async () =>
      reloadLines(/"msg":"auth file not reloaded: keeping the users in force"/) >= refusedBefore + 4 ? true : undefined,
    );
    expect(
      lines.some((line) => line.includes('auth file not reloaded') && line.includes('users[0].role must be one of read, readwrite, admin')),
    ).toBe(true);
    expect((await http('GET', '/v1/kv/auth%3Alate', as('late'))).status).toBe(200);
    expect(await late.set('auth:late', 'still')).toBe('OK');
    expect(
      await cli.waitFor('the cluster to still serve', async () => ((await http('GET', '/readyz')).status === 200 ? true : undefined)),
    ).toBe(true);
  });
});

describe('secrets in logs', () => {
  it('no password, clusterSecret or Authorization header value appears in any line of the run', () => {
    const text = lines.join('\n');
    expect(text).toContain('auth file reloaded');
    for (const secret of [...SECRETS, 'changed-but-bad']) expect(text).not.toContain(secret);
    for (const user of [...USERS, LATE]) expect(text).not.toContain(basic(user.name, user.password).slice('Basic '.length));
  });
});
