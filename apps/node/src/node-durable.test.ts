// Goal: a node started with --data-dir keeps what it acknowledged across a restart with the same
// directory (under <data-dir>/<node id>), answers PUTs under --fsync always only once synced,
// reports its log in /metrics, and refuses to start on the directory of another node id.
// Method: startNode on 127.0.0.1:0 in this process with a temporary data directory, driven through
// the real TcpNodeClient (the binary internode protocol) and plain fetch; restarted by close and start.
import { mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_VNODES } from '@dkv/hashing';
import type { Node, VersionedValue } from '@dkv/core';
import { TcpNodeClient } from '@dkv/transport';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from './config.js';
import { startNode } from './node.composition.js';

const dataDir = mkdtempSync(join(tmpdir(), 'dkv-node-data-'));
const client = new TcpNodeClient({ connectionsPerNode: 1 });
afterAll(async () => {
  await client.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const record = (version: number, value: string): VersionedValue => ({
  value: Buffer.from(value),
  version,
  writerId: 'c1',
  createdAt: Date.now(),
  updatedAt: Date.now(),
  expiresAt: null,
  tombstone: false,
});
const self = (id: string, address: string): Node => ({ id, address, role: 'storage', status: 'up', vnodes: DEFAULT_VNODES, metadata: {} });
const start = (id: string, fsync: string) => startNode(parseNodeConfig({ id, port: '0', logLevel: 'silent', dataDir, fsync }, {}));

describe('storage node with --data-dir', () => {
  it('serves after a restart what it acknowledged before, from <data-dir>/<node id>', async () => {
    const first = await start('n1', 'always');
    const target = self('n1', first.address);
    for (let i = 0; i < 50; i += 1) {
      expect(await client.send(target, { type: 'PUT', key: `k${i}`, record: record(i + 1, `v${i}`) }, { timeoutMs: 5000 })).toMatchObject({
        applied: true,
      });
    }
    const metrics = await (await fetch(`${first.url}/metrics`)).text();
    expect(metrics).toMatch(/dkv_storage_log_fsyncs_total\{node="n1"\} [1-9]/);
    expect(metrics).toMatch(/dkv_storage_log_disk_bytes\{node="n1"\} [1-9]/);
    await first.close();
    expect(readdirSync(join(dataDir, 'n1'))).toContain('IDENTITY');
    const second = await start('n1', '100');
    const again = self('n1', second.address);
    for (let i = 0; i < 50; i += 1) {
      const got = await client.send(again, { type: 'GET', key: `k${i}` }, { timeoutMs: 5000 });
      expect(Buffer.from(got.record!.value).toString()).toBe(`v${i}`);
    }
    await second.close();
  });

  it('refuses to start on the data of another node id, naming both', async () => {
    renameSync(join(dataDir, 'n1'), join(dataDir, 'n2'));
    await expect(start('n2', '100')).rejects.toThrow(/belongs to node "n1", not to node "n2"; refusing to start/);
  });
});
