// Goal: the cluster secret, set on the config objects (the one place the auth file will feed it),
// reaches every internode path of the composition: nodes gossip with each other, a coordinator
// joins, learns the membership and serves reads and writes over the binary protocol, while a peer
// without the secret (binary or HTTP) is refused before anything reaches storage, and the refusals
// show in /metrics. Method: two real storage nodes and a coordinator in this process on
// 127.0.0.1, the coordinator's public API over fetch, raw TcpNodeClient/HttpNodeClient as intruders.
import { freePort } from '@dkv/testkit';
import { NodeUnavailableError, type Node } from '@dkv/core';
import { parseNodeConfig, startNode, type RunningNode } from '@dkv/node';
import { HttpNodeClient, TcpNodeClient } from '@dkv/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from './config.js';
import { startCoordinator, type RunningCoordinator } from './coordinator.composition.js';

const SECRET = 'cluster-secret-for-the-composition-test';

describe('a cluster with a cluster secret', () => {
  const nodes: RunningNode[] = [];
  let coordinator: RunningCoordinator;

  beforeAll(async () => {
    const ports = [await freePort(), await freePort()];
    const members = `n1=127.0.0.1:${ports[0]},n2=127.0.0.1:${ports[1]}`;
    for (const [index, id] of ['n1', 'n2'].entries()) {
      const config = parseNodeConfig({ id, port: String(ports[index]), members, n: '2', gossipIntervalMs: '50', logLevel: 'silent' }, {});
      nodes.push(await startNode({ ...config, clusterSecret: SECRET }));
    }
    const config = parseCoordinatorConfig(
      { id: 'c1', port: '0', respPort: '0', join: nodes[0]!.address, n: '2', w: '2', r: '1', logLevel: 'silent' },
      {},
    );
    coordinator = await startCoordinator({ ...config, clusterSecret: SECRET });
    // Ready: its heartbeats (over the authenticated port) answered and measured the nodes' clocks.
    for (const giveUpAt = Date.now() + 30_000; (await fetch(`${coordinator.url}/readyz`)).status !== 200;) {
      if (Date.now() > giveUpAt) throw new Error('the coordinator was not ready within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }, 60_000);

  afterAll(async () => {
    await coordinator?.close();
    for (const node of nodes) await node.close();
  });

  it('serves writes and reads through nodes that require the secret', async () => {
    const put = await fetch(`${coordinator.url}/v1/kv/greeting`, { method: 'PUT', body: 'hello' });
    expect(put.status).toBe(200);
    const get = await fetch(`${coordinator.url}/v1/kv/greeting`);
    expect(await get.text()).toBe('hello');
  });

  it('refuses peers without the secret on both protocols, before storage, and counts them', async () => {
    const target: Node = { id: 'n1', address: nodes[0]!.address, role: 'storage', status: 'up', vnodes: 16, metadata: {} };
    const record = {
      value: Buffer.from('intruder'),
      version: Date.now(),
      writerId: 'x',
      createdAt: Date.now(),
      updatedAt: Date.now(),
      expiresAt: null,
      tombstone: false,
    };
    const tcp = new TcpNodeClient({ connectionsPerNode: 1 });
    const http = new HttpNodeClient();
    const trusted = new TcpNodeClient({ connectionsPerNode: 1, clusterSecret: SECRET });
    try {
      const tcpError = await tcp
        .send(target, { type: 'PUT', key: 'intruded', record }, { timeoutMs: 5000 })
        .catch((error: unknown) => error);
      expect(tcpError).toBeInstanceOf(NodeUnavailableError);
      expect((tcpError as Error).message).toMatch(/authentication required/);
      const httpError = await http
        .send(target, { type: 'PUT', key: 'intruded', record }, { timeoutMs: 5000 })
        .catch((error: unknown) => error);
      expect((httpError as Error).message).toMatch(/401/);
      const membership = await fetch(`${nodes[0]!.url}/internal/v1/membership`);
      expect(membership.status).toBe(401);
      expect((await fetch(`${nodes[0]!.url}/livez`)).status).toBe(200);
      const seen = await trusted.send(target, { type: 'GET', key: 'intruded' }, { timeoutMs: 5000 });
      expect(seen.record).toBeNull();
      const metrics = await (await fetch(`${nodes[0]!.url}/metrics`)).text();
      const failures = /dkv_port_bounds_total\{port="node",bound="auth_failed",node="n1"\} (\d+)/.exec(metrics);
      expect(Number(failures?.[1])).toBeGreaterThanOrEqual(3);
    } finally {
      await Promise.all([tcp.close(), http.close(), trusted.close()]);
    }
  });
});
