import { DEFAULT_MAX_CLOCK_OFFSET_MS, DEFAULT_MAX_VALUE_BYTES, DEFAULT_REPLICATION_FACTOR } from '@dkv/core';
import { DEFAULT_HEDGE_MAX_DELAY_MS, DEFAULT_HEDGE_MIN_DELAY_MS } from '@dkv/quorum';
import type { HeartbeatConfig } from '@dkv/membership';
import { DEFAULT_HINT_BOUNDS, type ReplicationConfig } from '@dkv/replication';
import { DEFAULT_KEY_SCAN_BOUNDS, type KeyScanBounds } from './key-scan.js';

/**
 * Everything a coordinator needs to know, complete: the edges (the apps' zod settings, the
 * simulation's options) fill every field, from {@link DEFAULT_COORDINATOR_CONFIG} where nothing
 * is given, so the wiring (`createCoordinator`) needs no fallbacks.
 */
export interface CoordinatorConfig {
  /** This coordinator's id; it is the writer id of the versions it issues, so it must be unique. */
  readonly nodeId: string;
  /** Replication factor N, and the default write and read quorums W and R. */
  readonly n: number;
  readonly w: number;
  readonly r: number;
  /** Deadline of each replica request. */
  readonly requestTimeoutMs: number;
  /** The largest value accepted, in bytes (API.md default: 1 MiB). */
  readonly maxValueBytes: number;
  /** Read repairs in flight at once; more are dropped and counted. */
  readonly readRepairMaxInFlight: number;
  /**
   * Whom reads ask first: `all` N replicas (no replica can be slow for a read, at N/R times the
   * replica work), or the `quorum`'s R, with the next replica asked when one fails or, as a
   * hedge, when the quorum has not answered within the recent p99 of replica reads (at least
   * `hedgeMinDelayMs`, at most `hedgeMaxDelayMs`). See QuorumManager.
   */
  readonly readFanout: 'all' | 'quorum';
  /**
   * How a write gets a version above every write acknowledged before it. `optimistic` (default):
   * the record goes out at once with the coordinator's next version and counts on a replica only
   * if it applied there over a strictly lower version number (PUT answers say what was held
   * before); when fewer than W can count it, the write is retried above the highest version a
   * replica reported (at most 4 attempts: a key written by many coordinators at once can fail
   * with UNAVAILABLE). One round trip in the common case. `read-first` (the seed's way) reads the
   * current version from a quorum first, then writes: two round trips, no retries. A sloppy write
   * quorum always reads first (a hint cannot say what its replica held).
   */
  readonly writeVersioning: 'optimistic' | 'read-first';
  /** The least wait before a hedged read asks a spare replica (default `DEFAULT_HEDGE_MIN_DELAY_MS`). */
  readonly hedgeMinDelayMs: number;
  /** The most wait before a hedged read asks a spare replica (default `DEFAULT_HEDGE_MAX_DELAY_MS`). */
  readonly hedgeMaxDelayMs: number;
  /**
   * `strict` (default): a write succeeds only when W of the key's own replicas acknowledged it.
   * `sloppy`: when fewer than W of them are available (known down), the next available nodes on
   * the ring stand in for the missing ones: each keeps the write as a hint for the replica it
   * stands for (HINT) and hands it over when that replica is back, and its acknowledgement counts
   * toward W; the version read then needs only the replicas that are available (at least one, or
   * none, falling back to this coordinator's clock). Weaker, and documented so: an acknowledged
   * write may be invisible to quorum reads until its hints are delivered, and with no replica
   * available its version is ordered by clocks alone. Used only while no data is moving.
   */
  readonly writeQuorum: 'strict' | 'sloppy';
  /**
   * The id of the storage node this coordinator runs in (a node that coordinates), whose replica
   * it reads in-process: asked first by every quorum. Absent for the stand-alone coordinator.
   */
  readonly localReplicaId?: string;
  /**
   * The largest clock offset the cluster tolerates, in ms (default `DEFAULT_MAX_CLOCK_OFFSET_MS`,
   * 10 minutes): a version read from a replica whose physical part is further ahead of this
   * coordinator's clock is not adopted by its hybrid logical clock, and a write above one fails
   * with VERSION_TOO_FAR_AHEAD (see `VersionGenerator`). Replicas apply the same bound to PUTs.
   */
  readonly maxClockOffsetMs: number;
  /** The ReplicationManager's bounds; its request deadline is `requestTimeoutMs`. */
  readonly replication: Omit<ReplicationConfig, 'requestTimeoutMs'>;
  readonly heartbeat: HeartbeatConfig;
  /** Bounds of the cluster-wide key scan (`scanKeys`); no flag sets them, so the edges pass `DEFAULT_KEY_SCAN_BOUNDS`. */
  readonly keyScan: KeyScanBounds;
}

