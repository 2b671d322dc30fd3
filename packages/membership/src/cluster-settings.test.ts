// Goal: cluster-wide settings (N, the tombstone grace) travel in the gossiped document, and a
// process started with another value refuses to join, naming the setting and both values, while
// the cluster keeps running and merges nothing of it (issue 10, finding 7). Also: heartbeats
// carry the read ring each coordinator reads by, and a process still counts a coordinator that
// went silent (cut off from gossip) when asked whether everyone reads by a ring (finding 4).
// Method: the pure comparison by a table; then Gossipers behind a seeded SimulatedNetwork on a
// virtual timeline: a three-node cluster, and a newcomer (a storage node or a coordinator) that
// agrees or disagrees with it.
import type { ClusterSettings, MemberEntry, Node, StorageRequest, StorageResponse } from '@dkv/core';
import { SeededRng, seedForTest, SimulatedClock, SimulatedNetwork, SimulatedScheduler } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { bootstrapEntry, ClusterSettingsConflictError, joiningEntry, settingsConflicts } from './cluster-document.js';
import { Gossiper } from './gossiper.js';

const seed = (id: string): Node => ({ id, address: `${id}:1`, role: 'storage', status: 'up', vnodes: 8, metadata: {} });

function world() {
  const scheduler = new SimulatedScheduler();
  const rng = new SeededRng(seedForTest());
  const network = new SimulatedNetwork({ scheduler, rng: rng.fork('net'), latencyMs: { min: 1, max: 5 } });
  const clock = new SimulatedClock(scheduler);
  const start = (id: string | null, initial: readonly MemberEntry[], seeds: Node[], settings: ClusterSettings): Gossiper => {
    const g = new Gossiper({
      selfId: id,
      heartbeatId: id ?? 'c9',
      initialEntries: initial,
      seeds,
      nodeClient: network.clientFor(id ?? 'c9'),
      clock,
      scheduler,
      rng: rng.fork(`g-${id}`),
      settings,
    });
    if (id !== null) {
      network.register(id, {
        handle: (request: StorageRequest): StorageResponse => {
          if (request.type !== 'GOSSIP') throw new Error('gossip only');
          return { type: 'GOSSIP', state: g.handleGossip(request.state) };
        },
      });
    }
    g.start();
    return g;
  };
  const cluster = (settings: ClusterSettings) => {
    const initial = ['n1', 'n2', 'n3'].map((id) => bootstrapEntry({ id, address: `${id}:1`, vnodes: 8 }, 'ring-1'));
    return ['n1', 'n2', 'n3'].map((id) => start(id, initial, [], settings));
  };
  return { scheduler, start, cluster };
}

describe('settingsConflicts', () => {
  it.each([
    [{ n: 3, tombstoneGraceMs: 1000 }, { n: 3, tombstoneGraceMs: 1000 }, []],
    [{ n: 2 }, { n: 3, tombstoneGraceMs: 1000 }, ['cluster setting n (--n) is 3 in the cluster but 2 in this process']],
    [
      { n: 3, tombstoneGraceMs: 5 },
      { n: 3, tombstoneGraceMs: 1000 },
      ['cluster setting tombstoneGraceMs (--tombstone-grace-ms) is 1000 in the cluster but 5 in this process'],
    ],
    [{ n: 3 }, { tombstoneGraceMs: 1000 }, []],
    [{}, { n: 5 }, []],
  ] as Array<[ClusterSettings, ClusterSettings, string[]]>)('%j against the cluster %j', (own, cluster, expected) => {
    expect(settingsConflicts(own, cluster)).toEqual(expected);
  });
});

describe('Gossiper and cluster-wide settings', () => {
  it('a storage node started with another N refuses to join, naming the setting and both values; the cluster merges nothing of it', async () => {
    const w = world();
    const members = w.cluster({ n: 3, tombstoneGraceMs: 3_600_000 });
    await w.scheduler.runFor(1000);
    const refusals: ClusterSettingsConflictError[] = [];
    const newcomer = w.start('n4', [joiningEntry({ id: 'n4', address: 'n4:1', vnodes: 8 }, undefined)], [seed('n1')], {
      n: 2,
      tombstoneGraceMs: 3_600_000,
    });
    newcomer.onSettingsConflict((error) => refusals.push(error));
    await w.scheduler.runFor(2000);
    expect(refusals.map((error) => error.message)).toEqual([
      "refusing to join the cluster: cluster setting n (--n) is 3 in the cluster but 2 in this process; start this process with the cluster's values",
    ]);
    expect(newcomer.settingsConflict()).toBe(refusals[0]);
    expect(newcomer.document().map((entry) => entry.id)).toEqual(['n4']);
    for (const member of members) {
      expect(member.document().map((entry) => entry.id)).toEqual(['n1', 'n2', 'n3']);
      expect(member.settingsConflict()).toBeNull();
    }
    expect(members.reduce((sum, member) => sum + member.conflictingStatesIgnored(), 0)).toBeGreaterThan(0);
  });

  it('a coordinator started with another N refuses too; one that agrees learns the settings it does not declare', async () => {
    const w = world();
    w.cluster({ n: 3, tombstoneGraceMs: 3_600_000 });
    await w.scheduler.runFor(1000);
    const wrong = w.start(null, [], [seed('n2')], { n: 5 });
    const right = w.start(null, [], [seed('n3')], { n: 3 });
    await w.scheduler.runFor(2000);
    expect(wrong.settingsConflict()?.message).toMatch(/cluster setting n \(--n\) is 3 in the cluster but 5 in this process/);
    expect(wrong.current().nodes).toEqual([]);
    expect(right.settingsConflict()).toBeNull();
    expect(right.current().nodes.map((node) => node.id)).toEqual(['n1', 'n2', 'n3']);
    expect(right.clusterSettings()).toEqual({ n: 3, tombstoneGraceMs: 3_600_000 });
  });
});

describe('read rings on heartbeats', () => {
  it('says whether every coordinator known reads by a ring, counting one that went silent', async () => {
    const w = world();
    const [n1] = w.cluster({ n: 3 });
    const coordinator = w.start(null, [], [seed('n2')], { n: 3 });
    coordinator.setRouting('ring-1');
    coordinator.setReading('ring-1');
    await w.scheduler.runFor(1000);
    expect(n1!.everyoneReadsBy('ring-1')).toBe(true);
    expect(n1!.everyoneReadsBy('ring-2')).toBe(false);
    coordinator.stop();
    await w.scheduler.runFor(10_000);
    expect(n1!.livenessOf('c9')).toBe('down');
    expect(n1!.everyoneReadsBy('ring-2')).toBe(false);
  });
});
