// Goal: the built product does what API.md promises, end to end: `dkv cluster up` starts real
// processes, prints the one ready line, serves every row of the public API over real HTTP,
// survives the loss of one storage node with W=2/R=2, refuses writes with 503 QUORUM_NOT_MET
// once two are gone, and on SIGTERM stops every child it started and exits 0. Bad configuration
// stops a process with exit code 2 and names the setting.
// Method: spawn `node apps/cli/bin/dkv.js cluster up --nodes 3 --port 0` on 127.0.0.1 (the
// build runs first: this project's test target depends on it), read the ready line from stdout
// and the children's pids from the `dkv: <role> <id> pid <pid> at <address>` lines on stderr,
// talk to it with fetch and the SDK, and kill nodes by pid. Every wait has a deadline, and
// afterAll kills whatever is still running, by pid, even when a test failed.
import { KVStoreClient } from '@dkv/client';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, waitUntil } from './e2e-support.js';

const CLI = fileURLToPath(new URL('../bin/dkv.js', import.meta.url));
const CHILD_FLAG = '--max-semi-space-size=8';
const NODE_MAIN = fileURLToPath(new URL('../../node/dist/main.js', import.meta.url));
const COORDINATOR_MAIN = fileURLToPath(new URL('../../coordinator/dist/main.js', import.meta.url));
const READY_DEADLINE_MS = 45_000;
const STOP_DEADLINE_MS = 20_000;
const MIB = 1024 * 1024;

interface Announced {
  readonly role: 'node' | 'coordinator';
  readonly id: string;
  readonly pid: number;
  readonly address: string;
}

let cli: ChildProcess;
let cliExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
const stdoutLines: string[] = [];
const stderrLines: string[] = [];
const children = new Map<string, Announced>();
let url = '';

function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  return waitUntil(what, probe, { deadlineMs: timeoutMs, context: () => `stderr:\n${stderrLines.slice(-40).join('\n')}` });
}

/** A bound on one CLI run: generous, as runs go side by side on a loaded 2-core machine (16 s was seen). */
const RUN_DEADLINE_MS = 40_000;

function run(args: string[], timeoutMs = RUN_DEADLINE_MS): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { timeout: timeoutMs, env: { ...process.env, DKV_RESP_PORT: '0', DKV_LOG_LEVEL: 'warn' } },
      (error, stdout, stderr) => {
        const code = error && typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : error ? null : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function http(
  method: string,
  path: string,
  body?: Uint8Array | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; bytes: Buffer; json: () => unknown }> {
  const res = await fetch(`${url}${path}`, {
    method,
    ...(body === undefined ? {} : { body }),
    headers,
    signal: AbortSignal.timeout(10_000),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes, json: () => JSON.parse(bytes.toString('utf8')) };
}

function expectError(res: { status: number; json: () => unknown }, status: number, code: string): string {
  expect(res.status).toBe(status);
  const body = res.json() as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error.message).not.toMatch(/\n\s+at /);
  return body.error.message;
}

function killNode(id: string): void {
  const child = children.get(id);
  if (!child) throw new Error(`no node ${id} was announced`);
  process.kill(child.pid, 'SIGKILL');
}

beforeAll(async () => {
  // A harmless V8 flag given to the launcher: every child must run with it too.
  cli = spawn(process.execPath, [CHILD_FLAG, CLI, 'cluster', 'up', '--nodes', '3', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DKV_RESP_PORT: '0', DKV_LOG_LEVEL: 'warn' },
  });
  cliExit = new Promise((resolve) => cli.on('exit', (code, signal) => resolve({ code, signal })));
  createInterface({ input: cli.stdout!, crlfDelay: Infinity }).on('line', (line) => stdoutLines.push(line));
  createInterface({ input: cli.stderr!, crlfDelay: Infinity }).on('line', (line) => {
    stderrLines.push(line);
    const match = /^dkv: (node|coordinator) (\S+) pid (\d+) at (\S+)$/.exec(line);
    if (match) children.set(match[2]!, { role: match[1] as Announced['role'], id: match[2]!, pid: Number(match[3]), address: match[4]! });
  });
  let exited = false;
  void cliExit.then(() => (exited = true));
  url = await waitFor('the ready line', READY_DEADLINE_MS, () => {
    if (exited) throw new Error('cluster up exited before it was ready');
    const ready = stdoutLines.map((line) => /^dkv ready at (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)).find((m) => m !== null);
    return ready?.[1];
  });
}, READY_DEADLINE_MS + 5000);

