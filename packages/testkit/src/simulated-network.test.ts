// Goal: the simulated network delays, drops and holds messages as configured, every send settles
// exactly once at the right virtual time, and one seed replays the same trace. Method: a few
// processes answering PING and GET, faults injected, outcomes and virtual times recorded.
import { NodeUnavailableError, type Node, type StorageRequest, type StorageRequestHandler, type StorageResponse } from '@dkv/core';
import { describe, expect, it } from 'vitest';
import { SeededRng } from './seeded-rng.js';
import { SimulatedNetwork, type SimulatedNetworkOptions } from './simulated-network.js';
import { SimulatedScheduler } from './simulated-scheduler.js';

function node(id: string): Node {
  return { id, address: `${id}.sim:1`, role: 'storage', status: 'up', vnodes: 8, metadata: {} };
}

function pingHandler(nodeId: string): StorageRequestHandler & { received: number } {
  const handler = {
    received: 0,
    handle(request: StorageRequest): StorageResponse {
      handler.received++;
      if (request.type !== 'PING') throw new Error(`unexpected ${request.type}`);
      return { type: 'PING', nodeId, ready: true, keys: 0, bytes: 0 };
    },
  };
  return handler;
}

const PING = { type: 'PING' } as const;

function setup(seed = 1, options: Partial<SimulatedNetworkOptions> = {}) {
  const scheduler = new SimulatedScheduler({ seed });
  const network = new SimulatedNetwork({ scheduler, rng: new SeededRng(seed).fork('network'), latencyMs: { min: 5, max: 15 }, ...options });
  const handlers = ['a', 'b', 'c'].map((id) => {
    const handler = pingHandler(id);
    network.register(id, handler);
    return handler;
  });
  return { scheduler, network, handlers, client: network.clientFor('client') };
}

/** Settles `promise` on the scheduler and returns the outcome with the virtual time it took. */
async function timed<T>(
  scheduler: SimulatedScheduler,
  promise: Promise<T>,
): Promise<{ ok: boolean; value?: T; error?: unknown; elapsedMs: number }> {
  const start = scheduler.now();
  try {
    const value = await scheduler.settle(promise);
    return { ok: true, value, elapsedMs: scheduler.now() - start };
  } catch (error) {
    return { ok: false, error, elapsedMs: scheduler.now() - start };
  }
}

