// Goal: the internode port holds its bounds against a hostile peer: a frame's announced length is
// not allocated before its bytes arrive, a pipelined burst of small requests cannot queue more
// answer bytes than the bound, and idle, half-sent and unauthenticated connections are closed.
// Method: FrameReader fed by hand, and raw sockets on 127.0.0.1 against a TcpStorageServer with
// small bounds, asserting on the server's own byte counters and bound counters (not on RSS).
import { connect, type Socket } from 'node:net';
import type { StorageRequest } from '@dkv/core';
import { MapStorageHandler } from '@dkv/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { writeRequestFrame } from './tcp-codec.js';
import { FRAME_LENGTH_BYTES, FrameReader, FrameWriter, writeU32 } from './tcp-frame.js';
import { TcpStorageServer, type TcpStorageServerOptions } from './tcp-storage-server.js';

const servers: TcpStorageServer[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function start(
  handler: MapStorageHandler,
  options: TcpStorageServerOptions = {},
): Promise<{ server: TcpStorageServer; port: number }> {
  const server = new TcpStorageServer(handler, { onWarning: () => undefined, ...options });
  servers.push(server);
  return { server, port: (await server.listen(0, '127.0.0.1')).port };
}

async function rawSocket(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return { socket, closed };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('FrameReader memory', () => {
  it("does not allocate a frame's announced length before its bytes arrive", () => {
    const max = 64 * 1024 * 1024;
    const reader = new FrameReader(max);
    const head = Buffer.alloc(100);
    writeU32(head, 0, max - FRAME_LENGTH_BYTES);
    reader.push(head);
    expect(reader.next()).toBe(false);
    expect(reader.reservedBytes).toBeLessThanOrEqual(64 * 1024);
    // The header split across chunks takes the other path: four length bytes first.
    const split = new FrameReader(max);
    split.push(head.subarray(0, 2));
    expect(split.next()).toBe(false);
    split.push(head.subarray(2, 50));
    expect(split.next()).toBe(false);
    expect(split.reservedBytes).toBeLessThanOrEqual(64 * 1024);
  });

  it('grows a partial frame as its bytes arrive and still reads it whole', () => {
    const reader = new FrameReader(4 * 1024 * 1024);
    const writer = new FrameWriter();
    writeRequestFrame(writer, 7, {
      type: 'PUT',
      key: 'k',
      record: {
        value: new Uint8Array(3 * 1024 * 1024).fill(7),
        version: 1,
        writerId: 'w',
        createdAt: 1,
        updatedAt: 1,
        expiresAt: null,
        tombstone: false,
      },
    });
    const frame = Buffer.concat(writer.take());
    let reservedMax = 0;
    let frames = 0;
    for (let at = 0; at < frame.length; at += 1000) {
      reader.push(frame.subarray(at, Math.min(frame.length, at + 1000)));
      while (reader.next()) frames += 1;
      reservedMax = Math.max(reservedMax, reader.reservedBytes);
      if (frames === 0) expect(reader.reservedBytes).toBeLessThanOrEqual(Math.max(64 * 1024, 2 * (at + 1000)));
    }
    expect(frames).toBe(1);
    expect(reader.id).toBe(7);
    expect(reservedMax).toBeLessThanOrEqual(2 * frame.length);
  });
});

describe('TcpStorageServer bounds', () => {
  it('queues at most maxBufferedWriteBytes of answers for a client that pipelines and does not read', async () => {
    const handler = new MapStorageHandler('n1');
    const value = new Uint8Array(64 * 1024).fill(1);
    handler.handle({
      type: 'PUT',
      key: 'big',
      record: { value, version: 1, writerId: 'w', createdAt: 1, updatedAt: 1, expiresAt: null, tombstone: false },
    });
    let handled = 0;
    const counting = { handle: (request: StorageRequest) => ((handled += 1), handler.handle(request)) };
    const maxBufferedWriteBytes = 256 * 1024;
    const { server, port } = await start(counting as unknown as MapStorageHandler, { maxBufferedWriteBytes });
    const { socket } = await rawSocket(port);
    socket.pause();
    const requests = 2000;
    const writer = new FrameWriter();
    for (let id = 1; id <= requests; id += 1) writeRequestFrame(writer, id, { type: 'GET', key: 'big' });
    for (const chunk of writer.take()) socket.write(chunk);
    await until(() => server.stats().bounds.write_backpressure >= 1 || handled === requests, 'the server to pause or answer everything');
    // Whatever the kernel took, the process itself holds at most the bound plus one answer.
    expect(server.stats().queuedAnswerBytes).toBeLessThanOrEqual(maxBufferedWriteBytes + 2 * value.length);
    expect(handled).toBeLessThan(requests);
    socket.resume();
  });

  it('closes a connection that sends nothing for idleTimeoutMs, and counts it', async () => {
    const { server, port } = await start(new MapStorageHandler('n1'), { idleTimeoutMs: 200 });
    const { closed } = await rawSocket(port);
    await closed;
    expect(server.stats().bounds.idle_timeout).toBe(1);
    await until(() => server.stats().connections === 0, 'the server to forget the connection');
  });

  it('closes a connection whose frame is not complete within readTimeoutMs, however it trickles', async () => {
    const { server, port } = await start(new MapStorageHandler('n1'), { idleTimeoutMs: 60_000, readTimeoutMs: 300 });
    const { socket, closed } = await rawSocket(port);
    const head = Buffer.alloc(8);
    writeU32(head, 0, 1000);
    socket.write(head.subarray(0, 5));
    // One byte every 50 ms keeps the connection from ever being idle.
    const trickle = setInterval(() => socket.write(Buffer.from([0])), 50);
    await closed;
    clearInterval(trickle);
    expect(server.stats().bounds.read_timeout).toBe(1);
  });

  it('refuses connections beyond maxConnections, and counts them', async () => {
    const { server, port } = await start(new MapStorageHandler('n1'), { maxConnections: 2 });
    await rawSocket(port);
    await rawSocket(port);
    await until(() => server.stats().connections === 2, 'two connections');
    const third = await rawSocket(port);
    await third.closed;
    expect(server.stats().bounds.connection_refused).toBe(1);
    expect(server.stats().connections).toBe(2);
  });
});
