export { type QuorumResult, QuorumTally } from './quorum-tally.js';
export { FanOut, type FanOutDecision, type FanOutEvent, type FanOutFailure, type FanOutLoss, type FanOutOptions } from './fan-out.js';
export { LOGICAL_BITS, VERSION_EPOCH_MS, VersionGenerator } from './version-generator.js';
export {
  KNOWN_DOWN,
  NOT_CONTACTED,
  type QuorumConfig,
  type QuorumHooks,
  QuorumManager,
  type QuorumReadFinish,
  type QuorumReadResult,
  type QuorumStats,
  type QuorumWriteResult,
  type ReplicaOutcome,
  type Straggler,
  winnerOf,
  DEFAULT_HEDGE_MAX_DELAY_MS,
  DEFAULT_HEDGE_MIN_DELAY_MS,
} from './quorum-manager.js';
