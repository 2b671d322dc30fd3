// Goal: the recorder keeps what clients were told, classifies errors as the checker needs
// (definitely-not-applied `fail` against indeterminate `info`), keeps values in a stable form and
// stops at its bound with a clear error; wrapped around a store, it yields histories that the
// checker passes when the store is correct and fails when it serves stale reads.
// Method: a hand-driven store for the error table; a seeded store on the SimulatedScheduler,
// correct and with a lagging-replica bug, driven by concurrent clients in virtual time.
import { describe, expect, it } from 'vitest';
import { DkvError, QuorumNotMetError, type DeleteResult, type KVStore, type ReadResult, type WriteResult } from '@dkv/core';
import { checkHistory } from './history-checker.js';
import { HistoryLimitError, HistoryRecorder, classifyError, recordingStore, valueToken } from './history-recorder.js';
import { SeededRng } from './seeded-rng.js';
import { SimulatedScheduler } from './simulated-scheduler.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A store whose every call throws `failure` when set, else answers from a fixed table. */
class ScriptedStore implements KVStore {
  failure: unknown = null;
  async get(key: string): Promise<ReadResult | null> {
    if (this.failure) throw this.failure;
    return key === 'missing' ? null : { key, value: bytes('hello'), version: 7, expiresAt: 1234 };
  }
  async put(key: string): Promise<WriteResult> {
    if (this.failure) throw this.failure;
    return { key, version: 8, expiresAt: null };
  }
  async delete(key: string): Promise<DeleteResult> {
    if (this.failure) throw this.failure;
    return { key, version: 9 };
  }
}

function harness(options = {}) {
  const recorder = new HistoryRecorder(options);
  const store = new ScriptedStore();
  let nowMs = 0;
  const now = (): number => (nowMs += 5);
  return { recorder, store, client: recordingStore(store, recorder, 'c1', now) };
}

describe('recordingStore', () => {
  it('records results with their versions, values and TTLs', async () => {
    const { recorder, client } = harness();
    await client.put('k', bytes('v1'), 60);
    await client.get('k');
    await client.get('missing');
    await client.delete('k');
    expect(recorder.history()).toEqual([
      {
        id: 0,
        process: 'c1',
        kind: 'put',
        key: 'k',
        value: 'v1',
        startMs: 5,
        endMs: 10,
        outcome: 'ok',
        version: 8,
        ttlSeconds: 60,
        expiresAt: null,
      },
      { id: 1, process: 'c1', kind: 'get', key: 'k', value: 'hello', startMs: 15, endMs: 20, outcome: 'ok', version: 7, expiresAt: 1234 },
      { id: 2, process: 'c1', kind: 'get', key: 'missing', value: null, startMs: 25, endMs: 30, outcome: 'ok' },
      { id: 3, process: 'c1', kind: 'delete', key: 'k', value: null, startMs: 35, endMs: 40, outcome: 'ok', version: 9 },
    ]);
  });

  const errorCases: Array<{ error: unknown; get: string; write: string }> = [
    { error: new DkvError('INVALID_KEY', 'bad key'), get: 'fail', write: 'fail' },
    { error: new DkvError('INVALID_TTL', 'bad ttl'), get: 'fail', write: 'fail' },
    { error: new DkvError('VALUE_TOO_LARGE', 'too big'), get: 'fail', write: 'fail' },
    { error: new QuorumNotMetError('write', 2, 1, 3), get: 'fail', write: 'info' },
    { error: new DkvError('UNAVAILABLE', 'no answer within 5000 ms'), get: 'fail', write: 'info' },
    { error: new Error('socket hang up'), get: 'fail', write: 'info' },
  ];
  it.each(errorCases)('classifies $error.message as $get on reads and $write on writes', async ({ error, get, write }) => {
    expect(classifyError('get', error)).toBe(get);
    expect(classifyError('put', error)).toBe(write);
    expect(classifyError('delete', error)).toBe(write);
    const { recorder, store, client } = harness();
    store.failure = error;
    await expect(client.put('k', bytes('v'))).rejects.toBe(error);
    await expect(client.get('k')).rejects.toBe(error);
    const [putOp, getOp] = recorder.history();
    expect(putOp).toMatchObject({ outcome: write, value: 'v' });
    expect(putOp?.error).toContain((error as Error).message);
    expect(getOp).toMatchObject({ outcome: get, value: null });
  });

  it('records a get that throws NOT_FOUND as an ok not-found read', async () => {
    const { recorder, store, client } = harness();
    store.failure = new DkvError('NOT_FOUND', 'no such key');
    await expect(client.get('k')).rejects.toThrow('no such key');
    expect(recorder.history()[0]).toMatchObject({ outcome: 'ok', value: null });
  });
});

