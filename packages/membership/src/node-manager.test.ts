// Goal: heartbeats move nodes between up, suspect and down as the seed's checkNodeHealth should,
// membership changes are followed, and addNode/removeNode work. Method: a NodeClient whose nodes
// the test switches on and off; heartbeat rounds are called directly.
import { describe, expect, it } from 'vitest';
import { NodeUnavailableError, type Membership, type Node, type NodeClient, type NodeStatus, type StorageRequest } from '@dkv/core';
import { NodeManager } from './node-manager.js';
import { StaticMembershipView } from './static-membership-view.js';

const node = (id: string, role: Node['role'] = 'storage'): Node => ({
  id,
  address: `${id}:1`,
  role,
  status: 'up',
  vnodes: 8,
  metadata: {},
});

class PingClient implements NodeClient {
  readonly up = new Set<string>();
  notReady = new Set<string>();
  /** Nodes whose address refuses connections: the process is gone. */
  readonly refusing = new Set<string>();
  /** Nodes of an older release: they answer PING, and TIME with an error. */
  readonly noTime = new Set<string>();
  /** What each node's clock reads ahead of the manager's (ms). */
  readonly clockAhead = new Map<string, number>();
  async send(target: Node, request: StorageRequest): Promise<never> {
    if (this.refusing.has(target.id))
      throw new NodeUnavailableError(target.id, 'unreachable', 'not connected (ECONNREFUSED)', { refused: true });
    if (!this.up.has(target.id)) throw new NodeUnavailableError(target.id, 'unreachable', 'test');
    if (request.type === 'TIME') {
      if (this.noTime.has(target.id))
        throw new NodeUnavailableError(target.id, 'remote', 'the node answered an error: unknown request type TIME');
      return { type: 'TIME', nowMs: 42 + (this.clockAhead.get(target.id) ?? 0) } as never;
    }
    return { type: 'PING', nodeId: target.id, ready: !this.notReady.has(target.id), keys: 7, bytes: 70 } as never;
  }
  async close(): Promise<void> {}
}

function setup(initial: Membership = { epoch: 1, nodes: [node('a'), node('b'), node('c'), node('x', 'coordinator')] }) {
  const view = new StaticMembershipView(initial);
  const client = new PingClient();
  ['a', 'b', 'c'].forEach((id) => client.up.add(id));
  const scheduler = { after: () => ({ cancel() {} }), every: () => ({ cancel() {} }) };
  const manager = new NodeManager(view, client, { now: () => 42 }, scheduler, { intervalMs: 100, timeoutMs: 50, failureThreshold: 2 });
  return { view, client, manager };
}

