/**
 * The shared contract of the `NodeClient` port: every adapter (in-memory, HTTP, retrying,
 * simulated) runs {@link describeNodeClientContract} against a harness of live, dead and slow
 * nodes, so they all keep the same promises (ports.ts): bytes and metadata cross unchanged, each
 * call settles exactly once by the answer or a `NodeUnavailableError` of the right kind, a dead
 * node fails fast, a slow one within `timeoutMs`, and nothing works after `close()`.
 *
 * Timing checks are upper bounds on wall-clock time only, so a harness in virtual time (which may
 * run faster than the wall clock, never slower) passes them too.
 */
import {
  compareVersionedValues,
  metaOf,
  NodeUnavailableError,
  type Node,
  type NodeClient,
  type NodeFailureKind,
  type StorageRequest,
  type StorageRequestHandler,
  type StorageResponse,
  type VersionedValue,
} from '@dkv/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * What an adapter's test gives {@link describeNodeClientContract}. A fresh harness is set up for
 * every test and torn down after it.
 */
export interface NodeClientHarness {
  /** The adapter under test. The suite may close it; `teardown` must accept a closed client. */
  readonly client: NodeClient;
  /**
   * At least 2 live nodes, each backed by a real handler (e.g. {@link MapStorageHandler}) that
   * starts empty and answers PING with the node's own id.
   */
  readonly nodes: readonly Node[];
  /** A node nobody answers for (nothing listens at its address): sends must fail `unreachable`, fast. */
  readonly deadNode: Node;
  /**
   * A node that accepts requests but answers only after a long delay (at least 5 s, or not until
   * teardown), for the timeout case. Without it that case is skipped.
   */
  readonly slowNode?: Node;
  /** Releases everything the harness started: servers, timers, the client. */
  teardown(): Promise<void>;
}

/** The timeout of the slow-node case: short, so the suite stays fast. */
export const CONTRACT_TIMEOUT_MS = 300;
/** How late past {@link CONTRACT_TIMEOUT_MS} the timeout may settle: event-loop lag on a busy CI. */
export const CONTRACT_TIMEOUT_SLACK_MS = 300;
/** A dead node must fail within this, though the request's timeout is far longer. */
export const CONTRACT_DEAD_NODE_FAIL_MS_MAX = 2_000;
/** The timeout of ordinary requests: generous, so a slow CI machine does not flake. */
const REQUEST_TIMEOUT_MS = 5_000;
const opts = { timeoutMs: REQUEST_TIMEOUT_MS };

/** A storage node for harnesses: `up`, 16 vnodes, no metadata. */
export function contractNode(id: string, address: string): Node {
  return { id, address, role: 'storage', status: 'up', vnodes: 16, metadata: {} };
}

/**
 * The smallest real {@link StorageRequestHandler}: a map of the newest record per key, kept by
 * `compareVersionedValues` (apply-if-newer), tombstones included. It does not fold expired values
 * (it has no clock) and computes PING's counts by a walk over the map, which suits tests only;
 * `@dkv/storage`'s `StorageService` is the production handler.
 */
export class MapStorageHandler implements StorageRequestHandler {
  private readonly records = new Map<string, VersionedValue>();

  constructor(readonly nodeId: string) {}

  /** Answers one request from the map. */
  handle(request: StorageRequest): StorageResponse {
    switch (request.type) {
      case 'GET':
        return { type: 'GET', record: this.records.get(request.key) ?? null };
      case 'HEAD': {
        const record = this.records.get(request.key);
        return { type: 'HEAD', meta: record === undefined ? null : metaOf(record) };
      }
      case 'PUT': {
        const held = this.records.get(request.key);
        if (held !== undefined && compareVersionedValues(request.record, held) <= 0) {
          return { type: 'PUT', applied: false, version: held.version, previous: held.version };
        }
        this.records.set(request.key, request.record);
        return { type: 'PUT', applied: true, version: request.record.version, previous: held?.version ?? 0 };
      }
      case 'PING':
        return { type: 'PING', nodeId: this.nodeId, ready: true, ...this.counts() };
      case 'TIME':
      case 'GOSSIP':
      case 'SCAN':
      case 'DIGEST':
      case 'HINT':
        throw new Error(`MapStorageHandler does not answer ${request.type}`);
    }
  }

  private counts(): { keys: number; bytes: number } {
    let keys = 0;
    let bytes = 0;
    for (const [key, record] of this.records) {
      if (record.tombstone) continue;
      keys += 1;
      bytes += Buffer.byteLength(key, 'utf8') + record.value.byteLength;
    }
    return { keys, bytes };
  }
}

function record(version: number, value: Uint8Array, overrides: Partial<VersionedValue> = {}): VersionedValue {
  return {
    value,
    version,
    writerId: 'coordinator-1',
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000 + version,
    expiresAt: null,
    tombstone: false,
    ...overrides,
  };
}

