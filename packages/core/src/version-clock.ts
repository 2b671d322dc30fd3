import { DkvError } from './errors.js';

/** Start of the version clock: 2025-01-01T00:00:00Z. With 12 logical bits, versions stay below 2^53 until 2094. */
export const VERSION_EPOCH_MS = 1_735_689_600_000;
/** Room for 4096 versions per millisecond before the logical counter spills into the next millisecond. */
export const LOGICAL_BITS = 12;
/**
 * 2^LOGICAL_BITS as a literal: V8 does not fold `2 ** LOGICAL_BITS` in a function of another
 * module's scope, and called `Math.pow` (about 300 instructions) on every version checked.
 */
const VERSIONS_PER_MS = 4096;

/**
 * The default largest clock offset the cluster tolerates (`--max-clock-offset-ms`): 10 minutes.
 * dkv orders writes correctly across coordinators minutes apart (the hybrid logical clock), so the
 * bound is generous; it exists so that one process whose clock is years ahead (or one forged
 * record) cannot push a key's version, or a coordinator's clock, to the end of the version space.
 */
export const DEFAULT_MAX_CLOCK_OFFSET_MS = 600_000;

/** The wall-clock millisecond a version was issued at (its physical part). */
export function physicalMsOfVersion(version: number): number {
  return Math.floor(version / VERSIONS_PER_MS) + VERSION_EPOCH_MS;
}

/**
 * Why `version` is refused at local time `nowMs`, or null when it is acceptable: a version issued
 * more than `maxAheadMs` after now, by the issuer's clock, comes from a clock the cluster does not
 * tolerate (or from no clock at all), and accepting it would make every later write of the key
 * need a version above it.
 */
export function versionAheadProblem(version: number, nowMs: number, maxAheadMs: number): string | null {
  const aheadMs = physicalMsOfVersion(version) - nowMs;
  if (aheadMs <= maxAheadMs) return null;
  return `version ${version} was issued at ${isoOf(physicalMsOfVersion(version))}, ${aheadMs} ms ahead of this process's clock; at most ${maxAheadMs} ms (--max-clock-offset-ms) is accepted`;
}

/** The error a process answers for a version {@link versionAheadProblem} refuses. */
export class VersionTooFarAheadError extends DkvError {
  constructor(problem: string) {
    super('VERSION_TOO_FAR_AHEAD', problem);
    this.name = 'VersionTooFarAheadError';
  }
}

function isoOf(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString();
}
