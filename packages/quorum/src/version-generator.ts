import { DkvError, MAX_VERSION, type Clock } from '@dkv/core';

/** Start of the version clock: 2025-01-01T00:00:00Z. With 12 logical bits, versions stay below 2^53 until 2094. */
export const VERSION_EPOCH_MS = 1_735_689_600_000;
/** Room for 4096 versions per millisecond before the logical counter spills into the next millisecond. */
export const LOGICAL_BITS = 12;
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
 * Every version it returns is higher than every version it returned or observed before.
 */
export class VersionGenerator {
  private last = 0;

  constructor(private readonly clock: Clock) {}

  /** A version higher than `observedMax`, than any seen so far and, if the clock allows, than the wall clock. */
  next(observedMax = 0): number {
    const physical = Math.max(0, Math.floor(this.clock.now()) - VERSION_EPOCH_MS) * LOGICAL_FACTOR;
    const version = Math.max(physical, this.last + 1, observedMax + 1);
    if (version > MAX_VERSION) {
      throw new DkvError('INTERNAL', `version space exhausted: ${version} is above 2^53 - 1`);
    }
    this.last = version;
    return version;
  }

  /** Takes note of a version seen elsewhere, so later versions from here are above it. */
  observe(version: number): void {
    if (version > this.last) this.last = Math.min(version, MAX_VERSION);
  }

  /** The wall-clock millisecond a version was issued at (for humans and metrics only). */
  static physicalMsOf(version: number): number {
    return Math.floor(version / LOGICAL_FACTOR) + VERSION_EPOCH_MS;
  }
}