describe('HistoryRecorder', () => {
  it('throws a clear error beyond its bound, before calling the store', async () => {
    const { recorder, store, client } = harness({ maxOperations: 2 });
    await client.get('k');
    await client.get('k');
    store.failure = new Error('the store must not be called');
    await expect(client.get('k')).rejects.toThrow(HistoryLimitError);
    await expect(client.get('k')).rejects.toThrow(/maximum of 2 operations.*raise maxOperations/);
    expect(recorder.size).toBe(2);
  });

  it('reports operations still pending as indeterminate', () => {
    const recorder = new HistoryRecorder();
    const put = recorder.invoke({ process: 'c1', kind: 'put', key: 'k', value: 'v' }, 10);
    const get = recorder.invoke({ process: 'c2', kind: 'get', key: 'k' }, 12);
    recorder.complete(get, { outcome: 'ok', value: null }, 20);
    expect(recorder.history()).toEqual([
      expect.objectContaining({ id: put, outcome: 'info', endMs: 20 }),
      expect.objectContaining({ id: get, outcome: 'ok', endMs: 20 }),
    ]);
    expect(recorder.history(99)[0]).toMatchObject({ endMs: 99 });
  });

  it('rejects completing twice, or before the start', () => {
    const recorder = new HistoryRecorder();
    const id = recorder.invoke({ process: 'c1', kind: 'get', key: 'k' }, 10);
    expect(() => recorder.complete(id, { outcome: 'ok', value: null }, 5)).toThrow(/before it started/);
    recorder.complete(id, { outcome: 'ok', value: null }, 10);
    expect(() => recorder.complete(id, { outcome: 'ok', value: null }, 11)).toThrow(/not pending/);
  });

  it('keeps the value a put sent, even if the caller reuses its buffer', () => {
    const recorder = new HistoryRecorder();
    const buffer = bytes('first');
    const id = recorder.invoke({ process: 'c', kind: 'put', key: 'k', value: buffer }, 0);
    buffer.set(bytes('xxxxx'));
    recorder.complete(id, { outcome: 'ok', version: 1 }, 1);
    expect(recorder.history()[0]?.value).toBe('first');
  });

  it('keeps large values as digests', () => {
    const recorder = new HistoryRecorder({ digestValuesOverBytes: 4 });
    recorder.complete(recorder.invoke({ process: 'c', kind: 'put', key: 'k', value: 'abcdef' }, 0), { outcome: 'ok', version: 1 }, 1);
    expect(recorder.history()[0]?.value).toMatch(/^sha256:[0-9a-f]{64}:6$/);
  });
});

describe('valueToken', () => {
  const cases: Array<[string, string | Uint8Array, string]> = [
    ['UTF-8 text as itself', bytes('{"user":"ana"}'), '{"user":"ana"}'],
    ['a string like its bytes', '{"user":"ana"}', '{"user":"ana"}'],
    ['empty', new Uint8Array(0), ''],
    ['invalid UTF-8 as base64', new Uint8Array([0xff, 0x00]), 'b64:/wA='],
    ['text that looks like a marker, escaped', 'b64:/wA=', 'b64:YjY0Oi93QT0='],
  ];
  it.each(cases)('keeps %s', (_name, value, token) => {
    expect(valueToken(value)).toBe(token);
  });
});

