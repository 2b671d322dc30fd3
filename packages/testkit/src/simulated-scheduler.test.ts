// Goal: the virtual timeline runs events in (time, insertion) order, honours cancellation, never
// loops without bound, and lets async code that chains promises across events advance
// deterministically. Method: small scenarios that record what ran, when, in which order.
import { describe, expect, it } from 'vitest';
import { SeededRng } from './seeded-rng.js';
import { SimulatedScheduler, SimulationBoundError } from './simulated-scheduler.js';

describe('SimulatedScheduler', () => {
  it('runs events in virtual-time order, ties in insertion order', async () => {
    const scheduler = new SimulatedScheduler();
    const ran: string[] = [];
    scheduler.after(20, () => ran.push(`b@${scheduler.now()}`));
    scheduler.after(10, () => ran.push(`a@${scheduler.now()}`));
    scheduler.after(20, () => ran.push(`c@${scheduler.now()}`));
    scheduler.after(0, () => ran.push(`zero@${scheduler.now()}`));
    scheduler.after(-5, () => ran.push(`negative@${scheduler.now()}`));
    expect(ran).toEqual([]); // never synchronously
    await scheduler.runFor(100);
    expect(ran).toEqual(['zero@0', 'negative@0', 'a@10', 'b@20', 'c@20']);
    expect(scheduler.now()).toBe(100);
  });

  it('runFor includes events due exactly at the end and leaves later ones queued', async () => {
    const scheduler = new SimulatedScheduler();
    const ran: number[] = [];
    scheduler.after(50, () => ran.push(50));
    scheduler.after(51, () => ran.push(51));
    await scheduler.runFor(50);
    expect(ran).toEqual([50]);
    expect(scheduler.pendingEvents()).toBe(1);
    expect(scheduler.nextEventAtMs()).toBe(51);
  });

  it('events scheduled by events run at their own time, within the same runFor', async () => {
    const scheduler = new SimulatedScheduler();
    const ran: number[] = [];
    scheduler.after(10, () => scheduler.after(5, () => ran.push(scheduler.now())));
    await scheduler.runFor(15);
    expect(ran).toEqual([15]);
  });

  it('cancel prevents a run; cancelling twice or after the run is harmless', async () => {
    const scheduler = new SimulatedScheduler();
    const ran: string[] = [];
    const cancelled = scheduler.after(10, () => ran.push('cancelled'));
    const kept = scheduler.after(10, () => ran.push('kept'));
    cancelled.cancel();
    cancelled.cancel();
    expect(scheduler.pendingEvents()).toBe(1);
    await scheduler.runFor(10);
    kept.cancel();
    expect(ran).toEqual(['kept']);
    expect(scheduler.pendingEvents()).toBe(0);
  });

  it('purges many cancelled timers without losing live ones', async () => {
    const scheduler = new SimulatedScheduler();
    let fired = 0;
    const timers = Array.from({ length: 5000 }, (_, i) => scheduler.after(1000 + i, () => fired++));
    timers.forEach((timer, i) => {
      if (i % 10 !== 0) timer.cancel();
    });
    expect(scheduler.pendingEvents()).toBe(500);
    await scheduler.runUntilIdle();
    expect(fired).toBe(500);
  });

  it('every repeats at its interval until cancelled, even from inside its callback', async () => {
    const scheduler = new SimulatedScheduler();
    const at: number[] = [];
    const timer = scheduler.every(100, () => {
      at.push(scheduler.now());
      if (at.length === 3) timer.cancel();
    });
    await scheduler.runFor(1000);
    expect(at).toEqual([100, 200, 300]);
    expect(scheduler.pendingEvents()).toBe(0);
  });

  it('every with a zero interval still advances time (at least 1 ms)', async () => {
    const scheduler = new SimulatedScheduler();
    let runs = 0;
    scheduler.every(0, () => runs++);
    await scheduler.runFor(10);
    expect(runs).toBe(10);
  });

  it('settle returns the value once the events it waits for have run', async () => {
    const scheduler = new SimulatedScheduler();
    const delayed = new Promise<string>((resolve) => scheduler.after(250, () => resolve('done')));
    await expect(scheduler.settle(delayed)).resolves.toBe('done');
    expect(scheduler.now()).toBe(250);
  });

  it('settle rethrows the rejection', async () => {
    const scheduler = new SimulatedScheduler();
    const failing = new Promise<never>((_, reject) => scheduler.after(5, () => reject(new Error('boom'))));
    await expect(scheduler.settle(failing)).rejects.toThrow('boom');
  });

  it('settle of an already settled promise runs no event', async () => {
    const scheduler = new SimulatedScheduler();
    scheduler.after(1, () => undefined);
    await expect(scheduler.settle(Promise.resolve(1))).resolves.toBe(1);
    expect(scheduler.eventsRun()).toBe(0);
  });

  it('settle throws a clear error when its virtual-time bound is hit', async () => {
    const scheduler = new SimulatedScheduler({ seed: 42 });
    scheduler.every(10, () => undefined);
    const never = new Promise<void>(() => undefined);
    const error = await scheduler.settle(never, { maxVirtualMs: 1000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SimulationBoundError);
    expect(error).toMatchObject({ reason: 'max-virtual-ms' });
    expect((error as Error).message).toMatch(/still pending after 1000 virtual ms .*DKV_SEED=42/);
    expect(scheduler.now()).toBe(1000);
  });

  it('settle throws when its event bound is hit', async () => {
    const scheduler = new SimulatedScheduler();
    scheduler.every(1, () => undefined);
    await expect(scheduler.settle(new Promise(() => undefined), { maxEvents: 50 })).rejects.toMatchObject({ reason: 'max-events' });
    expect(scheduler.eventsRun()).toBe(50);
  });

  it('settle throws at once when nothing queued could settle the promise', async () => {
    const scheduler = new SimulatedScheduler();
    await expect(scheduler.settle(new Promise(() => undefined))).rejects.toMatchObject({ reason: 'idle' });
  });

  it('concurrent settles are serialized and both resolve', async () => {
    const scheduler = new SimulatedScheduler();
    const slow = new Promise<string>((resolve) => scheduler.after(200, () => resolve('slow')));
    const fast = new Promise<string>((resolve) => scheduler.after(100, () => resolve('fast')));
    await expect(Promise.all([scheduler.settle(slow), scheduler.settle(fast)])).resolves.toEqual(['slow', 'fast']);
    expect(scheduler.now()).toBe(200);
  });

  it('runUntil stops as soon as the predicate holds, and fails when it never can', async () => {
    const scheduler = new SimulatedScheduler();
    let count = 0;
    const timer = scheduler.every(10, () => count++);
    await scheduler.runUntil(() => count === 5);
    expect(scheduler.now()).toBe(50);
    await expect(scheduler.runUntil(() => false, { maxVirtualMs: 100 })).rejects.toMatchObject({ reason: 'max-virtual-ms' });
    timer.cancel();
    await expect(scheduler.runUntil(() => false)).rejects.toMatchObject({ reason: 'idle' });
  });

  it('runUntilIdle drains one-shot work and refuses to spin on a periodic timer', async () => {
    const scheduler = new SimulatedScheduler();
    let runs = 0;
    scheduler.after(5, () => scheduler.after(5, () => runs++));
    await scheduler.runUntilIdle();
    expect([runs, scheduler.now()]).toEqual([1, 10]);
    scheduler.every(1, () => undefined);
    await expect(scheduler.runUntilIdle({ maxEvents: 100 })).rejects.toThrow(/runUntilIdle: events are still queued after 100 events/);
  });

  it('an exception in an event propagates out of the driver call', async () => {
    const scheduler = new SimulatedScheduler();
    scheduler.after(1, () => {
      throw new Error('bug in simulated code');
    });
    await expect(scheduler.runFor(10)).rejects.toThrow('bug in simulated code');
  });

  it('bounds the queue', () => {
    const scheduler = new SimulatedScheduler({ maxPendingEvents: 3 });
    for (let i = 0; i < 3; i++) scheduler.after(1, () => undefined);
    expect(() => scheduler.after(1, () => undefined)).toThrow(SimulationBoundError);
  });

  it('drains whole microtask and nextTick chains between events', async () => {
    // Async code awaiting many times between two timers must finish before the next timer runs,
    // as it would in Node between two setTimeout callbacks.
    const scheduler = new SimulatedScheduler();
    const log: string[] = [];
    scheduler.after(10, () => {
      void (async () => {
        for (let i = 0; i < 1000; i++) await Promise.resolve();
        await new Promise<void>((resolve) => process.nextTick(resolve));
        log.push(`chain done@${scheduler.now()}`);
      })();
    });
    scheduler.after(10, () => log.push(`second event@${scheduler.now()}`));
    await scheduler.runFor(10);
    expect(log).toEqual(['chain done@10', 'second event@10']);
  });

  it('async code that sleeps on the scheduler interleaves deterministically', async () => {
    async function run(): Promise<string[]> {
      const scheduler = new SimulatedScheduler();
      const rng = new SeededRng(99);
      const log: string[] = [];
      const sleep = (ms: number) => new Promise<void>((resolve) => scheduler.after(ms, resolve));
      const worker = async (name: string) => {
        for (let i = 0; i < 20; i++) {
          await sleep(rng.int(5));
          await Promise.resolve();
          log.push(`${name}${i}@${scheduler.now()}`);
        }
      };
      await scheduler.settle(Promise.all([worker('a'), worker('b'), worker('c')]));
      return log;
    }
    const first = await run();
    expect(first).toHaveLength(60);
    expect(await run()).toEqual(first);
  });
});
