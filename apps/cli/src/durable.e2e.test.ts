// Goal: with real processes, a cluster that keeps its data on disk (`cluster up --data-dir`) loses
// no acknowledged write and resurrects no delete when EVERY process is killed with SIGKILL under
// concurrent clients and the cluster is started again on the same data directories (issue 12's
// crash proof, and API.md's promise for `npm start -- --data-dir`); and one node killed and
// restarted on its data serves it without streaming its ranges again.
// Method: `dkv cluster up --nodes 3 --data-dir <tmp>` on 127.0.0.1 with the coordinator on a fixed
// free port, clients through the SDK recorded by the testkit's HistoryRecorder (scenario-support.ts);
// mid-run every storage node is SIGKILLed, then `cluster up` itself (its coordinator stops when
// its parent is gone), and a new `cluster up` starts on the same port and data directory while
// the clients keep going; after the run every key is read with R = N and the default R, and the
// whole history is judged by checkHistory. Then n2 alone is SIGKILLed and started again with
// `dkv node --members ... --data-dir` under the clients: the checker judges that run too, and its
// metrics show that it streamed nothing. Every wait has a deadline; afterAll stops every process
// this test started, by pid, and removes the data directory.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KVStoreClient } from '@dkv/client';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcesses, freePort, isAlive } from './e2e-support.js';
import { runScenario } from './scenario-support.js';

const DEADLINE_MS = 60_000;
const dataDir = mkdtempSync(join(tmpdir(), 'dkv-durable-e2e-'));
const cli = new CliProcesses({ ...process.env, DKV_VNODES: '64', DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);
const waitFor = <T>(what: string, probe: () => Promise<T | undefined>) => cli.waitFor(what, probe);
let clients: KVStoreClient[] = [];

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cli.stopAll();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Resolves true once nothing listens on `port` of 127.0.0.1 (for waitFor). */
function portFree(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('durable storage with real processes', () => {
  it(
    'SIGKILL of every process under concurrent clients, restart on the same data: no acknowledged write lost, no delete resurrected',
    async () => {
      const port = await freePort();
      const clusterUp = () => cli.start(['cluster', 'up', '--nodes', '3', '--port', String(port), '--data-dir', dataDir]);
      let parent = clusterUp();
      const url = await cli.readyUrl(parent);
      clients = [0, 1, 2, 3].map(() => new KVStoreClient({ url, timeoutMs: 3000 }));
      // The recorder's clock starts with the scenario: the kill is timed on the same scale.
      const scenarioStartMs = performance.now();
      let killedAtMs = 0;
      const { verdict, history } = await runScenario(
        'durable',
        clients,
        async () => {
          await sleep(2500);
          const nodes = ['n1', 'n2', 'n3'].map((id) => cli.announced.get(id)!.pid);
          for (const pid of nodes) process.kill(pid, 'SIGKILL');
          process.kill(parent.pid!, 'SIGKILL');
          killedAtMs = performance.now() - scenarioStartMs;
          await waitFor('every node process to be gone', async () => (nodes.every((pid) => !isAlive(pid)) ? true : undefined));
          await waitFor(`the coordinator's port ${port} to be free`, () => portFree(port));
          parent = clusterUp();
          await cli.readyUrl(parent, 'the ready line of the restarted cluster');
        },
        { durationMs: 9000, expiryToleranceMs: 1000, finalReads: { n: 3, url, nodes: 3, waitFor } },
      );
      expect(verdict.anomalies.map((a) => a.message)).toEqual([]);
      // The run is a proof only if writes were acknowledged before the kill and read after the restart.
      const writesBefore = history.filter((o) => o.kind === 'put' && o.outcome === 'ok' && o.endMs < killedAtMs).length;
      expect(writesBefore).toBeGreaterThan(20);
      expect(history.filter((o) => o.process === 'final' && o.outcome === 'ok').length).toBeGreaterThan(0);
      expect(readdirSync(dataDir).sort()).toEqual(['n1', 'n2', 'n3']);
    },
    DEADLINE_MS * 2,
  );

  it(
    'one node SIGKILLed and restarted on its data serves it without streaming its ranges again: nothing lost or stale',
    async () => {
      const url = cli.url;
      const members = ['n1', 'n2', 'n3'].map((id) => `${id}=${cli.announced.get(id)!.address}`).join(',');
      const victim = cli.announced.get('n2')!;
      const nodePort = victim.address.split(':').pop()!;
      let restartedUrl = '';
      const { verdict } = await runScenario(
        'durable-one',
        clients,
        async () => {
          await sleep(1500);
          process.kill(victim.pid, 'SIGKILL');
          await waitFor('n2 to be gone', async () => (isAlive(victim.pid) ? undefined : true));
          await waitFor(`n2's port ${nodePort} to be free`, () => portFree(Number(nodePort)));
          cli.start(['node', '--id', 'n2', '--host', '127.0.0.1', '--port', nodePort, '--members', members, '--data-dir', dataDir]);
          restartedUrl = `http://${victim.address}`;
          await waitFor('the restarted n2 to be ready', async () =>
            (await fetch(`${restartedUrl}/readyz`, { signal: AbortSignal.timeout(2000) })).ok ? true : undefined,
          );
        },
        { durationMs: 8000, expiryToleranceMs: 1000, finalReads: { n: 3, url, nodes: 3, waitFor } },
      );
      expect(verdict.anomalies.map((a) => a.message)).toEqual([]);
      // It replayed its log and streamed nothing: a node that lost its data would pull its ranges.
      const metrics = await (await fetch(`${restartedUrl}/metrics`)).text();
      expect(metrics).toMatch(/dkv_sync_keys_received_total\{node="n2"\} 0\n/);
      expect(metrics).toMatch(/dkv_storage_keys\{node="n2"\} [1-9]/);
    },
    DEADLINE_MS * 2,
  );
});
