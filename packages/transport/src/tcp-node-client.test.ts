// Goal: TcpNodeClient's own promises beyond the shared contract: many requests share one
// connection and each gets its own answer whatever the order of completion; the frames of one
// turn leave in one write; every failure has the right kind (error frame and lost connection
// `remote`, refused or known-down `unreachable` and fast, bound `overloaded`, timeout while
// connected); and the client reconnects by itself once a node is back on the same port. Method:
// real TcpStorageServers on 127.0.0.1, handlers that wait on a gate or reorder their answers, and
// polling of conditions rather than sleeps.
import { createServer, Socket, type AddressInfo } from 'node:net';
import { NodeUnavailableError, type Node, type NodeFailureKind, type StorageRequest, type VersionedValue } from '@dkv/core';
import { contractNode, MapStorageHandler } from '@dkv/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MaybeAsyncStorageRequestHandler } from './handler.js';
import { TcpNodeClient, type TcpNodeClientOptions } from './tcp-node-client.js';
import { deadAddress, Gate, startTcpNode, type TcpTestNode } from './test-support.js';

const opts = { timeoutMs: 5_000 };
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(options: TcpNodeClientOptions = {}): TcpNodeClient {
  const created = new TcpNodeClient({ reconnectBaseDelayMs: 5, reconnectMaxDelayMs: 20, ...options });
  cleanups.push(() => created.close());
  return created;
}

async function node(id: string, handler?: MaybeAsyncStorageRequestHandler, port = 0): Promise<TcpTestNode> {
  const started = await startTcpNode(id, handler, { onWarning: () => undefined }, port);
  cleanups.push(() => started.server.close());
  return started;
}

function record(version: number, value: Uint8Array): VersionedValue {
  return { value, version, writerId: 'w', createdAt: 1, updatedAt: 2, expiresAt: null, tombstone: false };
}

async function failure(promise: Promise<unknown>): Promise<NodeUnavailableError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(NodeUnavailableError);
    return error as NodeUnavailableError;
  }
  throw new Error('expected the send to fail');
}

async function expectKind(promise: Promise<unknown>, kind: NodeFailureKind, message?: RegExp): Promise<void> {
  const error = await failure(promise);
  expect(error.kind).toBe(kind);
  if (message) expect(error.message).toMatch(message);
}

