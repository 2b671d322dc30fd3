import { coordinationModule, storageMembershipModule, TOKENS, type MemberOptions } from '@dkv/composition';
import type { ClusterObserver, Coordinator, CoordinatorConfig } from '@dkv/coordination';
import type { Clock, MembershipView, NodeClient, RangeScanStorageEngine, Rng, Scheduler } from '@dkv/core';
import type { ElasticMember } from '@dkv/replication';
import { Container } from 'inversify';

/** What a simulated coordinator process is made of: virtual ports and the simulated network's client. */
export interface SimCoordinatorParts {
  readonly config: CoordinatorConfig;
  readonly membership: MembershipView;
  /** The simulated network's client, bound as the whole data client (no production retries, as the seed's tests expect). */
  readonly nodeClient: NodeClient;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  readonly observer?: ClusterObserver;
}

/**
 * A simulated coordinator's container: the production `coordinationModule` with virtual leaves
 * bound. `SimCluster` builds every coordinator (stand-alone or inside a node) through it, so the
 * simulation runs the graph the apps run; `customize` may rebind one token first (a test's swap).
 */
export function simCoordinatorContainer(
  parts: SimCoordinatorParts,
  customize: (container: Container) => void = () => undefined,
): Container {
  const c = new Container({ defaultScope: 'Singleton' });
  c.load(coordinationModule);
  c.bind<CoordinatorConfig>(TOKENS.coordinatorConfig).toConstantValue(parts.config);
  c.bind<MembershipView>(TOKENS.membership).toConstantValue(parts.membership);
  c.bind<NodeClient>(TOKENS.nodeClient).toConstantValue(parts.nodeClient);
  c.bind<Clock>(TOKENS.clock).toConstantValue(parts.clock);
  c.bind<Scheduler>(TOKENS.scheduler).toConstantValue(parts.scheduler);
  c.bind<Rng>(TOKENS.rng).toConstantValue(parts.rng);
  if (parts.observer !== undefined) c.bind<ClusterObserver>(TOKENS.observer).toConstantValue(parts.observer);
  customize(c);
  return c;
}

/** The coordinator of {@link simCoordinatorContainer}. */
export function simCoordinator(parts: SimCoordinatorParts): Coordinator {
  return simCoordinatorContainer(parts).get<Coordinator>(TOKENS.coordinator);
}

/** What a simulated storage process's membership is made of: its options, its engine and virtual ports. */
export interface SimStorageMemberParts {
  readonly options: MemberOptions;
  /** The node's engine, kept by `SimCluster` across crashes (a restart gets a new, empty one). */
  readonly engine: RangeScanStorageEngine;
  /** The simulated network's client, bound as the control client (gossip, range sync, anti-entropy, hints). */
  readonly controlClient: NodeClient;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
}

/**
 * A simulated storage process's container: the production `storageMembershipModule` with the
 * node's engine and virtual leaves bound, as apps/node's `nodeContainer` binds real ones, so the
 * simulation's storage nodes are built by the graph the node runs; `customize` may rebind one
 * token first (a test's swap).
 */
export function simStorageContainer(parts: SimStorageMemberParts, customize: (container: Container) => void = () => undefined): Container {
  const c = new Container({ defaultScope: 'Singleton' });
  c.load(storageMembershipModule);
  c.bind<MemberOptions>(TOKENS.memberOptions).toConstantValue(parts.options);
  c.bind<RangeScanStorageEngine>(TOKENS.engine).toConstantValue(parts.engine);
  c.bind<NodeClient>(TOKENS.controlClient).toConstantValue(parts.controlClient);
  c.bind<Clock>(TOKENS.clock).toConstantValue(parts.clock);
  c.bind<Scheduler>(TOKENS.scheduler).toConstantValue(parts.scheduler);
  c.bind<Rng>(TOKENS.rng).toConstantValue(parts.rng);
  customize(c);
  return c;
}

/** The elastic member of {@link simStorageContainer}. */
export function simStorageMember(parts: SimStorageMemberParts): ElasticMember {
  return simStorageContainer(parts).get<ElasticMember>(TOKENS.member);
}