/** Bytes 0..255 repeated, so every byte value and every offset mistake shows. */
function patternBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) bytes[i] = (i * 31 + (i >> 8)) & 0xff;
  return bytes;
}

function expectSameBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual?.byteLength).toBe(expected.byteLength);
  expect(Buffer.compare(actual ?? new Uint8Array(), expected)).toBe(0);
}

async function failureOf(promise: Promise<unknown>): Promise<NodeUnavailableError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(NodeUnavailableError);
    return error as NodeUnavailableError;
  }
  throw new Error('expected the send to fail with a NodeUnavailableError, but it succeeded');
}

function expectKind(error: NodeUnavailableError, kind: NodeFailureKind, nodeId: string): void {
  expect(error.kind).toBe(kind);
  expect(error.nodeId).toBe(nodeId);
  expect(error.code).toBe('UNAVAILABLE');
}

/**
 * Declares the contract tests of one `NodeClient` adapter under `describe(name)`. `setup` is
 * called before each test and must give a fresh {@link NodeClientHarness}.
 */
export function describeNodeClientContract(name: string, setup: () => Promise<NodeClientHarness>): void {
  describe(`NodeClient contract: ${name}`, () => {
    let harness: NodeClientHarness;
    const live = (index: number): Node => {
      const node = harness.nodes[index];
      if (node === undefined) throw new Error(`the harness must give at least ${index + 1} live nodes`);
      return node;
    };

    beforeEach(async () => {
      harness = await setup();
      expect(harness.nodes.length).toBeGreaterThanOrEqual(2);
    });
    afterEach(async () => {
      await harness.teardown();
    });

    it('answers PING with the id of the node asked', async () => {
      for (const node of harness.nodes) {
        const pong = await harness.client.send(node, { type: 'PING' }, opts);
        expect(pong).toMatchObject({ type: 'PING', nodeId: node.id, ready: true });
      }
    });

    it.each([
      ['an empty value', new Uint8Array(0)],
      ['JSON text', new TextEncoder().encode('{"user":"ana","cart":[1,2,3],"note":"café ✓"}')],
      ['bytes that are not UTF-8', Uint8Array.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, 0xed, 0xa0, 0x80, 0x00])],
      ['a 1 MiB value', patternBytes(1024 * 1024)],
    ])('round-trips %s byte for byte through PUT then GET', async (_label, value) => {
      const node = live(0);
      const put = await harness.client.send(node, { type: 'PUT', key: 'session:bytes', record: record(1, value) }, opts);
      expect(put).toEqual({ type: 'PUT', applied: true, version: 1, previous: 0 });
      const got = await harness.client.send(node, { type: 'GET', key: 'session:bytes' }, opts);
      expect(got.type).toBe('GET');
      expectSameBytes(got.record?.value, value);
    });

    it('does not let the sender change a stored value by reusing its buffer', async () => {
      const node = live(0);
      const value = Uint8Array.from([1, 2, 3]);
      await harness.client.send(node, { type: 'PUT', key: 'reuse', record: record(1, value) }, opts);
      value.fill(9);
      const got = await harness.client.send(node, { type: 'GET', key: 'reuse' }, opts);
      expectSameBytes(got.record?.value, Uint8Array.from([1, 2, 3]));
    });

    it('keeps version, writer, timestamps, expiry and tombstone metadata', async () => {
      const node = live(1);
      const withTtl = record(Number.MAX_SAFE_INTEGER - 1, Uint8Array.from([7]), {
        writerId: 'coordinator-é',
        createdAt: 1_600_000_000_000,
        updatedAt: 1_700_000_000_123,
        expiresAt: 4_000_000_000_456,
      });
      // A tombstone's time of death is its updatedAt; one from the distant past would be purged on arrival.
      const diedAt = Date.now();
      const tombstone = record(42, new Uint8Array(0), { tombstone: true, writerId: 'c2', createdAt: diedAt, updatedAt: diedAt });
      await harness.client.send(node, { type: 'PUT', key: 'ttl', record: withTtl }, opts);
      await harness.client.send(node, { type: 'PUT', key: 'deleted', record: tombstone }, opts);

      const ttl = await harness.client.send(node, { type: 'GET', key: 'ttl' }, opts);
      expect({ ...ttl.record, value: undefined }).toEqual({ ...withTtl, value: undefined });
      const deleted = await harness.client.send(node, { type: 'GET', key: 'deleted' }, opts);
      expect({ ...deleted.record, value: undefined }).toEqual({ ...tombstone, value: undefined });
      expectSameBytes(deleted.record?.value, new Uint8Array(0));
    });

    it('answers HEAD with the metadata only, and null for a missing key', async () => {
      const node = live(0);
      const stored = record(3, Uint8Array.from([1, 2, 3]), { expiresAt: 4_100_000_000_000 });
      await harness.client.send(node, { type: 'PUT', key: 'head', record: stored }, opts);
      const head = await harness.client.send(node, { type: 'HEAD', key: 'head' }, opts);
      expect(head).toEqual({ type: 'HEAD', meta: metaOf(stored) });
      expect(await harness.client.send(node, { type: 'HEAD', key: 'absent' }, opts)).toEqual({ type: 'HEAD', meta: null });
      expect(await harness.client.send(node, { type: 'GET', key: 'absent' }, opts)).toEqual({ type: 'GET', record: null });
    });

    it('applies a PUT only if it is newer, and says which version is held, and was held before', async () => {
      const node = live(0);
      const send = (version: number, byte: number) =>
        harness.client.send(node, { type: 'PUT', key: 'lww', record: record(version, Uint8Array.from([byte])) }, opts);
      expect(await send(5, 5)).toEqual({ type: 'PUT', applied: true, version: 5, previous: 0 });
      expect(await send(3, 3)).toEqual({ type: 'PUT', applied: false, version: 5, previous: 5 });
      expect(await send(5, 5)).toEqual({ type: 'PUT', applied: false, version: 5, previous: 5 });
      const got = await harness.client.send(node, { type: 'GET', key: 'lww' }, opts);
      expect(got.record?.version).toBe(5);
      expectSameBytes(got.record?.value, Uint8Array.from([5]));
      expect(await send(7, 7)).toEqual({ type: 'PUT', applied: true, version: 7, previous: 5 });
    });

    it('carries keys of every allowed shape: unicode, 512 bytes, punctuation', async () => {
      const node = live(1);
      const keys = ['ключ/🔑 ?#%', 'k'.repeat(512), 'é'.repeat(256), 'a b\tc'];
      for (const [index, key] of keys.entries()) {
        await harness.client.send(node, { type: 'PUT', key, record: record(index + 1, Uint8Array.from([index])) }, opts);
        const got = await harness.client.send(node, { type: 'GET', key }, opts);
        expectSameBytes(got.record?.value, Uint8Array.from([index]));
      }
    });

    it('serves many concurrent requests to several nodes, each answer to its own request', async () => {
      const keysPerNode = 25;
      const writes = harness.nodes.flatMap((node, n) =>
        Array.from({ length: keysPerNode }, (_, k) =>
          harness.client.send(node, { type: 'PUT', key: `c:${k}`, record: record(n + 1, Uint8Array.from([n, k])) }, opts),
        ),
      );
      expect((await Promise.all(writes)).every((answer) => answer.applied)).toBe(true);
      const reads = harness.nodes.flatMap((node, n) =>
        Array.from({ length: keysPerNode }, async (_, k) => {
          const got = await harness.client.send(node, { type: 'GET', key: `c:${k}` }, opts);
          expectSameBytes(got.record?.value, Uint8Array.from([n, k]));
        }),
      );
      await Promise.all(reads);
    });

    it('fails a dead node fast as unreachable, and other nodes still answer', async () => {
      const started = performance.now();
      const [failure, pong] = await Promise.all([
        failureOf(harness.client.send(harness.deadNode, { type: 'PING' }, opts)),
        harness.client.send(live(0), { type: 'PING' }, opts),
      ]);
      expectKind(failure, 'unreachable', harness.deadNode.id);
      expect(performance.now() - started).toBeLessThan(CONTRACT_DEAD_NODE_FAIL_MS_MAX);
      expect(pong.nodeId).toBe(live(0).id);
    });

    it('fails a slow node as timeout within timeoutMs, and other nodes still answer', async (context) => {
      const slowNode = harness.slowNode;
      if (slowNode === undefined) return context.skip('the harness has no slow node');
      const started = performance.now();
      const slow = failureOf(harness.client.send(slowNode, { type: 'GET', key: 'slow' }, { timeoutMs: CONTRACT_TIMEOUT_MS }));
      const pong = await harness.client.send(live(1), { type: 'PING' }, opts);
      expect(pong.nodeId).toBe(live(1).id);
      const failure = await slow;
      expectKind(failure, 'timeout', slowNode.id);
      expect(performance.now() - started).toBeLessThanOrEqual(CONTRACT_TIMEOUT_MS + CONTRACT_TIMEOUT_SLACK_MS);
    });

    it('rejects every send after close() with kind closed, and a second close() is harmless', async () => {
      const node = live(0);
      await harness.client.send(node, { type: 'PING' }, opts);
      await harness.client.close();
      expectKind(await failureOf(harness.client.send(node, { type: 'PING' }, opts)), 'closed', node.id);
      expectKind(await failureOf(harness.client.send(harness.deadNode, { type: 'GET', key: 'k' }, opts)), 'closed', harness.deadNode.id);
      await harness.client.close();
    });
  });
}
