// Goal: one seed names one workload, with the mix, keys and value sizes asked for. Method: draw
// a few thousand operations and check counts, shapes and repeatability.
import { describe, expect, it } from 'vitest';
import { SeededRng } from './seeded-rng.js';
import { SessionWorkload, sessionKey } from './session-workload.js';

describe('SessionWorkload', () => {
  const options = { keys: 100, valueBytes: 256, readRatio: 0.8, ttlSeconds: 1800 };

  it('is deterministic for a seed', () => {
    const a = new SessionWorkload({ rng: new SeededRng(1), ...options }).take(200);
    const b = new SessionWorkload({ rng: new SeededRng(1), ...options }).take(200);
    const c = new SessionWorkload({ rng: new SeededRng(2), ...options }).take(200);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('honours the read ratio and uses session keys within range', () => {
    const operations = new SessionWorkload({ rng: new SeededRng(3), ...options }).take(10_000);
    const reads = operations.filter((operation) => operation.op === 'get').length;
    expect(reads / operations.length).toBeGreaterThan(0.77);
    expect(reads / operations.length).toBeLessThan(0.83);
    expect(operations.some((operation) => operation.op === 'delete')).toBe(true);
    for (const operation of operations) {
      expect(operation.key).toMatch(/^session:\d+$/);
      expect(Number(operation.key.slice('session:'.length))).toBeLessThan(100);
    }
  });

  it('writes JSON values of exactly the requested size, with the TTL', () => {
    const puts = new SessionWorkload({ rng: new SeededRng(4), ...options, readRatio: 0, deleteRatio: 0 }).take(50);
    for (const put of puts) {
      expect(put.op).toBe('put');
      expect(put.ttlSeconds).toBe(1800);
      expect(put.value?.byteLength).toBe(256);
      const document = JSON.parse(new TextDecoder().decode(put.value)) as { sessionId: string };
      expect(document.sessionId).toBe(put.key);
    }
  });

  it('handles tiny and large values, and no TTL', () => {
    for (const valueBytes of [0, 10, 1024 * 1024]) {
      const [put] = new SessionWorkload({ rng: new SeededRng(5), keys: 1, valueBytes, readRatio: 0, deleteRatio: 0 }).take(1);
      expect(put?.value?.byteLength).toBe(valueBytes);
      expect(put).not.toHaveProperty('ttlSeconds');
      expect(put?.key).toBe(sessionKey(0));
    }
  });

  it('skews popularity towards low keys with a Zipf exponent', () => {
    const operations = new SessionWorkload({ rng: new SeededRng(6), ...options, zipfExponent: 1.2 }).take(10_000);
    const hot = operations.filter((operation) => operation.key === 'session:0').length;
    const cold = operations.filter((operation) => operation.key === 'session:99').length;
    expect(hot).toBeGreaterThan(10 * Math.max(1, cold));
  });

  it('rejects options outside their bounds', () => {
    const rng = new SeededRng(7);
    expect(() => new SessionWorkload({ rng, ...options, keys: 0 })).toThrow(/keys/);
    expect(() => new SessionWorkload({ rng, ...options, readRatio: 1.5 })).toThrow(/readRatio/);
    expect(() => new SessionWorkload({ rng, ...options, ttlSeconds: 0 })).toThrow(/ttl/);
  });
});
