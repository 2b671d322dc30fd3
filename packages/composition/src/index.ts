/**
 * `@dkv/composition`: the Inversify `ContainerModule`s that compose dkv's object graph, and its
 * typed tokens. The domain packages import no container, so their modules live here, in the one
 * adapter package that knows both; both apps and `SimCluster` load them, binding their own
 * settings and runtime ports, and a test swaps one adapter by rebinding one token.
 */
export { coordinationModule } from './coordination.composition.js';
export { coordinatorMembershipModule, storageMembershipModule, type CoordinatorGossipSettings } from './membership.composition.js';
export {
  createMemoryEngine,
  HEAP_BYTES_PER_KEY,
  maxKeysForHeap,
  STORAGE_ENGINES,
  storageModule,
  type StorageEngineKind,
  type StorageSettings,
} from './storage.composition.js';
export { TOKENS, type MemberOptions } from './tokens.js';
export { transportModule } from './transport.composition.js';
