// Goal: the real adapters keep their promises (timers fire and cancel, offsets apply, rng ranges).
// Method: await real timers through promises; no fixed sleeps.
import { describe, expect, it } from 'vitest';
import { SystemClock, SystemRng, TimerScheduler, randomId } from './index.js';

describe('runtime adapters', () => {
  it('shifts the clock by its offset', () => {
    const skewed = new SystemClock(120_000).now();
    const plain = new SystemClock().now();
    expect(skewed - plain).toBeGreaterThanOrEqual(119_000);
  });

  it('runs a timer once and a cancelled one never', async () => {
    const scheduler = new TimerScheduler();
    let cancelledRan = false;
    scheduler.after(1, () => (cancelledRan = true)).cancel();
    await new Promise<void>((resolve) => scheduler.after(5, resolve));
    expect(cancelledRan).toBe(false);
  });

  it('repeats an interval until cancelled', async () => {
    const scheduler = new TimerScheduler();
    let runs = 0;
    await new Promise<void>((resolve) => {
      const timer = scheduler.every(1, () => {
        runs += 1;
        if (runs === 3) {
          timer.cancel();
          resolve();
        }
      });
    });
    expect(runs).toBe(3);
  });

  it('keeps rng values in range', () => {
    const rng = new SystemRng();
    for (let i = 0; i < 1000; i += 1) {
      const v = rng.int(7);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(7);
    }
    expect(randomId('c')).toMatch(/^c-[0-9a-z]+$/);
  });
});
