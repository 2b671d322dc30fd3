// Goal: the coordinator rejects bad input with the codes of API.md before any replica is asked,
// checks its own configuration naming each bad setting, and reports cluster, distribution,
// readiness and metrics as API.md shapes them. Method: a three-node cluster on the simulated
// network from @dkv/testkit with in-memory storage; the seed is printed.
import { describe, expect, it } from 'vitest';
import { DkvError, type Node } from '@dkv/core';
import { StaticMembershipView, type Liveness } from '@dkv/membership';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { SeededRng, SimulatedClock, SimulatedNetwork, SimulatedScheduler, seedForTest } from '@dkv/testkit';
import { checkCoordinatorConfig, DEFAULT_COORDINATOR_CONFIG } from './config.js';
import type { ClusterObserver } from './coordinator-service.js';
import { createCoordinator } from './create-coordinator.js';

function setup(observer?: ClusterObserver) {
  const scheduler = new SimulatedScheduler();
  const rng = new SeededRng(seedForTest());
  const network = new SimulatedNetwork({ scheduler, rng: rng.fork('net'), latencyMs: { min: 1, max: 2 } });
  const nodes: Node[] = ['a', 'b', 'c'].map((id) => ({ id, address: `${id}:1`, role: 'storage', status: 'up', vnodes: 16, metadata: {} }));
  const clock = new SimulatedClock(scheduler);
  for (const node of nodes)
    network.register(
      node.id,
      new StorageService({ nodeId: node.id, engine: new InMemoryStorageEngine({ clock, tombstoneGraceMs: 60_000 }) }),
    );
  const coordinator = createCoordinator({
    config: { ...DEFAULT_COORDINATOR_CONFIG, maxValueBytes: 16 },
    membership: new StaticMembershipView({ epoch: 3, nodes }),
    nodeClient: network.clientFor('coordinator'),
    clock,
    scheduler,
    rng,
    ...(observer ? { observer } : {}),
  });
  return { scheduler, network, clock, coordinator, service: coordinator.service };
}

async function codeOf(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (error) {
    return error instanceof DkvError ? error.code : String(error);
  }
}

describe('CoordinatorService input checks', () => {
  it.each([
    ['empty key', (s: ReturnType<typeof setup>['service']) => s.get(''), 'INVALID_KEY'],
    ['key over 512 bytes', (s: ReturnType<typeof setup>['service']) => s.put('k'.repeat(513), Buffer.from('v')), 'INVALID_KEY'],
    ['ttl 0', (s: ReturnType<typeof setup>['service']) => s.put('k', Buffer.from('v'), 0), 'INVALID_TTL'],
    ['r above N', (s: ReturnType<typeof setup>['service']) => s.get('k', { r: 4 }), 'INVALID_CONSISTENCY'],
    ['w of 0 on delete', (s: ReturnType<typeof setup>['service']) => s.delete('k', { w: 0 }), 'INVALID_CONSISTENCY'],
    ['value over the limit', (s: ReturnType<typeof setup>['service']) => s.put('k', Buffer.alloc(17)), 'VALUE_TOO_LARGE'],
    [
      'expiresAt with ttlSeconds',
      (s: ReturnType<typeof setup>['service']) => s.put('k', Buffer.from('v'), 10, { expiresAt: 5000 }),
      'INVALID_TTL',
    ],
    [
      'expiresAt not whole',
      (s: ReturnType<typeof setup>['service']) => s.put('k', Buffer.from('v'), undefined, { expiresAt: 5000.5 }),
      'INVALID_TTL',
    ],
    [
      'expiresAt of 0',
      (s: ReturnType<typeof setup>['service']) => s.put('k', Buffer.from('v'), undefined, { expiresAt: 0 }),
      'INVALID_TTL',
    ],
    [
      'expiresAt over a year ahead',
      (s: ReturnType<typeof setup>['service']) => s.put('k', Buffer.from('v'), undefined, { expiresAt: 2 ** 52 }),
      'INVALID_TTL',
    ],
  ])('%s', async (_name, call, code) => {
    const { service, network } = setup();
    expect(await codeOf(call(service))).toBe(code);
    expect(network.stats().requests).toBe(0);
  });
});

describe('CoordinatorService views', () => {
  it('reports cluster, distribution, readiness and metrics', async () => {
    const { service, scheduler, coordinator } = setup();
    coordinator.start();
    await scheduler.runFor(1000);
    expect(service.isReady()).toBe(true);
    await scheduler.settle(service.put('k', Buffer.from('v')));
    await scheduler.runFor(100);
    expect(service.cluster()).toEqual({
      epoch: 3,
      replication: { n: 3, w: 2, r: 2 },
      nodes: ['a', 'b', 'c'].map((id) => ({ id, address: `${id}:1`, status: 'up', vnodes: 16, zone: 'default' })),
      zoneLossSafe: false,
      zoneLossReason: expect.stringMatching(
        /^1 zone for N=3: a zone holds up to 3 replicas of some keys, so losing it leaves 0; W=2 and R=2 need 2/,
      ),
    });
    const distribution = await scheduler.settle(service.distribution());
    expect(distribution.map((d) => d.keys)).toEqual([1, 1, 1]);
    expect(distribution.reduce((sum, d) => sum + d.ringShare, 0)).toBeCloseTo(1, 9);
    expect(service.metrics()).toMatchObject({ replicationQueueDepth: 0, quorumFailures: { read: 0, write: 0 } });
    coordinator.stop();
  });
});

