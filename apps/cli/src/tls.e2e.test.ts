// Goal: `dkv cluster up --tls --auth-file` runs a cluster whose both doors speak only TLS and
// whose processes talk to each other over mutual TLS, as API.md's "Security" says, on real
// processes: HTTP over https trusting the printed CA (undici, the SDK, `dkv status --tls-ca`), the
// Redis door over TLS (ioredis `tls: {ca}`, node-redis `socket: {tls: true, ca}`), with users of
// the auth file on top; a plaintext client on a TLS port fails at once and is counted; a client
// trusting another CA is refused; and an internode peer whose certificate another CA signed
// (holding the cluster secret even) is refused on the binary port and the internal routes, its
// write never reaching storage, while the same request with a certificate of the cluster's CA is
// served. Method: the built CLI on 127.0.0.1 with free ports (e2e-support's CliProcesses);
// a second development CA made with the CLI's own generator; afterAll stops every process by pid.
// The polyfill the certificate generator needs, as the CLI's entry point loads it.
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KVStoreClient } from '@dkv/client';
import type { Node, StorageRequest } from '@dkv/core';
import { TcpNodeClient } from '@dkv/transport';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDevCertificates, type DevCertificates } from './dev-certificates.js';
import { CliProcesses } from './e2e-support.js';

const DEADLINE_MS = 60_000;
const CLI = fileURLToPath(new URL('../bin/dkv.js', import.meta.url));
const SECRET = 'tls-e2e-cluster-secret-0c7e1d';
const WRITER = { name: 'writer', password: 'writer-pw-4f19', role: 'readwrite' };
const READER = { name: 'reader', password: 'reader-pw-b2a7', role: 'read' };
/** How node's TLS names a certificate that does not chain to the CA trusted (both development CAs share a name, so the signature is what fails). */
const WRONG_CA = /CERT_SIGNATURE_FAILURE|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|unable to verify|signature failure/i;

const dir = mkdtempSync(join(tmpdir(), 'dkv-tls-e2e-'));
const authFile = join(dir, 'auth.json');
const cli = new CliProcesses({ ...process.env }, DEADLINE_MS);
const lines: string[] = [];
const closers: Array<() => Promise<unknown> | void> = [];
let url = '';
let redisPort = 0;
let caPath = '';
let ca = Buffer.alloc(0);
let trusting: Agent;
let stranger: DevCertificates;

function basic(user: { name: string; password: string }): string {
  return `Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}`;
}

async function https(
  method: 'GET' | 'PUT',
  path: string,
  authorization?: string,
  body?: string,
  dispatcher: Agent = trusting,
): Promise<{ status: number; text: string }> {
  const res = await request(`${url}${path}`, {
    method,
    dispatcher,
    headers: authorization === undefined ? {} : { authorization },
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.statusCode, text: await res.body.text() };
}

/** The error (with its innermost cause's code) a promise fails with; fails the test if it succeeds. */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    let e: unknown = error;
    const parts: string[] = [];
    for (let depth = 0; depth < 5 && e instanceof Error; depth += 1) {
      parts.push(`${(e as { code?: string }).code ?? ''} ${e.message}`);
      e = e.cause;
    }
    return parts.join(' | ');
  }
  throw new Error('expected a failure, got an answer');
}

/** The address of node `id` from cluster up's `dkv: node <id> pid <pid> at <host:port>` line. */
function nodeAddress(id: string): string {
  const line = lines.find((l) => new RegExp(`dkv: node ${id} pid \\d+ at `).test(l));
  return line === undefined ? '' : (/at (\S+)$/.exec(line)?.[1] ?? '');
}

