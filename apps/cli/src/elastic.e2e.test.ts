// Goal: the seed's scale scenario with real processes, as issue #4 and API.md describe it: a
// 5-node cluster started by `dkv cluster up` grows to 10 with five `dkv node --join` processes
// while a writer keeps writing; it settles with every node holding data, no write failing and
// none lost; then a live node is decommissioned and a dead one removed by force, and every key
// stays readable.
// Method: spawn the CLI (`cluster up`, then `node --join`) from the built apps on 127.0.0.1 with
// small rings and a short settle delay (DKV_* variables the children inherit); a writer loop runs
// beside the cluster changes; every wait has a deadline; afterAll kills every process this test
// started, by pid.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses, freePort } from './e2e-support.js';

const KEYS = 200;
const DEADLINE_MS = 90_000;
/** Small rings and a short settle delay keep the test quick; the mechanism is the same. */
const cli = new CliProcesses({ ...process.env, DKV_VNODES: '64', DKV_SYNC_SETTLE_DELAY_MS: '500', DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);
const { announced } = cli;
const start = (args: string[]) => cli.start(args);
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>) => cli.waitFor(what, probe);
let url = '';

interface ClusterView {
  readonly nodes: ReadonlyArray<{ id: string; status: string }>;
  readonly rebalancing?: boolean;
}

async function cluster(): Promise<ClusterView> {
  const res = await fetch(`${url}/v1/cluster`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as ClusterView;
}

/** Every key written and acknowledged so far, with its value. */
const acknowledged = new Map<string, string>();
const failedWrites: string[] = [];

async function write(key: string, value: string): Promise<void> {
  try {
    const res = await fetch(`${url}/v1/kv/${encodeURIComponent(key)}`, { method: 'PUT', body: value, signal: AbortSignal.timeout(5000) });
    if (res.status === 200) acknowledged.set(key, value);
    else failedWrites.push(`${key}: ${res.status} ${await res.text()}`);
  } catch (error) {
    failedWrites.push(`${key}: ${String(error)}`);
  }
}

/** Writes new keys one after another until `stop()` is called; resolves when it has stopped. */
function writer(prefix: string): { stop: () => Promise<number> } {
  let running = true;
  let count = 0;
  const loop = (async () => {
    while (running) {
      await write(`${prefix}:${count}`, `${prefix}-value-${count}`);
      count += 1;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return count;
    },
  };
}

async function readAll(): Promise<string[]> {
  const wrong: string[] = [];
  for (const [key, value] of acknowledged) {
    const res = await fetch(`${url}/v1/kv/${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    if (res.status !== 200 || text !== value) wrong.push(`${key} -> ${res.status} ${text.slice(0, 40)}`);
  }
  return wrong;
}

async function settledWith(ids: readonly string[]): Promise<ClusterView | undefined> {
  const view = await cluster();
  const current = view.nodes.map((n) => `${n.id}:${n.status}`).sort();
  const wanted = ids.map((id) => `${id}:up`).sort();
  return !view.rebalancing && JSON.stringify(current) === JSON.stringify(wanted) ? view : undefined;
}

beforeAll(async () => {
  url = await cli.readyUrl(start(['cluster', 'up', '--nodes', '5', '--port', '0']));
  for (let i = 0; i < KEYS; i += 1) await write(`session:${i}`, `value-${i}`);
  expect(failedWrites).toEqual([]);
}, DEADLINE_MS);

afterAll(async () => {
  await cli.stopAll();
});

describe('elastic cluster of real processes', () => {
  it(
    'grows from 5 to 10 nodes with five `dkv node --join` while a writer runs: no write fails, none is lost, every node holds data',
    async () => {
      const seed = announced.get('n1')!.address;
      const load = writer('during-join');
      for (const id of ['n6', 'n7', 'n8', 'n9', 'n10']) start(['node', '--id', id, '--port', String(await freePort()), '--join', seed]);
      await waitFor('all ten nodes up and settled', () => settledWith(['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10']));
      const written = await load.stop();
      expect(written).toBeGreaterThan(0);
      expect(failedWrites).toEqual([]);
      expect(await readAll()).toEqual([]);
      const distribution = await waitFor('every node to hold data', async () => {
        const rows = (await (await fetch(`${url}/v1/cluster/distribution`)).json()) as Array<{ id: string; keys: number }>;
        return rows.length === 10 && rows.every((d) => d.keys > 0) ? rows : undefined;
      });
      expect(distribution.map((d) => d.id).sort()).toEqual(['n1', 'n10', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9']);
    },
    DEADLINE_MS * 2,
  );

  it(
    'decommissions a live node and removes a dead one by force while a writer runs; every key stays readable',
    async () => {
      const load = writer('during-shrink');
      const res = await fetch(`${url}/v1/cluster/nodes/n2`, { method: 'DELETE' });
      expect(res.status).toBe(202);
      expect(((await res.json()) as { status: string }).status).toBe('leaving');
      await waitFor('n2 to leave', () => settledWith(['n1', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10']));
      process.kill(announced.get('n3')!.pid, 'SIGKILL');
      const forced = await fetch(`${url}/v1/cluster/nodes/n3?force=true`, { method: 'DELETE' });
      expect(forced.status).toBe(202);
      await waitFor('n3 to be removed', () => settledWith(['n1', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10']));
      await load.stop();
      expect(failedWrites).toEqual([]);
      expect(await readAll()).toEqual([]);
    },
    DEADLINE_MS * 2,
  );
});
