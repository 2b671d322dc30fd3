import { createCoordinator, type ClusterObserver, type Coordinator, type CoordinatorConfig } from '@dkv/coordination';
import type { Clock, MembershipView, NodeClient, Rng, Scheduler } from '@dkv/core';
import { ContainerModule } from 'inversify';
import { TOKENS as T } from './tokens.js';

/**
 * The coordinator over the bound membership, data client and runtime ports. `createCoordinator`
 * stays the plain wiring inside (the coordination package imports no container); this module is
 * how every composition root reaches it, so a stand-alone coordinator, a coordinating node and a
 * simulated one are the same graph with different leaves.
 */
export const coordinationModule = new ContainerModule(({ bind }) => {
  bind<Coordinator>(T.coordinator)
    .toResolvedValue(
      (
        config: CoordinatorConfig,
        membership: MembershipView,
        nodeClient: NodeClient,
        clock: Clock,
        scheduler: Scheduler,
        rng: Rng,
        observer: ClusterObserver | undefined,
      ) => createCoordinator({ config, membership, nodeClient, clock, scheduler, rng, ...(observer === undefined ? {} : { observer }) }),
      [T.coordinatorConfig, T.membership, T.nodeClient, T.clock, T.scheduler, T.rng, { optional: true, serviceIdentifier: T.observer }],
    )
    .inSingletonScope();
});
