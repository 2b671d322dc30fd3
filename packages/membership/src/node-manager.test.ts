// Goal: heartbeats move nodes between up, suspect and down as the seed's checkNodeHealth should,
// membership changes are followed, and addNode/removeNode work. Method: a NodeClient whose nodes
// the test switches on and off; heartbeat rounds are called directly.
import { describe, expect, it } from 'vitest';
import { NodeUnavailableError, type Membership, type Node, type NodeClient, type NodeStatus, type StorageRequest } from '@dkv/core';
import { NodeManager } from './node-manager.js';
import { StaticMembershipView } from './static-membership-view.js';

const node = (id: string, role: Node['role'] = 'storage'): Node => ({ id, address: `${id}:1`, role, status: 'up', vnodes: 8, metadata: {} });

class PingClient implements NodeClient {
  readonly up = new Set<string>();
  notReady = new Set<string>();
  /** Nodes whose address refuses connections: the process is gone. */
  readonly refusing = new Set<string>();
  async send(target: Node, _request: StorageRequest): Promise<never> {
    if (this.refusing.has(target.id)) throw new NodeUnavailableError(target.id, 'unreachable', 'not connected (ECONNREFUSED)', { refused: true });
    if (!this.up.has(target.id)) throw new NodeUnavailableError(target.id, 'unreachable', 'test');
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

  it('counts for readiness only the nodes that have answered a heartbeat, not those never heard from', async () => {
    // A cluster started with all its nodes at once: before this, a node never reached counted as
    // up, so a coordinator was ready, then (its first heartbeat refused) was not (cluster up's flap).
    const { manager, client } = setup();
    expect(manager.answeringCount()).toBe(0);
    client.up.delete('c');
    await manager.checkNodeHealth();
    expect(manager.answeringCount()).toBe(2);
    client.up.add('c');
    await manager.checkNodeHealth();
    expect(manager.answeringCount()).toBe(3);
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
