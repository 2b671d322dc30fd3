/**
 * A simulated process's own wall clock, read off the shared virtual timeline, so a test can give
 * each node a clock that is minutes off or runs fast, as real clocks do.
 */
import type { Clock } from '@dkv/core';

/** 2026-01-01T00:00:00Z: the wall-clock instant at which every simulation starts, so runs replay exactly. */
export const DEFAULT_SIMULATION_EPOCH_MS = Date.UTC(2026, 0, 1);

/** Options of a {@link SimulatedClock}. */
export interface SimulatedClockOptions {
  /** The wall-clock time at virtual time 0. Default {@link DEFAULT_SIMULATION_EPOCH_MS}. */
  readonly epochMs?: number;
  /** A fixed skew added to every reading. Default 0. */
  readonly offsetMs?: number;
  /** How fast the clock runs, in parts per million: +100 gains 0.1 ms per virtual second. Default 0. */
  readonly driftPpm?: number;
}

/**
 * `now() = epochMs + virtualNow * (1 + driftPpm / 1e6) + offsetMs`, floored to whole milliseconds
 * as `Date.now()` is. {@link setOffset} makes the clock jump (an NTP step, an operator's mistake);
 * {@link setDrift} changes the rate from this instant on without a jump, as a real oscillator
 * would, so the formula holds with `virtualNow` counted from the last drift change.
 */
export class SimulatedClock implements Clock {
  private offsetMs: number;
  private driftPpm: number;
  /** The drift-affected reading, without offset, at `anchorVirtualMs`. */
  private anchorWallMs: number;
  private anchorVirtualMs: number;

  constructor(
    private readonly timeline: { now(): number },
    options: SimulatedClockOptions = {},
  ) {
    this.offsetMs = options.offsetMs ?? 0;
    this.driftPpm = options.driftPpm ?? 0;
    this.anchorWallMs = options.epochMs ?? DEFAULT_SIMULATION_EPOCH_MS;
    this.anchorVirtualMs = 0;
  }

  now(): number {
    return Math.floor(this.unskewedNow() + this.offsetMs);
  }

  /** Sets the fixed skew; the clock jumps by the difference (forwards or backwards). */
  setOffset(offsetMs: number): void {
    this.offsetMs = offsetMs;
  }

  /** Sets the rate error from now on, in parts per million; the reading does not jump. */
  setDrift(driftPpm: number): void {
    this.anchorWallMs = this.unskewedNow();
    this.anchorVirtualMs = this.timeline.now();
    this.driftPpm = driftPpm;
  }

  /** The current skew and drift, for test messages. */
  skew(): { offsetMs: number; driftPpm: number } {
    return { offsetMs: this.offsetMs, driftPpm: this.driftPpm };
  }

  private unskewedNow(): number {
    const elapsedMs = this.timeline.now() - this.anchorVirtualMs;
    // elapsed * ppm / 1e6 rather than elapsed * (1 + ppm / 1e6): exact for whole results, so that
    // 60 s at +1000 ppm reads 60060, not 60059.99999.
    return this.anchorWallMs + elapsedMs + (elapsedMs * this.driftPpm) / 1e6;
  }
}
