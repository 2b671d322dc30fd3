// Goal: TcpStorageServer answers every well-framed request with its own id, whatever order the
// handler finishes in; refuses bad frames with a clear error and never lets one connection's
// garbage touch another; and bounds what it takes on per connection. Method: raw sockets on
// 127.0.0.1 speaking the frame format by hand (FrameWriter/FrameReader), against servers backed
// by testkit's map handler or handlers that wait, throw, or count. Nothing sleeps but the one
// check that a paused connection stays paused.
import { connect, type Socket } from 'node:net';
import type { StorageRequest, StorageResponse } from '@dkv/core';
import { MapStorageHandler } from '@dkv/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import type { MaybeAsyncStorageRequestHandler } from './handler.js';
import { readErrorReason, readResponse, writeRequestFrame } from './tcp-codec.js';
import { FRAME_HEADER_BYTES, FrameKind, FrameReader, FrameWriter, writeU32 } from './tcp-frame.js';
import { TcpStorageServer, type TcpStorageServerOptions } from './tcp-storage-server.js';
import { Gate } from './test-support.js';

interface Answer {
  readonly id: number;
  readonly kind: number;
  readonly response?: StorageResponse;
  readonly reason?: string;
}

/** A raw connection that writes frames and collects the answers. */
class RawPeer {
  readonly answers: Answer[] = [];
  readonly closed: Promise<void>;
  private readonly reader = new FrameReader(4 * 1024 * 1024);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      while (this.reader.next()) {
        const { id, kind } = this.reader;
        if (kind === FrameKind.ERROR) this.answers.push({ id, kind, reason: readErrorReason(this.reader) });
        else this.answers.push({ id, kind, response: readResponse(this.reader) });
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static async open(port: number): Promise<RawPeer> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawPeer(socket);
  }

  send(...requests: [number, StorageRequest][]): void {
    const writer = new FrameWriter();
    for (const [id, request] of requests) writeRequestFrame(writer, id, request);
    for (const chunk of writer.take()) this.socket.write(chunk);
  }

