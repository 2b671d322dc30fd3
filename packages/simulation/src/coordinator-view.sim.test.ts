// Goal: `/v1/cluster` (CoordinatorService.cluster) never shows a node up while this coordinator
// skips it: when gossip says a node is alive but the coordinator's own heartbeats cannot reach it
// (a partition between the two only), the node is reported down, and up again once reachable.
// Method: seeded elastic simulation; the network cuts coordinator c1 from n2 only.
import { seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim-cluster.js';

describe("the coordinator's cluster view", () => {
  it('reports down a node its own heartbeats cannot reach, though gossip says it is alive', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({ seed, storageNodes: 3, elastic: { vnodes: 16, antiEntropy: false } });
    const service = sim.service();
    const gossiper = sim.coordinators[0]!.gossiper!;
    const statusOf = (id: string) => service.cluster().nodes.find((n) => n.id === id)?.status;
    await sim.runUntil(() => sim.settled() && service.isReady());
    sim.network.partition(['c1'], ['n2']);
    await sim.runUntil(() => !sim.coordinators[0]!.coordinator.nodeManager.isAvailable('n2'), { maxVirtualMs: 30_000 });
    expect(gossiper.livenessOf('n2')).toBe('alive');
    expect(statusOf('n2')).toBe('down');
    sim.network.heal();
    await sim.runUntil(() => statusOf('n2') === 'up', { maxVirtualMs: 30_000 });
    expect(sim.coordinators[0]!.coordinator.nodeManager.isAvailable('n2')).toBe(true);
    sim.stop();
  });
});
