// Goal: a node that keeps failing stops receiving sends for a while (fail fast, nothing sent),
// then gets one probe whose outcome closes or reopens its circuit; other nodes are unaffected.
// Method: a switchable inner client and a hand-driven clock; every case through `send` and again
// through `sendTo` (the callback form the quorum uses, where one CircuitReply sees each outcome).
import { NodeUnavailableError, type Node, type NodeClient, type StorageRequest } from '@dkv/core';
import { describe, expect, it } from 'vitest';
import { CircuitBreakingNodeClient } from './circuit-breaking-node-client.js';
import { RetryingNodeClient } from './retrying-node-client.js';
import { throughSendTo } from './test-support.js';

type Via = 'send' | 'sendTo';

/** `client` as the case uses it: its own `send`, or its `sendTo` behind a promise. */
function through(client: NodeClient, via: Via): NodeClient {
  return via === 'send' ? client : throughSendTo(client);
}

const node = (id: string): Node => ({ id, address: `${id}:1`, role: 'storage', status: 'up', vnodes: 1, metadata: {} });

class Switchable implements NodeClient {
  readonly failing = new Set<string>();
  /** Nodes that answer as a replica with no room for a new key. */
  readonly full = new Set<string>();
  sent = 0;
  async send(target: Node, _request: StorageRequest): Promise<never> {
    this.sent += 1;
    if (this.failing.has(target.id)) throw new NodeUnavailableError(target.id, 'timeout', 'test');
    if (this.full.has(target.id))
      throw new NodeUnavailableError(target.id, 'remote', `REPLICA_FULL: node ${target.id}: no room for new key "k"`);
    return { type: 'PING', nodeId: target.id, ready: true, keys: 0, bytes: 0 } as never;
  }
  async close(): Promise<void> {}
}

function setup(via: Via) {
  let now = 0;
  const inner = new Switchable();
  const client = new CircuitBreakingNodeClient(inner, { failureThreshold: 3, openMs: 1000 }, { now: () => now });
  const sender = through(client, via);
  const ping = (id: string) => sender.send(node(id), { type: 'PING' }, { timeoutMs: 100 });
  return { inner, client, ping, advance: (ms: number) => (now += ms) };
}

describe.each(['send', 'sendTo'] as const)('CircuitBreakingNodeClient through %s', (via) => {
  it('opens after the threshold and fails fast without sending', async () => {
    const { inner, client, ping } = setup(via);
    inner.failing.add('a');
    for (let i = 0; i < 3; i += 1) await expect(ping('a')).rejects.toMatchObject({ kind: 'timeout' });
    expect(client.stateOf('a')).toBe('open');
    const sentBefore = inner.sent;
    await expect(ping('a')).rejects.toMatchObject({ kind: 'unreachable', message: expect.stringMatching(/circuit open/) });
    expect(inner.sent).toBe(sentBefore);
    await expect(ping('b')).resolves.toMatchObject({ nodeId: 'b' });
  });

  it('lets one probe through after openMs; success closes, failure reopens', async () => {
    const { inner, client, ping, advance } = setup(via);
    inner.failing.add('a');
    for (let i = 0; i < 3; i += 1) await ping('a').catch(() => undefined);
    advance(1000);
    expect(client.stateOf('a')).toBe('half-open');
    await expect(ping('a')).rejects.toMatchObject({ kind: 'timeout' });
    expect(client.stateOf('a')).toBe('open');
    advance(1000);
    inner.failing.delete('a');
    await expect(ping('a')).resolves.toMatchObject({ nodeId: 'a' });
    expect(client.stateOf('a')).toBe('closed');
  });

  it('resets the streak on success', async () => {
    const { inner, client, ping } = setup(via);
    inner.failing.add('a');
    await ping('a').catch(() => undefined);
    await ping('a').catch(() => undefined);
    inner.failing.delete('a');
    await ping('a');
    inner.failing.add('a');
    await ping('a').catch(() => undefined);
    expect(client.stateOf('a')).toBe('closed');
  });

  it('never opens on refusals of a replica with no room for a new key (it answered, and serves reads), and they end a streak', async () => {
    const { inner, client, ping } = setup(via);
    inner.full.add('a');
    for (let i = 0; i < 10; i += 1)
      await expect(ping('a')).rejects.toMatchObject({ kind: 'remote', message: expect.stringMatching(/REPLICA_FULL/) });
    expect(client.stateOf('a')).toBe('closed');
    expect(inner.sent).toBe(10);
    inner.full.delete('a');
    inner.failing.add('a');
    await ping('a').catch(() => undefined);
    await ping('a').catch(() => undefined);
    inner.failing.delete('a');
    inner.full.add('a');
    await ping('a').catch(() => undefined);
    inner.full.delete('a');
    inner.failing.add('a');
    await ping('a').catch(() => undefined);
    await ping('a').catch(() => undefined);
    expect(client.stateOf('a')).toBe('closed');
  });

  it('rejects nonsense bounds', () => {
    expect(() => new CircuitBreakingNodeClient(new Switchable(), { failureThreshold: 0, openMs: 1 }, { now: () => 0 })).toThrow(
      /failureThreshold/,
    );
  });

  it('over the retries of the wire stack, retries first and counts one failure per send', async () => {
    let now = 0;
    const clock = { now: () => now };
    const inner = new Switchable();
    const unreachable = new Set<string>();
    let refusals = 0;
    const flaky: NodeClient = {
      send: (target, request) => {
        if (!unreachable.has(target.id)) return inner.send(target, request);
        refusals += 1;
        return Promise.reject(new NodeUnavailableError(target.id, 'unreachable', 'refused'));
      },
      close: () => Promise.resolve(),
    };
    const scheduler = {
      after: (_ms: number, callback: () => void) => {
        queueMicrotask(callback);
        return { cancel: () => undefined };
      },
      every: () => ({ cancel: () => undefined }),
    };
    const retrying = new RetryingNodeClient(
      flaky,
      { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      scheduler,
      { next: () => 0, int: () => 0 },
      clock,
    );
    const client = new CircuitBreakingNodeClient(retrying, { failureThreshold: 2, openMs: 1000 }, clock);
    const sender = through(client, via);
    const ping = (id: string) => sender.send(node(id), { type: 'PING' }, { timeoutMs: 100 });
    await expect(ping('a')).resolves.toMatchObject({ nodeId: 'a' });
    unreachable.add('a');
    await expect(ping('a')).rejects.toMatchObject({ kind: 'unreachable' });
    expect(refusals).toBe(2);
    expect(client.stateOf('a')).toBe('closed');
    inner.failing.add('b');
    await expect(ping('b')).rejects.toMatchObject({ kind: 'timeout' });
    await expect(ping('a')).rejects.toMatchObject({ kind: 'unreachable' });
    expect(client.stateOf('a')).toBe('open');
    expect(client.stateOf('b')).toBe('closed');
    unreachable.delete('a');
    now += 1000;
    await expect(ping('a')).resolves.toMatchObject({ nodeId: 'a' });
    expect(client.stateOf('a')).toBe('closed');
  });
});
