// Goal: KVStoreClient given every coordinating node of a real cluster (`dkv cluster up --topology
// nodes`) keeps serving when the node it was using is killed: reads, writes, deletes and the
// key scan (GET /v1/kv) continue through another node, and the scan still returns every live key
// and no deleted one. Method: spawn the built CLI on 127.0.0.1 with --port 0 (e2e-support), build
// the client from the nodes' announced addresses, SIGKILL the node it is sticky to, by pid. Every
// wait is bounded; afterAll kills whatever is left, by pid.
import { KVStoreClient } from '@dkv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses, isAlive } from './e2e-support.js';

const DEADLINE_MS = 45_000;
const NODES = ['n1', 'n2', 'n3'] as const;
const cli = new CliProcesses({ ...process.env, DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);
let client: KVStoreClient;

beforeAll(async () => {
  await cli.readyUrl(cli.start(['cluster', 'up', '--topology', 'nodes', '--nodes', '3', '--port', '0']));
  const urls: string[] = [];
  for (const id of NODES)
    urls.push(`http://${(await cli.waitFor(`node ${id} to be announced`, async () => cli.announced.get(id))).address}`);
  for (const url of urls)
    await cli.waitFor(`${url} to be ready`, async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined));
  client = new KVStoreClient({ urls, timeoutMs: 3000 });
}, DEADLINE_MS + 5000);

afterAll(async () => {
  await client?.close();
  await cli.stopAll();
}, 30_000);

async function scanAll(): Promise<string[]> {
  const keys = new Set<string>();
  for await (const key of client.keys({ match: 'fo:*', count: 7 })) keys.add(key);
  return [...keys].sort();
}

describe('KVStoreClient over several coordinating nodes', () => {
  it('continues on another node when the one it uses is killed', async () => {
    const live = Array.from({ length: 40 }, (_, i) => `fo:${String(i).padStart(2, '0')}`);
    for (const key of live) await client.put(key, `v-${key}`, 600);
    for (const key of ['fo:gone-1', 'fo:gone-2']) {
      await client.put(key, 'x');
      await client.delete(key);
    }
    expect(await scanAll()).toEqual(live);
    const sticky = client.activeEndpoint;
    const victimId = NODES.find((id) => sticky.endsWith(cli.announced.get(id)!.address));
    expect(victimId).toBeDefined();
    const victim = cli.announced.get(victimId!)!;
    process.kill(victim.pid, 'SIGKILL');
    await cli.waitFor(`${victimId} to be gone`, async () => (isAlive(victim.pid) ? undefined : true));

    const read = await client.get('fo:00');
    expect(Buffer.from(read!.value).toString()).toBe('v-fo:00');
    expect(client.activeEndpoint).not.toBe(sticky);
    const written = await client.put('fo:after', 'after', 600);
    expect((await client.get('fo:after'))?.version).toBe(written.version);
    await client.delete('fo:39');
    expect(await client.get('fo:39')).toBeNull();
    expect(await scanAll()).toEqual([...live.filter((key) => key !== 'fo:39'), 'fo:after'].sort());
  });
});