describe('CoordinatorService node status', () => {
  it('shows a killed node down once heartbeats give up on it, even while gossip only suspects it', async () => {
    // Gossip's detector lags heartbeats (suspect after 2 s, down after 5 s): a node killed for
    // heartbeats' 1.5 s is suspect by gossip, yet requests already skip it.
    const liveness = new Map<string, Liveness>();
    const observer: ClusterObserver = { livenessOf: (id) => liveness.get(id) ?? 'alive', heartbeatOf: () => undefined };
    const { service, scheduler, coordinator, network } = setup(observer);
    coordinator.start();
    await scheduler.runFor(1000);
    network.crash('b');
    liveness.set('b', 'suspect');
    await scheduler.runFor(3000);
    expect(coordinator.nodeManager.statusOf('b')).toBe('down');
    expect(service.cluster().nodes.map((node) => [node.id, node.status])).toEqual([
      ['a', 'up'],
      ['b', 'down'],
      ['c', 'up'],
    ]);
    network.recover('b');
    liveness.set('b', 'alive');
    await scheduler.runFor(1000);
    expect(service.cluster().nodes.find((node) => node.id === 'b')?.status).toBe('up');
    coordinator.stop();
  });
});

describe('CoordinatorService before its clock is measured', () => {
  it('measures its clock offset before its first write when no heartbeat has yet, and refuses (UNAVAILABLE) when no node can answer', async () => {
    // Unmeasured, its offset is unbounded: a tombstone stamped minutes behind the replicas would be
    // past its purge time on arrival, and a lower version written after it would then be taken.
    const { service, scheduler, coordinator, network } = setup();
    expect(coordinator.nodeManager.clockMeasured()).toBe(false);
    for (const id of ['a', 'b', 'c']) network.crash(id);
    const refused = await scheduler.settle(service.delete('k')).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/cannot measure its clock's offset/) });
    for (const id of ['a', 'b', 'c']) network.recover(id);
    await expect(scheduler.settle(service.delete('k'))).resolves.toBeDefined();
    expect(coordinator.nodeManager.clockMeasured()).toBe(true);
  });
});

describe('CoordinatorService millisecond expiry', () => {
  it('keeps expiresAt to the millisecond: stored and read back exactly, live before it, gone after it; a past one reads as missing', async () => {
    const { service, scheduler, clock, coordinator } = setup();
    coordinator.start();
    await scheduler.runFor(1000);
    const expiresAt = clock.now() + 1234;
    const written = await scheduler.settle(service.put('k', Buffer.from('v'), undefined, { expiresAt }));
    expect(written.expiresAt).toBe(expiresAt);
    expect((await scheduler.settle(service.get('k')))?.expiresAt).toBe(expiresAt);
    await scheduler.runFor(expiresAt - 20 - clock.now());
    expect(await scheduler.settle(service.get('k'))).not.toBeNull();
    await scheduler.runFor(expiresAt - clock.now());
    expect(await scheduler.settle(service.get('k'))).toBeNull();
    await scheduler.settle(service.put('old', Buffer.from('v'), undefined, { expiresAt: 1 }));
    expect(await scheduler.settle(service.get('old'))).toBeNull();
    coordinator.stop();
  });
});

describe('checkCoordinatorConfig', () => {
  it('accepts the defaults and names every bad setting', () => {
    expect(checkCoordinatorConfig(DEFAULT_COORDINATOR_CONFIG)).toEqual([]);
    const problems = checkCoordinatorConfig({ ...DEFAULT_COORDINATOR_CONFIG, w: 4, r: 0, requestTimeoutMs: 1.5 });
    expect(problems).toEqual([
      'r must be a whole number of at least 1, got 0',
      'w must be at most n (3), got 4',
      'requestTimeoutMs must be a whole number of at least 1, got 1.5',
    ]);
  });

  it('accepts a sloppy write quorum with either versioning (a sloppy write always reads first)', () => {
    expect(checkCoordinatorConfig({ ...DEFAULT_COORDINATOR_CONFIG, writeQuorum: 'sloppy' })).toEqual([]);
    expect(checkCoordinatorConfig({ ...DEFAULT_COORDINATOR_CONFIG, writeQuorum: 'sloppy', writeVersioning: 'read-first' })).toEqual([]);
  });
});
