// Goal: the dashboard's request window reports rates, error rates and p99 latencies of the last
// whole seconds only, forgets older seconds, and keeps its p99 within one bucket (25 %) of the
// truth. Method: a RequestWindow on a stepped clock, fed known request mixes.
import { describe, expect, it } from 'vitest';
import { RequestWindow } from './request-window.js';

function windowAt(startMs: number, seconds = 10): { window: RequestWindow; step: (ms: number) => void } {
  let now = startMs;
  return { window: new RequestWindow(seconds, () => now), step: (ms) => (now += ms) };
}

describe('RequestWindow', () => {
  it('counts the last whole seconds per operation, not the one still filling', () => {
    const { window, step } = windowAt(1_000_000);
    for (let i = 0; i < 50; i += 1) window.record('get', 200, 0.001);
    for (let i = 0; i < 20; i += 1) window.record('put', 503, 0.2);
    expect(window.summary().operations.get.perSecond).toBe(0);
    step(1000);
    window.record('get', 200, 0.001);
    const summary = window.summary();
    expect(summary.windowSeconds).toBe(10);
    expect(summary.operations.get.perSecond).toBe(5);
    expect(summary.operations.put).toEqual({ perSecond: 2, errorsPerSecond: 2, p99Seconds: expect.any(Number) });
    expect(summary.operations.delete).toEqual({ perSecond: 0, errorsPerSecond: 0, p99Seconds: null });
  });

  it('forgets seconds older than the window, even when a slot is reused', () => {
    const { window, step } = windowAt(5_000_000, 3);
    window.record('get', 200, 0.001);
    step(1000);
    expect(window.summary().operations.get.perSecond).toBeCloseTo(1 / 3);
    step(4000);
    expect(window.summary().operations.get.perSecond).toBe(0);
    // The same slot (second modulo 4) counts a new second from zero.
    window.record('get', 200, 0.001);
    step(1000);
    expect(window.summary().operations.get.perSecond).toBeCloseTo(1 / 3);
  });

  it.each([
    { fast: 0.002, slow: 0.4, slowCount: 2, total: 100, expected: 0.4 },
    { fast: 0.002, slow: 0.4, slowCount: 1, total: 200, expected: 0.002 },
    { fast: 0.00001, slow: 0.00001, slowCount: 0, total: 10, expected: 0.00005 },
    { fast: 0.01, slow: 120, slowCount: 5, total: 100, expected: 120 },
  ])('p99 of $total requests, $slowCount of them at $slow s, is about $expected s', ({ fast, slow, slowCount, total, expected }) => {
    const { window, step } = windowAt(9_000_000);
    for (let i = 0; i < total - slowCount; i += 1) window.record('get', 200, fast);
    for (let i = 0; i < slowCount; i += 1) window.record('get', 200, slow);
    step(1000);
    const p99 = window.summary().operations.get.p99Seconds!;
    // The bound of the bucket: at or above the truth, at most 25 % above (the last bucket caps at about 40 s).
    expect(p99).toBeGreaterThanOrEqual(Math.min(expected, 40));
    expect(p99).toBeLessThanOrEqual(expected * 1.25 + 1e-12);
  });

  it('refuses a window outside 1..60 seconds', () => {
    expect(() => new RequestWindow(0)).toThrow(/1 to 60/);
    expect(() => new RequestWindow(61)).toThrow(/1 to 60/);
  });
});
