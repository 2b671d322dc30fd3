// Goal: each simulated process reads its own wall clock off the shared virtual timeline, with the
// skew and drift a test gives it. Method: advance virtual time, compare readings to the formula.
import { describe, expect, it } from 'vitest';
import { DEFAULT_SIMULATION_EPOCH_MS, SimulatedClock } from './simulated-clock.js';
import { SimulatedScheduler } from './simulated-scheduler.js';

describe('SimulatedClock', () => {
  it('starts at a fixed date and follows virtual time', async () => {
    const scheduler = new SimulatedScheduler();
    const clock = new SimulatedClock(scheduler);
    expect(clock.now()).toBe(DEFAULT_SIMULATION_EPOCH_MS);
    expect(new Date(clock.now()).toISOString()).toBe('2026-01-01T00:00:00.000Z');
    await scheduler.runFor(1500);
    expect(clock.now()).toBe(DEFAULT_SIMULATION_EPOCH_MS + 1500);
  });

  it('applies a fixed offset of minutes, either way, and can jump', async () => {
    const scheduler = new SimulatedScheduler();
    const ahead = new SimulatedClock(scheduler, { offsetMs: 5 * 60_000 });
    const behind = new SimulatedClock(scheduler, { offsetMs: -3 * 60_000 });
    await scheduler.runFor(10);
    expect(ahead.now() - behind.now()).toBe(8 * 60_000);
    ahead.setOffset(0);
    expect(ahead.now()).toBe(DEFAULT_SIMULATION_EPOCH_MS + 10);
  });

  it('drifts at the given rate, in whole milliseconds', async () => {
    const scheduler = new SimulatedScheduler();
    const fast = new SimulatedClock(scheduler, { epochMs: 0, driftPpm: 1000 });
    const slow = new SimulatedClock(scheduler, { epochMs: 0, driftPpm: -1000 });
    await scheduler.runFor(60_000);
    expect(fast.now()).toBe(60_060);
    expect(slow.now()).toBe(59_940);
    await scheduler.runFor(1);
    expect(Number.isInteger(fast.now())).toBe(true);
  });

  it('changing the drift changes the rate without a jump', async () => {
    const scheduler = new SimulatedScheduler();
    const clock = new SimulatedClock(scheduler, { epochMs: 0 });
    await scheduler.runFor(10_000);
    clock.setDrift(100_000); // 10% fast from here on
    expect(clock.now()).toBe(10_000);
    await scheduler.runFor(10_000);
    expect(clock.now()).toBe(21_000);
    expect(clock.skew()).toEqual({ offsetMs: 0, driftPpm: 100_000 });
  });
});
