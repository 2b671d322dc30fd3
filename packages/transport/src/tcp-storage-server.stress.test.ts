// Goal: the storage server's connection set-up loses nothing and holds nothing under many
// connections at once. Each plain TCP socket it serves is re-created over the same handle to read
// into memory of its own (`readingInto` in tcp-storage-server.ts), whether it was accepted by the
// server's own listener or adopted from the multiplexed port after the sniff; a byte lost between
// the accept and the move, a socket never resumed, or an accepted socket never released (the
// multiplexed port's `maxConnections` still counting it) would show here as an answer missing or
// a connection refused.
// Method: one TcpStorageServer behind its own listener and a multiplexed port, both on
// 127.0.0.1:0. Each round opens 48 raw connections through each at once; each sends 40 pipelined
// PINGs in random pieces (the first often shorter than the 4 bytes the sniff needs) and waits for
// every answer; one in eight abandons its connection after the first answer, with requests in
// flight. Every other answer comes from a promise and at most 4 are in flight per connection, so
// the server pauses and resumes each socket many times. After each round every connection must be
// gone from the server; the port admits exactly 48, so one it still counted would refuse a
// connection of the next round.
// Then TcpNodeClients write and read values of up to 300 KiB (frames across many reads) through
// both addresses at once. Everything started is closed at the end.
import type { Node, StorageRequest, StorageResponse } from '@dkv/core';
import { MapStorageHandler } from '@dkv/testkit';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MaybeAsyncStorageRequestHandler } from './handler.js';
import { listenMultiplexed, type MultiplexedPort } from './multiplexed-port.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { TcpStorageServer } from './tcp-storage-server.js';
import { pingFrame, pingOver } from './test-support.js';

const CONNECTIONS_PER_DOOR = 48;
const PINGS_PER_CONNECTION = 40;
const ROUNDS = 6;

/** A small deterministic generator (mulberry32), so that a failing split can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `bytes` cut into pieces of 1 to 40 bytes; the first is under 4 bytes half of the time. */
function pieces(bytes: Buffer, next: () => number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = at === 0 && next() < 0.5 ? 1 + Math.floor(next() * 3) : 1 + Math.floor(next() * 40);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

/** Answers every other request from a promise settled on a later turn, like a handler that waits for a disk. */
class HalfAsyncHandler implements MaybeAsyncStorageRequestHandler {
  private calls = 0;
  constructor(private readonly inner: MaybeAsyncStorageRequestHandler) {}

  handle(request: StorageRequest): StorageResponse | Promise<StorageResponse> {
    this.calls += 1;
    if (this.calls % 2 === 0) return this.inner.handle(request);
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(this.inner.handle(request));
        } catch (error) {
          reject(error);
        }
      }),
    );
  }
}

describe('TcpStorageServer under many connections at once, direct and through the multiplexed port', () => {
  const warnings: string[] = [];
  const tcp = new TcpStorageServer(new HalfAsyncHandler(new MapStorageHandler('n1')), {
    maxInFlightPerConnection: 4,
    onWarning: (message) => warnings.push(message),
  });
  const app = Fastify();
  let direct = 0;
  let port: MultiplexedPort;

  beforeAll(async () => {
    await app.ready();
    direct = (await tcp.listen(0, '127.0.0.1')).port;
    port = await listenMultiplexed({
      host: '127.0.0.1',
      port: 0,
      tcp,
      http: app.server,
      maxFrameBytes: 2 * 1024 * 1024,
      maxConnections: CONNECTIONS_PER_DOOR,
    });
  });

  afterAll(async () => {
    await port.close();
    await tcp.close();
    await app.close();
  });

  it(`answers every PING of ${CONNECTIONS_PER_DOOR} connections per door at once, ${ROUNDS} rounds, and releases every connection`, async () => {
    const next = random(0x5eed);
    for (let round = 1; round <= ROUNDS; round += 1) {
      const runs: Array<Promise<{ abandoned: boolean; expected: number[]; got: number[] }>> = [];
      for (const door of [port.port, direct]) {
        for (let c = 0; c < CONNECTIONS_PER_DOOR; c += 1) {
          const base = (round * 1000 + c) * 100 + (door === direct ? 50 : 0);
          const expected = Array.from({ length: PINGS_PER_CONNECTION }, (_, i) => base + i);
          const abandoned = c % 8 === 7;
          const chunks = pieces(Buffer.concat(expected.map((id) => pingFrame(id))), next);
          runs.push(
            pingOver(door, chunks, expected.length, { send: 'turns', abandon: abandoned }).then((got) => ({ abandoned, expected, got })),
          );
        }
      }
      for (const run of await Promise.all(runs)) {
        if (!run.abandoned) expect([...run.got].sort((a, b) => a - b)).toEqual(run.expected);
      }
      await vi.waitFor(() => expect(tcp.stats().connections).toBe(0), { timeout: 10_000 });
    }
    expect(tcp.stats().bounds['connection_refused'] ?? 0).toBe(0);
    expect(warnings).toEqual([]);
  }, 120_000);

  it('writes and reads values of up to 300 KiB through both addresses at once', async () => {
    const node = (address: number): Node => ({
      id: 'n1',
      address: `127.0.0.1:${address}`,
      role: 'storage',
      status: 'up',
      vnodes: 1,
      metadata: {},
    });
    const clients = [new TcpNodeClient({ connectionsPerNode: 2 }), new TcpNodeClient({ connectionsPerNode: 2 })];
    const next = random(0xb16);
    try {
      const work: Array<Promise<void>> = [];
      for (let i = 0; i < 64; i += 1) {
        const client = clients[i % 2] as TcpNodeClient;
        const to = node(i % 4 < 2 ? port.port : direct);
        const value = Buffer.alloc(1 + Math.floor(next() * 300 * 1024), i % 251);
        const key = `k${i}`;
        work.push(
          (async () => {
            const record = { value, version: 1, writerId: 'c1', createdAt: 1, updatedAt: 1, expiresAt: null, tombstone: false };
            expect(await client.send(to, { type: 'PUT', key, record }, { timeoutMs: 20_000 })).toMatchObject({ applied: true });
            const read = await client.send(to, { type: 'GET', key }, { timeoutMs: 20_000 });
            expect(Buffer.from(read.record!.value).equals(value)).toBe(true);
          })(),
        );
      }
      await Promise.all(work);
    } finally {
      for (const client of clients) await client.close();
    }
    await vi.waitFor(() => expect(tcp.stats().connections).toBe(0), { timeout: 10_000 });
  }, 120_000);
});
