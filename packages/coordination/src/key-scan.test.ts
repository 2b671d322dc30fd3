// Goal: the cluster-wide key scan (CoordinatorService.scanKeys) keeps Redis SCAN's promise: a full
// scan returns every live key exactly as the replicas' quorum sees it, never a deleted or expired
// one, even when a key sits on only W of N replicas or a replica missed a delete; cursors continue
// on another coordinator and survive bad input with clear errors; every call respects its bounds.
// Method: clusters of in-memory storage nodes on the simulated network from @dkv/testkit, with
// records written through the coordinator or placed directly on chosen replicas; the seed is printed.
import { describe, expect, it } from 'vitest';
import { DkvError, type Node, type VersionedValue } from '@dkv/core';
import { StaticMembershipView } from '@dkv/membership';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { SeededRng, SimulatedClock, SimulatedNetwork, SimulatedScheduler, seedForTest } from '@dkv/testkit';
import { DEFAULT_COORDINATOR_CONFIG, type CoordinatorConfig } from './config.js';
import { createCoordinator } from './create-coordinator.js';
import { DEFAULT_KEY_SCAN_BOUNDS } from './key-scan.js';
import { decodeScanCursor, encodeScanCursor } from './key-scan-plan.js';

async function setup(options: { nodes?: number; vnodes?: number; config?: Partial<CoordinatorConfig> } = {}) {
  const scheduler = new SimulatedScheduler();
  const rng = new SeededRng(seedForTest());
  const network = new SimulatedNetwork({ scheduler, rng: rng.fork('net'), latencyMs: { min: 1, max: 3 } });
  const ids = Array.from({ length: options.nodes ?? 3 }, (_, i) => `n${i + 1}`);
  const nodes: Node[] = ids.map((id) => ({
    id,
    address: `${id}:1`,
    role: 'storage',
    status: 'up',
    vnodes: options.vnodes ?? 16,
    metadata: {},
  }));
  const clock = new SimulatedClock(scheduler);
  const engines = new Map<string, InMemoryStorageEngine>();
  for (const node of nodes) {
    const engine = new InMemoryStorageEngine({ clock, tombstoneGraceMs: 600_000 });
    engines.set(node.id, engine);
    network.register(node.id, new StorageService({ nodeId: node.id, engine }));
  }
  const membership = new StaticMembershipView({ epoch: 1, nodes });
  // Each coordinator is started and has heard its first heartbeats (and measured the clocks), as
  // a process is before it serves.
  const coordinatorOf = async (nodeId: string, overrides: Partial<CoordinatorConfig> = {}) => {
    const created = createCoordinator({
      config: { ...DEFAULT_COORDINATOR_CONFIG, ...options.config, ...overrides, nodeId },
      membership,
      nodeClient: network.clientFor(nodeId),
      clock,
      scheduler,
      rng: rng.fork(nodeId),
    });
    created.start();
    await scheduler.runFor(100);
    return created;
  };
  const coordinator = await coordinatorOf('coordinator-1');
  const service = coordinator.service;
  const fullScan = async (count: number, match?: string, via = service) => {
    const keys: string[] = [];
    let cursor: string | null = null;
    let calls = 0;
    do {
      const page: { keys: string[]; cursor: string | null } = await scheduler.settle(
        via.scanKeys(cursor, { count, ...(match === undefined ? {} : { match }) }),
      );
      expect(page.keys.length).toBeLessThanOrEqual(count);
      keys.push(...page.keys);
      cursor = page.cursor;
      calls += 1;
      expect(calls).toBeLessThan(10_000);
    } while (cursor !== null);
    return { keys, calls };
  };
  const record = (version: number, tombstone = false, expiresAt: number | null = null): VersionedValue => ({
    value: tombstone ? new Uint8Array(0) : Buffer.from(`v${version}`),
    version,
    writerId: 'test',
    createdAt: clock.now(),
    updatedAt: clock.now(),
    expiresAt,
    tombstone,
  });
  return { scheduler, network, clock, engines, coordinator, coordinatorOf, service, fullScan, record };
}

const sorted = (keys: Iterable<string>) => [...new Set(keys)].sort();

