// Goal: whatever bytes reach the binary internode port (random, truncated frames, oversized
// announced lengths, cut anywhere), the framing and codec answer with a FrameError or a frame,
// never another exception; the server never crashes, never lets an unauthenticated peer change
// stored data, and holds its buffered bytes within the configured bounds. Method: seeded
// fast-check (the seed is printed; replay with DKV_SEED=<n>) over FrameReader/readRequest in
// memory, and over raw sockets against a TcpStorageServer with a cluster secret whose store is
// snapshotted before and after; an authenticated client checks the server still serves.
import { connect } from 'node:net';
import type { StorageRequest } from '@dkv/core';
import { contractNode, MapStorageHandler, seedForTest } from '@dkv/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameError } from './codec.js';
import { readRequest, writeRequestFrame } from './tcp-codec.js';
import { FRAME_LENGTH_BYTES, FrameReader, FrameWriter, PARTIAL_FRAME_INITIAL_BYTES, writeU32 } from './tcp-frame.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { TcpStorageServer } from './tcp-storage-server.js';

const MAX_FRAME = 64 * 1024;
const SECRET = 'fuzz-cluster-secret';

/** Valid request frames, to be truncated, corrupted or announced oversized by the arbitraries. */
const request: fc.Arbitrary<StorageRequest> = fc.oneof(
  fc.record({ type: fc.constant('GET' as const), key: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ type: fc.constant('PING' as const) }),
  fc.record({
    type: fc.constant('PUT' as const),
    key: fc.string({ minLength: 1, maxLength: 20 }),
    record: fc.record({
      value: fc.uint8Array({ maxLength: 200 }),
      version: fc.nat(),
      writerId: fc.constant('w'),
      createdAt: fc.nat(),
      updatedAt: fc.nat(),
      expiresAt: fc.constant(null),
      tombstone: fc.boolean(),
    }),
  }),
);

function frameOf(id: number, message: StorageRequest): Buffer {
  const writer = new FrameWriter(256);
  writeRequestFrame(writer, id, message);
  return Buffer.concat(writer.take());
}

/** Hostile input: random bytes, truncated or bit-flipped valid frames, and huge announced lengths. */
const hostile: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes)),
  fc.tuple(request, fc.nat({ max: 0xffffffff }), fc.nat()).map(([message, id, cut]) => {
    const frame = frameOf(id, message);
    return frame.subarray(0, cut % (frame.length + 1));
  }),
  fc.tuple(request, fc.nat(), fc.nat({ max: 255 })).map(([message, at, flip]) => {
    const frame = Buffer.from(frameOf(1, message));
    frame[at % frame.length] = (frame[at % frame.length] as number) ^ (flip | 1);
    return frame;
  }),
  fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 64 })).map(([length, tail]) => {
    const head = Buffer.alloc(FRAME_LENGTH_BYTES);
    writeU32(head, 0, length);
    return Buffer.concat([head, Buffer.from(tail)]);
  }),
);

/** Cuts `bytes` at the given points. */
function cut(bytes: Buffer, cuts: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  for (const size of cuts) {
    if (at >= bytes.length) break;
    chunks.push(bytes.subarray(at, at + size + 1));
    at += size + 1;
  }
  if (at < bytes.length) chunks.push(bytes.subarray(at));
  return chunks;
}

describe('internode codec: fuzz', () => {
  it('reads hostile streams cut anywhere into frames or a FrameError, holding memory to what arrived', () => {
    const seed = seedForTest();
    fc.assert(
      fc.property(fc.array(hostile, { minLength: 1, maxLength: 6 }), fc.array(fc.nat({ max: 50 }), { maxLength: 40 }), (parts, cuts) => {
        const reader = new FrameReader(MAX_FRAME);
        let received = 0;
        try {
          for (const chunk of cut(Buffer.concat(parts), cuts)) {
            reader.push(chunk);
            received += chunk.length;
            while (reader.next()) {
              try {
                readRequest(reader);
              } catch (error) {
                expect(error).toBeInstanceOf(FrameError);
              }
            }
            expect(reader.reservedBytes).toBeLessThanOrEqual(Math.max(PARTIAL_FRAME_INITIAL_BYTES, 2 * received));
          }
        } catch (error) {
          expect(error).toBeInstanceOf(FrameError);
        }
      }),
      { seed, numRuns: 2000 },
    );
  });
});

describe('TcpStorageServer with a cluster secret: fuzz', () => {
  const handler = new MapStorageHandler('n1');
  let server: TcpStorageServer;
  let port: number;
  let client: TcpNodeClient;
  const stored = {
    type: 'PUT' as const,
    key: 'kept',
    record: { value: Uint8Array.from([1, 2, 3]), version: 7, writerId: 'w', createdAt: 1, updatedAt: 1, expiresAt: null, tombstone: false },
  };

  beforeAll(async () => {
    handler.handle(stored);
    server = new TcpStorageServer(handler, {
      clusterSecret: SECRET,
      maxFrameBytes: MAX_FRAME,
      onWarning: () => undefined,
      handshakeTimeoutMs: 300,
    });
    port = (await server.listen(0, '127.0.0.1')).port;
    client = new TcpNodeClient({ clusterSecret: SECRET, connectionsPerNode: 1 });
  });

  afterAll(async () => {
    await client.close();
    await server.close();
  });

  it('closes every hostile connection without a crash or a change to the store, within its bounds', async () => {
    const seed = seedForTest();
    const before = handler.handle({ type: 'PING' });
    await fc.assert(
      fc.asyncProperty(
        fc.array(hostile, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat({ max: 80 }), { maxLength: 20 }),
        async (parts, cuts) => {
          const socket = connect({ host: '127.0.0.1', port });
          socket.on('error', () => undefined);
          socket.on('data', () => undefined);
          const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
          await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
          for (const chunk of cut(Buffer.concat(parts), cuts)) socket.write(chunk);
          // A complete handshake cannot come from random bytes: the server closes it (a failed proof,
          // a request before the handshake, a length over the handshake's) or, for a truncated
          // HELLO, at the handshake deadline. Either way it must close on its own.
          const stats = server.stats();
          expect(stats.bufferedReadBytes).toBeLessThanOrEqual(stats.connections * 2 * PARTIAL_FRAME_INITIAL_BYTES);
          await closed;
        },
      ),
      { seed, numRuns: 60 },
    );
    expect(handler.handle({ type: 'PING' })).toEqual(before);
    expect(handler.handle({ type: 'GET', key: 'kept' })).toEqual({ type: 'GET', record: stored.record });
    const answer = await client.send(contractNode('n1', `127.0.0.1:${port}`), { type: 'PING' }, { timeoutMs: 5000 });
    expect(answer).toMatchObject({ type: 'PING', nodeId: 'n1' });
  }, 120_000);
});