describe('NodeManager', () => {
  it('tracks storage nodes only and marks them up with their counts', async () => {
    const { manager } = setup();
    await manager.checkNodeHealth();
    expect(manager.nodes().map((n) => `${n.id}:${n.status}`)).toEqual(['a:up', 'b:up', 'c:up']);
    expect(manager.healthOf('a')).toMatchObject({ keys: 7, bytes: 70, lastSeenAt: 42 });
  });

  it('marks a silent node suspect, then down after the threshold, then up when it answers', async () => {
    const { manager, client } = setup();
    const changes: string[] = [];
    manager.onStatusChange((id, status: NodeStatus) => changes.push(`${id}:${status}`));
    client.up.delete('b');
    await manager.checkNodeHealth();
    expect(manager.statusOf('b')).toBe('suspect');
    expect(manager.isAvailable('b')).toBe(true);
    await manager.checkNodeHealth();
    expect(manager.statusOf('b')).toBe('down');
    expect(manager.availableCount()).toBe(2);
    client.up.add('b');
    await manager.checkNodeHealth();
    expect(manager.statusOf('b')).toBe('up');
    expect(changes).toEqual(['b:suspect', 'b:down', 'b:up']);
  });

  it('samples the clock of a node on the first round it answers, not only every few rounds', async () => {
    // A coordinator that has no offset writes by its own clock: minutes off, its tombstones were
    // past their purge time on arrival (the composed nemesis found it). The first round measures.
    const { manager, client, view } = setup();
    ['a', 'b', 'c'].forEach((id) => client.clockAhead.set(id, 90_000));
    expect(manager.clockMeasured()).toBe(false);
    await manager.checkNodeHealth();
    expect(manager.clockOffsetMs()).toBe(-90_000);
    expect(manager.clockMeasured()).toBe(true);
    // A node that joins later is sampled on its first round too, whatever the round's number.
    view.update({ epoch: 2, nodes: [node('a'), node('b'), node('c'), node('d')] });
    client.up.add('d');
    client.clockAhead.set('d', 90_000);
    await manager.checkNodeHealth();
    expect(manager.clockSampleOf('d')?.offsetMs).toBe(90_000);
  });

  it('counts the clock as measured when the nodes answering heartbeats cannot answer TIME (an older release)', async () => {
    const { manager, client } = setup();
    ['a', 'b', 'c'].forEach((id) => client.noTime.add(id));
    await manager.checkNodeHealth();
    expect(manager.clockOffsetMs()).toBeNull();
    expect(manager.clockMeasured()).toBe(true);
  });

  it('keeps a node that answers but is not ready out of up', async () => {
    const { manager, client } = setup();
    client.notReady.add('c');
    await manager.checkNodeHealth();
    expect(manager.statusOf('c')).toBe('suspect');
  });

  it('follows membership changes and addNode/removeNode', async () => {
    const { manager, view, client } = setup();
    view.update({ epoch: 2, nodes: [node('a'), node('b')] });
    expect(manager.nodes().map((n) => n.id)).toEqual(['a', 'b']);
    manager.addNode(node('d'));
    client.up.add('d');
    await manager.checkNodeHealth();
    expect(manager.nodes().map((n) => n.id)).toEqual(['a', 'b', 'd']);
    manager.removeNode('a');
    expect(manager.nodes().map((n) => n.id)).toEqual(['b', 'd']);
    expect(view.update({ epoch: 1, nodes: [] })).toBe(false);
  });

  it('marks a node down at once when its address refuses the heartbeat, and keeps it down until it answers', async () => {
    const { manager, client } = setup();
    const changes: string[] = [];
    manager.onStatusChange((id, status: NodeStatus) => changes.push(`${id}:${status}`));
    client.up.delete('b');
    client.refusing.add('b');
    client.up.delete('c');
    client.refusing.add('c');
    await manager.checkNodeHealth();
    expect(manager.statusOf('b')).toBe('down');
    expect(manager.availableCount()).toBe(1);
    // A later failure without that evidence (a circuit open, a timeout) does not make it suspect again.
    client.refusing.delete('b');
    await manager.checkNodeHealth();
    expect(manager.statusOf('b')).toBe('down');
    client.up.add('b');
    await manager.checkNodeHealth();
    expect(manager.statusOf('b')).toBe('up');
    expect(changes).toEqual(['b:down', 'c:down', 'b:up']);
  });

  it('marks a node down at once when a request finds its connection refused or reset (passive evidence)', () => {
    const { manager } = setup();
    manager.reportOutcome('a', false, new NodeUnavailableError('a', 'remote', 'the connection was lost (ECONNRESET)', { refused: true }));
    expect(manager.statusOf('a')).toBe('down');
    expect(manager.isAvailable('a')).toBe(false);
    manager.reportOutcome('b', false, new NodeUnavailableError('b', 'timeout', 'slow'));
    expect(manager.statusOf('b')).toBe('suspect');
    manager.reportOutcome('a', true);
    expect(manager.statusOf('a')).toBe('up');
  });

  it('passive failures only make a node suspect', () => {
    const { manager } = setup();
    manager.reportOutcome('a', false);
    manager.reportOutcome('a', false);
    expect(manager.statusOf('a')).toBe('suspect');
    manager.reportOutcome('a', true);
    expect(manager.statusOf('a')).toBe('up');
  });
});
