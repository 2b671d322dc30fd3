// Goal: a connection's FrameWriter fills one slab over and over while its socket keeps up, and
// never writes over bytes the socket may still hold. Before, every slab was filled once and
// dropped: a storage node answering 2 KB values made megabytes of new ArrayBuffers a second, and
// V8 answered that external memory with a full collection every 2-3 s on each node.
// Method: a writer driven turn by turn with a `released` switch (the socket's writableLength being
// 0, or not), watching where each turn's bytes land and which ArrayBuffers hold them; then a real
// server and a raw peer, and a real client and node, counting the 64 KiB slabs allocated while
// thousands of 2 KB values go out each way.
import { connect } from 'node:net';
import { MapStorageHandler } from '@dkv/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeRequestFrame } from './tcp-codec.js';
import { DEFAULT_SLAB_BYTES, FrameReader, FrameWriter } from './tcp-frame.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { TcpStorageServer } from './tcp-storage-server.js';
import { startTcpNode } from './test-support.js';

/** One turn: a frame of `bytes` bytes filled with `fill`, then taken. */
function turn(writer: FrameWriter, bytes: number, fill: number): Buffer[] {
  writer.ensure(bytes);
  writer.buffer.fill(fill, writer.pos, writer.pos + bytes);
  writer.pos += bytes;
  return writer.take();
}

describe('FrameWriter slabs', () => {
  it('starts again at the slab’s beginning once the socket released what it took: one ArrayBuffer for a thousand turns', () => {
    const writer = new FrameWriter(8192, () => true);
    const buffers = new Set<ArrayBufferLike>();
    for (let i = 0; i < 1000; i += 1) {
      const [chunk] = turn(writer, 2100, i & 0xff) as [Buffer];
      expect(chunk.byteOffset).toBe(0);
      expect(chunk.length).toBe(2100);
      buffers.add(chunk.buffer);
    }
    expect(buffers.size).toBe(1);
  });

  it('never writes over bytes the socket may still hold: taken chunks stay intact, and new slabs come as before', () => {
    const writer = new FrameWriter(8192, () => false);
    const taken: Array<{ chunk: Buffer; fill: number }> = [];
    const buffers = new Set<ArrayBufferLike>();
    for (let i = 0; i < 100; i += 1) {
      for (const chunk of turn(writer, 2100, i & 0xff)) {
        taken.push({ chunk, fill: i & 0xff });
        buffers.add(chunk.buffer);
      }
    }
    for (const { chunk, fill } of taken) expect(chunk.every((byte) => byte === fill)).toBe(true);
    expect(buffers.size).toBeGreaterThanOrEqual(25);
  });

  it('asks the socket only when every byte was taken, and takes it at its word turn by turn', () => {
    let released = false;
    let asked = 0;
    const writer = new FrameWriter(8192, () => {
      asked += 1;
      return released;
    });
    writer.ensure(100);
    writer.pos += 100;
    writer.ensure(100); // bytes await taking: the socket is not asked
    expect(asked).toBe(0);
    const [first] = writer.take() as [Buffer];
    const held = Buffer.from(first);
    turn(writer, 100, 7); // the socket still holds the first chunk: written after it
    expect(asked).toBe(1);
    expect(first.equals(held)).toBe(true);
    released = true;
    const [third] = turn(writer, 100, 9) as [Buffer];
    expect(third.byteOffset).toBe(0);
  });
});

describe('TcpStorageServer answer slabs', () => {
  const servers: TcpStorageServer[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  it('answers thousands of 2 KB values from one slab while its peer keeps up', async () => {
    const handler = new MapStorageHandler('n1');
    const value = new Uint8Array(2048).fill(3);
    handler.handle({
      type: 'PUT',
      key: 'k',
      record: { value, version: 1, writerId: 'w', createdAt: 1, updatedAt: 1, expiresAt: null, tombstone: false },
    });
    const server = new TcpStorageServer(handler, { onWarning: () => undefined });
    servers.push(server);
    const { port } = await server.listen(0, '127.0.0.1');
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const reader = new FrameReader(4 * 1024 * 1024);
    let answered = 0;
    let wake: () => void = () => undefined;
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      while (reader.next()) answered += 1;
      wake();
    });
    const slabs = vi.spyOn(Buffer, 'allocUnsafeSlow');
    const writer = new FrameWriter(DEFAULT_SLAB_BYTES, () => socket.writableLength === 0);
    // 2,000 GETs, 20 at a time: 4 MB of answers, 64 slabs of 64 KiB if none were filled again.
    for (let round = 0; round < 100; round += 1) {
      for (let i = 0; i < 20; i += 1) writeRequestFrame(writer, round * 20 + i + 1, { type: 'GET', key: 'k' });
      for (const chunk of writer.take()) socket.write(chunk);
      const expected = (round + 1) * 20;
      while (answered < expected) await new Promise<void>((resolve) => (wake = resolve));
    }
    const answerSlabs = slabs.mock.calls.filter(([size]) => size === DEFAULT_SLAB_BYTES).length;
    socket.destroy();
    // The peer's writer's first slab, and at most one more on either side.
    expect(answerSlabs).toBeLessThanOrEqual(3);
  });
});

describe('TcpNodeClient request slabs', () => {
  it('sends thousands of 2 KB writes from one slab while the node keeps up', async () => {
    const target = await startTcpNode('n1', new MapStorageHandler('n1'), { onWarning: () => undefined });
    const client = new TcpNodeClient({ connectionsPerNode: 1 });
    try {
      const value = new Uint8Array(2048).fill(5);
      const record = (version: number) => ({
        value,
        version,
        writerId: 'w',
        createdAt: 1,
        updatedAt: 1,
        expiresAt: null,
        tombstone: false,
      });
      const options = { timeoutMs: 5000 };
      await client.send(target.node, { type: 'PING' }, options);
      const slabs = vi.spyOn(Buffer, 'allocUnsafeSlow');
      // 2,000 PUTs, 20 at a time: 4 MB of requests, 64 slabs of 64 KiB if none were filled again.
      for (let round = 0; round < 100; round += 1) {
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => client.send(target.node, { type: 'PUT', key: `k${i}`, record: record(round + 1) }, options)),
        );
      }
      const requestSlabs = slabs.mock.calls.filter(([size]) => size === DEFAULT_SLAB_BYTES).length;
      expect(requestSlabs).toBeLessThanOrEqual(3);
    } finally {
      vi.restoreAllMocks();
      await client.close();
      await target.server.close();
    }
  });
});
