// Goal: failed replications are retried with backoff until delivered, superseded by newer
// versions, bounded in count and age, and never sent to replicas known to be down.
// Method: a hand-driven clock and a NodeClient whose replicas the test switches on and off;
// retry passes are called directly instead of waiting for timers.
import { describe, expect, it } from 'vitest';
import { NodeUnavailableError, type Node, type NodeClient, type StorageRequest, type VersionedValue } from '@dkv/core';
import { ReplicationManager, type ReplicationConfig } from './replication-manager.js';

const node = (id: string): Node => ({ id, address: `${id}:1`, role: 'storage', status: 'up', vnodes: 8, metadata: {} });
const rec = (version: number): VersionedValue => ({
  value: Buffer.from(`v${version}`),
  version,
  writerId: 'w',
  createdAt: 1,
  updatedAt: 1,
  expiresAt: null,
  tombstone: false,
});

class SwitchableClient implements NodeClient {
  readonly reachable = new Set<string>();
  readonly delivered: Array<{ nodeId: string; key: string; version: number }> = [];
  async send(target: Node, request: StorageRequest): Promise<never> {
    if (!this.reachable.has(target.id)) throw new NodeUnavailableError(target.id, 'unreachable', 'test');
    if (request.type === 'PUT') this.delivered.push({ nodeId: target.id, key: request.key, version: request.record.version });
    return { type: 'PUT', applied: true, version: 0, previous: 0 } as never;
  }
  async close(): Promise<void> {}
}

const config: ReplicationConfig = {
  maxQueuedTasks: 3,
  retryIntervalMs: 100,
  baseBackoffMs: 100,
  maxBackoffMs: 1000,
  maxTaskAgeMs: 60_000,
  batchSize: 10,
  requestTimeoutMs: 50,
};

