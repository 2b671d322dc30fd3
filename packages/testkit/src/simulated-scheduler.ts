/**
 * One virtual timeline for a whole simulated cluster, in the manner of FoundationDB's and
 * TigerBeetle's simulators: every timer of every simulated process is an event in one queue,
 * ordered by (virtual time, insertion sequence), and a test drives the queue explicitly.
 *
 * Rules for code that runs under simulation (the domain packages, by construction):
 * - No real timers or I/O: `setTimeout`, `setInterval`, `setImmediate`, sockets and files are
 *   invisible to the simulation, so a promise waiting on them never settles in virtual time and
 *   the run is no longer reproducible. Time comes from the `Scheduler` and `Clock` ports only.
 * - Promise chains are fine: between two events the driver drains every pending microtask (see
 *   {@link SimulatedScheduler.drainMicrotasks}), so `await` chains advance as they would between
 *   two Node timers, in a deterministic order.
 * - The driver methods (`runFor`, `settle`, `runUntil`, `runUntilIdle`, `step`) belong to test
 *   code, not to code under simulation. Concurrent driver calls are serialized, in call order.
 */
import { BinaryHeap, type Scheduler, type Timer } from '@dkv/core';
import { describeSeed } from './seed.js';

/** Limits of one driver call; hitting one throws a {@link SimulationBoundError} instead of looping on. */
export interface SimulationBounds {
  /** Virtual milliseconds the call may advance past its start. */
  readonly maxVirtualMs?: number;
  /** Events the call may run. */
  readonly maxEvents?: number;
}

/** The bounds that apply when a driver call gives none: an hour of virtual time, a million events. */
export const DEFAULT_SIMULATION_BOUNDS: Required<SimulationBounds> = {
  maxVirtualMs: 60 * 60 * 1000,
  maxEvents: 1_000_000,
};

/** Why a driver call gave up. */
export type SimulationBoundReason = 'max-virtual-ms' | 'max-events' | 'idle' | 'queue-full';

/**
 * A driver call hit one of its bounds, or waited for something no scheduled event can bring
 * (`idle`: the queue is empty, so the awaited promise or condition can never come true in
 * virtual time). The message says where the simulation stood and, when known, how to replay it.
 */
export class SimulationBoundError extends Error {
  constructor(
    readonly reason: SimulationBoundReason,
    message: string,
  ) {
    super(message);
    this.name = 'SimulationBoundError';
  }
}

/** Options of a {@link SimulatedScheduler}. */
export interface SimulatedSchedulerOptions {
  /** Upper bound on queued (not cancelled) events; `after` and `every` throw beyond it. Default 1,000,000. */
  readonly maxPendingEvents?: number;
  /** The run's seed, quoted in error messages so a failure says how to replay it. */
  readonly seed?: number;
}

interface ScheduledEvent {
  atMs: number;
  seq: number;
  readonly callback: () => void;
  /** Set for `every` timers: the event is queued again this far after each run. */
  readonly intervalMs: number | null;
  cancelled: boolean;
  queued: boolean;
}

function byTimeThenSequence(a: ScheduledEvent, b: ScheduledEvent): number {
  return a.atMs - b.atMs || a.seq - b.seq;
}

/** Purge cancelled events from the heap once there are this many and they are most of it. */
const CANCELLED_PURGE_THRESHOLD = 1024;

/**
 * A {@link Scheduler} over virtual time, plus the driver API tests use to make that time pass.
 * `now()` is virtual milliseconds since the scheduler was created, starting at 0; it only moves
 * when a driver call runs events. Events at the same virtual time run in the order they were
 * scheduled.
 */
export class SimulatedScheduler implements Scheduler {
  private readonly queue = new BinaryHeap<ScheduledEvent>(byTimeThenSequence);
  private readonly maxPendingEvents: number;
  private readonly seed: number | undefined;
  private nowMs = 0;
  private nextSeq = 0;
  private liveEvents = 0;
  private cancelledQueued = 0;
  private totalEventsRun = 0;
  private driverTail: Promise<void> = Promise.resolve();

  constructor(options: SimulatedSchedulerOptions = {}) {
    this.maxPendingEvents = options.maxPendingEvents ?? 1_000_000;
    this.seed = options.seed;
  }

  /** Virtual milliseconds since the start of the simulation. */
  now(): number {
    return this.nowMs;
  }

