// Goal: with `--topology nodes` (no coordinator: every storage node coordinates), `--auth-file`
// guards each node's public API, its `/metrics` and its Redis door as it does a coordinator's,
// while the nodes still serve each other (the cluster becomes ready and replicates writes).
// Method: the built CLI's `cluster up --topology nodes --nodes 3 --auth-file` on 127.0.0.1 with
// free ports (e2e-support's CliProcesses); HTTP by fetch against every announced node, the Redis
// door with ioredis; afterAll stops every process by pid.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses } from './e2e-support.js';

const dir = mkdtempSync(join(tmpdir(), 'dkv-auth-nodes-'));
const authFile = join(dir, 'auth.json');
const cli = new CliProcesses({ ...process.env, DKV_LOG_LEVEL: 'warn' }, 45_000);
const reader = `Basic ${Buffer.from('reader:reader-pw-31').toString('base64')}`;
const writer = `Basic ${Buffer.from('writer:writer-pw-77').toString('base64')}`;
let redisPort = 0;
let redis: Redis | null = null;

beforeAll(async () => {
  writeFileSync(
    authFile,
    JSON.stringify({
      users: [
        { name: 'reader', password: 'reader-pw-31', role: 'read' },
        { name: 'writer', password: 'writer-pw-77', role: 'readwrite' },
      ],
      clusterSecret: 'nodes-topology-cluster-secret',
    }),
  );
  await cli.readyUrl(
    cli.start(['cluster', 'up', '--topology', 'nodes', '--nodes', '3', '--port', '0', '--resp-port', '0', '--auth-file', authFile]),
  );
  redisPort = Number(new URL(cli.redisUrl).port);
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await cli.stopAll();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

async function status(base: string, method: string, path: string, authorization?: string, body?: string): Promise<number> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: authorization === undefined ? {} : { authorization },
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('--topology nodes with --auth-file', () => {
  it("guards every node's public API and /metrics, and a write through one node reads back through another", async () => {
    const nodes = [...cli.announced.values()].map((node) => `http://${node.address}`);
    expect(nodes).toHaveLength(3);
    for (const base of nodes) {
      expect(await status(base, 'GET', '/readyz')).toBe(200);
      expect(await status(base, 'GET', '/v1/cluster')).toBe(401);
      expect(await status(base, 'GET', '/metrics')).toBe(401);
      expect(await status(base, 'GET', '/metrics', reader)).toBe(200);
      expect(await status(base, 'PUT', '/v1/kv/nodes%3Ak', reader, 'x')).toBe(403);
    }
    expect(await status(nodes[0]!, 'PUT', '/v1/kv/nodes%3Ak', writer, 'v')).toBe(200);
    expect(await status(nodes[2]!, 'GET', '/v1/kv/nodes%3Ak', reader)).toBe(200);
  });

  it("guards the first node's Redis door", async () => {
    redis = new Redis({ host: '127.0.0.1', port: redisPort, enableReadyCheck: false, maxRetriesPerRequest: 0 });
    await expect(redis.get('nodes:k')).rejects.toThrow(/^NOAUTH/);
    expect(await redis.auth('reader', 'reader-pw-31')).toBe('OK');
    expect(await redis.get('nodes:k')).toBe('v');
    await expect(redis.set('nodes:k', 'w')).rejects.toThrow(/^NOPERM/);
  });
});