/** Resolves once `condition` holds, checking on every macrotask; fails after `limitMs`. */
async function until(condition: () => boolean | Promise<boolean>, limitMs = 3_000): Promise<void> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > limitMs) throw new Error('the condition did not hold in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('TcpNodeClient', () => {
  it('multiplexes many concurrent requests over one connection, answered out of order', async () => {
    const inner = new MapStorageHandler('n1');
    let calls = 0;
    const shuffling: MaybeAsyncStorageRequestHandler = {
      handle: async (request) => {
        calls += 1;
        for (let hop = 0; hop < (calls * 7919) % 5; hop += 1) await new Promise((resolve) => setImmediate(resolve));
        return inner.handle(request);
      },
    };
    const { node: target } = await node('n1', shuffling);
    const tcp = client({ connectionsPerNode: 1 });
    const count = 300;
    const writes = Array.from({ length: count }, (_, i) =>
      tcp.send(target, { type: 'PUT', key: `k${i}`, record: record(i + 1, Uint8Array.from([i & 0xff, i >> 8])) }, opts),
    );
    expect((await Promise.all(writes)).map((answer) => answer.version)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    const reads = await Promise.all(Array.from({ length: count }, (_, i) => tcp.send(target, { type: 'GET', key: `k${i}` }, opts)));
    reads.forEach((answer, i) => expect(answer.record?.value).toEqual(Uint8Array.from([i & 0xff, i >> 8])));
  });

  it('keeps every value it answered intact while later reads fill its read memory, one answer at a time and in bursts', async () => {
    const { node: target } = await node('n1');
    const tcp = client({ connectionsPerNode: 1 });
    const count = 120;
    // 120 values of 3 KiB (with one byte of each differing) fill several 128 KiB read slabs.
    const valueOf = (i: number): Uint8Array => new Uint8Array(3072).fill(i & 0xff).fill(0x5a, 100, 101);
    for (let i = 0; i < count; i += 1) await tcp.send(target, { type: 'PUT', key: `k${i}`, record: record(i + 1, valueOf(i)) }, opts);
    const kept: Uint8Array[] = [];
    for (let i = 0; i < count; i += 1) kept.push((await tcp.send(target, { type: 'GET', key: `k${i}` }, opts)).record?.value as Uint8Array);
    const burst = await Promise.all(Array.from({ length: count }, (_, i) => tcp.send(target, { type: 'GET', key: `k${i}` }, opts)));
    for (const answer of burst) kept.push(answer.record?.value as Uint8Array);
    await Promise.all(Array.from({ length: count }, (_, i) => tcp.send(target, { type: 'GET', key: `k${count - 1 - i}` }, opts)));
    kept.forEach((value, i) => expect(Buffer.from(value).equals(Buffer.from(valueOf(i % count)))).toBe(true));
  });

  it('writes the frames of one event-loop turn in one socket write', async () => {
    const { node: target } = await node('n1');
    const tcp = client({ connectionsPerNode: 1 });
    await tcp.send(target, { type: 'PING' }, opts);
    const write = vi.spyOn(Socket.prototype, 'write');
    const sends = Array.from({ length: 100 }, (_, i) => tcp.send(target, { type: 'GET', key: `k${i}` }, opts));
    await new Promise((resolve) => setImmediate(resolve));
    expect(write).toHaveBeenCalledTimes(1);
    await Promise.all(sends);
    // The server's answers are coalesced too: far fewer writes than the 100 answers.
    expect(write.mock.calls.length).toBeLessThan(10);
  });

  it('fails a request the node answers with an error frame as remote, and the connection stays usable', async () => {
    const inner = new MapStorageHandler('n1');
    const { node: target } = await node('n1', {
      handle: (request) => {
        if (request.type === 'HEAD') throw new Error('disk on fire');
        return inner.handle(request);
      },
    });
    const tcp = client();
    await expectKind(
      tcp.send(target, { type: 'HEAD', key: 'k' }, opts),
      'remote',
      /the node answered an error: the handler failed: disk on fire/,
    );
    expect(await tcp.send(target, { type: 'PING' }, opts)).toMatchObject({ nodeId: 'n1' });
  });

  it('times out a request to a connected node that does not answer, and drops the late answer', async () => {
    const gate = new Gate();
    const { node: target } = await node('n1', gate.handlerFor(new MapStorageHandler('n1')));
    const tcp = client({ connectionsPerNode: 1 });
    const started = performance.now();
    await expectKind(tcp.send(target, { type: 'PING' }, { timeoutMs: 50 }), 'timeout', /no answer within 50 ms/);
    expect(performance.now() - started).toBeLessThan(500);
    gate.release();
    expect(await tcp.send(target, { type: 'PING' }, opts)).toMatchObject({ nodeId: 'n1' });
  });

  it('times out each request at its own deadline when requests of several timeouts are in flight, and never one that was answered', async () => {
    const gate = new Gate();
    const held = await node('held', gate.handlerFor(new MapStorageHandler('held')));
    const { node: quick } = await node('quick');
    const tcp = client({ connectionsPerNode: 1 });
    const started = performance.now();
    const settledAt = (promise: Promise<unknown>): Promise<{ kind: string; ms: number }> =>
      promise.then(
        () => ({ kind: 'answered', ms: performance.now() - started }),
        (error: NodeUnavailableError) => ({ kind: error.kind, ms: performance.now() - started }),
      );
    // Answered requests share the deadline lists of the ones that time out, before and after them.
    const answeredFirst = settledAt(tcp.send(quick, { type: 'PING' }, { timeoutMs: 120 }));
    const long = settledAt(tcp.send(held.node, { type: 'PING' }, { timeoutMs: 400 }));
    const short = settledAt(tcp.send(held.node, { type: 'PING' }, { timeoutMs: 120 }));
    const shortLater = settledAt(tcp.send(held.node, { type: 'PING' }, { timeoutMs: 120 }));
    const answeredLast = settledAt(tcp.send(quick, { type: 'PING' }, { timeoutMs: 400 }));
    expect(await answeredFirst).toMatchObject({ kind: 'answered' });
    expect(await answeredLast).toMatchObject({ kind: 'answered' });
    const [shortOutcome, shortLaterOutcome, longOutcome] = await Promise.all([short, shortLater, long]);
    for (const [outcome, timeoutMs] of [
      [shortOutcome, 120],
      [shortLaterOutcome, 120],
      [longOutcome, 400],
    ] as const) {
      expect(outcome.kind).toBe('timeout');
      expect(outcome.ms).toBeGreaterThanOrEqual(timeoutMs - 2);
      expect(outcome.ms).toBeLessThan(timeoutMs + 300);
    }
    expect(longOutcome.ms).toBeGreaterThan(shortLaterOutcome.ms);
    gate.release();
    // A request after the lists emptied gets a deadline again.
    const late = new Gate();
    const { node: slow } = await node('slow', late.handlerFor(new MapStorageHandler('slow')));
    await expectKind(tcp.send(slow, { type: 'PING' }, { timeoutMs: 30 }), 'timeout', /no answer within 30 ms/);
    late.release();
  });

  it('fails sends beyond maxInFlightPerNode as overloaded at once', async () => {
    const gate = new Gate();
    const { node: target } = await node('n1', gate.handlerFor(new MapStorageHandler('n1')));
    const tcp = client({ maxInFlightPerNode: 3 });
    const held = [1, 2, 3].map(() => tcp.send(target, { type: 'PING' }, opts));
    await expectKind(tcp.send(target, { type: 'PING' }, opts), 'overloaded', /3 requests in flight, the limit is 3/);
    gate.release();
    expect(await Promise.all(held)).toHaveLength(3);
    expect(await tcp.send(target, { type: 'PING' }, opts)).toMatchObject({ type: 'PING' });
  });

  it('fails sends as overloaded once maxBufferedWriteBytes wait to be written to a node that stopped reading', async () => {
    const stalled = createServer((socket) => socket.pause());
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => stalled.close(() => resolve())));
    const sockets = new Set<Socket>();
    stalled.on('connection', (socket) => sockets.add(socket));
    cleanups.push(async () => sockets.forEach((socket) => socket.destroy()));
    const target = contractNode('stalled', `127.0.0.1:${(stalled.address() as AddressInfo).port}`);
    const tcp = client({ connectionsPerNode: 1, maxBufferedWriteBytes: 64 * 1024 });
    const value = new Uint8Array(256 * 1024);
    let overloaded: NodeUnavailableError | null = null;
    // Each turn writes one 256 KiB frame; the kernel's buffers take some MiB, then the socket's fills.
    for (let turn = 0; turn < 400 && overloaded === null; turn += 1) {
      tcp
        .send(target, { type: 'PUT', key: 'k', record: record(turn + 1, value) }, { timeoutMs: 1 })
        .catch((error: NodeUnavailableError) => {
          if (error.kind === 'overloaded') overloaded = error;
        });
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(overloaded).not.toBeNull();
    expect(String(overloaded)).toMatch(/bytes wait to be written to the node, the limit is 65536/);
  });

  it('fails a dead node as unreachable, then fails fast while it is known down', async () => {
    const dead = contractNode('dead', await deadAddress());
    const tcp = client({ reconnectBaseDelayMs: 1_000, reconnectMaxDelayMs: 1_000 });
    await expectKind(tcp.send(dead, { type: 'PING' }, opts), 'unreachable', /cannot connect \(ECONNREFUSED\)/);
    const started = performance.now();
    await expectKind(tcp.send(dead, { type: 'GET', key: 'k' }, opts), 'unreachable', /not connected \(.*ECONNREFUSED.*\); reconnecting/);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('says when a failure comes from a refused connection (evidence that the process is gone), and not for a timeout', async () => {
    const dead = contractNode('dead', await deadAddress());
    const tcp = client({ reconnectBaseDelayMs: 1_000, reconnectMaxDelayMs: 1_000 });
    expect((await failure(tcp.send(dead, { type: 'PING' }, opts))).refused).toBe(true);
    expect((await failure(tcp.send(dead, { type: 'PING' }, opts))).refused).toBe(true);
    const gate = new Gate();
    const { node: slow } = await node('slow', gate.handlerFor(new MapStorageHandler('slow')));
    const timedOut = await failure(tcp.send(slow, { type: 'PING' }, { timeoutMs: 50 }));
    expect(timedOut.kind).toBe('timeout');
    expect(timedOut.refused).toBe(false);
    gate.release();
  });

  it('after its connections parked for want of use, waits on a fresh attempt instead of failing on the old refusal', async () => {
    // A cluster starting at once: a peer refused the first connection (not listening yet), nothing
    // was sent for a while, and the peer is up now. The next request must reach it, not fail with
    // the stale "refused" (which marks the node down at once) before a new attempt was even made.
    const address = await deadAddress();
    const tcp = client({ reconnectBaseDelayMs: 5, reconnectMaxDelayMs: 10 });
    const target = contractNode('late', address);
    expect((await failure(tcp.send(target, { type: 'PING' }, opts))).refused).toBe(true);
    await node('late', new MapStorageHandler('late'), Number(address.split(':')[1]));
    // The reconnect timer (at most 10 ms) fires and, nobody having asked since, parks the
    // connections: nothing outside shows that, so this waits well past it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await tcp.send(target, { type: 'PING' }, opts)).toMatchObject({ type: 'PING', nodeId: 'late' });
  });

  it('fails the requests of a connection that dies as remote, and reconnects once the node is back on its port', async () => {
    const gate = new Gate();
    const first = await node('n1', gate.handlerFor(new MapStorageHandler('n1')));
    const tcp = client();
    const inFlight = expectKind(tcp.send(first.node, { type: 'GET', key: 'k' }, opts), 'remote', /the connection was lost/);
    await until(() => gate.waiting === 1);
    await first.server.close();
    await inFlight;
    await expectKind(tcp.send(first.node, { type: 'PING' }, opts), 'unreachable');

    const second = await node('n1', new MapStorageHandler('n1'), first.port);
    await until(async () => {
      try {
        return (await tcp.send(second.node, { type: 'PING' }, opts)).nodeId === 'n1';
      } catch (error) {
        expect((error as NodeUnavailableError).kind).toBe('unreachable');
        return false;
      }
    });
    gate.release();
  });

  it('refuses a request frame over maxFrameBytes as remote without sending it', async () => {
    const { node: target } = await node('n1');
    const tcp = client({ maxFrameBytes: 1024 });
    await expectKind(
      tcp.send(target, { type: 'PUT', key: 'k', record: record(1, new Uint8Array(2048)) }, opts),
      'remote',
      /over the limit of 1024 bytes/,
    );
    expect(await tcp.send(target, { type: 'HEAD', key: 'k' }, opts)).toEqual({ type: 'HEAD', meta: null });
  });

  it('fails the requests of a connection whose answer is over maxFrameBytes as remote', async () => {
    const inner = new MapStorageHandler('n1');
    inner.handle({ type: 'PUT', key: 'big', record: record(1, new Uint8Array(4096)) });
    const { node: target } = await node('n1', inner);
    const tcp = client({ maxFrameBytes: 1024, connectionsPerNode: 1 });
    await expectKind(tcp.send(target, { type: 'GET', key: 'big' }, opts), 'remote', /over the limit of 1024 bytes/);
  });

  it('fails pending requests as closed on close()', async () => {
    const gate = new Gate();
    const { node: target } = await node('n1', gate.handlerFor(new MapStorageHandler('n1')));
    const tcp = client();
    const pending = expectKind(tcp.send(target, { type: 'PING' }, opts), 'closed');
    await until(() => gate.waiting === 1);
    await tcp.close();
    await pending;
    gate.release();
  });

  it('refuses addresses that are not host:port, and options that are not positive whole numbers', async () => {
    const tcp = client();
    for (const address of ['nowhere', 'host:0', 'host:99999', ':80', 'a:b:80']) {
      await expectKind(tcp.send(contractNode('x', address), { type: 'PING' }, opts), 'unreachable', /is not host:port/);
    }
    expect(() => new TcpNodeClient({ connectionsPerNode: 0 })).toThrow(RangeError);
    expect(() => new TcpNodeClient({ reconnectBaseDelayMs: 100, reconnectMaxDelayMs: 10 })).toThrow(RangeError);
  });

  it('speaks to IPv6 addresses in brackets', async (context) => {
    const inner = new MapStorageHandler('v6');
    const { TcpStorageServer } = await import('./tcp-storage-server.js');
    const server = new TcpStorageServer(inner);
    let port: number;
    try {
      port = (await server.listen(0, '::1')).port;
    } catch {
      return context.skip('no IPv6 loopback here');
    }
    cleanups.push(() => server.close());
    const target: Node = contractNode('v6', `[::1]:${port}`);
    expect(await client().send(target, { type: 'PING' }, opts)).toMatchObject({ nodeId: 'v6' });
  });

  it('sends every request type with its own layout and answers of the matching type', async () => {
    const { node: target } = await node('n1');
    const tcp = client();
    const requests: StorageRequest[] = [
      { type: 'PUT', key: 'k', record: record(3, Uint8Array.from([3])) },
      { type: 'HEAD', key: 'k' },
      { type: 'GET', key: 'k' },
      { type: 'PING' },
    ];
    for (const request of requests) expect((await tcp.send(target, request, opts)).type).toBe(request.type);
  });
});
