// Goal: the production container modules run on the simulated network when ONE binding is swapped:
// `TOKENS.wire` (TCP in production) becomes a `SimulatedNetwork` client, under the production wire
// stack (retries, circuit breaker) and the production coordination module. Method: a seeded
// SimCluster provides the storage nodes, the network and the virtual clock; a coordinator composed
// from `transportModule` + `coordinationModule` with production wire settings writes and reads a
// key, and the replicas' engines show the write arrived through the simulated network. The seed is
// printed (seedForTest); DKV_SEED=<n> replays it. The storage nodes are composed the same way
// (`storageMembershipModule`): a node built by the simulation's storage container, with its control
// client swapped for a recording one, joins an elastic cluster through it.
import { coordinationModule, TOKENS, transportModule } from '@dkv/composition';
import { DEFAULT_COORDINATOR_CONFIG, type Coordinator } from '@dkv/coordination';
import { DEFAULT_TOMBSTONE_GRACE_MS, type Clock, type MembershipView, type NodeClient, type Rng, type Scheduler } from '@dkv/core';
import { StaticMembershipView } from '@dkv/membership';
import type { ElasticMember } from '@dkv/replication';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { seedForTest, SimulatedClock } from '@dkv/testkit';
import { CircuitBreakingNodeClient, type WireStackSettings } from '@dkv/transport';
import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { simStorageContainer } from './sim-cluster.container.js';
import { SimCluster } from './sim-cluster.js';

describe('the production modules on the simulated network', () => {
  it('a PUT then a GET go through the swapped wire, under the production wire stack', async () => {
    const sim = new SimCluster({ seed: seedForTest(), coordinators: 0 });
    const c = new Container({ defaultScope: 'Singleton' });
    c.load(transportModule, coordinationModule);
    c.bind<WireStackSettings>(TOKENS.wireSettings).toConstantValue({
      transport: 'tcp',
      connectionsPerNode: 4,
      maxInFlightPerNode: 512,
      maxValueBytes: DEFAULT_COORDINATOR_CONFIG.maxValueBytes,
      nodeRetry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 200 },
      circuitBreaker: { failureThreshold: 5, openMs: 1000 },
      clusterSecret: null,
    });
    c.bind(TOKENS.coordinatorConfig).toConstantValue({ ...DEFAULT_COORDINATOR_CONFIG, nodeId: 'c9' });
    c.bind<MembershipView>(TOKENS.membership).toConstantValue(new StaticMembershipView(sim.membership));
    c.bind<Clock>(TOKENS.clock).toConstantValue(new SimulatedClock(sim.scheduler));
    c.bind<Scheduler>(TOKENS.scheduler).toConstantValue(sim.scheduler);
    c.bind<Rng>(TOKENS.rng).toConstantValue(sim.rng.fork('c9'));
    // The one swap: the simulated network instead of TCP.
    c.rebind<NodeClient>(TOKENS.wire).toConstantValue(sim.network.clientFor('c9'));
    expect(c.get<NodeClient>(TOKENS.nodeClient)).toBeInstanceOf(CircuitBreakingNodeClient);
    const coordinator = c.get<Coordinator>(TOKENS.coordinator);
    coordinator.start();
    try {
      const put = await sim.run(coordinator.service.put('swap', Buffer.from('simulated')));
      const got = await sim.run(coordinator.service.get('swap'));
      expect(Buffer.from(got!.value).toString()).toBe('simulated');
      await sim.runFor(100);
      expect(sim.replicasOf('swap').map((r) => r.record?.version)).toEqual([put.version, put.version, put.version]);
    } finally {
      coordinator.stop();
      sim.stop();
    }
  });
});

describe('a simulated storage node composed by the production membership module', () => {
  it('joins an elastic cluster through the control client one rebinding swapped in', async () => {
    const sim = new SimCluster({ seed: seedForTest(), coordinators: 0, elastic: {} });
    const clock = new SimulatedClock(sim.scheduler);
    const engine = new InMemoryStorageEngine({ clock, tombstoneGraceMs: DEFAULT_TOMBSTONE_GRACE_MS });
    const network = sim.network.clientFor('n4');
    const sent: string[] = [];
    const recording: NodeClient = {
      send: (target, request, options) => {
        sent.push(request.type);
        return network.send(target, request, options);
      },
      close: () => network.close(),
    };
    const container = simStorageContainer(
      {
        options: {
          self: { id: 'n4', address: 'sim-n4:7000', vnodes: 64 },
          n: 3,
          bootstrap: null,
          seeds: sim.membership.nodes.slice(0, 1),
          autoJoin: true,
        },
        engine,
        controlClient: network,
        clock,
        scheduler: sim.scheduler,
        rng: sim.rng.fork('n4'),
      },
      // The one swap: a control client that records what the member sends.
      (c) => c.rebind<NodeClient>(TOKENS.controlClient).toConstantValue(recording),
    );
    const member = container.get<ElasticMember>(TOKENS.member);
    sim.network.register('n4', new StorageService({ nodeId: 'n4', engine, clock, ...member.storageHooks() }));
    member.start();
    try {
      // The cluster (n1's document) lists n4 up once it joined and took its ranges.
      await sim.runUntil(() => sim.storageNode('n1').gossiper?.entry('n4')?.status === 'up');
      expect(sent).toContain('GOSSIP');
      expect(container.get<MembershipView>(TOKENS.membership)).toBe(member.gossiper);
    } finally {
      member.stop();
      sim.stop();
    }
  });
});
