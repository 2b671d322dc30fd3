// Goal: the node's production container, built in one pass after the bind, serves whatever adapter
// one rebound token names: each storage engine (map, compact, durable) and, for a coordinating
// node, the transport to its peers (TCP in production, in-memory here). Method: startNode on
// 127.0.0.1:0 with `customize` rebinding ONE token of `@dkv/composition`; a PUT then a GET go
// through the node's real TCP port (TcpNodeClient) or its public API (fetch), and the test looks
// into the swapped adapter itself to see that they went through it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOKENS } from '@dkv/composition';
import type { Node, RangeScanStorageEngine, StorageRequest, VersionedValue } from '@dkv/core';
import { DEFAULT_VNODES } from '@dkv/hashing';
import { NodeLogDirectory, SystemClock, TimerScheduler } from '@dkv/runtime';
import { CompactStorageEngine, DurableStorageEngine, InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { freePort } from '@dkv/testkit';
import { InMemoryNodeClient, TcpNodeClient } from '@dkv/transport';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from './config.js';
import { startNode } from './node.composition.js';

const clock = new SystemClock();
const record = (text: string): VersionedValue => ({
  value: Buffer.from(text),
  version: 7,
  writerId: 'c1',
  createdAt: clock.now(),
  updatedAt: clock.now(),
  expiresAt: null,
  tombstone: false,
});
const directories: string[] = [];

afterAll(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

describe('the node container with one engine swapped', () => {
  const engines: Array<[string, () => RangeScanStorageEngine]> = [
    ['map', () => new InMemoryStorageEngine({ clock, tombstoneGraceMs: 60_000 })],
    ['compact', () => new CompactStorageEngine({ clock, tombstoneGraceMs: 60_000 })],
    [
      'durable',
      () => {
        const directory = mkdtempSync(join(tmpdir(), 'dkv-swap-'));
        directories.push(directory);
        return DurableStorageEngine.open({
          engine: new InMemoryStorageEngine({ clock, tombstoneGraceMs: 60_000 }),
          directory: new NodeLogDirectory(directory),
          nodeId: 'n1',
          fsync: { mode: 'always' },
          clock,
          scheduler: new TimerScheduler(),
        });
      },
    ],
  ];

  it.each(engines)('%s: a PUT then a GET over TCP go through the bound engine', async (_name, make) => {
    const engine = make();
    const node = await startNode(parseNodeConfig({ id: 'n1', port: '0', logLevel: 'silent' }, {}), (container) => {
      container.rebind<RangeScanStorageEngine>(TOKENS.engine).toConstantValue(engine);
    });
    const client = new TcpNodeClient();
    try {
      const self: Node = { id: 'n1', address: node.address, role: 'storage', status: 'up', vnodes: DEFAULT_VNODES, metadata: {} };
      const put = await client.send(self, { type: 'PUT', key: 'swap', record: record('through the swap') }, { timeoutMs: 5000 });
      expect(put).toMatchObject({ type: 'PUT', applied: true, version: 7 });
      // The bound engine holds the record: the node wrote into the adapter the test gave it.
      expect(Buffer.from(engine.get('swap')!.value).toString()).toBe('through the swap');
      const got = await client.send(self, { type: 'GET', key: 'swap' }, { timeoutMs: 5000 });
      expect(Buffer.from(got.record!.value).toString()).toBe('through the swap');
      if (engine instanceof DurableStorageEngine) expect(engine.durability().diskBytes).toBeGreaterThan(0);
    } finally {
      await client.close();
      // Closes a durable engine too, as it closes the one it builds itself.
      await node.close();
    }
  });
});

describe('a coordinating node with its transport swapped', () => {
  it('writes and reads through the in-memory transport to peers that have no process', async () => {
    const peers = new InMemoryNodeClient();
    const sent: string[] = [];
    const peerEngines = new Map<string, InMemoryStorageEngine>();
    for (const id of ['n2', 'n3']) {
      const engine = new InMemoryStorageEngine({ clock, tombstoneGraceMs: 60_000 });
      const service = new StorageService({ nodeId: id, engine });
      peerEngines.set(id, engine);
      peers.register(id, {
        handle: (request: StorageRequest) => {
          sent.push(`${id}:${request.type}`);
          return service.handle(request);
        },
      });
    }
    // n2 and n3 are listed at ports nothing listens on: only the in-memory transport reaches them.
    const port = await freePort();
    const config = parseNodeConfig(
      {
        id: 'n1',
        port: String(port),
        members: `n1=127.0.0.1:${port},n2=127.0.0.1:1,n3=127.0.0.1:2`,
        coordinate: 'true',
        respPort: '0',
        logLevel: 'silent',
      },
      {},
    );
    const node = await startNode(config, (container) => {
      container.rebind(TOKENS.wire).toConstantValue(peers);
    });
    try {
      // Ready once the coordinator's heartbeats, through the in-memory transport, found W and R replicas up.
      await expect.poll(async () => (await fetch(`${node.url}/readyz`)).status, { timeout: 10_000, interval: 50 }).toBe(200);
      // The node's own replica applies the write but cannot vouch for it (its peers never gossip
      // to it, so it counts as catching up): W=2 (the default) is met by the two peers alone,
      // through the in-memory transport. (A w=3 write cannot be met here: see the end.)
      const put = await fetch(`${node.url}/v1/kv/swap`, { method: 'PUT', body: 'via memory' });
      expect(put.status).toBe(200);
      expect(await put.json()).toMatchObject({ key: 'swap', version: expect.any(Number) });
      for (const engine of peerEngines.values()) expect(Buffer.from(engine.get('swap')!.value).toString()).toBe('via memory');
      // A read that the own replica refuses is answered by the peers, through the same transport.
      const get = await fetch(`${node.url}/v1/kv/swap?r=1`);
      expect(`${get.status} ${await get.text()}`).toBe('200 via memory');
      expect(sent).toEqual(expect.arrayContaining(['n2:PUT', 'n3:PUT']));
      // With digest reads one peer sends the value (GET) and the other its version (HEAD).
      expect(sent.filter((s) => /^n[23]:GET$/.test(s)).length).toBeGreaterThan(0);
      // w=3 needs the own replica's vouch as well, which a node that never heard from its peers
      // cannot give: both peers apply the write and it is still refused, saying why.
      const all = await fetch(`${node.url}/v1/kv/all?w=3`, { method: 'PUT', body: 'three' });
      expect(all.status).toBe(503);
      expect(await all.text()).toMatch(/QUORUM_NOT_MET.*catching up/);
    } finally {
      await node.close();
    }
  });
});