afterAll(async () => {
  if (cli && cli.exitCode === null && cli.signalCode === null && cli.pid !== undefined) {
    process.kill(cli.pid, 'SIGTERM');
    await Promise.race([cliExit, sleep(STOP_DEADLINE_MS)]);
    if (cli.exitCode === null && cli.signalCode === null) process.kill(cli.pid, 'SIGKILL');
  }
  for (const child of children.values()) if (isAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
}, STOP_DEADLINE_MS + 10_000);

describe('dkv cluster up', () => {
  it('prints the Redis line, then the ready line last, and announces 3 nodes and 1 coordinator with their pids', () => {
    expect(stdoutLines).toEqual([expect.stringMatching(/^dkv redis at redis:\/\/127\.0\.0\.1:\d+$/), `dkv ready at ${url}`]);
    expect([...children.values()].map((c) => `${c.role} ${c.id}`).sort()).toEqual(['coordinator c1', 'node n1', 'node n2', 'node n3']);
    for (const child of children.values()) expect(isAlive(child.pid)).toBe(true);
    expect(children.get('c1')?.address).toBe(url.replace('http://', ''));
  });

  it('starts every child with the Node.js flags it was started with', () => {
    for (const child of children.values()) {
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      expect(argv.slice(1, 2), `${child.role} ${child.id}: ${argv.join(' ')}`).toEqual([CHILD_FLAG]);
    }
  });
});

describe('public API over HTTP (every row of API.md)', () => {
  it('GET /livez and /readyz answer 200', async () => {
    expect((await http('GET', '/livez')).status).toBe(200);
    expect((await http('GET', '/readyz')).status).toBe(200);
  });

  it('PUT stores bytes, GET returns them byte for byte with version headers', async () => {
    const value = Buffer.from([0, 1, 2, 127, 128, 254, 255, 0x7b, 0x22]);
    const put = await http('PUT', '/v1/kv/bin', value, { 'content-type': 'application/octet-stream' });
    expect(put.status).toBe(200);
    const written = put.json() as { key: string; version: number; expiresAt: number | null };
    expect(written.key).toBe('bin');
    expect(written.expiresAt).toBeNull();
    expect(Number.isSafeInteger(written.version) && written.version > 0).toBe(true);
    const got = await http('GET', '/v1/kv/bin');
    expect(got.status).toBe(200);
    expect(got.bytes).toEqual(value);
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.headers.get('etag')).toBe(`"${written.version}"`);
    expect(got.headers.get('x-dkv-version')).toBe(String(written.version));
    expect(got.headers.get('x-dkv-expires-at')).toBeNull();
  });

  it('stores JSON session text as it is, whatever the content type', async () => {
    const text = '{"user": 42,  "cart": ["é", "☕"]}\n';
    expect((await http('PUT', '/v1/kv/session:json', text, { 'content-type': 'application/json' })).status).toBe(200);
    expect((await http('GET', '/v1/kv/session:json')).bytes.toString('utf8')).toBe(text);
  });

  it('gives every write a higher version than the one before it', async () => {
    const first = (await http('PUT', '/v1/kv/counter', 'a')).json() as { version: number };
    const second = (await http('PUT', '/v1/kv/counter', 'b')).json() as { version: number };
    expect(second.version).toBeGreaterThan(first.version);
    expect((await http('GET', '/v1/kv/counter')).bytes.toString()).toBe('b');
  });

  it('keeps URL-encoded keys with slashes and UTF-8 whole', async () => {
    const key = 'user/42/séssion ☕?x=1';
    const put = await http('PUT', `/v1/kv/${encodeURIComponent(key)}`, 'v');
    expect((put.json() as { key: string }).key).toBe(key);
    expect((await http('GET', `/v1/kv/${encodeURIComponent(key)}`)).bytes.toString()).toBe('v');
    const longest = 'é'.repeat(256);
    expect((await http('PUT', `/v1/kv/${encodeURIComponent(longest)}`, 'v')).status).toBe(200);
  });

  it('PUT with ttl answers expiresAt, GET shows X-DKV-Expires-At, and the key is gone after it', async () => {
    const before = Date.now();
    const put = await http('PUT', '/v1/kv/short?ttl=1', 'soon gone');
    expect(put.status).toBe(200);
    const { expiresAt } = put.json() as { expiresAt: number };
    expect(expiresAt).toBeGreaterThanOrEqual(before + 1000 - 5000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 1000 + 5000);
    const got = await http('GET', '/v1/kv/short');
    expect(got.status).toBe(200);
    expect(got.headers.get('x-dkv-expires-at')).toBe(String(expiresAt));
    await sleep(Math.max(0, expiresAt - Date.now()) + 300);
    expectError(await http('GET', '/v1/kv/short'), 404, 'NOT_FOUND');
    const year = await http('PUT', '/v1/kv/long?ttl=31536000', 'v');
    expect(year.status).toBe(200);
  });

  it('DELETE answers 204, the key then reads 404, and deleting again is 204', async () => {
    await http('PUT', '/v1/kv/doomed', 'v');
    const del = await http('DELETE', '/v1/kv/doomed');
    expect(del.status).toBe(204);
    expect(del.bytes.length).toBe(0);
    expectError(await http('GET', '/v1/kv/doomed'), 404, 'NOT_FOUND');
    expect((await http('DELETE', '/v1/kv/doomed')).status).toBe(204);
    expect((await http('DELETE', '/v1/kv/never-existed')).status).toBe(204);
    expectError(await http('GET', '/v1/kv/never-existed'), 404, 'NOT_FOUND');
  });

  it('accepts r and w from 1 to N', async () => {
    for (const w of [1, 2, 3]) expect((await http('PUT', `/v1/kv/rw?w=${w}`, `w${w}`)).status).toBe(200);
    for (const r of [1, 2, 3]) expect((await http('GET', `/v1/kv/rw?r=${r}`)).bytes.toString()).toBe('w3');
    expect((await http('DELETE', '/v1/kv/rw?w=3')).status).toBe(204);
  });

  it('answers 400 INVALID_KEY, INVALID_TTL and INVALID_CONSISTENCY with what is allowed', async () => {
    expect(expectError(await http('PUT', '/v1/kv/', 'v'), 400, 'INVALID_KEY')).toMatch(/1 to 512 bytes/);
    expectError(await http('GET', `/v1/kv/${'x'.repeat(513)}`), 400, 'INVALID_KEY');
    expectError(await http('GET', '/v1/kv/%E0%A4%A'), 400, 'INVALID_KEY');
    for (const ttl of ['0', '-1', '1.5', 'abc', '31536001']) {
      expect(expectError(await http('PUT', `/v1/kv/k?ttl=${ttl}`, 'v'), 400, 'INVALID_TTL')).toMatch(/1 to 31536000/);
    }
    expect(expectError(await http('GET', '/v1/kv/k?r=0'), 400, 'INVALID_CONSISTENCY')).toMatch(/1 to 3/);
    expectError(await http('GET', '/v1/kv/k?r=4'), 400, 'INVALID_CONSISTENCY');
    expectError(await http('PUT', '/v1/kv/k?w=9', 'v'), 400, 'INVALID_CONSISTENCY');
    expectError(await http('DELETE', '/v1/kv/k?w=x'), 400, 'INVALID_CONSISTENCY');
  });

  it('answers 413 VALUE_TOO_LARGE over 1 MiB, and accepts exactly 1 MiB', async () => {
    expect(expectError(await http('PUT', '/v1/kv/big', Buffer.alloc(MIB + 1, 1)), 413, 'VALUE_TOO_LARGE')).toMatch(
      /limit is 1048576 bytes/,
    );
    const exact = Buffer.alloc(MIB, 7);
    expect((await http('PUT', '/v1/kv/big', exact)).status).toBe(200);
    expect((await http('GET', '/v1/kv/big')).bytes.equals(exact)).toBe(true);
  });

  it('answers unknown routes with 404 JSON', async () => {
    expectError(await http('GET', '/nope'), 404, 'NOT_FOUND');
  });

  it('GET /metrics answers Prometheus text', async () => {
    const res = await http('GET', '/metrics');
    expect(res.status).toBe(200);
    const text = res.bytes.toString();
    expect(text).toMatch(/dkv_requests_total\{operation="put",status="200"/);
    expect(text).toContain('dkv_request_duration_seconds_bucket');
    expect(text).toContain('dkv_quorum_failures_total');
    expect(text).toContain('dkv_replication_queue_depth');
  });

  it('GET /v1/cluster describes the ring and its nodes', async () => {
    const cluster = (await http('GET', '/v1/cluster')).json() as {
      epoch: number;
      replication: unknown;
      nodes: Array<{ id: string; address: string; status: string; vnodes: number }>;
    };
    expect(cluster.epoch).toBeGreaterThanOrEqual(1);
    expect(cluster.replication).toEqual({ n: 3, w: 2, r: 2 });
    expect(cluster.nodes.map((n) => n.id).sort()).toEqual(['n1', 'n2', 'n3']);
    for (const node of cluster.nodes) {
      expect(node.address).toBe(children.get(node.id)?.address);
      expect(node.status).toBe('up');
      expect(node.vnodes).toBeGreaterThan(0);
    }
  });

  it("GET /v1/cluster/distribution gives each node's share, keys and bytes", async () => {
    const rows = (await http('GET', '/v1/cluster/distribution')).json() as Array<{
      id: string;
      ringShare: number;
      keys: number;
      bytes: number;
    }>;
    expect(rows.map((r) => r.id).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(rows.reduce((sum, r) => sum + r.ringShare, 0)).toBeCloseTo(1, 6);
    for (const row of rows) {
      expect(row.keys).toBeGreaterThan(0);
      expect(row.bytes).toBeGreaterThan(0);
    }
  });

  it('POST /v1/cluster/nodes and DELETE /v1/cluster/nodes/{id} refuse what cannot be done (elastic.e2e.test.ts does the rest)', async () => {
    expectError(
      await http('POST', '/v1/cluster/nodes', JSON.stringify({ id: 'bad id', address: '127.0.0.1:1' }), {
        'content-type': 'application/json',
      }),
      400,
      'INVALID_REQUEST',
    );
    expectError(await http('DELETE', '/v1/cluster/nodes/n9'), 404, 'NOT_FOUND');
    // Three nodes and N = 3: removing one would leave the ranges nowhere to go.
    expectError(await http('DELETE', '/v1/cluster/nodes/n3'), 400, 'INVALID_REQUEST');
  });

  it('works through the SDK', async () => {
    const client = new KVStoreClient({ url, timeoutMs: 5000 });
    try {
      const written = await client.put('sdk/key', '{"a":1}', 60);
      const read = await client.get('sdk/key');
      expect(Buffer.from(read!.value).toString()).toBe('{"a":1}');
      expect(read!.version).toBe(written.version);
      expect(read!.expiresAt).toBe(written.expiresAt);
      await client.delete('sdk/key');
      expect(await client.get('sdk/key')).toBeNull();
      await expect(client.put('sdk/key', 'v', 0)).rejects.toMatchObject({ code: 'INVALID_TTL', status: 400 });
    } finally {
      await client.close();
    }
  });

  it(
    'dkv status and dkv ring show the nodes',
    async () => {
      // Side by side: each CLI start costs seconds on a loaded machine.
      const [status, ring] = await Promise.all([run([CLI, 'status', '--url', url]), run([CLI, 'ring', '--url', url])]);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain('replication N=3 W=2 R=2');
      for (const id of ['n1', 'n2', 'n3'])
        expect(status.stdout).toMatch(new RegExp(`${id}\\s+127\\.0\\.0\\.1:\\d+\\s+default\\s+up\\s+\\d+`));
      expect(ring.code).toBe(0);
      expect(ring.stdout).toMatch(/ID\s+(ZONE\s+)?SHARE\s+KEYS\s+BYTES/);
      expect(ring.stdout).toMatch(/total\s+100\.0%/);
    },
    RUN_DEADLINE_MS + 5000,
  );
});

describe('failures', () => {
  it('keeps serving W=2 and R=2 with one storage node killed', async () => {
    await http('PUT', '/v1/kv/survivor', 'before');
    killNode('n3');
    await waitFor('n3 to die', 10_000, () => (isAlive(children.get('n3')!.pid) ? undefined : true));
    for (let i = 0; i < 10; i += 1) {
      expect((await http('PUT', `/v1/kv/after-${i}`, `v${i}`)).status).toBe(200);
      expect((await http('GET', `/v1/kv/after-${i}`)).bytes.toString()).toBe(`v${i}`);
    }
    expect((await http('GET', '/v1/kv/survivor')).bytes.toString()).toBe('before');
    expect((await http('DELETE', '/v1/kv/after-0')).status).toBe(204);
    expectError(await http('PUT', '/v1/kv/all-three?w=3', 'v'), 503, 'QUORUM_NOT_MET');
    await waitFor('cluster up to report the dead node', 10_000, () =>
      stderrLines.some((l) => /node n3 \(pid \d+\) exited unexpectedly/.test(l)) ? true : undefined,
    );
    await waitFor('n3 to be marked down', 15_000, async () => {
      const cluster = (await http('GET', '/v1/cluster')).json() as { nodes: Array<{ id: string; status: string }> };
      return cluster.nodes.find((n) => n.id === 'n3')?.status === 'down' ? true : undefined;
    });
    expect((await http('GET', '/readyz')).status).toBe(200);
  }, 60_000);

  it('answers writes with 503 QUORUM_NOT_MET once two storage nodes are gone', async () => {
    killNode('n2');
    await waitFor('n2 to die', 10_000, () => (isAlive(children.get('n2')!.pid) ? undefined : true));
    const message = expectError(await http('PUT', '/v1/kv/after-two', 'v'), 503, 'QUORUM_NOT_MET');
    expect(message).toMatch(/needed 2/);
    expectError(await http('DELETE', '/v1/kv/survivor'), 503, 'QUORUM_NOT_MET');
    expectError(await http('GET', '/v1/kv/survivor'), 503, 'QUORUM_NOT_MET');
    await waitFor('/readyz to answer 503', 15_000, async () => ((await http('GET', '/readyz')).status === 503 ? true : undefined));
    expect(isAlive(children.get('c1')!.pid)).toBe(true);
  }, 60_000);

  it(
    'stops every child and exits 0 on SIGTERM',
    async () => {
      process.kill(cli.pid!, 'SIGTERM');
      const exit = await Promise.race([cliExit, sleep(STOP_DEADLINE_MS).then(() => null)]);
      expect(exit).toEqual({ code: 0, signal: null });
      for (const child of children.values())
        await waitFor(`${child.role} ${child.id} (pid ${child.pid}) to be gone`, 5000, () => (isAlive(child.pid) ? undefined : true));
      expect(stdoutLines).toEqual([expect.stringMatching(/^dkv redis at /), `dkv ready at ${url}`]);
    },
    STOP_DEADLINE_MS + 10_000,
  );
});

/**
 * The text a reader sees in a process's stderr: the `msg` of each JSON log line (node and
 * coordinator log through pino, with quotes escaped), other lines (`cluster up`'s own) as they are.
 */
function messagesOf(stderr: string): string {
  return stderr
    .split('\n')
    .map((line) => {
      try {
        const parsed: unknown = JSON.parse(line);
        return typeof parsed === 'object' && parsed !== null && 'msg' in parsed ? String(parsed.msg) : line;
      } catch {
        return line;
      }
    })
    .join('\n');
}

// Concurrent (vitest's default of 5 at a time): each case is a process of its own that starts, refuses and exits, sharing
// nothing. At a load of 30 to 45 the nine took 35 s so against 56 s one after another.
describe.concurrent('bad configuration', () => {
  it.each([
    [
      'dkv node with a bad port',
      [CLI, 'node', '--id', 'n1', '--port', 'abc'],
      '--port (DKV_PORT) must be a whole number from 0 to 65535, got "abc"',
    ],
    ['dkv node without an id', [CLI, 'node', '--port', '0'], '--id (DKV_NODE_ID) is required'],
    ['dkv coordinator without --join', [CLI, 'coordinator', '--port', '0'], '--join (DKV_JOIN) is required'],
    ['dkv coordinator with W over N', [CLI, 'coordinator', '--join', '127.0.0.1:1', '--n', '1'], '--w (DKV_W) must be at most N'],
    ['dkv cluster up with 0 nodes', [CLI, 'cluster', 'up', '--nodes', '0'], 'must be a whole number from 1 to 64'],
    ['the node process itself', [NODE_MAIN, '--id', 'n1', '--vnodes', 'many'], '--vnodes (DKV_VNODES) must be a whole number'],
    [
      'the coordinator process itself',
      [COORDINATOR_MAIN, '--join', 'nowhere'],
      '--join (DKV_JOIN) must be the host:port of a storage node',
    ],
    ['an unknown flag', [NODE_MAIN, '--id', 'n1', '--colour', 'blue'], "Unknown option '--colour'"],
  ])(
    '%s exits 2 naming the setting',
    async (_name, args, message) => {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(messagesOf(result.stderr)).toContain(message);
    },
    RUN_DEADLINE_MS + 5000,
  );

  it(
    'a coordinator that cannot reach --join gives up at its deadline with exit 1',
    async () => {
      const result = await run([COORDINATOR_MAIN, '--join', '127.0.0.1:1', '--port', '0', '--join-timeout-ms', '300']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/cannot learn the membership from 127\.0\.0\.1:1 within 300 ms/);
    },
    RUN_DEADLINE_MS + 5000,
  );
});
