// Goal: the ordering of versions is total and the same whatever the order of comparison, so
// every replica keeps the same record; expiry reads as a tombstone. Method: table cases.
import { describe, expect, it } from 'vitest';
import { compareVersionedValues, isLive, toTombstone, type VersionedValue } from './versioned-value.js';

const base: VersionedValue = {
  value: Buffer.from('a'),
  version: 10,
  writerId: 'c1',
  createdAt: 1,
  updatedAt: 2,
  expiresAt: null,
  tombstone: false,
};

describe('compareVersionedValues', () => {
  const cases: Array<[string, Partial<VersionedValue>, Partial<VersionedValue>, number]> = [
    ['higher version wins', { version: 11 }, { version: 10 }, 1],
    ['lower version loses', { version: 9 }, { version: 10 }, -1],
    ['equal version: higher writer id wins', { writerId: 'c2' }, { writerId: 'c1' }, 1],
    ['equal version and writer: tombstone wins', { tombstone: true, value: new Uint8Array() }, {}, 1],
    ['equal all but bytes: larger bytes win', { value: Buffer.from('b') }, { value: Buffer.from('a') }, 1],
    ['same write', {}, {}, 0],
  ];
  it.each(cases)('%s', (_name, a, b, expected) => {
    expect(compareVersionedValues({ ...base, ...a }, { ...base, ...b })).toBe(expected);
    expect(compareVersionedValues({ ...base, ...b }, { ...base, ...a })).toBe(-expected || 0);
  });
});

describe('isLive and toTombstone', () => {
  it('hides expired values and tombstones', () => {
    expect(isLive({ ...base, expiresAt: 100 }, 99)).toBe(true);
    expect(isLive({ ...base, expiresAt: 100 }, 100)).toBe(false);
    expect(isLive({ ...base, tombstone: true }, 0)).toBe(false);
  });
  it('keeps the version of the value it replaces', () => {
    const t = toTombstone({ ...base, expiresAt: 100 });
    expect(t).toMatchObject({ version: 10, writerId: 'c1', tombstone: true, expiresAt: null });
    expect(t.value.byteLength).toBe(0);
  });
});
