import {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  DkvError,
  LOGICAL_BITS,
  MAX_VERSION,
  physicalMsOfVersion,
  VERSION_EPOCH_MS,
  versionAheadProblem,
  VersionTooFarAheadError,
  type Clock,
} from '@dkv/core';

export { LOGICAL_BITS, VERSION_EPOCH_MS };
const LOGICAL_FACTOR = 2 ** LOGICAL_BITS;

/**
 * Issues versions as a hybrid logical clock (Kulkarni et al., 2014) packed in one safe integer:
 * `(wallMs - VERSION_EPOCH_MS) * 4096 + logical`.
 *
 * Why not wall-clock timestamps: with coordinator clocks minutes apart, a later write through a
 * slow-clocked coordinator would get a lower timestamp and silently lose (the lost-update anomaly
 * Jepsen found in last-write-wins stores). Here the new version is above `observedMax`, the
 * highest version the coordinator learnt from the key's replicas (a replica that refused an
 * optimistic write as not newer reports it; `read-first` and sloppy writes read it from a quorum
 * first), whatever the clocks say; the physical part only keeps versions close to real time when
 * clocks agree.
 *
 * A hybrid logical clock adopts any later time it sees, so one version from a clock years ahead
 * (or forged near 2^53) would drag this clock there for good and make every later write of every
 * key fail once the version space is exhausted. So it refuses versions whose physical part is
 * more than `maxAheadMs` after its own clock (the largest clock offset the cluster tolerates, as
 * CockroachDB's HLC does with its max offset): `observe` ignores them and counts them, and `next`
 * above one fails with VERSION_TOO_FAR_AHEAD for that write alone.
 *
 * Every version it returns is higher than every version it returned or accepted before.
 */
export class VersionGenerator {
  private last = 0;
  private refused = 0;

  constructor(
    private readonly clock: Clock,
    private readonly maxAheadMs: number = DEFAULT_MAX_CLOCK_OFFSET_MS,
  ) {}

  /**
   * A version higher than `observedMax`, than any seen so far and, if the clock allows, than the wall clock.
   * @throws VersionTooFarAheadError when `observedMax` is beyond the clock plus the tolerated offset.
   */
  next(observedMax = 0): number {
    const now = Math.floor(this.clock.now());
    const problem = observedMax > 0 ? versionAheadProblem(observedMax, now, this.maxAheadMs) : null;
    if (problem !== null) {
      this.refused += 1;
      throw new VersionTooFarAheadError(`a replica holds ${problem}; writes of this key are refused until the clocks are fixed`);
    }
    const physical = Math.max(0, now - VERSION_EPOCH_MS) * LOGICAL_FACTOR;
    const version = Math.max(physical, this.last + 1, observedMax + 1);
    if (version > MAX_VERSION) {
      throw new DkvError('INTERNAL', `version space exhausted: ${version} is above 2^53 - 1`);
    }
    this.last = version;
    return version;
  }

  /**
   * Takes note of a version seen elsewhere, so later versions from here are above it; a version
   * beyond the clock plus the tolerated offset is ignored (and counted in {@link refusedCount}).
   */
  observe(version: number): void {
    if (version <= this.last) return;
    if (versionAheadProblem(version, Math.floor(this.clock.now()), this.maxAheadMs) !== null) {
      this.refused += 1;
      return;
    }
    this.last = Math.min(version, MAX_VERSION);
  }

  /** Versions refused so far for being too far ahead of this clock (a metric). */
  refusedCount(): number {
    return this.refused;
  }

  /** The wall-clock millisecond a version was issued at (for humans and metrics only). */
  static physicalMsOf(version: number): number {
    return physicalMsOfVersion(version);
  }
}
