/**
 * `@dkv/testkit`: what dkv's tests share. The deterministic simulation primitives (one seeded
 * `SeededRng`, one virtual timeline `SimulatedScheduler`, per-process `SimulatedClock`s and a
 * fault-injecting `SimulatedNetwork`), a seeded `SessionWorkload` (not yet run by the simulation
 * or the benchmarks, see its file), the history recorder and checkers that judge a run, and the
 * contract suites every adapter of a port runs, and `lintExposition`, the Prometheus naming rules
 * a real process's `/metrics` is held to, and `CliProcesses`, real processes started through the
 * `dkv` command for end-to-end tests.
 */
export * from './node-client.contract.js';
export * from './seeded-rng.js';
export * from './seed.js';
export * from './binary-heap.js';
export * from './simulated-scheduler.js';
export * from './simulated-clock.js';
export * from './simulated-network.js';
export * from './session-workload.js';
export * from './history-index.js';
export * from './free-port.js';
export { CliProcesses, isAlive } from './cli-processes.js';
export { waitUntil, type WaitUntilOptions } from './wait-until.js';
export { lintExposition, parseExposition, type MetricFamily } from './prometheus-lint.js';
