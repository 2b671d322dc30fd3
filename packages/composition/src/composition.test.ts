// Goal: each module of this package binds what its tokens promise, and one rebinding swaps one
// adapter while the rest of the production graph stays. Method: containers load the modules with
// settings and simulated runtime ports bound (no sockets); the storage module is asked for each
// engine kind; a coordinator composed from `transportModule` + `coordinationModule` has its wire
// rebound to an in-memory client over three storage services whose engines come from the storage
// module, and a PUT and a GET are seen to reach the replicas through that wire. The seed is printed
// (seedForTest); DKV_SEED=<n> replays it.
import { DEFAULT_COORDINATOR_CONFIG, type Coordinator } from '@dkv/coordination';
import type { Clock, MembershipView, Node, NodeClient, RangeScanStorageEngine, Rng, Scheduler } from '@dkv/core';
import { StaticMembershipView } from '@dkv/membership';
import { CompactStorageEngine, InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { SeededRng, seedForTest, SimulatedClock, SimulatedScheduler } from '@dkv/testkit';
import { CircuitBreakingNodeClient, HttpNodeClient, InMemoryNodeClient, TcpNodeClient, type WireStackSettings } from '@dkv/transport';
import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { coordinationModule } from './coordination.composition.js';
import { STORAGE_ENGINES, storageModule, type StorageEngineKind, type StorageSettings } from './storage.composition.js';
import { TOKENS } from './tokens.js';
import { transportModule } from './transport.composition.js';

const WIRE_SETTINGS: WireStackSettings = {
  transport: 'tcp',
  connectionsPerNode: 2,
  maxInFlightPerNode: 64,
  maxValueBytes: DEFAULT_COORDINATOR_CONFIG.maxValueBytes,
  nodeRetry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 50 },
  circuitBreaker: { failureThreshold: 5, openMs: 1000 },
  clusterSecret: null,
};

function engineContainer(engine: StorageEngineKind, clock: Clock): Container {
  const c = new Container();
  c.load(storageModule);
  c.bind<StorageSettings>(TOKENS.storageSettings).toConstantValue({ engine, tombstoneGraceMs: 60_000 });
  c.bind<Clock>(TOKENS.clock).toConstantValue(clock);
  return c;
}

describe('storageModule', () => {
  const expected: Record<StorageEngineKind, new (...args: never[]) => RangeScanStorageEngine> = {
    map: InMemoryStorageEngine,
    compact: CompactStorageEngine,
  };

  it.each(STORAGE_ENGINES)('binds the %s engine the settings name, once per container, on the bound clock', async (kind) => {
    const scheduler = new SimulatedScheduler();
    const clock = new SimulatedClock(scheduler);
    const c = engineContainer(kind, clock);
    const engine = c.get<RangeScanStorageEngine>(TOKENS.engine);
    expect(engine).toBeInstanceOf(expected[kind]);
    expect(c.get(TOKENS.engine)).toBe(engine);
    // An expiry is judged by the bound clock: the key is there until that clock passes it.
    const now = clock.now();
    engine.apply('k', {
      value: Buffer.from('v'),
      version: 1,
      writerId: 'c1',
      createdAt: now,
      updatedAt: now,
      expiresAt: now + 1_000,
      tombstone: false,
    });
    expect(engine.get('k')?.version).toBe(1);
    await scheduler.runFor(1_001);
    expect(engine.get('k')?.tombstone).toBe(true);
  });
});

describe('transportModule', () => {
  it('builds the wire the settings name, inside the production retries and circuit breaker', () => {
    for (const [transport, kind] of [
      ['tcp', TcpNodeClient],
      ['http', HttpNodeClient],
    ] as const) {
      const c = new Container();
      c.load(transportModule);
      const scheduler = new SimulatedScheduler();
      c.bind<WireStackSettings>(TOKENS.wireSettings).toConstantValue({ ...WIRE_SETTINGS, transport });
      c.bind<Clock>(TOKENS.clock).toConstantValue(new SimulatedClock(scheduler));
      c.bind<Scheduler>(TOKENS.scheduler).toConstantValue(scheduler);
      c.bind<Rng>(TOKENS.rng).toConstantValue(new SeededRng(1));
      expect(c.get(TOKENS.wire)).toBeInstanceOf(kind);
      expect(c.get(TOKENS.nodeClient)).toBeInstanceOf(CircuitBreakingNodeClient);
      expect(c.get(TOKENS.nodeClient)).toBe(c.get(TOKENS.remoteClient));
    }
  });
});

describe('the coordinator composed from the modules', () => {
  it('writes to and reads from three replicas through a rebound wire', async () => {
    const scheduler = new SimulatedScheduler();
    const clock = new SimulatedClock(scheduler);
    const rng = new SeededRng(seedForTest());
    const nodes: Node[] = ['n1', 'n2', 'n3'].map((id) => ({
      id,
      address: `${id}:1`,
      role: 'storage',
      status: 'up',
      vnodes: 16,
      metadata: {},
    }));
    const wire = new InMemoryNodeClient();
    const engines = nodes.map((node) => {
      const engine = engineContainer('compact', clock).get<RangeScanStorageEngine>(TOKENS.engine);
      wire.register(node.id, new StorageService({ nodeId: node.id, engine }));
      return engine;
    });

    const c = new Container({ defaultScope: 'Singleton' });
    c.load(transportModule, coordinationModule);
    c.bind<WireStackSettings>(TOKENS.wireSettings).toConstantValue(WIRE_SETTINGS);
    c.bind(TOKENS.coordinatorConfig).toConstantValue({ ...DEFAULT_COORDINATOR_CONFIG, nodeId: 'c1' });
    c.bind<MembershipView>(TOKENS.membership).toConstantValue(new StaticMembershipView({ epoch: 1, nodes }));
    c.bind<Clock>(TOKENS.clock).toConstantValue(clock);
    c.bind<Scheduler>(TOKENS.scheduler).toConstantValue(scheduler);
    c.bind<Rng>(TOKENS.rng).toConstantValue(rng);
    c.rebind<NodeClient>(TOKENS.wire).toConstantValue(wire);

    const coordinator = c.get<Coordinator>(TOKENS.coordinator);
    expect(c.get(TOKENS.coordinator)).toBe(coordinator);
    coordinator.start();
    try {
      await scheduler.runFor(100);
      const put = coordinator.service.put('swap', Buffer.from('in memory'));
      await scheduler.runUntil(() => engines.every((e) => e.get('swap') !== undefined), { maxEvents: 10_000 });
      const { version } = await put;
      expect(engines.map((e) => e.get('swap')?.version)).toEqual([version, version, version]);
      const got = coordinator.service.get('swap');
      await scheduler.runFor(50);
      expect(Buffer.from((await got)!.value).toString()).toBe('in memory');
    } finally {
      coordinator.stop();
    }
  });
});
