// Goal: with real processes, single faults cost no lost write, no stale read and no resurrected
// delete (issue #5's proof, first part): a storage node SIGKILLed and restarted EMPTY with the
// same id, a node paused with SIGSTOP then resumed, and a second coordinator whose clock is five
// minutes ahead, all under concurrent clients.
// Method: `dkv cluster up --nodes 3` on 127.0.0.1, clients through the SDK recorded by the
// testkit's HistoryRecorder and judged by checkHistory; each scenario prints its ops,
// availability and what the checker found. Every wait has a deadline; afterAll stops every
// process this test started, by pid. Network partitions need namespaces and are not here yet.
import { setTimeout as sleep } from 'node:timers/promises';
import { KVStoreClient } from '@dkv/client';
import type { KVStore } from '@dkv/core';
import { checkHistory, HistoryRecorder, recordingStore } from '@dkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses, freePort } from './e2e-support.js';

const DEADLINE_MS = 60_000;
const KEYS = 20;
const SKEW_MS = 5 * 60_000;
const cli = new CliProcesses({ ...process.env, DKV_VNODES: '64', DKV_SYNC_SETTLE_DELAY_MS: '500', DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);
const { announced } = cli;
const start = (args: string[]) => cli.start(args);
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>) => cli.waitFor(what, probe);

async function allUp(baseUrl: string, count: number): Promise<true | undefined> {
  const res = await fetch(`${baseUrl}/v1/cluster`, { signal: AbortSignal.timeout(2000) });
  const view = (await res.json()) as { nodes: Array<{ status: string }>; rebalancing?: boolean };
  return view.nodes.length === count && view.nodes.every((n) => n.status === 'up') && !view.rebalancing ? true : undefined;
}

/** Runs `clients` concurrent clients over `stores` for `durationMs` while `fault` runs; judges the history. */
async function scenario(name: string, stores: KVStore[], fault: () => Promise<void>, durationMs = 6000) {
  const recorder = new HistoryRecorder({ maxOperations: 200_000 });
  const startedAt = performance.now();
  const now = () => performance.now() - startedAt;
  let running = true;
  const clients = stores.map(async (store, index) => {
    const recorded = recordingStore(store, recorder, `c${index}`, now);
    let op = 0;
    while (running) {
      const key = `${name}:${(op * 7 + index) % KEYS}`;
      const roll = (op * 13 + index * 5) % 10;
      const call = roll < 5 ? recorded.get(key) : roll < 9 ? recorded.put(key, Buffer.from(`c${index}-${op}`)) : recorded.delete(key);
      await call.catch(() => undefined);
      op += 1;
    }
  });
  await fault();
  const left = durationMs - now();
  if (left > 0) await sleep(left);
  running = false;
  await Promise.all(clients);
  const history = recorder.history(now());
  const verdict = checkHistory(history, { expiryToleranceMs: SKEW_MS + 1000 });
  const failed = history.filter((o) => o.outcome !== 'ok').length;
  console.log(`faults: ${name}: ${history.length} ops, availability ${((1 - failed / history.length) * 100).toFixed(2)}% (${failed} failed or indeterminate), anomalies ${verdict.anomalies.length}`);
  return { verdict, history, failed };
}

let clients: KVStoreClient[] = [];
let url = '';

beforeAll(async () => {
  start(['cluster', 'up', '--nodes', '3', '--port', '0']);
  url = await waitFor('the ready line', async () => (cli.url !== '' ? cli.url : undefined));
  clients = [new KVStoreClient({ url, timeoutMs: 3000 }), new KVStoreClient({ url, timeoutMs: 3000 }), new KVStoreClient({ url, timeoutMs: 3000 })];
}, DEADLINE_MS);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cli.stopAll();
});

describe('single faults with real processes, judged by the history checker', () => {
  it('a storage node SIGKILLed and restarted empty with the same id: nothing lost or stale', async () => {
    const victim = announced.get('n2')!;
    const port = victim.address.split(':').pop()!;
    const { verdict } = await scenario('restart', clients, async () => {
      await sleep(1500);
      process.kill(victim.pid, 'SIGKILL');
      await sleep(1000);
      start(['node', '--id', 'n2', '--port', port, '--join', announced.get('n1')!.address]);
    });
    expect(verdict.anomalies.map((a) => a.message)).toEqual([]);
    await waitFor('n2 to catch up and be up again', () => allUp(url, 3));
  }, DEADLINE_MS * 2);

  it('a storage node paused with SIGSTOP, then resumed: nothing lost or stale', async () => {
    const victim = announced.get('n3')!;
    const { verdict } = await scenario('pause', clients, async () => {
      await sleep(1500);
      process.kill(victim.pid, 'SIGSTOP');
      await sleep(2500);
      process.kill(victim.pid, 'SIGCONT');
    });
    expect(verdict.anomalies.map((a) => a.message)).toEqual([]);
  }, DEADLINE_MS * 2);

  it('a second coordinator five minutes ahead: writes through both stay ordered', async () => {
    const port = await freePort();
    start(['coordinator', '--id', 'c-skewed', '--port', String(port), '--join', announced.get('n1')!.address, '--clock-offset-ms', String(SKEW_MS)]);
    const skewedUrl = `http://127.0.0.1:${port}`;
    await waitFor('the skewed coordinator to be ready', async () => ((await fetch(`${skewedUrl}/readyz`)).status === 200 ? true : undefined));
    const skewed = new KVStoreClient({ url: skewedUrl, timeoutMs: 3000 });
    try {
      const { verdict, failed } = await scenario('skew', [clients[0]!, skewed, clients[1]!, skewed], async () => undefined, 4000);
      expect(verdict.anomalies.map((a) => a.message)).toEqual([]);
      expect(failed).toBe(0);
    } finally {
      await skewed.close();
    }
  }, DEADLINE_MS * 2);
});
