// Goal: a storage node holds at most --max-keys keys (values and tombstones), by default what fits
// in its V8 heap, and past it refuses writes of new keys with a reason the client sees, while
// overwrites, deletes and reads go on, and /metrics shows the bound and the refusals. Without it a
// node filled until V8 stopped it ("JavaScript heap out of memory"), and its replicas with it.
// Method: the setting's parse as table cases; a coordinating node alone in its cluster (N=W=R=1)
// started in this process on 127.0.0.1 with --max-keys 2, driven over HTTP with fetch and over
// its Redis door with a raw socket; every wait is a bounded poll of a condition.
import { ConfigError } from '@dkv/app-config';
import { freePort, waitUntil } from '@dkv/testkit';
import { HEAP_BYTES_PER_KEY, maxKeysForHeap } from '@dkv/composition';
import { MAX_KEYS_PER_REPLICA } from '@dkv/storage';
import { connect } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from './config.js';
import { startNode, type RunningNode } from './node.composition.js';

const WAIT_MS = 15_000;

/** Waits (a bounded poll) until `condition` holds. */
async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  await waitUntil(what, async () => ((await condition()) ? true : undefined), { deadlineMs: WAIT_MS, intervalMs: 50 });
}

/** Sends one RESP command and returns the first line of the answer. */
function respLine(redisUrl: string, ...args: string[]): Promise<string> {
  const { hostname, port } = new URL(redisUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    let text = '';
    socket.setTimeout(WAIT_MS, () => socket.destroy(new Error('no answer from the Redis door')));
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\r\n');
      if (end >= 0) {
        socket.end();
        resolve(text.slice(0, end));
      }
    });
    socket.on('error', reject);
  });
}

describe('--max-keys', () => {
  it('defaults to what fits in 70% of the V8 heap limit at the engine’s bytes a key, at most MAX_KEYS_PER_REPLICA', () => {
    const heap = getHeapStatistics().heap_size_limit;
    expect(parseNodeConfig({ id: 'n1' }, {}).maxKeys).toBe(maxKeysForHeap('compact', heap));
    expect(parseNodeConfig({ id: 'n1', engine: 'map' }, {}).maxKeys).toBe(maxKeysForHeap('map', heap));
    expect(maxKeysForHeap('compact', 4 * 2 ** 30)).toBe(Math.floor((0.7 * 4 * 2 ** 30) / HEAP_BYTES_PER_KEY.compact));
    expect(maxKeysForHeap('compact', 4 * 2 ** 30)).toBe(18_790_481);
    expect(maxKeysForHeap('map', 4 * 2 ** 30)).toBe(5_872_025);
    expect(maxKeysForHeap('compact', 2 ** 40)).toBe(MAX_KEYS_PER_REPLICA);
  });

  it('takes a whole number, from the flag or DKV_MAX_KEYS, and refuses anything else naming what is allowed', () => {
    expect(parseNodeConfig({ id: 'n1', maxKeys: '5' }, {}).maxKeys).toBe(5);
    expect(parseNodeConfig({ id: 'n1' }, { DKV_MAX_KEYS: '30000000' }).maxKeys).toBe(30_000_000);
    expect(parseNodeConfig({ id: 'n1', maxKeys: 'auto' }, {}).maxKeys).toBe(parseNodeConfig({ id: 'n1' }, {}).maxKeys);
    for (const bad of ['0', '-1', 'x', '1.5', String(MAX_KEYS_PER_REPLICA + 1)]) {
      expect(() => parseNodeConfig({ id: 'n1', maxKeys: bad }, {})).toThrow(ConfigError);
      expect(() => parseNodeConfig({ id: 'n1', maxKeys: bad }, {})).toThrow(
        `--max-keys (DKV_MAX_KEYS) must be auto or a whole number from 1 to ${MAX_KEYS_PER_REPLICA}`,
      );
    }
  });
});

