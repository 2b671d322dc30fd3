// Goal: gossip converges every process on one document without a leader, through message loss;
// silent nodes become suspect then down; a restarted process recovers the document from its
// peers; a coordinator learns the ring from one seed. Method: Gossipers behind a seeded
// SimulatedNetwork on a virtual timeline (each storage node registers a handler that answers
// GOSSIP from its Gossiper).
import type { MemberEntry, Node, StorageRequest, StorageResponse } from '@dkv/core';
import { SeededRng, seedForTest, SimulatedClock, SimulatedNetwork, SimulatedScheduler } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { bootstrapEntry, epochOf, joiningEntry } from './cluster-document.js';
import { DEFAULT_GOSSIPER_CONFIG, Gossiper } from './gossiper.js';

function world(lossRate = 0) {
  const scheduler = new SimulatedScheduler();
  const rng = new SeededRng(seedForTest());
  const network = new SimulatedNetwork({ scheduler, rng: rng.fork('net'), latencyMs: { min: 1, max: 5 }, lossRate });
  const clock = new SimulatedClock(scheduler);
  const gossipers = new Map<string, Gossiper>();
  const start = (id: string | null, initial: readonly MemberEntry[], seeds: Node[]): Gossiper => {
    const g = new Gossiper({
      selfId: id,
      initialEntries: initial,
      seeds,
      nodeClient: network.clientFor(id ?? 'coordinator'),
      clock,
      scheduler,
      rng: rng.fork(`g-${id}`),
    });
    if (id !== null) {
      network.register(id, {
        handle: (request: StorageRequest): StorageResponse => {
          if (request.type !== 'GOSSIP') throw new Error('gossip only');
          return { type: 'GOSSIP', state: g.handleGossip(request.state) };
        },
      });
      gossipers.set(id, g);
    }
    g.start();
    return g;
  };
  return { scheduler, network, gossipers, start };
}

const seed = (id: string): Node => ({ id, address: `${id}:1`, role: 'storage', status: 'up', vnodes: 8, metadata: {} });

