// Goal: the coordinator adapter of the Redis door's backend passes expiry to the millisecond,
// turns replica key counts into DBSIZE's estimate, and answers SCAN with a clear error where the
// coordinator has no cluster-wide scan. Method: a recording fake of the coordinator's shape.
import { DkvError } from '@dkv/core';
import { describe, expect, it } from 'vitest';
import { CoordinatorRespBackend, type RespCoordinator } from './coordinator-resp-backend.js';

function fake(withScan: boolean) {
  const calls: unknown[][] = [];
  const coordinator: RespCoordinator = {
    get: async (key) => (calls.push(['get', key]), { value: Buffer.from('v'), version: 7, expiresAt: 123 }),
    put: async (...args) => calls.push(['put', ...args]),
    delete: async (key) => calls.push(['delete', key]),
    distribution: async () => [{ keys: 10 }, { keys: 11 }, { keys: 9 }, { keys: 0 }],
    ...(withScan
      ? {
          scanKeys: async (cursor: string | null, options: { match?: string; count: number }) => (
            calls.push(['scan', cursor, options]),
            { keys: ['a'], cursor: null }
          ),
        }
      : {}),
  };
  return { coordinator, calls };
}

describe('CoordinatorRespBackend', () => {
  it('passes expiry as expiresAt and no expiry as none; reads and deletes through', async () => {
    const { coordinator, calls } = fake(true);
    const backend = new CoordinatorRespBackend(() => coordinator, 3);
    await backend.put('k', Buffer.from('x'), 1_700_000_000_123);
    await backend.put('k', Buffer.from('y'), null);
    expect(await backend.get('k')).toEqual({ value: Buffer.from('v'), version: 7, expiresAt: 123 });
    await backend.delete('k');
    expect(calls).toEqual([
      ['put', 'k', Buffer.from('x'), undefined, { expiresAt: 1_700_000_000_123 }],
      ['put', 'k', Buffer.from('y'), undefined, {}],
      ['get', 'k'],
      ['delete', 'k'],
    ]);
  });

  it("estimates the live key count as the replicas' count over N, or takes the coordinator's own estimate", async () => {
    expect(await new CoordinatorRespBackend(() => fake(true).coordinator, 3).liveKeyCount()).toBe(10);
    expect(await new CoordinatorRespBackend(() => ({ ...fake(true).coordinator, liveKeyCount: () => 42 }), 3).liveKeyCount()).toBe(42);
  });

  it('scans through the coordinator, or refuses clearly without a cluster-wide scan', async () => {
    const { coordinator, calls } = fake(true);
    expect(await new CoordinatorRespBackend(() => coordinator, 3).scanKeys(null, { match: 'a*', count: 5 })).toEqual({
      keys: ['a'],
      cursor: null,
    });
    expect(calls).toEqual([['scan', null, { match: 'a*', count: 5 }]]);
    const error = await new CoordinatorRespBackend(() => fake(false).coordinator, 3).scanKeys(null, { count: 5 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DkvError);
    expect((error as DkvError).code).toBe('NOT_IMPLEMENTED');
  });
});
