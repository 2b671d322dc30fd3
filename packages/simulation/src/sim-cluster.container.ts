import { coordinationModule, TOKENS } from '@dkv/composition';
import type { ClusterObserver, Coordinator, CoordinatorConfig } from '@dkv/coordination';
import type { Clock, MembershipView, NodeClient, Rng, Scheduler } from '@dkv/core';
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
