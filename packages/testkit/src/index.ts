/**
 * `@dkv/testkit`: what dkv's tests share. The deterministic simulation primitives (one seeded
 * `SeededRng`, one virtual timeline `SimulatedScheduler`, per-process `SimulatedClock`s and a
 * fault-injecting `SimulatedNetwork`), the history recorder and checkers that judge a run, and the
 * contract suites every adapter of a port runs, and `lintExposition`, the Prometheus naming rules
 * a real process's `/metrics` is held to, and `CliProcesses`, real processes started through the
 * `dkv` command for end-to-end tests.
 */
export {
  CONTRACT_DEAD_NODE_FAIL_MS_MAX,
  CONTRACT_TIMEOUT_MS,
  CONTRACT_TIMEOUT_SLACK_MS,
  contractNode,
  describeNodeClientContract,
  MapStorageHandler,
  type NodeClientHarness,
} from './node-client.contract.js';
export { assertSeed, SeededRng } from './seeded-rng.js';
export {
  performSessionOperation,
  SESSION_TTL_SECONDS,
  SESSION_VALUE_BYTES,
  sessionKey,
  type SessionMix,
  type SessionOperation,
  sessionValue,
  sessionValuePool,
  SessionWorkload,
  type SessionWorkloadOptions,
  SIMULATION_MIX,
  type WorkloadRandom,
  XorShift32,
} from './session-workload.js';
export { describeSeed, SEED_ENV_VAR, seedForTest, seedFromEnv } from './seed.js';
export {
  DEFAULT_SIMULATION_BOUNDS,
  SimulatedScheduler,
  type SimulatedSchedulerOptions,
  SimulationBoundError,
  type SimulationBoundReason,
  type SimulationBounds,
} from './simulated-scheduler.js';
export { DEFAULT_SIMULATION_EPOCH_MS, SimulatedClock, type SimulatedClockOptions } from './simulated-clock.js';
export {
  type DropReason,
  type LatencyRange,
  type NetworkStats,
  type NetworkTraceEntry,
  SimulatedNetwork,
  type SimulatedNetworkOptions,
} from './simulated-network.js';
export {
  type Anomaly,
  ANOMALY_KINDS,
  type AnomalyKind,
  checkConvergence,
  checkHistory,
  type CheckHistoryOptions,
  classifyError,
  type ConvergenceOptions,
  type ConvergenceResult,
  DEFAULT_MAX_HISTORY_OPERATIONS,
  describeOperation,
  type EdnForm,
  type ElleEdnOptions,
  type HistoryCheckResult,
  type HistoryCheckStats,
  HistoryLimitError,
  type HistoryOperation,
  HistoryRecorder,
  type HistoryRecorderOptions,
  type OperationCall,
  type OperationCompletion,
  type OperationKind,
  type OperationOutcome,
  type PorcupineInput,
  type PorcupineOperation,
  type PorcupineOutput,
  recordingStore,
  type ReplicaCopy,
  type ReplicaStates,
  toElleEdn,
  toPorcupineJson,
  toPorcupineOperations,
  valueToken,
} from './history-index.js';
export { freePort } from './free-port.js';
export { CliProcesses, isAlive } from './cli-processes.js';
export { waitUntil, type WaitUntilOptions } from './wait-until.js';
export { lintExposition, parseExposition, type MetricFamily } from './prometheus-lint.js';
