import type { Clock, MembershipView, Node, NodeClient, RangeScanStorageEngine, Rng, Scheduler } from '@dkv/core';
import type { ClusterObserver } from '@dkv/coordination';
import { Gossiper, type GossiperConfig } from '@dkv/membership';
import { ElasticMember } from '@dkv/replication';
import { ContainerModule } from 'inversify';
import { TOKENS as T, type MemberOptions } from './tokens.js';

/** How a process that is not a member (a stand-alone coordinator) gossips with the storage nodes. */
export interface CoordinatorGossipSettings {
  /** The id its heartbeats carry (the coordinator's id). */
  readonly heartbeatId: string;
  /** The storage nodes it first gossips with. */
  readonly seeds: readonly Node[];
  readonly config: GossiperConfig;
  /** The cluster's N: a cluster with another refuses this process. */
  readonly n: number;
}

/**
 * Membership for a process that routes but stores nothing (the stand-alone coordinator): a
 * {@link Gossiper} with no entry of its own, over the control client, which is both the
 * coordinator's membership view and its cluster observer.
 */
export const coordinatorMembershipModule = new ContainerModule(({ bind }) => {
  bind<Gossiper>(T.gossiper)
    .toResolvedValue(
      (settings: CoordinatorGossipSettings, nodeClient: NodeClient, clock: Clock, scheduler: Scheduler, rng: Rng) =>
        new Gossiper({
          selfId: null,
          heartbeatId: settings.heartbeatId,
          initialEntries: [],
          seeds: settings.seeds,
          nodeClient,
          clock,
          scheduler,
          rng,
          config: settings.config,
          settings: { n: settings.n },
        }),
      [T.gossipSettings, T.controlClient, T.clock, T.scheduler, T.rng],
    )
    .inSingletonScope();
  bind<MembershipView>(T.membership)
    .toResolvedValue((gossiper: Gossiper) => gossiper, [T.gossiper])
    .inSingletonScope();
  bind<ClusterObserver>(T.observer)
    .toResolvedValue((gossiper: Gossiper) => gossiper, [T.gossiper])
    .inSingletonScope();
});

/**
 * Membership for a storage node: its {@link ElasticMember} (gossip, range sync, anti-entropy,
 * hints) over the bound engine and control client. Its gossiper is the membership view and the
 * observer of a coordinator in the same process (`dkv node --coordinate`).
 */
export const storageMembershipModule = new ContainerModule(({ bind }) => {
  bind<ElasticMember>(T.member)
    .toResolvedValue(
      (options: MemberOptions, engine: RangeScanStorageEngine, nodeClient: NodeClient, clock: Clock, scheduler: Scheduler, rng: Rng) =>
        new ElasticMember({ ...options, engine, nodeClient, clock, scheduler, rng }),
      [T.memberOptions, T.engine, T.controlClient, T.clock, T.scheduler, T.rng],
    )
    .inSingletonScope();
  bind<MembershipView>(T.membership)
    .toResolvedValue((member: ElasticMember) => member.gossiper, [T.member])
    .inSingletonScope();
  bind<ClusterObserver>(T.observer)
    .toResolvedValue((member: ElasticMember) => member.gossiper, [T.member])
    .inSingletonScope();
});
