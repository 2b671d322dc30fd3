// Goal: the isolation guard (issue 10, finding 3) counts a node away for as long as it did not see
// the majority, even when its checks stopped: a paused process whose gossip has already shown it
// its peers alive again, and a process stopped and started again on its data (the last-contact
// time kept in a LastContactStore), are quarantined on their first check.
// Method: the guard over a stand-in gossiper whose peers' liveness the test sets, on a simulated
// clock and scheduler; no network.
import type { MemberEntry } from '@dkv/core';
import type { Gossiper, Liveness } from '@dkv/membership';
import { InMemoryStorageEngine } from '@dkv/storage';
import { SimulatedClock, SimulatedScheduler } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { IsolationGuard, type LastContactStore } from './isolation-guard.js';

const MAX_ISOLATION_MS = 10_000;

/** Three storage nodes; `liveness` is what the failure detector says of n2 and n3; `looks` counts readings of the document. */
function standInGossiper(liveness: { value: Liveness }, looks = { count: 0 }): Gossiper {
  const entries = ['n1', 'n2', 'n3'].map((id) => ({ id, role: 'storage', status: 'up', metadata: {} }) as unknown as MemberEntry);
  return {
    document: () => {
      looks.count += 1;
      return entries;
    },
    entry: (id: string) => entries.find((entry) => entry.id === id),
    livenessOf: (id: string) => (id === 'n1' ? 'alive' : liveness.value),
    change: () => undefined,
  } as unknown as Gossiper;
}

function guardOn(
  scheduler: SimulatedScheduler,
  liveness: { value: Liveness },
  store?: LastContactStore,
  looks = { count: 0 },
): IsolationGuard {
  const clock = new SimulatedClock(scheduler);
  return new IsolationGuard({
    selfId: 'n1',
    gossiper: standInGossiper(liveness, looks),
    engine: new InMemoryStorageEngine({ clock, tombstoneGraceMs: 60_000 }),
    clock,
    scheduler,
    onWiped: () => undefined,
    config: { maxIsolationMs: MAX_ISOLATION_MS, settleMs: 1000, checkIntervalMs: 500, saveIntervalMs: 2000 },
    ...(store ? { store } : {}),
  });
}

function memoryStore(): LastContactStore & { saves: number; value: number | null } {
  return {
    saves: 0,
    value: null,
    load() {
      return this.value;
    },
    save(lastContactMs: number) {
      this.saves += 1;
      this.value = lastContactMs;
    },
  };
}

describe('IsolationGuard', () => {
  it('answers a read within a check interval of the last contact without looking at its peers, and looks again after it', async () => {
    const scheduler = new SimulatedScheduler();
    const liveness: { value: Liveness } = { value: 'alive' };
    const looks = { count: 0 };
    const guard = guardOn(scheduler, liveness, undefined, looks);
    expect(guard.isQuarantined()).toBe(false);
    const contact = guard.lastContact();
    const before = looks.count;
    // A hundredth of MAX_ISOLATION_MS, 100 ms, is below the configured check interval (500 ms).
    await scheduler.runFor(80);
    for (let i = 0; i < 1000; i += 1) expect(guard.isQuarantined()).toBe(false);
    expect(looks.count).toBe(before);
    expect(guard.lastContact()).toBe(contact);
    await scheduler.runFor(40);
    expect(guard.isQuarantined()).toBe(false);
    expect(looks.count).toBe(before + 1);
    expect(guard.lastContact()).toBe(contact + 120);
  });

  it('still quarantines on the first read once away longer than it may be, the peers gone since the last contact', async () => {
    const scheduler = new SimulatedScheduler();
    const liveness: { value: Liveness } = { value: 'alive' };
    const guard = guardOn(scheduler, liveness);
    expect(guard.isQuarantined()).toBe(false);
    liveness.value = 'down';
    await scheduler.runFor(MAX_ISOLATION_MS - 1);
    expect(guard.isQuarantined()).toBe(false);
    await scheduler.runFor(2);
    expect(guard.isQuarantined()).toBe(true);
  });

  it('quarantines a paused process on its first check even when its peers already look alive again', async () => {
    const scheduler = new SimulatedScheduler();
    const liveness: { value: Liveness } = { value: 'alive' };
    const guard = guardOn(scheduler, liveness);
    guard.start();
    await scheduler.runFor(3000);
    expect(guard.isQuarantined()).toBe(false);
    // Paused (no timer runs) for longer than it may be away; its gossip answers arrive first on resume.
    guard.stop();
    await scheduler.runFor(MAX_ISOLATION_MS + 5000);
    guard.start();
    expect(guard.isQuarantined()).toBe(true);
    expect(guard.stats.quarantines).toBe(1);
  });

  it('quarantines a process started again on its data after longer than it may be away, and not one back sooner', async () => {
    const scheduler = new SimulatedScheduler();
    const liveness: { value: Liveness } = { value: 'alive' };
    const store = memoryStore();
    const first = guardOn(scheduler, liveness, store);
    first.start();
    await scheduler.runFor(3000);
    first.stop();
    expect(store.value).toBe(first.lastContact());

    await scheduler.runFor(MAX_ISOLATION_MS / 2);
    const soon = guardOn(scheduler, liveness, store);
    soon.start();
    expect(soon.isQuarantined()).toBe(false);
    await scheduler.runFor(1000);
    soon.stop();

    await scheduler.runFor(MAX_ISOLATION_MS + 1000);
    const late = guardOn(scheduler, liveness, store);
    late.start();
    expect(late.isQuarantined()).toBe(true);
    late.stop();
  });

  it('saves the last-contact time at most every saveIntervalMs while in contact, and not while away', async () => {
    const scheduler = new SimulatedScheduler();
    const liveness: { value: Liveness } = { value: 'alive' };
    const store = memoryStore();
    const guard = guardOn(scheduler, liveness, store);
    guard.start();
    await scheduler.runFor(10_000);
    // One save at the first check, then one per 2 s of contact.
    expect(store.saves).toBeGreaterThanOrEqual(5);
    expect(store.saves).toBeLessThanOrEqual(6);
    liveness.value = 'down';
    const saves = store.saves;
    const lastSaved = store.value;
    await scheduler.runFor(5000);
    expect(store.saves).toBe(saves);
    expect(store.value).toBe(lastSaved);
    guard.stop();
  });

  it('refuses a save interval that is not below the time it may be away', () => {
    const scheduler = new SimulatedScheduler();
    const clock = new SimulatedClock(scheduler);
    expect(
      () =>
        new IsolationGuard({
          selfId: 'n1',
          gossiper: standInGossiper({ value: 'alive' }),
          engine: new InMemoryStorageEngine({ clock, tombstoneGraceMs: 60_000 }),
          clock,
          scheduler,
          onWiped: () => undefined,
          config: { maxIsolationMs: 1000, saveIntervalMs: 1000 },
        }),
    ).toThrow(/saveIntervalMs must be above 0 and below maxIsolationMs \(1000\), got 1000/);
  });
});