/**
 * A single-copy store on the simulated timeline: each call takes effect at a random moment inside
 * its interval (so it is linearizable), and writes sometimes report QUORUM_NOT_MET, either before
 * or after taking effect. With `lagging`, some reads answer from the key's previous version, as a
 * read quorum that missed the latest write would.
 */
class SimulatedStore implements KVStore {
  private readonly cells = new Map<string, Array<{ value: Uint8Array | null; version: number }>>();
  private version = 0;
  constructor(
    private readonly scheduler: SimulatedScheduler,
    private readonly rng: SeededRng,
    private readonly lagging: boolean,
  ) {}

  private async step<T>(apply: () => T, write: boolean): Promise<T> {
    await this.sleep(this.rng.range(0, 20));
    const fails = write && this.rng.chance(0.1);
    if (fails && this.rng.chance(0.5)) throw new QuorumNotMetError('write', 2, 1, 3);
    const result = apply();
    await this.sleep(this.rng.range(0, 20));
    if (fails) throw new QuorumNotMetError('write', 2, 1, 3);
    return result;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.scheduler.after(ms, resolve));
  }

  get(key: string): Promise<ReadResult | null> {
    return this.step(() => {
      const versions = this.cells.get(key) ?? [];
      const pick = this.lagging && versions.length > 1 && this.rng.chance(0.2) ? versions.length - 2 : versions.length - 1;
      const cell = versions[pick];
      return cell && cell.value ? { key, value: cell.value, version: cell.version, expiresAt: null } : null;
    }, false);
  }

  put(key: string, value: Uint8Array): Promise<WriteResult> {
    return this.step(() => ({ key, version: this.write(key, value), expiresAt: null }), true);
  }

  delete(key: string): Promise<DeleteResult> {
    return this.step(() => ({ key, version: this.write(key, null) }), true);
  }

  private write(key: string, value: Uint8Array | null): number {
    this.version += 1;
    const versions = this.cells.get(key) ?? [];
    versions.push({ value, version: this.version });
    this.cells.set(key, versions);
    return this.version;
  }
}

async function simulate(seed: number, lagging: boolean) {
  const scheduler = new SimulatedScheduler({ seed });
  const rng = new SeededRng(seed);
  const store = new SimulatedStore(scheduler, rng.fork('store'), lagging);
  const recorder = new HistoryRecorder();
  const clients = Array.from({ length: 5 }, (_, i) => ({ id: `c${i}`, rng: rng.fork(`client-${i}`) }));
  let written = 0;
  const runs = clients.map(async ({ id, rng: draw }) => {
    const client = recordingStore(store, recorder, id, () => scheduler.now());
    for (let i = 0; i < 100; i += 1) {
      const key = `k${draw.int(3)}`;
      const choice = draw.next();
      const call = choice < 0.5 ? client.get(key) : choice < 0.9 ? client.put(key, bytes(`${id}-${(written += 1)}`)) : client.delete(key);
      await call.catch(() => undefined);
    }
  });
  await scheduler.settle(Promise.all(runs));
  return checkHistory(recorder.history());
}

describe('recordingStore with checkHistory, end to end', () => {
  it('passes a correct store and catches a lagging one', async () => {
    const correct = await simulate(11, false);
    expect(correct.anomalies.map((a) => a.message)).toEqual([]);
    expect(correct.stats.writes.info).toBeGreaterThan(0);
    const lagging = await simulate(11, true);
    expect(lagging.valid).toBe(false);
    expect(
      lagging.stats.anomalies['stale-read'] + lagging.stats.anomalies['resurrected-delete'] + lagging.stats.anomalies['lost-write'],
    ).toBeGreaterThan(0);
  });
});
