// Goal: an operator's repair (`ClusterRepair`, behind `POST /v1/cluster/repair`) finds the keys on
// which replicas disagree (missing on one, older on another), writes each key's newest record to
// the replicas that lack it, reports what it compared and fixed, and leaves every replica of every
// key holding the same record; it refuses a second repair while one runs and an unknown node.
// Method: four storage nodes with in-memory engines on the simulated network from @dkv/testkit
// (the seed is printed); divergence is planted by applying records to single engines directly,
// behind the coordinator's back; the simulated scheduler runs until the report says done.
import { describe, expect, it } from 'vitest';
import { DkvError, type Node, type VersionedValue } from '@dkv/core';
import { StaticMembershipView } from '@dkv/membership';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { SeededRng, SimulatedClock, SimulatedNetwork, SimulatedScheduler, seedForTest } from '@dkv/testkit';
import type { RepairReport } from './cluster-repair.js';
import { DEFAULT_COORDINATOR_CONFIG } from './config.js';
import { createCoordinator } from './create-coordinator.js';

function setup() {
  const scheduler = new SimulatedScheduler();
  const rng = new SeededRng(seedForTest());
  const network = new SimulatedNetwork({ scheduler, rng: rng.fork('net'), latencyMs: { min: 1, max: 2 } });
  const nodes: Node[] = ['a', 'b', 'c', 'd'].map((id) => ({
    id,
    address: `${id}:1`,
    role: 'storage',
    status: 'up',
    vnodes: 16,
    metadata: {},
  }));
  const clock = new SimulatedClock(scheduler);
  const engines = new Map<string, InMemoryStorageEngine>();
  for (const node of nodes) {
    const engine = new InMemoryStorageEngine({ clock, tombstoneGraceMs: 3_600_000 });
    engines.set(node.id, engine);
    network.register(node.id, new StorageService({ nodeId: node.id, engine }));
  }
  const coordinator = createCoordinator({
    config: DEFAULT_COORDINATOR_CONFIG,
    membership: new StaticMembershipView({ epoch: 1, nodes }),
    nodeClient: network.clientFor('coordinator'),
    clock,
    scheduler,
    rng,
    repairBounds: { piecesPerRing: 64, rangesPerRequest: 8 },
  });
  return { scheduler, clock, coordinator, engines };
}

function record(value: string, version: number, at: number): VersionedValue {
  return { value: Buffer.from(value), version, writerId: 'planted', createdAt: at, updatedAt: at, expiresAt: null, tombstone: false };
}

async function finish(env: ReturnType<typeof setup>, report: RepairReport): Promise<RepairReport> {
  for (let i = 0; i < 200; i += 1) {
    const now = env.coordinator.repair.report(report.id)!;
    if (now.state !== 'running') return now;
    await env.scheduler.runFor(100);
  }
  throw new Error(`repair ${report.id} did not end within 20 simulated seconds`);
}

describe('ClusterRepair', () => {
  it('finds planted divergence, repairs it, and afterwards every replica of every key holds the same record', async () => {
    const env = setup();
    const { coordinator, engines, clock } = env;
    await env.scheduler.runFor(1000);
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    for (const key of keys) await env.scheduler.settle(coordinator.service.put(key, Buffer.from(`v-${key}`), undefined, { w: 3 }));
    await env.scheduler.runFor(500);
    // Plant: a newer k1 on its first replica only; k2 lost by its last replica; a stray k2 on a
    // node that is not its replica (outside every range compared for k2, so not counted).
    const [first] = coordinator.service.replicasOf('k1');
    const k1Version = engines.get(first!.id)!.get('k1')!.version;
    engines.get(first!.id)!.apply('k1', record('planted-newer', k1Version + 1, clock.now()));
    const k2 = coordinator.service.replicasOf('k2');
    const outsider = ['a', 'b', 'c', 'd'].find((id) => !k2.some((n) => n.id === id))!;
    engines.get(outsider)!.apply('k2', record('not-a-replica', 1, clock.now()));
    const last = k2[k2.length - 1]!.id;
    expect(engines.get(last)!.remove('k2')).toBe(true);

    const started = coordinator.repair.start();
    expect(started).toMatchObject({ state: 'running', node: null, rangesCompared: 0 });
    expect(started.rangesPlanned).toBeGreaterThan(0);
    expect(() => coordinator.repair.start()).toThrow(/still running/);
    const done = await finish(env, started);
    expect(done.state).toBe('done');
    expect(done.error).toBeNull();
    expect(done.rangesCompared).toBe(done.rangesPlanned);
    expect(done.rangesDiffering).toBeGreaterThanOrEqual(2);
    expect(done.keysDiffering).toBe(2);
    expect(done.recordsRepaired).toBe(3);
    expect(done.bytesRepaired).toBeGreaterThan(0);
    for (const key of keys) {
      const held = coordinator.service.replicasOf(key).map((node) => engines.get(node.id)!.get(key));
      expect(
        held.every((r) => r !== null && r.version === held[0]!.version),
        key,
      ).toBe(true);
    }
    expect(Buffer.from(engines.get(coordinator.service.replicasOf('k1')[2]!.id)!.get('k1')!.value).toString()).toBe('planted-newer');

    const again = await finish(env, coordinator.repair.start());
    expect(again).toMatchObject({ state: 'done', rangesDiffering: 0, keysDiffering: 0, recordsRepaired: 0 });
    expect(coordinator.repair.report(started.id)?.keysDiffering).toBe(2);
  });

  it('repairs only the ranges one node replicates with a node, and refuses a node not on the ring', async () => {
    const env = setup();
    await env.scheduler.runFor(1000);
    const whole = await finish(env, env.coordinator.repair.start());
    const one = await finish(env, env.coordinator.repair.start({ node: 'a' }));
    expect(one.node).toBe('a');
    expect(one.rangesPlanned).toBeGreaterThan(0);
    expect(one.rangesPlanned).toBeLessThan(whole.rangesPlanned);
    let error: unknown;
    try {
      env.coordinator.repair.start({ node: 'zz' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DkvError);
    expect((error as DkvError).code).toBe('NOT_FOUND');
    expect(env.coordinator.repair.report('repair-99')).toBeNull();
  });
});
