// Goal: LocalFirstNodeClient answers requests to its own node in-process (never through the wire
// client), keeps the NodeClient port's promises for both its local and its remote targets, and
// owns the bytes a local replica keeps. Method: testkit's contract suite with the local node first
// among real TCP storage nodes (so most cases exercise the in-process path, and the slow and dead
// nodes the delegation), and the same through `sendTo` (the callback form the quorum uses), then
// unit cases with a recording remote double and small handlers.
import {
  NodeUnavailableError,
  type Node,
  type NodeClient,
  type RequestOptions,
  type ResponseFor,
  type StorageRequest,
  type StorageRequestHandler,
  type VersionedValue,
} from '@dkv/core';
import { SystemClock } from '@dkv/runtime';
import { CompactStorageEngine, InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { contractNode, describeNodeClientContract, MapStorageHandler } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { LocalFirstNodeClient } from './local-first-node-client.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { contractHarness, startTcpCluster, throughSendTo } from './test-support.js';

const SELF = contractNode('self', '127.0.0.1:1');
const OTHER = contractNode('other', '127.0.0.1:2');
const opts: RequestOptions = { timeoutMs: 1000 };

/** The contract's harness: the local node first among 2 TCP storage nodes; `seen` wraps the client (as it is, or through `sendTo`). */
async function localFirstHarness(seen: (client: NodeClient) => NodeClient) {
  const cluster = await startTcpCluster(2);
  const self = contractNode('node-local', '127.0.0.1:1');
  const replica = new StorageService({
    nodeId: self.id,
    engine: new InMemoryStorageEngine({ clock: new SystemClock(), tombstoneGraceMs: 3_600_000 }),
  });
  const client = new LocalFirstNodeClient(self.id, replica, new TcpNodeClient({ connectionsPerNode: 1 }));
  return contractHarness({ ...cluster, nodes: [self, ...cluster.nodes] }, seen(client));
}

describeNodeClientContract('LocalFirstNodeClient (own StorageService in-process, TCP to the others)', () =>
  localFirstHarness((client) => client),
);

describeNodeClientContract('LocalFirstNodeClient through sendTo (own StorageService in-process, TCP to the others)', () =>
  localFirstHarness(throughSendTo),
);

/** A remote client that records what reaches it and answers PING for anyone. */
class RecordingRemote implements NodeClient {
  readonly sent: Array<{ target: string; type: string }> = [];
  closes = 0;
  send<R extends StorageRequest>(target: Node, request: R): Promise<ResponseFor<R>> {
    this.sent.push({ target: target.id, type: request.type });
    return Promise.resolve({ type: 'PING', nodeId: target.id, ready: true, keys: 0, bytes: 0 } as ResponseFor<R>);
  }
  async close(): Promise<void> {
    this.closes += 1;
  }
}

function record(value: Uint8Array, version = 1): VersionedValue {
  return { value, version, writerId: 'self', createdAt: 1, updatedAt: 1, expiresAt: null, tombstone: false };
}

async function failure(promise: Promise<unknown>): Promise<NodeUnavailableError> {
  const error = await promise.then(
    () => new Error('expected a failure'),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(NodeUnavailableError);
  return error as NodeUnavailableError;
}

describe('LocalFirstNodeClient', () => {
  it('answers its own node in-process and sends every other target to the remote client', async () => {
    const remote = new RecordingRemote();
    const client = new LocalFirstNodeClient(SELF.id, new MapStorageHandler(SELF.id), remote);
    await client.send(SELF, { type: 'PUT', key: 'k', record: record(Uint8Array.from([1])) }, opts);
    const local = await client.send(SELF, { type: 'GET', key: 'k' }, opts);
    expect(local.record?.value).toEqual(Uint8Array.from([1]));
    expect((await client.send(SELF, { type: 'PING' }, opts)).nodeId).toBe(SELF.id);
    expect(remote.sent).toEqual([]);
    expect((await client.send(OTHER, { type: 'PING' }, opts)).nodeId).toBe(OTHER.id);
    expect(remote.sent).toEqual([{ target: OTHER.id, type: 'PING' }]);
  });

  it('keeps a PUT value in an exact-size buffer of its own, whatever the sender does with its buffer', async () => {
    const handler = new MapStorageHandler(SELF.id);
    const client = new LocalFirstNodeClient(SELF.id, handler, new RecordingRemote());
    const body = Buffer.from('....hello....');
    const value = body.subarray(4, 9);
    await client.send(SELF, { type: 'PUT', key: 'k', record: record(value) }, opts);
    body.fill(0);
    const held = handler.handle({ type: 'GET', key: 'k' });
    expect(held.type === 'GET' && held.record ? Buffer.from(held.record.value).toString() : null).toBe('hello');
    expect(held.type === 'GET' ? held.record?.value.buffer.byteLength : 0).toBe(5);
  });

  it('hands a PUT value as it is to a handler that copies what it keeps (handleBorrowed), and never a GET', async () => {
    const compact = new StorageService({
      nodeId: SELF.id,
      engine: new CompactStorageEngine({ clock: new SystemClock(), tombstoneGraceMs: 3_600_000 }),
    });
    const seen: Array<{ via: string; type: string; value?: Uint8Array }> = [];
    const handler = {
      handle: (request: StorageRequest) => {
        seen.push({ via: 'handle', type: request.type });
        return compact.handle(request);
      },
      handleBorrowed: (request: StorageRequest) => {
        seen.push({ via: 'handleBorrowed', type: request.type, ...(request.type === 'PUT' ? { value: request.record.value } : {}) });
        return compact.handleBorrowed(request);
      },
    };
    const client = new LocalFirstNodeClient(SELF.id, handler, new RecordingRemote());
    const body = Buffer.from('....hello....');
    const value = body.subarray(4, 9);
    await client.send(SELF, { type: 'PUT', key: 'k', record: record(value) }, opts);
    // No copy on the way: the handler got the sender's bytes, and the engine copied them into its own memory.
    expect(seen).toEqual([{ via: 'handleBorrowed', type: 'PUT', value }]);
    expect(seen[0]?.value).toBe(value);
    body.fill(0);
    const read = await client.send(SELF, { type: 'GET', key: 'k' }, opts);
    expect(read.record ? Buffer.from(read.record.value).toString() : null).toBe('hello');
    expect(seen.at(-1)).toEqual({ via: 'handle', type: 'GET' });
  });

  it('turns a throwing local handler into a rejected remote failure, never a throw out of send', async () => {
    const throwing: StorageRequestHandler = {
      handle: () => {
        throw new Error('node self is catching up and does not serve reads');
      },
    };
    const client = new LocalFirstNodeClient(SELF.id, throwing, new RecordingRemote());
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = client.send(SELF, { type: 'GET', key: 'k' }, opts);
    }).not.toThrow();
    const error = await failure(promise!);
    expect(error.kind).toBe('remote');
    expect(error.nodeId).toBe(SELF.id);
    expect(error.message).toContain('catching up');
  });

  it('refuses an answer of the wrong type', async () => {
    const confused: StorageRequestHandler = { handle: () => ({ type: 'PING', nodeId: SELF.id, ready: true, keys: 0, bytes: 0 }) };
    const client = new LocalFirstNodeClient(SELF.id, confused, new RecordingRemote());
    expect((await failure(client.send(SELF, { type: 'GET', key: 'k' }, opts))).kind).toBe('remote');
  });

  it('after close() refuses local sends with kind closed and closes the remote client', async () => {
    const remote = new RecordingRemote();
    const client = new LocalFirstNodeClient(SELF.id, new MapStorageHandler(SELF.id), remote);
    await client.close();
    await client.close();
    const error = await failure(client.send(SELF, { type: 'PING' }, opts));
    expect(error.kind).toBe('closed');
    expect(remote.closes).toBe(2);
  });
});

