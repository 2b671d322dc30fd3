// Goal: one port serves both the binary protocol and HTTP, so a node has a single address.
// Method: a real TcpStorageServer and Fastify app behind listenMultiplexed on 127.0.0.1:0, then
// TcpNodeClient, HttpNodeClient and plain fetch against the same address; everything closed after.
import type { Node } from '@dkv/core';
import { MapStorageHandler } from '@dkv/testkit';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpNodeClient } from './http-node-client.js';
import { registerInternalRoutes } from './internal-routes.js';
import { listenMultiplexed, type MultiplexedPort } from './multiplexed-port.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { TcpStorageServer } from './tcp-storage-server.js';

describe('listenMultiplexed', () => {
  const handler = new MapStorageHandler('n1');
  const tcp = new TcpStorageServer(handler);
  const app = Fastify();
  let port: MultiplexedPort;
  let node: Node;
  const tcpClient = new TcpNodeClient();
  const httpClient = new HttpNodeClient();

  beforeAll(async () => {
    registerInternalRoutes(app, handler);
    app.get('/livez', async () => ({ ok: true }));
    await app.ready();
    port = await listenMultiplexed({ host: '127.0.0.1', port: 0, tcp, http: app.server, maxFrameBytes: 2 * 1024 * 1024 });
    node = { id: 'n1', address: `127.0.0.1:${port.port}`, role: 'storage', status: 'up', vnodes: 1, metadata: {} };
  });

  afterAll(async () => {
    await tcpClient.close();
    await httpClient.close();
    await port.close();
    await tcp.close();
    await app.close();
  });

  it('answers binary frames and HTTP requests on the same port', async () => {
    const record = { value: Buffer.from('v'), version: 3, writerId: 'c1', createdAt: 1, updatedAt: 1, expiresAt: null, tombstone: false };
    expect(await tcpClient.send(node, { type: 'PUT', key: 'k', record }, { timeoutMs: 2000 })).toMatchObject({ applied: true });
    const viaHttp = await httpClient.send(node, { type: 'GET', key: 'k' }, { timeoutMs: 2000 });
    expect(Buffer.from(viaHttp.record!.value).toString()).toBe('v');
    const live = await fetch(`http://${node.address}/livez`);
    expect(live.status).toBe(200);
    const ping = await tcpClient.send(node, { type: 'PING' }, { timeoutMs: 2000 });
    expect(ping).toMatchObject({ nodeId: 'n1', keys: 1 });
  });
});
