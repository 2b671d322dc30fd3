// Goal: the durable engine keeps its promises on a real file system: what it acknowledged (its
// `persisted` settled: the turn's appends are written) is there after the process's engine is
// dropped without closing (a crash) and reopened, a torn end
// written by hand is cut, an `always` write is answered after a real fsync, and a directory of
// another node is refused.
// Method: a temporary directory per test, the engine over NodeLogDirectory, removed afterwards.
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VersionedValue } from '@dkv/core';
import { CompactStorageEngine, DurableStorageEngine, type FsyncPolicy } from '@dkv/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeLogDirectory, SystemClock, TimerScheduler } from './index.js';

const made: string[] = [];
afterEach(() => {
  for (const path of made.splice(0)) rmSync(path, { recursive: true, force: true });
});

function open(path: string, nodeId = 'n1', fsync: FsyncPolicy = { mode: 'never' }) {
  const clock = new SystemClock();
  return DurableStorageEngine.open({
    engine: new CompactStorageEngine({ clock, tombstoneGraceMs: 60_000 }),
    directory: new NodeLogDirectory(path),
    nodeId,
    fsync,
    clock,
    scheduler: new TimerScheduler(),
  });
}

function rec(version: number, value: string): VersionedValue {
  return { value: Buffer.from(value), version, writerId: 'c1', createdAt: 1, updatedAt: 1, expiresAt: null, tombstone: false };
}

describe('NodeLogDirectory', () => {
  it('keeps every acknowledged record across a crash and cuts a torn end', async () => {
    const path = mkdtempSync(join(tmpdir(), 'dkv-log-'));
    made.push(path);
    const engine = open(join(path, 'n1'));
    for (let i = 0; i < 100; i += 1) engine.apply(`k${i}`, rec(i + 1, `value-${i}`));
    engine.remove('k5');
    await engine.persisted();
    const segment = readdirSync(join(path, 'n1')).find((name) => name.startsWith('segment-')) as string;
    appendFileSync(join(path, 'n1', segment), Buffer.from([0x44, 0x56, 0x4b, 0x31, 9, 9]));
    const reopened = open(join(path, 'n1'));
    for (let i = 0; i < 100; i += 1) {
      if (i === 5) expect(reopened.get('k5')).toBeNull();
      else expect(Buffer.from(reopened.get(`k${i}`)!.value).toString()).toBe(`value-${i}`);
    }
    expect(reopened.durability().tornTails).toBe(1);
    reopened.close();
    expect(() => open(join(path, 'n1'), 'n2')).toThrow(/belongs to node "n1", not to node "n2"/);
  });

  it('answers an always write after a real fsync', async () => {
    const path = mkdtempSync(join(tmpdir(), 'dkv-log-'));
    made.push(path);
    const engine = open(path, 'n1', { mode: 'always' });
    engine.apply('k', rec(1, 'v'));
    const waiting = engine.persisted();
    expect(waiting).not.toBeNull();
    await waiting;
    expect(engine.durability().fsyncs).toBe(1);
    expect(engine.persisted()).toBeNull();
    engine.close();
  });
});
