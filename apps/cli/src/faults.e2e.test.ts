// Goal: with real processes, single faults cost no lost write, no stale read and no resurrected
// delete (issue #5's proof): a storage node SIGKILLed and restarted EMPTY with the same id, a
// node paused with SIGSTOP then resumed, a second coordinator whose clock is five minutes ahead,
// and a node joining (`dkv node --join`) while another is paused, all under concurrent clients;
// and composed (issue 10): a node restarted empty while a second coordinator is minutes behind.
// Method: `dkv cluster up --nodes 3` on 127.0.0.1, clients through the SDK recorded by the
// testkit's HistoryRecorder and judged by checkHistory (scenario-support.ts); each scenario
// prints its ops, availability and what the checker found. Every wait has a deadline; afterAll
// stops every process this test started, by pid. Network partitions between real processes are
// in partitions.e2e.test.ts (they need network namespaces).
import { setTimeout as sleep } from 'node:timers/promises';
import { KVStoreClient } from '@dkv/client';
import type { KVStore } from '@dkv/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses, freePort } from './e2e-support.js';
import { allUp, runScenario, type ScenarioOptions } from './scenario-support.js';

const DEADLINE_MS = 60_000;
const SKEW_MS = 5 * 60_000;
/** How long a node stays paused while another joins: past the failure detector's 5 s to "down". */
const PAUSE_DURING_JOIN_MS = 6000;
/** How far behind the second coordinator of the composed restart scenario is. */
const BEHIND_MS = 3 * 60_000;
const cli = new CliProcesses({ ...process.env, DKV_VNODES: '64', DKV_SYNC_SETTLE_DELAY_MS: '500', DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);
const { announced } = cli;
const start = (args: string[]) => cli.start(args);
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>) => cli.waitFor(what, probe);
const scenario = (name: string, stores: KVStore[], fault: () => Promise<void>, options: Partial<ScenarioOptions> = {}) =>
  runScenario(name, stores, fault, { expiryToleranceMs: SKEW_MS + 1000, ...options });

let clients: KVStoreClient[] = [];
let url = '';

beforeAll(async () => {
  url = await cli.readyUrl(start(['cluster', 'up', '--nodes', '3', '--port', '0']));
  clients = [
    new KVStoreClient({ url, timeoutMs: 3000 }),
    new KVStoreClient({ url, timeoutMs: 3000 }),
    new KVStoreClient({ url, timeoutMs: 3000 }),
  ];
}, DEADLINE_MS);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cli.stopAll();
});

describe('single faults with real processes, judged by the history checker', () => {
  it(
    'a storage node SIGKILLed and restarted empty with the same id: nothing lost or stale',
    async () => {
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
    },
    DEADLINE_MS * 2,
  );

  it(
    'a storage node paused with SIGSTOP, then resumed: nothing lost or stale',
    async () => {
      const victim = announced.get('n3')!;
      const { verdict } = await scenario('pause', clients, async () => {
        await sleep(1500);
        process.kill(victim.pid, 'SIGSTOP');
        await sleep(2500);
        process.kill(victim.pid, 'SIGCONT');
      });
      expect(verdict.anomalies.map((a) => a.message)).toEqual([]);
    },
    DEADLINE_MS * 2,
  );

  it(
    'a second coordinator five minutes ahead: writes through both stay ordered',
    async () => {
      const port = await freePort();
      start([
        'coordinator',
        '--id',
        'c-skewed',
        '--port',
        String(port),
        '--join',
        announced.get('n1')!.address,
        '--clock-offset-ms',
        String(SKEW_MS),
      ]);
      const skewedUrl = `http://127.0.0.1:${port}`;
      await waitFor('the skewed coordinator to be ready', async () =>
        (await fetch(`${skewedUrl}/readyz`)).status === 200 ? true : undefined,
      );
      const skewed = new KVStoreClient({ url: skewedUrl, timeoutMs: 3000 });
      try {
        const { verdict, failed } = await scenario('skew', [clients[0]!, skewed, clients[1]!, skewed], async () => undefined, {
          durationMs: 4000,
        });
        expect(verdict.anomalies.map((a) => a.message)).toEqual([]);
        expect(failed).toBe(0);
      } finally {
        await skewed.close();
      }
    },
    DEADLINE_MS * 2,
  );

  it(
    'composed: a storage node restarted empty while a second coordinator is three minutes behind: nothing lost or stale',
    async () => {
      const port = await freePort();
      start([
        'coordinator',
        '--id',
        'c-behind',
        '--port',
        String(port),
        '--join',
        announced.get('n2')!.address,
        '--clock-offset-ms',
        String(-BEHIND_MS),
      ]);
      const behindUrl = `http://127.0.0.1:${port}`;
      await waitFor('the lagging coordinator to be ready', async () =>
        (await fetch(`${behindUrl}/readyz`)).status === 200 ? true : undefined,
      );
      const behind = new KVStoreClient({ url: behindUrl, timeoutMs: 3000 });
      const victim = announced.get('n1')!;
      const victimPort = victim.address.split(':').pop()!;
      try {
        const { verdict, disagreements } = await scenario(
          'restart-empty-with-skew',
          [clients[0]!, behind, clients[1]!, behind],
          async () => {
            await sleep(1500);
            process.kill(victim.pid, 'SIGKILL');
            await sleep(500);
            start(['node', '--id', 'n1', '--port', victimPort, '--join', announced.get('n2')!.address]);
            await waitFor('n1 to catch up and be up again', () => allUp(url, 3));
          },
          { expiryToleranceMs: BEHIND_MS + 1000, finalReads: { n: 3, url, nodes: 3, waitFor } },
        );
        expect(verdict.anomalies.map((a) => a.message)).toEqual([]);
        expect(disagreements).toEqual([]);
      } finally {
        await behind.close();
      }
    },
    DEADLINE_MS * 2,
  );

  it(
    'a node joins with `dkv node --join` while another is paused with SIGSTOP: the join finishes once it resumes, nothing lost or stale',
    async () => {
      const victim = announced.get('n3')!;
      const seed = announced.get('n1')!.address;
      const { verdict, disagreements } = await scenario(
        'join',
        clients,
        async () => {
          await sleep(1000);
          process.kill(victim.pid, 'SIGSTOP');
          try {
            await sleep(500);
            start(['node', '--id', 'n4', '--port', String(await freePort()), '--join', seed]);
            await sleep(PAUSE_DURING_JOIN_MS);
          } finally {
            process.kill(victim.pid, 'SIGCONT');
          }
          await waitFor('n4 to be up and the cluster settled with n3 back', () => allUp(url, 4));
        },
        { finalReads: { n: 3, url, nodes: 4, waitFor } },
      );
      expect(verdict.anomalies.map((a) => a.message)).toEqual([]);
      expect(disagreements).toEqual([]);
    },
    DEADLINE_MS * 2,
  );
});