describe('scanKeys', () => {
  it('returns every live key once over a full scan, and no deleted or expired key', async () => {
    const { service, scheduler, fullScan } = await setup();
    const live = Array.from({ length: 300 }, (_, i) => `sess:${i}`);
    for (const key of live) await scheduler.settle(service.put(key, Buffer.from('v')));
    for (let i = 0; i < 40; i += 1) await scheduler.settle(service.put(`gone:${i}`, Buffer.from('v')));
    for (let i = 0; i < 40; i += 1) await scheduler.settle(service.delete(`gone:${i}`));
    for (let i = 0; i < 20; i += 1) await scheduler.settle(service.put(`short:${i}`, Buffer.from('v'), 5));
    await scheduler.runFor(6000);
    const { keys, calls } = await fullScan(17);
    expect(sorted(keys)).toEqual(sorted(live));
    expect(keys.length).toBe(live.length);
    expect(calls).toBeGreaterThanOrEqual(Math.ceil(live.length / 17));
  });

  it('finds a key held by only W of N replicas and hides a key whose delete reached only W', async () => {
    const { engines, fullScan, record, coordinatorOf } = await setup();
    const keys = Array.from({ length: 120 }, (_, i) => `w2:${i}`);
    for (const key of keys) {
      engines.get('n2')!.apply(key, record(10));
      engines.get('n3')!.apply(key, record(10));
    }
    for (let i = 0; i < 60; i += 1) {
      const key = `deleted:${i}`;
      for (const engine of engines.values()) engine.apply(key, record(10));
      engines.get('n1')!.apply(key, record(20, true));
      engines.get(i % 2 === 0 ? 'n2' : 'n3')!.apply(key, record(20, true));
    }
    expect(sorted((await fullScan(50)).keys)).toEqual(sorted(keys));
    // Why R replicas are asked: with r = 1 the same scan asks one replica per range, which either
    // lacks the W=2 keys (n1) or missed half of the deletes (n2, n3).
    const oneReplica = (await coordinatorOf('coordinator-r1', { r: 1 })).service;
    const single = (await fullScan(1000, undefined, oneReplica)).keys;
    expect(sorted(single)).not.toEqual(sorted(keys));
  });

  it('filters by a Redis glob pattern after reading, and counts only matching keys', async () => {
    const { service, scheduler, fullScan } = await setup();
    for (let i = 0; i < 60; i += 1) await scheduler.settle(service.put(`user:${i}`, Buffer.from('v')));
    for (let i = 0; i < 60; i += 1) await scheduler.settle(service.put(`sess:${i}`, Buffer.from('v')));
    const { keys } = await fullScan(7, 'user:[1-2]?');
    expect(sorted(keys)).toEqual(sorted(Array.from({ length: 20 }, (_, i) => `user:${i + 10}`)));
  });

  it('walks many windows when the ring has many replica sets, and a cursor continues on another coordinator', async () => {
    const { service, scheduler, fullScan, coordinatorOf } = await setup({
      nodes: 7,
      vnodes: 32,
      config: { keyScan: { ...DEFAULT_KEY_SCAN_BOUNDS, maxGroupsPerWindow: 2, maxWindowsPerCall: 1 } },
    });
    const live = Array.from({ length: 200 }, (_, i) => `k${i}`);
    for (const key of live) await scheduler.settle(service.put(key, Buffer.from('v')));
    const { keys, calls } = await fullScan(1000);
    expect(sorted(keys)).toEqual(sorted(live));
    expect(calls).toBeGreaterThan(10);
    const first = await scheduler.settle(service.scanKeys(null, { count: 30 }));
    const other = (await coordinatorOf('coordinator-2')).service;
    const rest: string[] = [...first.keys];
    let cursor = first.cursor;
    while (cursor !== null) {
      const page = await scheduler.settle(other.scanKeys(cursor, { count: 30 }));
      rest.push(...page.keys);
      cursor = page.cursor;
    }
    expect(sorted(rest)).toEqual(sorted(live));
  });

  it('serves with one replica of three down and fails with QUORUM_NOT_MET with two down', async () => {
    const { service, scheduler, network, fullScan } = await setup();
    const live = Array.from({ length: 50 }, (_, i) => `k${i}`);
    for (const key of live) await scheduler.settle(service.put(key, Buffer.from('v')));
    await scheduler.runFor(100);
    network.crash('n1');
    expect(sorted((await fullScan(20)).keys)).toEqual(sorted(live));
    network.crash('n2');
    const error = await scheduler.settle(service.scanKeys(null, { count: 20 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DkvError);
    expect((error as DkvError).code).toBe('QUORUM_NOT_MET');
  });

  it('rejects a bad cursor, count or pattern with INVALID_REQUEST and a message saying what is allowed', async () => {
    const { service, scheduler, network } = await setup();
    const cases: Array<[string | null, { match?: string; count: number }, RegExp]> = [
      ['abc', { count: 10 }, /invalid scan cursor "abc"/],
      ['4096', { count: 10 }, /beyond the last one \(4095\)/],
      ['12:', { count: 10 }, /invalid scan cursor/],
      ['01', { count: 10 }, /invalid scan cursor/],
      [null, { count: 0 }, /count must be a whole number of at least 1, got 0/],
      [null, { count: 1.5 }, /got 1.5/],
      [null, { count: 10, match: 'x'.repeat(1025) }, /match pattern is over 1024 bytes/],
    ];
    const before = network.stats().requests;
    for (const [cursor, options, message] of cases) {
      const error = await scheduler.settle(service.scanKeys(cursor, options)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DkvError);
      expect((error as DkvError).code).toBe('INVALID_REQUEST');
      expect((error as DkvError).message).toMatch(message);
    }
    expect(network.stats().requests).toBe(before);
  });

  it('takes a count above the bound as the bound, as Redis takes COUNT as a hint', async () => {
    const { service, scheduler } = await setup({ config: { keyScan: { ...DEFAULT_KEY_SCAN_BOUNDS, maxCount: 20 } } });
    for (let i = 0; i < 50; i += 1) await scheduler.settle(service.put(`k${i}`, Buffer.from('v')));
    const page = await scheduler.settle(service.scanKeys(null, { count: 100_000 }));
    expect(page.keys).toHaveLength(20);
    expect(page.cursor).not.toBeNull();
  });

  it('encodes positions as opaque strings that decode back, "0" being the start', () => {
    expect(decodeScanCursor('0')).toEqual({ bucket: 0, afterKey: null });
    expect(decodeScanCursor(null)).toEqual({ bucket: 0, afterKey: null });
    for (const position of [
      { bucket: 7, afterKey: null },
      { bucket: 4095, afterKey: 'sess:é/ü?' },
      { bucket: 0, afterKey: 'k'.repeat(512) },
    ]) {
      expect(decodeScanCursor(encodeScanCursor(position))).toEqual(position);
    }
  });

  it('estimates the live keys from the heartbeats for DBSIZE', async () => {
    const { service, scheduler, coordinator } = await setup();
    for (let i = 0; i < 30; i += 1) await scheduler.settle(service.put(`k${i}`, Buffer.from('v')));
    await scheduler.settle(service.delete('k0'));
    await scheduler.runFor(2000);
    expect(service.liveKeyCount()).toBe(29);
    coordinator.stop();
  });
});
