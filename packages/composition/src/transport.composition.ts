import type { Clock, NodeClient, Rng, Scheduler } from '@dkv/core';
import { createWireClient, createWireStack, type WireStackSettings } from '@dkv/transport';
import { ContainerModule } from 'inversify';
import { TOKENS as T } from './tokens.js';

/**
 * The data client to the storage nodes: {@link TOKENS.wire} is the wire adapter from the settings
 * (TCP or HTTP), {@link TOKENS.remoteClient} the one chain of decorators around whatever `wire` is
 * bound to, and {@link TOKENS.nodeClient} what the coordinator sends through: the remote client
 * itself, unless the composition root rebinds it (a coordinating node answers its own replica
 * in-process first). Rebinding `wire` (an `InMemoryNodeClient`, a `SimulatedNetwork` client)
 * swaps the transport and keeps the retries and the circuit breaker.
 */
export const transportModule = new ContainerModule(({ bind }) => {
  bind<NodeClient>(T.wire)
    .toResolvedValue((settings: WireStackSettings) => createWireClient(settings), [T.wireSettings])
    .inSingletonScope();
  bind<NodeClient>(T.remoteClient)
    .toResolvedValue(
      (wire: NodeClient, settings: WireStackSettings, clock: Clock, scheduler: Scheduler, rng: Rng) =>
        createWireStack(wire, settings, { clock, scheduler, rng }),
      [T.wire, T.wireSettings, T.clock, T.scheduler, T.rng],
    )
    .inSingletonScope();
  bind<NodeClient>(T.nodeClient)
    .toResolvedValue((remote: NodeClient) => remote, [T.remoteClient])
    .inSingletonScope();
});
