// Goal: one port serves both the binary protocol and HTTP, so a node has a single address.
// Method: a real TcpStorageServer and Fastify app behind listenMultiplexed on 127.0.0.1:0, then
// TcpNodeClient, HttpNodeClient and plain fetch against the same address; everything closed after.
import type { Node } from '@dkv/core';
import { MapStorageHandler } from '@dkv/testkit';
import Fastify from 'fastify';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpNodeClient } from './http-node-client.js';
import { registerInternalRoutes } from './internal-routes.js';
import { listenMultiplexed, type MultiplexedPort } from './multiplexed-port.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { TcpStorageServer } from './tcp-storage-server.js';
import { pingFrame, pingOver } from './test-support.js';

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

// The storage server re-creates a plain TCP socket to read into its own memory: the bytes read
// while sniffing must be served first, and the listener must count the connection until it closes.
describe('listenMultiplexed with the storage server reading into its own memory', () => {
  /** Sends `chunks` on a raw connection, the rest after the first answer, and resolves with the ids answered. */
  const pings = (port: number, chunks: Buffer[], answers: number): Promise<number[]> =>
    pingOver(port, chunks, answers, { send: 'after-first-answer' });

  it('serves the frames read while sniffing, split or merged, then those that follow', async () => {
    const tcp = new TcpStorageServer(new MapStorageHandler('n1'));
    const app = Fastify();
    await app.ready();
    const port = await listenMultiplexed({ host: '127.0.0.1', port: 0, tcp, http: app.server, maxFrameBytes: 1024 * 1024 });
    try {
      // Two whole frames and part of a third in the first write; the rest of it, and a fourth, later.
      const first = Buffer.concat([pingFrame(1), pingFrame(2), pingFrame(3).subarray(0, 6)]);
      const later = Buffer.concat([pingFrame(3).subarray(6), pingFrame(4)]);
      expect(await pings(port.port, [first, later], 4)).toEqual([1, 2, 3, 4]);
    } finally {
      await port.close();
      await tcp.close();
      await app.close();
    }
  });

  it('stays paused when the frames read while sniffing reach the in-flight bound: reads no more until answers leave', async () => {
    // A handler that never answers: the first frames fill the connection's in-flight bound at once.
    let calls = 0;
    const stalled = { handle: () => ((calls += 1), new Promise<never>(() => undefined)) };
    const tcp = new TcpStorageServer(stalled, { maxInFlightPerConnection: 4 });
    const app = Fastify();
    await app.ready();
    const port = await listenMultiplexed({ host: '127.0.0.1', port: 0, tcp, http: app.server, maxFrameBytes: 1024 * 1024 });
    const socket = connect({ host: '127.0.0.1', port: port.port });
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      // Ten frames in one write: the sniff reads them together, and serving them hits the bound of 4.
      socket.write(Buffer.concat(Array.from({ length: 10 }, (_, i) => pingFrame(i + 1))));
      await vi.waitFor(() => expect(calls).toBe(4));
      // 8 MiB more, more than the kernel buffers: a server that kept reading would take it all.
      const more = Buffer.alloc(9 * Math.floor((8 * 1024 * 1024) / 9));
      for (let at = 0; at < more.length; at += 9) pingFrame(100 + at / 9).copy(more, at);
      socket.write(more);
      // What is asserted is an absence (no reading), so it is watched for a while rather than awaited.
      // Before the fix the server held megabytes within 200 ms.
      for (let check = 0; check < 40; check += 1) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        expect(tcp.stats().bufferedReadBytes).toBeLessThanOrEqual(64 * 1024);
      }
      expect(calls).toBe(4);
    } finally {
      socket.destroy();
      await port.close();
      await tcp.close();
      await app.close();
    }
  });

  it('counts an adopted connection against maxConnections until it closes, then takes the next', async () => {
    const tcp = new TcpStorageServer(new MapStorageHandler('n1'));
    const app = Fastify();
    await app.ready();
    const port = await listenMultiplexed({
      host: '127.0.0.1',
      port: 0,
      tcp,
      http: app.server,
      maxFrameBytes: 1024 * 1024,
      maxConnections: 1,
    });
    try {
      for (let round = 1; round <= 3; round += 1) {
        expect(await pings(port.port, [pingFrame(round)], 1)).toEqual([round]);
        await vi.waitFor(() => expect(tcp.stats().connections).toBe(0));
      }
    } finally {
      await port.close();
      await tcp.close();
      await app.close();
    }
  });
});