  /** Events queued and not cancelled. */
  pendingEvents(): number {
    return this.liveEvents;
  }

  /** Events run since the start, across all driver calls. */
  eventsRun(): number {
    return this.totalEventsRun;
  }

  /** The virtual time of the next event to run, or null when none is queued. */
  nextEventAtMs(): number | null {
    return this.peekLive()?.atMs ?? null;
  }

  /** Runs `callback` at `now() + delayMs` (negative and NaN delays count as 0); never synchronously. */
  after(delayMs: number, callback: () => void): Timer {
    return this.schedule(Math.max(0, delayMs || 0), callback, null);
  }

  /**
   * Runs `callback` every `intervalMs` (at least 1 ms, so a periodic timer cannot stall virtual
   * time), first at `now() + intervalMs`, until cancelled; a callback may cancel its own timer.
   */
  every(intervalMs: number, callback: () => void): Timer {
    const interval = Math.max(1, intervalMs || 0);
    return this.schedule(interval, callback, interval);
  }

  /**
   * Lets every pending microtask and `process.nextTick` callback run, including those they queue
   * in turn. It waits for one `setImmediate`: Node runs the check phase only once both queues are
   * empty. That holds as long as simulated code does no real I/O and uses no real timers.
   */
  drainMicrotasks(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Runs the next event, if any, then drains microtasks. Returns false when the queue was empty. */
  step(): Promise<boolean> {
    return this.exclusive(async () => {
      await this.drainMicrotasks();
      const event = this.peekLive();
      if (event === undefined) return false;
      await this.runNext();
      return true;
    });
  }

  /**
   * Advances virtual time by `ms`, running every event due up to and including `now() + ms` in
   * order (draining microtasks after each), then sets `now()` to exactly that instant. Only
   * `maxEvents` bounds it (virtual time is bounded by `ms`). An exception thrown by an event's
   * callback propagates out of `runFor`, as an uncaught exception would crash a real process.
   */
  runFor(ms: number, bounds: Pick<SimulationBounds, 'maxEvents'> = {}): Promise<void> {
    if (!(ms >= 0) || !Number.isFinite(ms)) return Promise.reject(new RangeError(`runFor needs a finite ms >= 0, got ${String(ms)}`));
    return this.exclusive(async () => {
      const targetMs = this.nowMs + ms;
      const maxEvents = bounds.maxEvents ?? DEFAULT_SIMULATION_BOUNDS.maxEvents;
      let eventsRun = 0;
      await this.drainMicrotasks();
      for (;;) {
        const event = this.peekLive();
        if (event === undefined || event.atMs > targetMs) break;
        if (eventsRun >= maxEvents)
          throw this.boundError('max-events', `runFor(${ms}) ran ${eventsRun} events and virtual time has not reached ${targetMs} ms`);
        await this.runNext();
        eventsRun++;
      }
      this.nowMs = targetMs;
    });
  }

  /**
   * Runs events until `promise` settles, then returns its value or throws its error: the way a
   * test awaits domain code that waits on simulated timers and network. It throws a
   * {@link SimulationBoundError} when the promise is still pending after `maxVirtualMs` of virtual
   * time or `maxEvents` events (defaults: {@link DEFAULT_SIMULATION_BOUNDS}), or when no event is
   * left that could settle it. Virtual time stops at the last event run: it does not jump ahead.
   */
  settle<T>(promise: Promise<T>, bounds: SimulationBounds = {}): Promise<T> {
    let settled = false;
    const observed = promise.then(
      (value) => {
        settled = true;
        return value;
      },
      (error: unknown) => {
        settled = true;
        throw error;
      },
    );
    // The bound error may win the race; the promise's own later rejection is then not "unhandled".
    observed.catch(() => undefined);
    return this.exclusive(async () => {
      await this.runWhile(() => !settled, bounds, 'settle: the promise is still pending');
      return observed;
    });
  }

  /**
   * Runs events until `predicate()` is true (it is checked before the first event and after each),
   * within `bounds`; throws a {@link SimulationBoundError} otherwise, or when the queue runs dry.
   */
  runUntil(predicate: () => boolean, bounds: SimulationBounds = {}): Promise<void> {
    return this.exclusive(() => this.runWhile(() => !predicate(), bounds, 'runUntil: the predicate is still false'));
  }

  /**
   * Runs events until none is queued. A periodic timer keeps the queue busy forever, so with one
   * running this hits its bound and throws: cancel periodic timers first, or use `runFor`.
   */
  runUntilIdle(bounds: SimulationBounds = {}): Promise<void> {
    return this.exclusive(() => this.runWhile(() => this.peekLive() !== undefined, bounds, 'runUntilIdle: events are still queued'));
  }

  private async runWhile(condition: () => boolean, bounds: SimulationBounds, what: string): Promise<void> {
    const maxVirtualMs = bounds.maxVirtualMs ?? DEFAULT_SIMULATION_BOUNDS.maxVirtualMs;
    const maxEvents = bounds.maxEvents ?? DEFAULT_SIMULATION_BOUNDS.maxEvents;
    const startMs = this.nowMs;
    let eventsRun = 0;
    await this.drainMicrotasks();
    while (condition()) {
      const event = this.peekLive();
      if (event === undefined) {
        throw this.boundError('idle', `${what} and no event is queued that could change that (is it waiting on a real timer or I/O?)`);
      }
      if (event.atMs - startMs > maxVirtualMs) {
        throw this.boundError('max-virtual-ms', `${what} after ${maxVirtualMs} virtual ms (${eventsRun} events)`);
      }
      if (eventsRun >= maxEvents) {
        throw this.boundError('max-events', `${what} after ${eventsRun} events (${this.nowMs - startMs} virtual ms)`);
      }
      await this.runNext();
      eventsRun++;
    }
  }

  /** Pops and runs the next live event, then drains microtasks. The caller checked there is one. */
  private async runNext(): Promise<void> {
    const event = this.popLive();
    if (event === undefined) return;
    this.nowMs = event.atMs;
    this.totalEventsRun++;
    if (event.intervalMs !== null) {
      // Requeue before running, so a callback that cancels its own timer cancels the next run.
      event.atMs += event.intervalMs;
      this.enqueue(event);
    }
    event.callback();
    await this.drainMicrotasks();
  }

  private schedule(delayMs: number, callback: () => void, intervalMs: number | null): Timer {
    if (this.liveEvents >= this.maxPendingEvents) {
      throw this.boundError('queue-full', `cannot schedule: ${this.liveEvents} events are already queued (maxPendingEvents)`);
    }
    const event: ScheduledEvent = { atMs: this.nowMs + delayMs, seq: 0, callback, intervalMs, cancelled: false, queued: false };
    this.enqueue(event);
    return { cancel: () => this.cancel(event) };
  }

  private enqueue(event: ScheduledEvent): void {
    event.seq = this.nextSeq++;
    event.queued = true;
    this.queue.push(event);
    this.liveEvents++;
  }

  private cancel(event: ScheduledEvent): void {
    if (event.cancelled) return;
    event.cancelled = true;
    if (!event.queued) return;
    this.liveEvents--;
    this.cancelledQueued++;
    if (this.cancelledQueued >= CANCELLED_PURGE_THRESHOLD && this.cancelledQueued * 2 > this.queue.size) {
      // Request timeouts are mostly cancelled; purging keeps the heap from filling with them.
      this.queue.retain((queued) => !queued.cancelled);
      this.cancelledQueued = 0;
    }
  }

  private peekLive(): ScheduledEvent | undefined {
    for (let head = this.queue.peek(); head !== undefined && head.cancelled; head = this.queue.peek()) {
      this.queue.pop();
      head.queued = false;
      this.cancelledQueued--;
    }
    return this.queue.peek();
  }

  private popLive(): ScheduledEvent | undefined {
    const event = this.peekLive();
    if (event === undefined) return undefined;
    this.queue.pop();
    event.queued = false;
    this.liveEvents--;
    return event;
  }

  /** Runs driver calls one after another, in call order, so they never interleave their events. */
  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    const result = this.driverTail.then(run);
    this.driverTail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private boundError(reason: SimulationBoundReason, detail: string): SimulationBoundError {
    const where = `at virtual ${this.nowMs} ms, ${this.liveEvents} events queued`;
    const replay = this.seed === undefined ? '' : `; ${describeSeed(this.seed)}`;
    return new SimulationBoundError(reason, `${detail} [${where}${replay}]`);
  }
}
