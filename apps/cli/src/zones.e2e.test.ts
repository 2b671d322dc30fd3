// Goal: with real processes laid out over zones (`dkv cluster up --nodes 6 --zones 3`), every key
// has one replica per zone, and every process of one zone SIGKILLed while clients write costs
// nothing: the history checker finds no lost write and no stale read, and afterwards every key
// the clients used stays readable and writable with the default quorums (W=2, R=2) while the
// zone stays dead.
// Method: the cluster through the CLI on 127.0.0.1 with free ports; `/v1/cluster` is checked for
// the zones and `zoneLossSafe`, and the ring built from it for one replica per zone; clients
// through the SDK recorded by the testkit's HistoryRecorder (scenario-support.ts). Every wait has a deadline; afterAll stops every
// process this test started, by pid.
import { setTimeout as sleep } from 'node:timers/promises';
import { KVStoreClient } from '@dkv/client';
import { ConsistentHash } from '@dkv/hashing';
import type { Node } from '@dkv/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses } from './e2e-support.js';
import { runScenario } from './scenario-support.js';

const DEADLINE_MS = 60_000;
const cli = new CliProcesses({ ...process.env, DKV_VNODES: '64', DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);
let clients: KVStoreClient[] = [];
let url = '';

beforeAll(async () => {
  url = await cli.readyUrl(cli.start(['cluster', 'up', '--nodes', '6', '--zones', '3', '--port', '0']));
  clients = [0, 1, 2].map(() => new KVStoreClient({ url, timeoutMs: 3000 }));
}, DEADLINE_MS);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cli.stopAll();
});

describe('a whole zone SIGKILLed, six real nodes in three zones', () => {
  it(
    'shows the zones, and loses nothing when every process of zone z2 dies under a writer',
    async () => {
      const cluster = await clients[0]!.cluster();
      expect(cluster.nodes.map((node) => [node.id, node.zone])).toEqual([
        ['n1', 'z1'],
        ['n2', 'z2'],
        ['n3', 'z3'],
        ['n4', 'z1'],
        ['n5', 'z2'],
        ['n6', 'z3'],
      ]);
      expect(cluster.zoneLossSafe).toBe(true);
      const ring = new ConsistentHash(
        cluster.nodes.map((node): Node => ({
          id: node.id,
          address: node.address,
          role: 'storage',
          status: 'up',
          vnodes: node.vnodes,
          metadata: {},
          zone: node.zone!,
        })),
      );
      for (let i = 0; i < 20; i += 1) expect(new Set(ring.getNodesForKey(`zone:${i}`, 3).map((node) => node.zone)).size).toBe(3);

      const victims = cluster.nodes.filter((node) => node.zone === 'z2').map((node) => cli.announced.get(node.id)!);
      expect(victims).toHaveLength(2);
      const { verdict, failed, history } = await runScenario(
        'zone',
        clients,
        async () => {
          await sleep(1500);
          for (const victim of victims) process.kill(victim.pid, 'SIGKILL');
          // Past the failure detector's 5 s to "down", so the clients run on both sides of detection.
          await sleep(7000);
        },
        { expiryToleranceMs: 1000, durationMs: 10_000 },
      );
      console.log(`zones e2e: ${history.length} operations, ${failed} failed or indeterminate with zone z2 killed`);
      expect(verdict.anomalies.map((a) => a.message)).toEqual([]);
      expect(history.filter((op) => op.outcome === 'ok').length).toBeGreaterThan(100);

      // The zone stays dead: every key is still readable and writable with the default quorums.
      for (let i = 0; i < 20; i += 1) {
        const key = `zone:${i}`;
        await clients[0]!.get(key);
        const written = await clients[0]!.put(key, Buffer.from(`after-${i}`));
        const read = await clients[1]!.get(key);
        expect(read?.version, key).toBe(written.version);
        expect(Buffer.from(read!.value).toString('utf8')).toBe(`after-${i}`);
      }
    },
    DEADLINE_MS * 2,
  );
});