  async waitFor(count: number): Promise<Answer[]> {
    while (this.answers.length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.answers;
  }
}

const servers: TcpStorageServer[] = [];
const peers: RawPeer[] = [];

async function start(handler: MaybeAsyncStorageRequestHandler, options: TcpStorageServerOptions = {}): Promise<number> {
  const server = new TcpStorageServer(handler, { onWarning: () => undefined, ...options });
  servers.push(server);
  return (await server.listen(0, '127.0.0.1')).port;
}

async function open(port: number): Promise<RawPeer> {
  const peer = await RawPeer.open(port);
  peers.push(peer);
  return peer;
}

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.socket.destroy();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const record = (version: number, value: Uint8Array) => ({
  value,
  version,
  writerId: 'w',
  createdAt: 1,
  updatedAt: 2,
  expiresAt: null,
  tombstone: false,
});

describe('TcpStorageServer', () => {
  it('answers each frame with its request id', async () => {
    const peer = await open(await start(new MapStorageHandler('n1')));
    peer.send(
      [11, { type: 'PUT', key: 'k', record: record(1, Uint8Array.from([5])) }],
      [12, { type: 'GET', key: 'k' }],
      [13, { type: 'PING' }],
    );
    const answers = await peer.waitFor(3);
    expect(answers.map(({ id }) => id)).toEqual([11, 12, 13]);
    expect(answers[1]?.response).toMatchObject({ type: 'GET', record: { version: 1, value: Uint8Array.from([5]) } });
    expect(answers[2]?.response).toMatchObject({ type: 'PING', nodeId: 'n1' });
  });

  it('answers through handleBorrowed when the handler has it, encoding the borrowed bytes before anything can change them', async () => {
    const inner = new MapStorageHandler('n1');
    const lent = Uint8Array.from([1, 2, 3]);
    const calls: string[] = [];
    const handler: MaybeAsyncStorageRequestHandler = {
      handle: (request) => (calls.push(`handle ${request.type}`), inner.handle(request)),
      handleBorrowed: (request) => {
        calls.push(`borrowed ${request.type}`);
        if (request.type !== 'GET') return inner.handle(request);
        // The lender reuses its memory as soon as control goes back to the event loop.
        queueMicrotask(() => lent.fill(9));
        return { type: 'GET', record: { ...record(4, lent) } };
      },
    };
    const peer = await open(await start(handler));
    peer.send([1, { type: 'GET', key: 'k' }], [2, { type: 'PING' }]);
    const answers = await peer.waitFor(2);
    expect(answers[0]?.response).toMatchObject({ type: 'GET', record: { version: 4, value: Uint8Array.from([1, 2, 3]) } });
    expect(calls).toEqual(['borrowed GET', 'borrowed PING']);
  });

  it("lends a PUT's value as a view of its frame to handleBorrowed only, and gives handle memory of its own", async () => {
    const values: Uint8Array[] = [];
    const keeping = (inner: MapStorageHandler) => (request: StorageRequest) => {
      if (request.type === 'PUT') values.push(request.record.value);
      return inner.handle(request);
    };
    const plain = new MapStorageHandler('n1');
    const borrowing = new MapStorageHandler('n1');
    const plainPeer = await open(await start({ handle: keeping(plain) }));
    const borrowingPeer = await open(await start({ handle: (request) => borrowing.handle(request), handleBorrowed: keeping(borrowing) }));
    plainPeer.send([1, { type: 'PUT', key: 'k', record: record(1, Uint8Array.from([1, 2, 3])) }]);
    await plainPeer.waitFor(1);
    borrowingPeer.send([1, { type: 'PUT', key: 'k', record: record(1, Uint8Array.from([4, 5, 6])) }]);
    await borrowingPeer.waitFor(1);
    expect(values).toEqual([Uint8Array.from([1, 2, 3]), Uint8Array.from([4, 5, 6])]);
    expect(values[0]?.buffer.byteLength).toBe(3);
    // The view lies inside the chunk the frame arrived in, with the frame's header before it.
    expect(values[1]?.byteOffset).toBeGreaterThan(0);
  });

  it('answers in order of completion when the handler is asynchronous, many at once on one connection', async () => {
    const inner = new MapStorageHandler('n1');
    const count = 200;
    const handler: MaybeAsyncStorageRequestHandler = {
      handle: async (request) => {
        const index = request.type === 'GET' ? Number(request.key) : 0;
        // Later requests finish first: a handful of macrotask hops, fewer for higher indexes.
        for (let hop = 0; hop < (count - index) % 7; hop += 1) await new Promise((resolve) => setImmediate(resolve));
        return inner.handle(request);
      },
    };
    const peer = await open(await start(handler));
    peer.send(...Array.from({ length: count }, (_, i): [number, StorageRequest] => [i + 1, { type: 'GET', key: String(i) }]));
    const answers = await peer.waitFor(count);
    const ids = answers.map(({ id }) => id);
    expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(ids).not.toEqual([...ids].sort((a, b) => a - b));
    expect(answers.every(({ response }) => response?.type === 'GET')).toBe(true);
  });

  it('answers a malformed frame with an error naming the field, and keeps the connection', async () => {
    const peer = await open(await start(new MapStorageHandler('n1')));
    const bad = Buffer.alloc(FRAME_HEADER_BYTES + 2);
    writeU32(bad, 0, bad.length - 4);
    writeU32(bad, 4, 21);
    bad[8] = FrameKind.GET;
    peer.socket.write(bad);
    peer.send([22, { type: 'PING' }]);
    const answers = await peer.waitFor(2);
    expect(answers[0]).toMatchObject({ id: 21, kind: FrameKind.ERROR });
    expect(answers[0]?.reason).toMatch(/invalid request frame: key: must be 1 to 512 bytes/);
    expect(answers[1]).toMatchObject({ id: 22, response: { type: 'PING' } });
  });

  it('answers a handler that throws or rejects with an error frame', async () => {
    const peer = await open(
      await start({
        handle: (request) => {
          if (request.type === 'PING') throw new Error('boom');
          return Promise.reject(new Error('async boom'));
        },
      }),
    );
    peer.send([1, { type: 'PING' }], [2, { type: 'GET', key: 'k' }]);
    const answers = await peer.waitFor(2);
    expect(answers.find(({ id }) => id === 1)?.reason).toBe('the handler failed: boom');
    expect(answers.find(({ id }) => id === 2)?.reason).toBe('the handler failed: async boom');
  });

  it('closes a connection that sends an oversized frame, with a reason and a warning, and others carry on', async () => {
    const warnings: string[] = [];
    const port = await start(new MapStorageHandler('n1'), { maxFrameBytes: 1024, onWarning: (message) => warnings.push(message) });
    const [bad, good] = await Promise.all([open(port), open(port)]);
    bad.send([1, { type: 'PUT', key: 'k', record: record(1, new Uint8Array(2000)) }]);
    await bad.closed;
    expect(bad.answers).toEqual([{ id: 0, kind: FrameKind.ERROR, reason: expect.stringMatching(/over the limit of 1024 bytes/) }]);
    expect(warnings).toEqual([
      expect.stringMatching(/closing the connection from 127\.0\.0\.1:\d+: invalid frame: \d+ bytes is over the limit/),
    ]);
    good.send([2, { type: 'PING' }]);
    expect((await good.waitFor(1))[0]).toMatchObject({ id: 2, response: { type: 'PING' } });
  });

  it('replaces an answer over the frame limit by an error frame', async () => {
    const inner = new MapStorageHandler('n1');
    inner.handle({ type: 'PUT', key: 'big', record: record(1, new Uint8Array(4000)) });
    const peer = await open(await start(inner, { maxFrameBytes: 1024 }));
    peer.send([1, { type: 'GET', key: 'big' }], [2, { type: 'PING' }]);
    const answers = await peer.waitFor(2);
    expect(answers[0]?.reason).toMatch(/the answer of \d+ bytes is over the frame limit of 1024 bytes/);
    expect(answers[1]?.response).toMatchObject({ type: 'PING' });
  });

  it('stops reading a connection at maxInFlightPerConnection unanswered requests, and resumes', async () => {
    const gate = new Gate();
    const peer = await open(await start(gate.handlerFor(new MapStorageHandler('n1')), { maxInFlightPerConnection: 4 }));
    peer.send(...Array.from({ length: 10 }, (_, i): [number, StorageRequest] => [i + 1, { type: 'PING' }]));
    while (gate.waiting < 4) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(gate.waiting).toBe(4);
    gate.release();
    expect((await peer.waitFor(10)).map(({ id }) => id).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('refuses bounds that are not positive whole numbers', () => {
    expect(() => new TcpStorageServer(new MapStorageHandler('n1'), { maxInFlightPerConnection: 0 })).toThrow(RangeError);
    expect(() => new TcpStorageServer(new MapStorageHandler('n1'), { maxFrameBytes: 1.5 })).toThrow(RangeError);
  });

  it('closes every connection on close()', async () => {
    const port = await start(new MapStorageHandler('n1'));
    const peer = await open(port);
    await servers[0]?.close();
    await peer.closed;
  });
});