beforeAll(async () => {
  writeFileSync(authFile, JSON.stringify({ users: [WRITER, READER], clusterSecret: SECRET }));
  const child = cli.start([
    'cluster',
    'up',
    '--tls',
    '--nodes',
    '3',
    '--port',
    '0',
    '--resp-port',
    '0',
    '--data-dir',
    join(dir, 'data'),
    '--auth-file',
    authFile,
  ]);
  const keep = (chunk: Buffer): void => void lines.push(...chunk.toString('utf8').split('\n'));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  url = await cli.readyUrl(child);
  redisPort = Number(new URL(cli.redisUrl).port);
  caPath = /^dkv tls ca at (\S+)/.exec(lines.find((l) => l.startsWith('dkv tls ca at ')) ?? '')?.[1] ?? '';
  ca = readFileSync(caPath);
  trusting = new Agent({ connect: { ca } });
  stranger = await makeDevCertificates(join(dir, 'stranger'), ['intruder'], ['127.0.0.1']);
}, 150_000);

afterAll(async () => {
  for (const close of closers.splice(0)) await close();
  await trusting?.close();
  await cli.stopAll();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('cluster up --tls', () => {
  it('prints https and rediss URLs and the CA it made, under the data directory', () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(cli.redisUrl).toMatch(/^rediss:\/\/127\.0\.0\.1:\d+$/);
    expect(caPath).toBe(join(dir, 'data', 'tls', 'ca.pem'));
  });
});

describe('HTTP over https', () => {
  it("serves a client trusting the CA, with the auth file's users on top", async () => {
    expect((await https('GET', '/v1/kv/tls%3Ahttp')).status).toBe(401);
    expect((await https('PUT', '/v1/kv/tls%3Ahttp', basic(READER), 'x')).status).toBe(403);
    expect((await https('PUT', '/v1/kv/tls%3Ahttp', basic(WRITER), 'over-https')).status).toBe(200);
    expect(await https('GET', '/v1/kv/tls%3Ahttp', basic(READER))).toEqual({ status: 200, text: 'over-https' });
  });

  it('serves the SDK with tls: {ca}, and dkv status with --tls-ca', async () => {
    const client = new KVStoreClient({ url, username: WRITER.name, password: WRITER.password, tls: { ca } });
    closers.push(() => client.close());
    await client.put('tls:sdk', Buffer.from('sdk'));
    expect(Buffer.from((await client.get('tls:sdk'))!.value).toString()).toBe('sdk');
    const status = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, 'status', '--url', url, '--tls-ca', caPath, '--user', READER.name, '--password', READER.password],
        { timeout: 15_000 },
        (error, stdout, stderr) => {
          resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
        },
      );
    });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/n1/);
  });

  it('refuses a client that trusts another CA, and fails a plaintext client at once', async () => {
    const wrongCa = new Agent({ connect: { ca: readFileSync(stranger.caPath) } });
    closers.push(() => wrongCa.close());
    expect(await failure(https('GET', '/livez', undefined, undefined, wrongCa))).toMatch(WRONG_CA);
    const started = Date.now();
    expect(await failure(request(url.replace('https:', 'http:') + '/livez', { signal: AbortSignal.timeout(10_000) }))).toMatch(
      /socket|closed|ECONNRESET|other side/i,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('the Redis door over TLS', () => {
  it('serves ioredis with tls: {ca} and node-redis with socket: {tls: true, ca}, AUTH on top', async () => {
    const io = new Redis({
      host: '127.0.0.1',
      port: redisPort,
      tls: { ca },
      username: WRITER.name,
      password: WRITER.password,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    closers.push(() => io.disconnect());
    await io.connect();
    expect(await io.set('tls:io', 'via-ioredis')).toBe('OK');
    const nodeRedis = createClient({
      url: `rediss://127.0.0.1:${redisPort}`,
      username: READER.name,
      password: READER.password,
      socket: { tls: true, ca, reconnectStrategy: false },
    });
    nodeRedis.on('error', () => undefined);
    await nodeRedis.connect();
    closers.push(() => nodeRedis.destroy());
    expect(await nodeRedis.get('tls:io')).toBe('via-ioredis');
    await expect(nodeRedis.set('tls:nr', 'x')).rejects.toThrow(/NOPERM/);
  });

  it('drops a plaintext Redis client without an answer, and counts it', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: redisPort });
      let received = '';
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (chunk) => (received += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(received));
      socket.setTimeout(10_000, () => socket.destroy());
    });
    expect(answer).not.toMatch(/PONG/);
    const metrics = await https('GET', '/metrics', basic(READER));
    expect(metrics.text).toMatch(/dkv_port_bounds_total\{port="resp",bound="tls_refused"[^}]*\} [1-9]/);
  });

  it('refuses an ioredis client that trusts another CA', async () => {
    const io = new Redis({
      host: '127.0.0.1',
      port: redisPort,
      tls: { ca: readFileSync(stranger.caPath) },
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    const errors: string[] = [];
    io.on('error', (error: Error & { code?: string }) => errors.push(`${error.code ?? ''} ${error.message}`));
    closers.push(() => io.disconnect());
    await failure(io.connect());
    expect(errors.join(' | ')).toMatch(WRONG_CA);
  });
});

describe('internode mutual TLS', () => {
  const put = (key: string): StorageRequest => ({
    type: 'PUT',
    key,
    record: {
      value: Uint8Array.from([7]),
      version: Date.now(),
      writerId: 'tls-e2e',
      createdAt: Date.now(),
      updatedAt: Date.now(),
      expiresAt: null,
      tombstone: false,
    },
  });

  it("refuses a peer whose certificate another CA signed, secret or not, before storage; serves one of the cluster's CA", async () => {
    const n1: Node = { id: 'n1', address: nodeAddress('n1'), role: 'storage', status: 'up', vnodes: 1, metadata: {} };
    expect(n1.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const own = stranger.processes.get('intruder')!;
    // It trusts the cluster's CA (so its own side of the handshake succeeds) and knows the secret.
    const intruder = new TcpNodeClient({
      clusterSecret: SECRET,
      connectTimeoutMs: 5000,
      tls: { cert: readFileSync(own.certPath), key: readFileSync(own.keyPath), ca },
    });
    const clusterCerts = join(dir, 'data', 'tls');
    const member = new TcpNodeClient({
      clusterSecret: SECRET,
      connectTimeoutMs: 5000,
      tls: { cert: readFileSync(join(clusterCerts, 'c1.pem')), key: readFileSync(join(clusterCerts, 'c1-key.pem')), ca },
    });
    closers.push(
      () => intruder.close(),
      () => member.close(),
    );
    expect(await failure(intruder.send(n1, put('tls:intruder'), { timeoutMs: 5000 }))).not.toBe('');
    expect(await member.send(n1, { type: 'GET', key: 'tls:intruder' }, { timeoutMs: 5000 })).toMatchObject({ type: 'GET', record: null });
    expect(await member.send(n1, put('tls:member'), { timeoutMs: 5000 })).toMatchObject({ type: 'PUT', applied: true });
    // The internal HTTP routes refuse it too, before the cluster-secret header is even looked at.
    const intruderHttp = new Agent({ connect: { ca, cert: readFileSync(own.certPath), key: readFileSync(own.keyPath) } });
    closers.push(() => intruderHttp.close());
    const membership = await request(`https://${n1.address}/internal/v1/membership`, {
      dispatcher: intruderHttp,
      signal: AbortSignal.timeout(10_000),
    });
    expect(membership.statusCode).toBe(401);
    expect(await membership.body.text()).toMatch(/client certificate signed by the cluster's CA/);
    const metrics = await request(`https://${n1.address}/metrics`, {
      dispatcher: trusting,
      headers: { authorization: basic(READER) },
      signal: AbortSignal.timeout(10_000),
    });
    expect(await metrics.body.text()).toMatch(/dkv_port_bounds_total\{port="node",bound="tls_refused"[^}]*\} [2-9]/);
  });
});