describe('a node at --max-keys', () => {
  const nodes: RunningNode[] = [];
  afterAll(async () => {
    for (const node of nodes) await node.close();
  });

  it('refuses a new key with the reason, over HTTP and Redis; overwrites, deletes and reads go on; /metrics shows the bound and the refusals', async () => {
    const node = await startNode(
      parseNodeConfig(
        { id: 'mk1', port: '0', n: '1', w: '1', r: '1', coordinate: 'true', respPort: '0', logLevel: 'silent', maxKeys: '2' },
        {},
      ),
    );
    nodes.push(node);
    await until('mk1 to be ready', async () => (await fetch(`${node.url}/readyz`)).status === 200);
    const put = (key: string, body: string) => fetch(`${node.url}/v1/kv/${key}`, { method: 'PUT', body });
    expect((await put('a', '1')).status).toBe(200);
    expect((await put('b', '2')).status).toBe(200);

    const refused = await put('c', '3');
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({
      error: {
        code: 'QUORUM_NOT_MET',
        message:
          'write quorum not met: needed 1 replica answers, received 0 of 1 contacted; node mk1: no room for new key "c": this replica holds its most keys, 2 (values and tombstones), until some expire, or are deleted and purged',
      },
    });
    expect(await respLine(node.redisUrl as string, 'SET', 'c', '3')).toBe(
      '-QUORUM_NOT_MET write quorum not met: needed 1 replica answers, received 0 of 1 contacted; node mk1: no room for new key "c": this replica holds its most keys, 2 (values and tombstones), until some expire, or are deleted and purged',
    );
    expect((await fetch(`${node.url}/v1/kv/c`)).status).toBe(404);

    expect((await put('a', '10')).status).toBe(200);
    expect(await (await fetch(`${node.url}/v1/kv/a`)).text()).toBe('10');
    expect((await fetch(`${node.url}/v1/kv/b`, { method: 'DELETE' })).status).toBe(204);
    // b's tombstone still takes its place until it is purged.
    expect((await put('c', '3')).status).toBe(503);

    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toMatch(/^dkv_storage_max_keys\{node="mk1"\} 2$/m);
    expect(metrics).toMatch(/^dkv_storage_keys_refused_total\{node="mk1"\} 3$/m);
  });
});

describe('three coordinating nodes, every one at --max-keys', () => {
  const nodes: RunningNode[] = [];
  afterAll(async () => {
    for (const node of nodes) await node.close();
  });

  it('refuse a burst of new keys, and go on serving reads and overwrites: a full replica is neither suspected nor cut off', async () => {
    const ids = ['f1', 'f2', 'f3'];
    const ports = await Promise.all(ids.map(() => freePort()));
    const members = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
    for (const [i, id] of ids.entries()) {
      nodes.push(
        await startNode(
          parseNodeConfig({ id, port: String(ports[i]), members, coordinate: 'true', respPort: '0', logLevel: 'silent', maxKeys: '2' }, {}),
        ),
      );
    }
    const [first] = nodes as [RunningNode];
    const allUp = async (node: RunningNode): Promise<boolean> => {
      const view = (await (await fetch(`${node.url}/v1/cluster`)).json()) as { nodes: Array<{ status: string }> };
      return view.nodes.length === 3 && view.nodes.every((n) => n.status === 'up');
    };
    for (const node of nodes) await until(`${node.url} to see every node up`, () => allUp(node));
    for (const key of ['a', 'b']) expect((await fetch(`${first.url}/v1/kv/${key}`, { method: 'PUT', body: key })).status).toBe(200);

    // More refusals in a row than any circuit breaker's threshold (5), through every node.
    for (let i = 0; i < 24; i += 1) {
      const answer = await fetch(`${nodes[i % 3]?.url}/v1/kv/new-${i}`, { method: 'PUT', body: 'x' });
      expect(answer.status).toBe(503);
      expect(((await answer.json()) as { error: { message: string } }).error.message).toMatch(
        /^write quorum not met: needed 2 replica answers, received 0 of 3 contacted; node f[123]: no room for new key "new-\d+"/,
      );
    }
    for (const node of nodes) {
      expect(await (await fetch(`${node.url}/v1/kv/a`)).text()).toBe('a');
      expect((await fetch(`${node.url}/v1/kv/b`, { method: 'PUT', body: 'b2' })).status).toBe(200);
      expect(await allUp(node)).toBe(true);
    }
  });
});
