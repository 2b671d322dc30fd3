// Goal: RetryingNodeClient retries only failures where the request surely did not run, a bounded
// number of times, with growing jittered backoff, and never past the request's own deadline.
// Method: a scripted inner client and a manual scheduler in virtual time (no sleeps): each test
// advances time step by step and checks what was attempted, when, and how the send ended.
import {
  NodeUnavailableError,
  type Node,
  type NodeClient,
  type NodeFailureKind,
  type RequestOptions,
  type ResponseFor,
  type Rng,
  type Scheduler,
  type StorageRequest,
  type Timer,
} from '@dkv/core';
import { contractNode } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, RetryingNodeClient, type RetryOptions } from './retrying-node-client.js';

/** Timers in virtual time: nothing runs until the test advances the clock. */
class ManualScheduler implements Scheduler {
  nowMs = 0;
  private timers: Array<{ atMs: number; callback: () => void; cancelled: boolean }> = [];

  after(delayMs: number, callback: () => void): Timer {
    const timer = { atMs: this.nowMs + delayMs, callback, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  every(): Timer {
    throw new Error('not used by RetryingNodeClient');
  }

  /** The delays of the timers still pending, from now. */
  pendingDelaysMs(): number[] {
    return this.timers.filter((t) => !t.cancelled).map((t) => t.atMs - this.nowMs);
  }

  /** Runs every timer due within `ms`, in time order, letting promise callbacks run in between. */
  async advance(ms: number): Promise<void> {
    const endMs = this.nowMs + ms;
    await flush();
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.atMs <= endMs).sort((a, b) => a.atMs - b.atMs)[0];
      if (due === undefined) break;
      due.cancelled = true;
      this.nowMs = due.atMs;
      due.callback();
      await flush();
    }
    this.nowMs = endMs;
  }
}

