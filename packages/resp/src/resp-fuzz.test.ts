// Goal: whatever bytes a client sends the Redis door (random bytes, write commands truncated
// anywhere, announced lengths far over the limits, cut into random chunks), the server answers
// with replies or an error and a closed connection, never crashes, never changes stored data,
// and holds each connection's unparsed input within the parser's bounds. Method: seeded
// fast-check (seed printed; replay with DKV_SEED=<n>) over raw sockets against a real RespServer
// on 127.0.0.1 with an in-memory backend; the backend's call log shows that no write reached it,
// and a normal client is served after the storm.
import { connect } from 'node:net';
import { seedForTest } from '@dkv/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { respServerLimits } from './defaults.js';
import { InMemoryRespBackend } from './in-memory-resp-backend.js';
import { startRespServer, type RunningRespServer } from './resp-server.js';
import { encodeCommand, RawRespClient } from './test-support.js';

describe('RespServer: fuzz', () => {
  const memory = new InMemoryRespBackend({ now: () => Date.now(), maxValueBytes: 1000 });
  let server: RunningRespServer;

  beforeAll(async () => {
    server = await startRespServer({
      host: '127.0.0.1',
      port: 0,
      backend: memory,
      now: () => Date.now(),
      maxConnections: 100,
      idleTimeoutMs: 2000,
      maxPipelined: 64,
      maxQueuedReplyBytes: 64 * 1024,
      maxReplyBufferBytes: 1024 * 1024,
      limits: respServerLimits(1000),
      maxKeysReply: 50,
    });
  });

  afterAll(async () => {
    await server.close();
  });

  it('closes or answers every hostile stream, and no write reaches the store', async () => {
    const seed = seedForTest();
    const write = fc.tuple(
      fc.constantFrom('SET', 'DEL', 'MSET', 'SETEX', 'GETDEL', 'EXPIRE'),
      fc.string({ minLength: 1, maxLength: 10 }),
      fc.string({ maxLength: 50 }),
    );
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 500 }).map((bytes) => Buffer.from(bytes)),
      fc.tuple(write, fc.nat()).map(([[name, key, value], at]) => {
        const bytes = encodeCommand([name, key, value]);
        return bytes.subarray(0, at % bytes.length);
      }),
      fc
        .tuple(fc.integer({ min: 2 ** 31, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom('*', '$', '*1\r\n$'))
        .map(([length, prefix]) => Buffer.from(`${prefix}${length}\r\n`)),
      fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) =>
        Buffer.from(
          Buffer.from(bytes)
            .toString('latin1')
            .replace(/[\r\n]/g, 'x')
            .repeat(400),
        ),
      ),
    );
    await fc.assert(
      fc.asyncProperty(hostile, fc.array(fc.nat({ max: 100 }), { maxLength: 20 }), async (bytes, cuts) => {
        const socket = connect({ host: '127.0.0.1', port: server.port });
        socket.on('error', () => undefined);
        socket.on('data', () => undefined);
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        let at = 0;
        for (const size of cuts) {
          if (at >= bytes.length) break;
          socket.write(bytes.subarray(at, at + size + 1));
          at += size + 1;
        }
        if (at < bytes.length) socket.write(bytes.subarray(at));
        socket.end();
        await closed;
      }),
      { seed, numRuns: 150 },
    );
    expect(memory.calls.filter((call) => !call.startsWith('get ') && call !== 'scan' && call !== 'count')).toEqual([]);
    const client = await RawRespClient.connect(server.port);
    try {
      expect(await client.call('SET', 'after', 'storm')).toBe('OK');
      expect(await client.call('GET', 'after')).toBe('storm');
    } finally {
      client.close();
    }
  }, 120_000);
});