describe('LocalFirstNodeClient with a handler that answers later (a durable node waiting for its fsync)', () => {
  it('answers once the local handler’s promise settles, and a rejection is a remote failure', async () => {
    let release: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => (release = resolve));
    let fail = false;
    const handler = {
      handle: (request: StorageRequest) =>
        answered.then(() => {
          if (fail) throw new Error('fsync failed');
          return { type: 'PUT' as const, applied: true, version: request.type === 'PUT' ? request.record.version : 0, previous: 0 };
        }),
    };
    const client = new LocalFirstNodeClient(SELF.id, handler, new RecordingRemote());
    let settled = false;
    const put = client
      .send(SELF, { type: 'PUT', key: 'k', record: record(new Uint8Array([1]), 7) }, opts)
      .then((answer) => ((settled = true), answer));
    await Promise.resolve();
    expect(settled).toBe(false);
    release();
    await expect(put).resolves.toEqual({ type: 'PUT', applied: true, version: 7, previous: 0 });
    fail = true;
    const failed = client.send(SELF, { type: 'PUT', key: 'k', record: record(new Uint8Array([1]), 8) }, opts);
    await expect(failed).rejects.toBeInstanceOf(NodeUnavailableError);
    await expect(failed).rejects.toMatchObject({ kind: 'remote', message: expect.stringContaining('fsync failed') });
  });
});