async function flush(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

const fixedRng = (value: number): Rng => ({ next: () => value, int: (max) => Math.floor(value * max) });

type Step = 'ok' | 'hang' | NodeFailureKind;

/** Answers each attempt by the next step of its script (the last step repeats). */
class ScriptedClient implements NodeClient {
  readonly attempts: Array<{ atMs: number; timeoutMs: number }> = [];
  closed = false;

  constructor(
    private readonly script: Step[],
    private readonly scheduler: ManualScheduler,
  ) {}

  send<R extends StorageRequest>(target: Node, _request: R, options: RequestOptions): Promise<ResponseFor<R>> {
    this.attempts.push({ atMs: this.scheduler.nowMs, timeoutMs: options.timeoutMs });
    const step = this.script[Math.min(this.attempts.length, this.script.length) - 1] ?? 'ok';
    if (step === 'hang') return new Promise(() => undefined);
    if (step === 'ok') return Promise.resolve({ type: 'PING', nodeId: target.id, ready: true, keys: 0, bytes: 0 } as ResponseFor<R>);
    return Promise.reject(new NodeUnavailableError(target.id, step, `scripted ${step}`));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

const target = contractNode('n1', '127.0.0.1:1');
const policy: RetryOptions = { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 25 };

function setUp(script: Step[], options: RetryOptions = policy, rngValue = 0.5) {
  const scheduler = new ManualScheduler();
  const inner = new ScriptedClient(script, scheduler);
  const client = new RetryingNodeClient(inner, options, scheduler, fixedRng(rngValue));
  return { scheduler, inner, client };
}

/** Observes a send's outcome without awaiting it, so the test can keep advancing time. */
function watch(promise: Promise<unknown>) {
  const state: { settled: boolean; error: NodeUnavailableError | null } = { settled: false, error: null };
  promise.then(
    () => (state.settled = true),
    (error: NodeUnavailableError) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

describe('backoffDelayMs', () => {
  it.each([
    [1, 0, 5],
    [1, 0.999, 9.995],
    [2, 0.5, 15],
    [3, 0.5, 18.75],
    [9, 0.5, 18.75],
  ])('retry %i with rng %f waits %f ms (base 10, cap 25, equal jitter)', (retry, rngValue, expected) => {
    expect(backoffDelayMs(retry, policy, fixedRng(rngValue))).toBeCloseTo(expected, 6);
  });
});

describe('RetryingNodeClient', () => {
  it('retries unreachable until an attempt succeeds, waiting longer each time', async () => {
    const { scheduler, inner, client } = setUp(['unreachable', 'overloaded', 'unreachable', 'ok']);
    const outcome = watch(client.send(target, { type: 'PING' }, { timeoutMs: 1_000 }));
    await scheduler.advance(100);
    expect(outcome).toEqual({ settled: true, error: null });
    expect(inner.attempts.map((a) => a.atMs)).toEqual([0, 7.5, 7.5 + 15, 7.5 + 15 + 18.75]);
    // Each attempt gets what the backoffs have left of the deadline.
    expect(inner.attempts.map((a) => a.timeoutMs)).toEqual([1_000, 992.5, 977.5, 958.75]);
  });

  it('gives up after maxAttempts with the last failure', async () => {
    const { scheduler, inner, client } = setUp(['unreachable']);
    const outcome = watch(client.send(target, { type: 'PING' }, { timeoutMs: 1_000 }));
    await scheduler.advance(1_000);
    expect(inner.attempts).toHaveLength(4);
    expect(outcome.error?.kind).toBe('unreachable');
  });

  it.each(['timeout', 'remote', 'closed'] as const)('does not retry a %s failure', async (kind) => {
    const { scheduler, inner, client } = setUp([kind, 'ok']);
    const outcome = watch(client.send(target, { type: 'PING' }, { timeoutMs: 1_000 }));
    await scheduler.advance(1_000);
    expect(inner.attempts).toHaveLength(1);
    expect(outcome.error?.kind).toBe(kind);
  });

  it('does not start a retry whose backoff would end past the deadline', async () => {
    const { scheduler, inner, client } = setUp(['unreachable'], { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 20 }, 0.5);
    const outcome = watch(client.send(target, { type: 'PING' }, { timeoutMs: 40 }));
    // Backoffs are 15 ms each: attempts at 0, 15 and 30; a fourth would start at 45 > 40.
    await scheduler.advance(30);
    expect(outcome.error?.kind).toBe('unreachable');
    expect(inner.attempts.map((a) => a.atMs)).toEqual([0, 15, 30]);
    expect(scheduler.pendingDelaysMs()).toEqual([]);
  });

  it('settles at the deadline with timeout when an attempt is still in flight', async () => {
    const { scheduler, inner, client } = setUp(['unreachable', 'hang']);
    const outcome = watch(client.send(target, { type: 'PING' }, { timeoutMs: 200 }));
    await scheduler.advance(199);
    expect(outcome.settled).toBe(false);
    await scheduler.advance(1);
    expect(outcome.error?.kind).toBe('timeout');
    expect(inner.attempts).toHaveLength(2);
    expect(scheduler.pendingDelaysMs()).toEqual([]);
  });

  it('fails a send waiting in backoff with closed when closed, and closes the inner client', async () => {
    const { scheduler, inner, client } = setUp(['unreachable', 'ok']);
    const outcome = watch(client.send(target, { type: 'PING' }, { timeoutMs: 1_000 }));
    await scheduler.advance(1);
    await client.close();
    await flush();
    expect(outcome.error?.kind).toBe('closed');
    expect(inner.closed).toBe(true);
    await scheduler.advance(1_000);
    expect(inner.attempts).toHaveLength(1);
    await expect(client.send(target, { type: 'PING' }, { timeoutMs: 10 })).rejects.toMatchObject({ kind: 'closed' });
  });

  it('refuses an unbounded or inverted policy', () => {
    const scheduler = new ManualScheduler();
    const inner = new ScriptedClient(['ok'], scheduler);
    const make = (options: RetryOptions) => () => new RetryingNodeClient(inner, options, scheduler, fixedRng(0));
    expect(make({ maxAttempts: 0, baseDelayMs: 1, maxDelayMs: 1 })).toThrow(/maxAttempts/);
    expect(make({ maxAttempts: 1_000, baseDelayMs: 1, maxDelayMs: 1 })).toThrow(/maxAttempts/);
    expect(make({ maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 5 })).toThrow(/baseDelayMs <= maxDelayMs/);
  });
});

describe('RetryingNodeClient with a clock (the first attempt goes straight to the inner client)', () => {
  function setUpWithClock(script: Step[]) {
    const scheduler = new ManualScheduler();
    const inner = new ScriptedClient(script, scheduler);
    const client = new RetryingNodeClient(inner, policy, scheduler, fixedRng(0.5), { now: () => scheduler.nowMs });
    return { scheduler, inner, client };
  }

  it('starts no timer of its own for a first attempt (the inner client keeps the deadline)', async () => {
    const { scheduler, client } = setUpWithClock(['hang']);
    void client.send(target, { type: 'PING' }, { timeoutMs: 1_000 });
    expect(scheduler.pendingDelaysMs()).toEqual([]);
    const answered = setUpWithClock(['ok']);
    await expect(answered.client.send(target, { type: 'PING' }, { timeoutMs: 1_000 })).resolves.toMatchObject({ type: 'PING' });
  });

  it('retries as without a clock: the same attempts, at the same times, with the same budgets', async () => {
    const { scheduler, inner, client } = setUpWithClock(['unreachable', 'overloaded', 'unreachable', 'ok']);
    const outcome = watch(client.send(target, { type: 'PING' }, { timeoutMs: 1_000 }));
    await scheduler.advance(100);
    expect(outcome).toEqual({ settled: true, error: null });
    expect(inner.attempts.map((a) => a.atMs)).toEqual([0, 7.5, 7.5 + 15, 7.5 + 15 + 18.75]);
    expect(inner.attempts.map((a) => a.timeoutMs)).toEqual([1_000, 992.5, 977.5, 958.75]);
  });

  it.each(['timeout', 'remote'] as const)('passes a %s failure of the first attempt on at once', async (kind) => {
    const { inner, client } = setUpWithClock([kind]);
    await expect(client.send(target, { type: 'PING' }, { timeoutMs: 1_000 })).rejects.toMatchObject({ kind });
    expect(inner.attempts).toHaveLength(1);
  });

  it('counts the deadline from the send: a first attempt that failed late leaves the retries only the rest', async () => {
    const scheduler = new ManualScheduler();
    const attempts: Array<{ atMs: number; timeoutMs: number }> = [];
    const inner: NodeClient = {
      send: <R extends StorageRequest>(node: Node, _request: R, options: RequestOptions): Promise<ResponseFor<R>> => {
        attempts.push({ atMs: scheduler.nowMs, timeoutMs: options.timeoutMs });
        // The first attempt is refused after 300 ms (a connection attempt that failed); the next ones hang.
        if (attempts.length > 1) return new Promise(() => undefined);
        return new Promise((_resolve, reject) =>
          scheduler.after(300, () => reject(new NodeUnavailableError(node.id, 'unreachable', 'refused late'))),
        );
      },
      close: async () => undefined,
    };
    const client = new RetryingNodeClient(inner, policy, scheduler, fixedRng(0.5), { now: () => scheduler.nowMs });
    const outcome = watch(client.send(target, { type: 'PING' }, { timeoutMs: 1_000 }));
    await scheduler.advance(999);
    expect(outcome.settled).toBe(false);
    expect(attempts).toEqual([
      { atMs: 0, timeoutMs: 1_000 },
      { atMs: 307.5, timeoutMs: 692.5 },
    ]);
    await scheduler.advance(1);
    expect(outcome.error?.kind).toBe('timeout');
    expect(outcome.error?.message).toMatch(/within 1000 ms/);
  });
});