/** Defaults for a cluster on one LAN: N=3, W=2, R=2, replica deadline 1 s, heartbeats every 500 ms. */
export const DEFAULT_COORDINATOR_CONFIG: CoordinatorConfig = {
  nodeId: 'coordinator-1',
  n: DEFAULT_REPLICATION_FACTOR,
  w: 2,
  r: 2,
  requestTimeoutMs: 1000,
  maxValueBytes: DEFAULT_MAX_VALUE_BYTES,
  readRepairMaxInFlight: 1024,
  readFanout: 'all',
  writeVersioning: 'optimistic',
  writeQuorum: 'strict',
  maxClockOffsetMs: DEFAULT_MAX_CLOCK_OFFSET_MS,
  hedgeMinDelayMs: DEFAULT_HEDGE_MIN_DELAY_MS,
  hedgeMaxDelayMs: DEFAULT_HEDGE_MAX_DELAY_MS,
  replication: DEFAULT_HINT_BOUNDS,
  heartbeat: { intervalMs: 500, timeoutMs: 300, failureThreshold: 3 },
  keyScan: DEFAULT_KEY_SCAN_BOUNDS,
};

/**
 * Checks the relations between settings that a schema of single fields cannot: quorums within
 * 1..N, positive bounds. Returns a list of problems, each naming the setting; empty when sound.
 */
export function checkCoordinatorConfig(config: CoordinatorConfig): string[] {
  const problems: string[] = [];
  const positiveInt = (name: string, value: number): void => {
    if (!Number.isInteger(value) || value < 1) problems.push(`${name} must be a whole number of at least 1, got ${value}`);
  };
  positiveInt('n', config.n);
  positiveInt('w', config.w);
  positiveInt('r', config.r);
  if (config.w > config.n) problems.push(`w must be at most n (${config.n}), got ${config.w}`);
  if (config.r > config.n) problems.push(`r must be at most n (${config.n}), got ${config.r}`);
  positiveInt('requestTimeoutMs', config.requestTimeoutMs);
  positiveInt('maxValueBytes', config.maxValueBytes);
  positiveInt('readRepairMaxInFlight', config.readRepairMaxInFlight);
  positiveInt('hedgeMinDelayMs', config.hedgeMinDelayMs);
  positiveInt('hedgeMaxDelayMs', config.hedgeMaxDelayMs);
  if (config.hedgeMaxDelayMs < config.hedgeMinDelayMs) problems.push('hedgeMaxDelayMs must be at least hedgeMinDelayMs');
  for (const [name, value] of Object.entries(config.replication)) if (value !== undefined) positiveInt(`replication.${name}`, value);
  for (const [name, value] of Object.entries(config.heartbeat)) positiveInt(`heartbeat.${name}`, value);
  for (const [name, value] of Object.entries(config.keyScan)) positiveInt(`keyScan.${name}`, value);
  if (config.replication.maxBackoffMs < config.replication.baseBackoffMs) {
    problems.push('replication.maxBackoffMs must be at least replication.baseBackoffMs');
  }
  return problems;
}
