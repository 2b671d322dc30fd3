// Goal: while data moves, reads go only where data is complete and writes reach both the old and
// the new replicas with enough acknowledgements that every acknowledged write is on a quorum of
// either side. Method: table cases of Cassandra's pending-replica rule, and an exhaustive check of
// its promise over every subset of acknowledging targets.
import type { Node } from '@dkv/core';
import { describe, expect, it } from 'vitest';
import { planWrite, RingViews } from './ring-views.js';

const node = (id: string, extra: Partial<Node> = {}): Node => ({
  id,
  address: `${id}:1`,
  role: 'storage',
  status: 'up',
  vnodes: 16,
  metadata: {},
  ...extra,
});
const ids = (nodes: readonly Node[]) => nodes.map((n) => n.id);

describe('planWrite', () => {
  it.each([
    ['stable', ['a', 'b', 'c'], ['a', 'b', 'c'], 2, ['a', 'b', 'c'], 2],
    ['one pending', ['a', 'b', 'c'], ['a', 'b', 'j'], 2, ['a', 'b', 'c', 'j'], 3],
    ['two pending', ['a', 'b', 'c'], ['j', 'k', 'a'], 2, ['a', 'b', 'c', 'j', 'k'], 4],
    ['w=3 capped', ['a', 'b', 'c'], ['j', 'k', 'l'], 3, ['a', 'b', 'c', 'j', 'k', 'l'], 6],
  ])('%s', (_name, read, future, w, targets, needed) => {
    const plan = planWrite(
      read.map((id) => node(id)),
      future.map((id) => node(id)),
      w,
    );
    expect(ids(plan.targets)).toEqual(targets);
    expect(plan.needed).toBe(needed);
  });

  it('puts every acknowledged write on w read and w future replicas, whoever acknowledges', () => {
    const read = ['a', 'b', 'c'];
    for (const future of [
      ['a', 'b', 'j'],
      ['a', 'j', 'k'],
      ['j', 'k', 'l'],
      ['c', 'b', 'a'],
    ]) {
      const plan = planWrite(
        read.map((id) => node(id)),
        future.map((id) => node(id)),
        2,
      );
      const targets = ids(plan.targets);
      for (let mask = 0; mask < 1 << targets.length; mask += 1) {
        const acked = targets.filter((_, i) => mask & (1 << i));
        if (acked.length < plan.needed) continue;
        expect(acked.filter((id) => read.includes(id)).length).toBeGreaterThanOrEqual(2);
        expect(acked.filter((id) => future.includes(id)).length).toBeGreaterThanOrEqual(2);
      }
    }
  });
});

describe('RingViews', () => {
  it('is one ring when nothing moves', () => {
    const views = new RingViews(['a', 'b', 'c'].map((id) => node(id)));
    expect(views.changing).toBe(false);
    expect(views.writePlan('k', 3, 2).needed).toBe(2);
  });

  it('does not read from a joining node and writes to it as pending', () => {
    const views = new RingViews([...['a', 'b', 'c', 'd'].map((id) => node(id)), node('j', { status: 'joining' })]);
    expect(views.changing).toBe(true);
    for (let i = 0; i < 200; i += 1) {
      expect(ids(views.readReplicas(`k${i}`, 3))).not.toContain('j');
      const plan = views.writePlan(`k${i}`, 3, 2);
      const pending = ids(views.future.getNodesForKey(`k${i}`, 3)).includes('j');
      expect(plan.needed).toBe(pending ? 3 : 2);
    }
  });

  it('keeps a leaving node on the read ring only, and a rejoining node placed but unread', () => {
    const leaving = new RingViews([node('a'), node('b'), node('c'), node('l', { status: 'leaving' })]);
    expect(ids(leaving.read.nodes)).toContain('l');
    expect(ids(leaving.future.nodes)).not.toContain('l');
    const rejoining = new RingViews([node('a'), node('b'), node('c'), node('r', { status: 'joining', readVnodes: 16, readable: false })]);
    expect(rejoining.changing).toBe(false);
    for (let i = 0; i < 50; i += 1) expect(ids(rejoining.readReplicas(`k${i}`, 3))).not.toContain('r');
  });

  it('reads with the old weight while a vnode change syncs', () => {
    const views = new RingViews([node('a'), node('b'), node('c', { vnodes: 32, readVnodes: 16 })]);
    expect(views.read.tokenCount).toBe(48);
    expect(views.future.tokenCount).toBe(64);
  });
});

describe('RingViews.fromMembership', () => {
  it('builds the views of one membership object once and shares them; another object or explicit options get their own', () => {
    const membership = { epoch: 1, nodes: [node('a'), node('b'), node('c')] };
    const views = RingViews.fromMembership(membership);
    expect(RingViews.fromMembership(membership)).toBe(views);
    const copy = { ...membership };
    expect(RingViews.fromMembership(copy)).not.toBe(views);
    expect(RingViews.fromMembership(copy).readId).toBe(views.readId);
    expect(RingViews.fromMembership(membership, {})).not.toBe(views);
  });
});

describe('RingViews.readReplicasOfHash with a first node', () => {
  it('moves that node to the front of every list it is on, the others in ring order, and leaves the other lists as they were', () => {
    const views = new RingViews([node('a'), node('b'), node('c'), node('d')]);
    let moved = 0;
    for (let hash = 0; hash < 2 ** 32; hash += 2 ** 24) {
      const plain = ids(views.readReplicasOfHash(hash, 3));
      const first = ids(views.readReplicasOfHash(hash, 3, 'c'));
      if (!plain.includes('c')) expect(first).toEqual(plain);
      else expect(first).toEqual(['c', ...plain.filter((id) => id !== 'c')]);
      if (plain.includes('c') && plain[0] !== 'c') moved += 1;
    }
    expect(moved).toBeGreaterThan(0);
  });
});