describe('Gossiper', () => {
  it('converges ten nodes that each start knowing only themselves and one seed, with 5% loss', async () => {
    const w = world(0.05);
    const ids = Array.from({ length: 10 }, (_, i) => `n${i}`);
    for (const id of ids) w.start(id, [joiningEntry({ id, address: `${id}:1`, vnodes: 8 }, undefined)], [seed('n0')]);
    await w.scheduler.runFor(5000);
    const epochs = new Set([...w.gossipers.values()].map((g) => g.current().epoch));
    expect(epochs).toEqual(new Set([10]));
    for (const g of w.gossipers.values()) expect(g.current().nodes.map((n) => n.id)).toEqual(ids);
  });

  it('spreads a change to everyone and lets concurrent changes converge', async () => {
    const w = world();
    const initial = ['a', 'b', 'c', 'd'].map((id) => bootstrapEntry({ id, address: `${id}:1`, vnodes: 8 }, 'r'));
    for (const e of initial) w.start(e.id, initial, []);
    w.gossipers.get('a')?.change([{ id: 'a', change: { vnodes: 16 } }]);
    w.gossipers.get('d')?.change([{ id: 'b', change: { status: 'leaving' } }]);
    w.gossipers.get('c')?.change([{ id: 'b', change: { status: 'leaving', forced: true } }]);
    await w.scheduler.runFor(3000);
    const docs = [...w.gossipers.values()].map((g) => JSON.stringify(g.document()));
    expect(new Set(docs).size).toBe(1);
    expect(w.gossipers.get('b')?.entry('a')?.vnodes).toBe(16);
    expect(epochOf(w.gossipers.get('b')?.document() ?? [])).toBe(6);
  });

  it('exchanges with a peer heard from within the last round only when needed: fewer exchanges, heartbeats still fresh', async () => {
    const w = world();
    const initial = ['a', 'b', 'c'].map((id) => bootstrapEntry({ id, address: `${id}:1`, vnodes: 8 }, 'r'));
    let exchanges = 0;
    for (const e of initial) {
      const g = w.start(e.id, initial, []);
      // Count the exchanges each node answers (its peers' and the coordinator's).
      w.network.register(e.id, {
        handle: (request: StorageRequest): StorageResponse => {
          if (request.type !== 'GOSSIP') throw new Error('gossip only');
          exchanges += 1;
          return { type: 'GOSSIP', state: g.handleGossip(request.state) };
        },
      });
    }
    w.start(null, initial, [seed('a')]);
    const { intervalMs, fanout } = DEFAULT_GOSSIPER_CONFIG;
    const lastProgress = new Map<string, { counter: number; atMs: number }>();
    let longestSilenceMs = 0;
    const runMs = 10_000;
    for (let t = 0; t < runMs; t += 50) {
      await w.scheduler.runFor(50);
      for (const [observer, g] of w.gossipers)
        for (const subject of w.gossipers.keys()) {
          if (subject === observer) continue;
          const counter = g.heartbeatOf(subject)?.counter ?? -1;
          const known = lastProgress.get(`${observer}>${subject}`);
          if (known === undefined || counter > known.counter) lastProgress.set(`${observer}>${subject}`, { counter, atMs: t });
          else if (t > 1000) longestSilenceMs = Math.max(longestSilenceMs, t - known.atMs);
        }
    }
    // Every process reaching every peer each round: 3 nodes x 2 peers + the coordinator x 3.
    const everyRound = (3 * Math.min(fanout, 2) + Math.min(fanout, 3)) * (runMs / intervalMs);
    expect(exchanges).toBeLessThan(0.75 * everyRound);
    expect(longestSilenceMs).toBeLessThanOrEqual(4 * intervalMs);
    for (const g of w.gossipers.values()) for (const id of w.gossipers.keys()) expect(g.livenessOf(id)).toBe('alive');
  });

  it('marks a crashed node suspect then down, and alive again when it returns', async () => {
    const w = world();
    const initial = ['a', 'b', 'c'].map((id) => bootstrapEntry({ id, address: `${id}:1`, vnodes: 8 }, 'r'));
    for (const e of initial) w.start(e.id, initial, []);
    await w.scheduler.runFor(1000);
    w.network.crash('c');
    const fd = DEFAULT_GOSSIPER_CONFIG.failureDetector;
    await w.scheduler.runFor(fd.suspectAfterMs + 500);
    expect(w.gossipers.get('a')?.livenessOf('c')).toBe('suspect');
    await w.scheduler.runFor(fd.downAfterMs - fd.suspectAfterMs);
    expect(w.gossipers.get('a')?.livenessOf('c')).toBe('down');
    w.network.recover('c');
    await w.scheduler.runFor(2000);
    expect(w.gossipers.get('a')?.livenessOf('c')).toBe('alive');
  });

  it('lets a restarted process and a coordinator recover the document from one peer', async () => {
    const w = world();
    const initial = ['a', 'b', 'c'].map((id) => bootstrapEntry({ id, address: `${id}:1`, vnodes: 8 }, 'r'));
    for (const e of initial) w.start(e.id, initial, []);
    w.gossipers.get('a')?.change([{ id: 'b', change: { vnodes: 32 } }]);
    await w.scheduler.runFor(1000);
    w.gossipers.get('c')?.stop();
    const restarted = w.start('c', [joiningEntry({ id: 'c', address: 'c:1', vnodes: 8 }, undefined)], [seed('a')]);
    const coordinator = w.start(null, [], [seed('b')]);
    await w.scheduler.runFor(1000);
    expect(restarted.entry('c')?.status).toBe('up');
    expect(restarted.entry('b')?.vnodes).toBe(32);
    expect(coordinator.current().nodes.map((n) => n.id)).toEqual(['a', 'b', 'c']);
    expect(coordinator.current().epoch).toBe(w.gossipers.get('a')?.current().epoch);
  });

  it('tells a restarted process that it is a restart, and a first start that it is not', async () => {
    const w = world();
    const initial = ['a', 'b', 'c'].map((id) => bootstrapEntry({ id, address: `${id}:1`, vnodes: 8 }, 'r'));
    for (const e of initial) w.start(e.id, initial, []);
    const firstStart: number[] = [];
    w.gossipers.get('c')?.onPreviousIncarnation((generation) => firstStart.push(generation));
    await w.scheduler.runFor(1000);
    expect(firstStart).toEqual([]);
    w.gossipers.get('c')?.stop();
    w.network.crash('c');
    await w.scheduler.runFor(1000);
    const restarted = w.start('c', initial, []);
    const noticed: number[] = [];
    restarted.onPreviousIncarnation((generation) => noticed.push(generation));
    await w.scheduler.runFor(1000);
    expect(noticed.length).toBe(1);
    expect(restarted.hasHeardFromPeers()).toBe(true);
  });
});