describe('SimulatedNetwork', () => {
  it('delivers a request and its response, each with a one-way delay within bounds', async () => {
    const { scheduler, client } = setup();
    for (let i = 0; i < 200; i++) {
      const outcome = await timed(scheduler, client.send(node('a'), PING, { timeoutMs: 1000 }));
      expect(outcome.value).toEqual({ type: 'PING', nodeId: 'a', ready: true, keys: 0, bytes: 0 });
      expect(outcome.elapsedMs).toBeGreaterThanOrEqual(10);
      expect(outcome.elapsedMs).toBeLessThanOrEqual(30);
    }
  });

  it('delivers the very object the handler returned', async () => {
    const { scheduler, network, client } = setup();
    const response: StorageResponse = { type: 'GET', record: null };
    network.register('d', { handle: () => response });
    await expect(scheduler.settle(client.send(node('d'), { type: 'GET', key: 'k' }, { timeoutMs: 100 }))).resolves.toBe(response);
  });

  it('fails at once with unreachable for a process never registered', async () => {
    const { scheduler, client, network } = setup();
    const error = await scheduler.settle(client.send(node('ghost'), PING, { timeoutMs: 100 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeUnavailableError);
    expect(error).toMatchObject({ kind: 'unreachable', nodeId: 'ghost' });
    expect(scheduler.now()).toBe(0);
    expect(network.stats().sent).toBe(0);
  });

  it('times a crashed node out at exactly timeoutMs of virtual time, and recovers it', async () => {
    const { scheduler, network, client, handlers } = setup();
    network.crash('b');
    const outcome = await timed(scheduler, client.send(node('b'), PING, { timeoutMs: 250 }));
    expect(outcome.error).toMatchObject({ kind: 'timeout', nodeId: 'b' });
    expect(outcome.elapsedMs).toBe(250);
    expect(handlers[1]?.received).toBe(0);
    expect(network.stats()).toMatchObject({ timeouts: 1, dropped: 1 });

    const restarted = pingHandler('b');
    network.recover('b', restarted);
    await expect(scheduler.settle(client.send(node('b'), PING, { timeoutMs: 250 }))).resolves.toMatchObject({ nodeId: 'b' });
    expect(restarted.received).toBe(1);
  });

  it('drops messages across a partition, both ways, until healed', async () => {
    const { scheduler, network, handlers } = setup();
    const fromA = network.clientFor('a');
    const fromC = network.clientFor('c');
    network.partition(['a', 'client'], ['b']);
    await expect(scheduler.settle(fromA.send(node('b'), PING, { timeoutMs: 100 }))).rejects.toMatchObject({ kind: 'timeout' });
    await expect(scheduler.settle(network.clientFor('b').send(node('a'), PING, { timeoutMs: 100 }))).rejects.toMatchObject({
      kind: 'timeout',
    });
    await expect(scheduler.settle(fromC.send(node('b'), PING, { timeoutMs: 100 }))).resolves.toMatchObject({ nodeId: 'b' });
    await expect(scheduler.settle(fromA.send(node('c'), PING, { timeoutMs: 100 }))).resolves.toMatchObject({ nodeId: 'c' });
    expect(handlers[0]?.received).toBe(0);

    network.heal();
    await expect(scheduler.settle(fromA.send(node('b'), PING, { timeoutMs: 100 }))).resolves.toMatchObject({ nodeId: 'b' });
  });

  it('drops a response whose link is cut while it is in flight', async () => {
    const { scheduler, network, client, handlers } = setup(1, { latencyMs: { min: 10, max: 10 } });
    const pending = client.send(node('a'), PING, { timeoutMs: 100 });
    await scheduler.runFor(10); // the request arrives and the handler answers
    expect(handlers[0]?.received).toBe(1);
    network.partition(['client'], ['a']);
    const outcome = await timed(scheduler, pending);
    expect(outcome.error).toMatchObject({ kind: 'timeout' });
    expect(scheduler.now()).toBe(100);
  });

  it('makes a slow node slow and leaves the others alone', async () => {
    const { scheduler, network, client } = setup();
    network.setLatency('c', { min: 400, max: 500 });
    const slow = await timed(scheduler, client.send(node('c'), PING, { timeoutMs: 2000 }));
    expect(slow.elapsedMs).toBeGreaterThanOrEqual(800);
    expect(slow.elapsedMs).toBeLessThanOrEqual(1000);
    await expect(scheduler.settle(client.send(node('c'), PING, { timeoutMs: 300 }))).rejects.toMatchObject({ kind: 'timeout' });
    const fast = await timed(scheduler, client.send(node('a'), PING, { timeoutMs: 2000 }));
    expect(fast.elapsedMs).toBeLessThanOrEqual(30);
    network.setLatency('c', null);
    expect((await timed(scheduler, client.send(node('c'), PING, { timeoutMs: 2000 }))).elapsedMs).toBeLessThanOrEqual(30);
  });

  it('holds messages to a clogged node and releases them on unclog', async () => {
    const { scheduler, network, client, handlers } = setup();
    network.clog('a');
    const late = client.send(node('a'), PING, { timeoutMs: 100 });
    const patient = client.send(node('a'), PING, { timeoutMs: 10_000 });
    await expect(scheduler.settle(late)).rejects.toMatchObject({ kind: 'timeout' });
    await scheduler.runFor(1000);
    expect(handlers[0]?.received).toBe(0);
    expect(network.stats().dropped).toBe(0);
    network.unclog('a');
    const outcome = await timed(scheduler, patient);
    expect(outcome.value).toMatchObject({ nodeId: 'a' });
    expect(outcome.elapsedMs).toBeLessThanOrEqual(30);
    expect(handlers[0]?.received).toBe(2);
  });

  it('honours the loss rate roughly, and a lost message means a timeout', async () => {
    const { scheduler, network, client } = setup(11, { lossRate: 0.2 });
    let answered = 0;
    let timedOut = 0;
    for (let i = 0; i < 1000; i++) {
      const outcome = await timed(scheduler, client.send(node('a'), PING, { timeoutMs: 50 }));
      if (outcome.ok) answered++;
      else if ((outcome.error as NodeUnavailableError).kind === 'timeout') timedOut++;
    }
    expect(answered + timedOut).toBe(1000);
    // Both messages must survive: 0.8 * 0.8 = 0.64 of the calls are answered.
    expect(answered / 1000).toBeGreaterThan(0.58);
    expect(answered / 1000).toBeLessThan(0.7);
    const stats = network.stats();
    expect(stats.dropped / stats.sent).toBeGreaterThan(0.16);
    expect(stats.dropped / stats.sent).toBeLessThan(0.24);
    expect(stats.sent).toBe(stats.delivered + stats.dropped + stats.inFlight);
    network.setLoss(0);
    await expect(scheduler.settle(client.send(node('a'), PING, { timeoutMs: 50 }))).resolves.toBeDefined();
  });

  it('turns a handler that throws into a remote failure', async () => {
    const { scheduler, client } = setup();
    await expect(scheduler.settle(client.send(node('a'), { type: 'GET', key: 'k' }, { timeoutMs: 100 }))).rejects.toMatchObject({
      kind: 'remote',
      message: expect.stringContaining('unexpected GET'),
    });
  });

  it('fails in-flight and later sends with closed after close()', async () => {
    const { scheduler, network, client } = setup();
    const inFlight = client.send(node('a'), PING, { timeoutMs: 100 });
    await client.close();
    await expect(inFlight).rejects.toMatchObject({ kind: 'closed', nodeId: 'a' });
    await expect(client.send(node('a'), PING, { timeoutMs: 100 })).rejects.toMatchObject({ kind: 'closed' });
    // The late response finds the call settled: nothing happens twice.
    await scheduler.runUntilIdle();
    await expect(scheduler.settle(network.clientFor('client').send(node('a'), PING, { timeoutMs: 100 }))).resolves.toBeDefined();
  });

  it('settles every send exactly once under heavy faults', async () => {
    const { scheduler, network, client } = setup(5, { lossRate: 0.3 });
    let settlements = 0;
    const calls = Array.from({ length: 300 }, (_, i) => {
      const target = node(['a', 'b', 'c'][i % 3] as string);
      return client.send(target, PING, { timeoutMs: 20 + (i % 40) }).then(
        () => settlements++,
        () => settlements++,
      );
    });
    network.clog('b');
    scheduler.after(15, () => network.partition(['client'], ['c']));
    scheduler.after(25, () => network.crash('a'));
    await scheduler.settle(Promise.all(calls));
    await scheduler.runFor(100);
    network.unclog('b');
    await scheduler.runUntilIdle();
    expect(settlements).toBe(300);
  });

  it('replays the same trace of deliveries for the same seed', async () => {
    async function run(seed: number) {
      const { scheduler, network, client } = setup(seed, { lossRate: 0.1 });
      const outcomes: string[] = [];
      const calls = Array.from({ length: 100 }, (_, i) =>
        client.send(node(['a', 'b', 'c'][i % 3] as string), PING, { timeoutMs: 40 }).then(
          () => outcomes.push(`${i} ok@${scheduler.now()}`),
          () => outcomes.push(`${i} timeout@${scheduler.now()}`),
        ),
      );
      scheduler.after(12, () => network.partition(['client'], ['b']));
      await scheduler.settle(Promise.all(calls));
      return { trace: network.trace(), outcomes };
    }
    const first = await run(77);
    expect(first.trace.length).toBeGreaterThan(200);
    expect(await run(77)).toEqual(first);
    expect((await run(78)).trace).not.toEqual(first.trace);
  });
});