function setup(overrides: Partial<ReplicationConfig> = {}) {
  let now = 1_000_000;
  const clock = { now: () => now };
  const down = new Set<string>();
  const members = new Map(['a', 'b', 'c'].map((id) => [id, node(id)]));
  const client = new SwitchableClient();
  const scheduler = { after: () => ({ cancel() {} }), every: () => ({ cancel() {} }) };
  const rng = { next: () => 0.5, int: () => 0 };
  const manager = new ReplicationManager(
    client,
    { nodeById: (id) => members.get(id), isAvailable: (id) => !down.has(id) },
    clock,
    scheduler,
    rng,
    { ...config, ...overrides },
  );
  return { manager, client, down, members, advance: (ms: number) => (now += ms), now: () => now };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('ReplicationManager', () => {
  it('queues a straggler whose delivery failed and delivers it once the replica is back', async () => {
    const { manager, client, advance } = setup();
    manager.replicateAsync('k', rec(1), [
      { node: node('a'), delivered: Promise.resolve(false) },
      { node: node('b'), delivered: Promise.resolve(true) },
    ]);
    await flush();
    expect(manager.pendingTasks().map((t) => t.targetNodeId)).toEqual(['a']);
    advance(1000);
    await manager.retryFailedReplications();
    expect(manager.queueDepth).toBe(1);
    expect(manager.pendingTasks()[0]!.attempts).toBe(1);
    client.reachable.add('a');
    advance(10_000);
    await manager.retryFailedReplications();
    expect(client.delivered).toEqual([{ nodeId: 'a', key: 'k', version: 1 }]);
    expect(manager.queueDepth).toBe(0);
    expect(manager.stats.delivered).toBe(1);
  });

  it('keeps only the newest version per replica and key', () => {
    const { manager } = setup();
    manager.enqueue('k', rec(2), 'a');
    manager.enqueue('k', rec(1), 'a');
    manager.enqueue('k', rec(3), 'a');
    expect(manager.pendingTasks().map((t) => t.record.version)).toEqual([3]);
    expect(manager.stats.superseded).toBe(1);
  });

  it('drops the oldest task when the queue is full', () => {
    const { manager } = setup();
    for (const key of ['k1', 'k2', 'k3', 'k4']) manager.enqueue(key, rec(1), 'a');
    expect(manager.pendingTasks().map((t) => t.key)).toEqual(['k2', 'k3', 'k4']);
    expect(manager.stats.dropped).toBe(1);
  });

  it('backs off exponentially up to its cap', async () => {
    const { manager, advance, now } = setup();
    manager.enqueue('k', rec(1), 'a');
    const delays: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      advance(2000);
      await manager.retryFailedReplications();
      delays.push(manager.pendingTasks()[0]!.nextAttemptAt - now());
    }
    expect(manager.pendingTasks()[0]!.attempts).toBe(6);
    // rng 0.5 puts each delay at 3/4 of its ceiling (100 ms doubling per attempt, capped at 1000).
    expect(delays).toEqual([150, 300, 600, 750, 750, 750]);
  });

  it('does not spend attempts on a replica known to be down, and drops tasks past their age', async () => {
    const { manager, down, advance } = setup();
    down.add('b');
    manager.enqueue('k', rec(1), 'b');
    advance(5000);
    await manager.retryFailedReplications();
    expect(manager.pendingTasks()[0]!.attempts).toBe(0);
    advance(60_001);
    await manager.retryFailedReplications();
    expect(manager.queueDepth).toBe(0);
    expect(manager.stats.dropped).toBe(1);
  });

  it('drops tasks whose replica left the cluster', async () => {
    const { manager, members, advance } = setup();
    manager.enqueue('k', rec(1), 'c');
    members.delete('c');
    advance(5000);
    await manager.retryFailedReplications();
    expect(manager.queueDepth).toBe(0);
  });

  it('bounds the hints of one replica by count and by bytes, dropping its oldest', () => {
    const { manager } = setup({ maxQueuedTasks: 100, maxTasksPerTarget: 2, maxBytesPerTarget: 999 });
    for (const key of ['k1', 'k2', 'k3']) manager.enqueue(key, rec(1), 'a');
    manager.enqueue('big', { ...rec(1), value: Buffer.alloc(990) }, 'b');
    manager.enqueue('small', rec(1), 'b');
    expect(manager.backlog()).toEqual([
      { targetNodeId: 'a', tasks: 2, bytes: 8 },
      { targetNodeId: 'b', tasks: 1, bytes: 7 },
    ]);
    expect(manager.pendingTasks().map((t) => t.key)).toEqual(['k2', 'k3', 'small']);
    expect(manager.stats.dropped).toBe(2);
  });

  it('reports per replica its hints with the creation time of the oldest one still queued', () => {
    const { manager, advance } = setup({ maxQueuedTasks: 100, maxTasksPerTarget: 2 });
    const start = manager.hints().length;
    manager.enqueue('k1', rec(1), 'a');
    advance(1000);
    manager.enqueue('k2', rec(1), 'a');
    advance(1000);
    manager.enqueue('k3', rec(1), 'a');
    const [a] = manager.hints();
    expect(start).toBe(0);
    expect(a).toMatchObject({ targetNodeId: 'a', tasks: 2 });
    expect(a!.oldestCreatedAt).toBe(manager.pendingTasks()[0]!.createdAt);
    expect(manager.pendingTasks()[0]!.key).toBe('k2');
  });

  it('when full, drops from the replica that holds the most, so one dead replica cannot crowd out the others', () => {
    const { manager } = setup({ maxQueuedTasks: 4 });
    for (const key of ['a1', 'a2', 'a3']) manager.enqueue(key, rec(1), 'a');
    manager.enqueue('b1', rec(1), 'b');
    manager.enqueue('b2', rec(1), 'b');
    expect(manager.pendingTasks().map((t) => t.key)).toEqual(['a2', 'a3', 'b1', 'b2']);
  });

  it('replays to a recovering replica at most maxSendsPerTargetPerPass per pass', async () => {
    const { manager, client, advance } = setup({ maxQueuedTasks: 100, maxSendsPerTargetPerPass: 2 });
    client.reachable.add('a');
    for (let i = 0; i < 5; i += 1) manager.enqueue(`k${i}`, rec(1), 'a');
    advance(1000);
    const delivered: number[] = [];
    for (let pass = 0; pass < 3; pass += 1) {
      await manager.retryFailedReplications();
      delivered.push(client.delivered.length);
    }
    expect(delivered).toEqual([2, 4, 5]);
  });

  it('queues a replica that was never contacted at once', () => {
    const { manager } = setup();
    manager.replicateAsync('k', rec(1), [{ node: node('c') }]);
    expect(manager.pendingTasks().map((t) => t.targetNodeId)).toEqual(['c']);
  });
});
