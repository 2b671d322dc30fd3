// Goal: QuorumManager answers as soon as R (or W) replicas did, picks the highest version, repairs
// stale replicas in the background within its bound, and fails with QUORUM_NOT_MET naming the
// counts. Method: a scripted NodeClient whose answers the test releases one by one.
import { describe, expect, it } from 'vitest';
import {
  DkvError,
  metaOf,
  NodeUnavailableError,
  QuorumNotMetError,
  VersionTooFarAheadError,
  type Node,
  type NodeClient,
  type StorageRequest,
  type VersionedValue,
} from '@dkv/core';
import { DEFAULT_HEDGE_MAX_DELAY_MS, DEFAULT_HEDGE_MIN_DELAY_MS, QuorumManager, type QuorumConfig } from './quorum-manager.js';

/** A complete configuration: short deadlines, every read fanned out to all replicas, with `overrides`. */
const settings = (overrides: Partial<QuorumConfig> = {}): QuorumConfig => ({
  requestTimeoutMs: 100,
  readRepairMaxInFlight: 10,
  readFanout: 'all',
  hedgeMinDelayMs: DEFAULT_HEDGE_MIN_DELAY_MS,
  hedgeMaxDelayMs: DEFAULT_HEDGE_MAX_DELAY_MS,
  ...overrides,
});
const node = (id: string): Node => ({ id, address: `${id}:1`, role: 'storage', status: 'up', vnodes: 8, metadata: {} });
const nodes = [node('a'), node('b'), node('c')];
const rec = (version: number, value = `v${version}`): VersionedValue => ({
  value: Buffer.from(value),
  version,
  writerId: 'w',
  createdAt: 1,
  updatedAt: 1,
  expiresAt: null,
  tombstone: false,
});

interface Pending {
  nodeId: string;
  request: StorageRequest;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** A NodeClient that parks every request until the test answers it. */
class ScriptedClient implements NodeClient {
  readonly pending: Pending[] = [];
  send(target: Node, request: StorageRequest): Promise<never> {
    return new Promise((resolve, reject) => {
      this.pending.push({ nodeId: target.id, request, resolve: resolve as (v: unknown) => void, reject });
    });
  }
  take(nodeId: string, type?: StorageRequest['type']): Pending {
    const index = this.pending.findIndex((p) => p.nodeId === nodeId && (!type || p.request.type === type));
    if (index < 0) throw new Error(`no pending request to ${nodeId}`);
    return this.pending.splice(index, 1)[0]!;
  }
  /** Answers `nodeId`'s pending read as the replica holding `record` would: the record to a GET, its version to a HEAD. */
  answerRead(nodeId: string, record: VersionedValue | null): StorageRequest['type'] {
    const read = this.pending.find((p) => p.nodeId === nodeId && (p.request.type === 'GET' || p.request.type === 'HEAD'));
    if (read === undefined) throw new Error(`no pending read to ${nodeId}`);
    this.pending.splice(this.pending.indexOf(read), 1);
    if (read.request.type === 'GET') read.resolve({ type: 'GET', record });
    else read.resolve({ type: 'HEAD', meta: record === null ? null : metaOf(record) });
    return read.request.type;
  }
  async close(): Promise<void> {}
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('QuorumManager.readWithQuorum', () => {
  it('answers after R replicas with the highest version, without waiting for the third', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const read = quorum.readWithQuorum('k', nodes, 2);
    client.answerRead('a', rec(7));
    client.answerRead('b', rec(5));
    const result = await read;
    expect(result.record?.version).toBe(7);
    expect(client.pending.map((p) => p.nodeId)).toEqual(['c']);
  });

  it('repairs every replica that answered older or nothing, including late ones', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const read = quorum.readWithQuorum('k', nodes, 2);
    client.answerRead('a', rec(7));
    client.answerRead('b', rec(7));
    await read;
    client.answerRead('c', null);
    await flush();
    const repair = client.take('c', 'PUT');
    expect(repair.request).toMatchObject({ type: 'PUT', key: 'k', record: { version: 7 } });
    expect(quorum.stats.readRepairs).toBe(1);
    expect(client.pending).toHaveLength(0);
  });

  it('drops repairs beyond its in-flight bound and counts them', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings({ readRepairMaxInFlight: 1 }));
    const read = quorum.readWithQuorum('k', nodes, 3);
    client.answerRead('a', rec(9));
    client.answerRead('b', rec(1));
    client.answerRead('c', null);
    await read;
    await flush();
    expect(quorum.stats.readRepairs).toBe(1);
    expect(quorum.stats.readRepairsDropped).toBe(1);
  });

  it('fails with QUORUM_NOT_MET as soon as R is out of reach', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const read = quorum.readWithQuorum('k', nodes, 2);
    client.take('a').reject(new NodeUnavailableError('a', 'timeout', 'slow'));
    client.take('b').reject(new NodeUnavailableError('b', 'unreachable', 'refused'));
    const error = await read.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuorumNotMetError);
    expect((error as QuorumNotMetError).message).toBe('read quorum not met: needed 2 replica answers, received 0 of 3 contacted');
    expect(quorum.stats.quorumFailures.read).toBe(1);
  });

  it('does not contact nodes known to be down', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings(), { isAvailable: (id) => id !== 'a' });
    const read = quorum.readWithQuorum('k', nodes, 2);
    expect(client.pending.map((p) => p.nodeId)).toEqual(['b', 'c']);
    client.answerRead('b', null);
    client.answerRead('c', null);
    expect((await read).record).toBeNull();
  });
});

describe('QuorumManager.readRecord', () => {
  it('resolves with what finish makes of the winning record, the key and the answers counted, and repairs as a read does', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const read = quorum.readRecord('k', nodes, 2, (record, key, answered) => `${key}:${record?.version ?? 'none'}:${answered}`);
    client.answerRead('a', rec(7));
    client.answerRead('b', rec(5));
    expect(await read).toBe('k:7:2');
    client.answerRead('c', rec(7));
    await flush();
    expect(client.take('b', 'PUT').request).toMatchObject({ type: 'PUT', key: 'k', record: { version: 7 } });
  });

  it('rejects with what finish throws', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const read = quorum.readRecord('k', nodes, 2, () => {
      throw new Error('refused by finish');
    });
    client.answerRead('a', null);
    client.answerRead('b', null);
    await expect(read).rejects.toThrow('refused by finish');
  });
});

describe('QuorumManager.readWithQuorum, digest reads', () => {
  it('asks the first replica for the value and the others only for the version', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings({ preferNodeId: 'b' }));
    const read = quorum.readWithQuorum('k', nodes, 2);
    expect(client.pending.map((p) => `${p.nodeId} ${p.request.type}`)).toEqual(['b GET', 'a HEAD', 'c HEAD']);
    client.answerRead('b', rec(4));
    client.answerRead('a', rec(4));
    const result = await read;
    expect(result.record).toEqual(rec(4));
    expect(quorum.stats.digestFetches).toBe(0);
    client.answerRead('c', rec(4));
    await flush();
    expect(client.pending).toHaveLength(0);
  });

  it('fetches the newest value from a replica whose digest is newer, and repairs the stale replicas with it', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const read = quorum.readWithQuorum('k', nodes, 2);
    expect(client.answerRead('a', rec(5))).toBe('GET');
    expect(client.answerRead('b', rec(7))).toBe('HEAD');
    await flush();
    const fetch = client.take('b', 'GET');
    fetch.resolve({ type: 'GET', record: rec(7) });
    const result = await read;
    expect(result.record).toEqual(rec(7));
    expect(quorum.stats.digestFetches).toBe(1);
    client.answerRead('c', null);
    await flush();
    const repairs = client.pending.filter((p) => p.request.type === 'PUT');
    expect(repairs.map((p) => p.nodeId).sort()).toEqual(['a', 'c']);
    for (const repair of repairs) expect(repair.request).toMatchObject({ type: 'PUT', key: 'k', record: rec(7) });
    expect(quorum.stats.readRepairs).toBe(2);
  });

  it('repairs a replica whose digest is older with the value the first replica sent', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const read = quorum.readWithQuorum('k', nodes, 2);
    client.answerRead('a', rec(7));
    client.answerRead('b', rec(3));
    expect((await read).record?.version).toBe(7);
    client.answerRead('c', rec(7));
    await flush();
    expect(client.pending.map((p) => `${p.nodeId} ${p.request.type}`)).toEqual(['b PUT']);
    expect(client.pending[0]!.request).toMatchObject({ record: rec(7) });
    expect(quorum.stats.digestFetches).toBe(0);
  });

  it('fetches the value of a late digest newer than the quorum, and repairs every other replica with it', async () => {
    // The elastic simulation's seed 4039724800: a write that failed its quorum reached one replica
    // only; every read took its quorum from the two stale ones and saw the newer version only as a
    // late digest, which read repair left alone, so the replicas disagreed until anti-entropy ran.
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const read = quorum.readWithQuorum('k', nodes, 2);
    client.answerRead('a', rec(5));
    client.answerRead('b', rec(5));
    expect((await read).record?.version).toBe(5);
    expect(client.answerRead('c', rec(8))).toBe('HEAD');
    await flush();
    client.take('c', 'GET').resolve({ type: 'GET', record: rec(8) });
    await flush();
    expect(client.pending.map((p) => `${p.nodeId} ${p.request.type}`).sort()).toEqual(['a PUT', 'b PUT']);
    for (const repair of client.pending) expect(repair.request).toMatchObject({ type: 'PUT', key: 'k', record: rec(8) });
    expect(quorum.stats).toMatchObject({ digestFetches: 1, readRepairs: 2 });
  });

  it('repairs with what it has when the late digest cannot give its value, and frees the slot it held', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings({ readRepairMaxInFlight: 1 }));
    const read = quorum.readWithQuorum('k', nodes, 2);
    client.answerRead('a', rec(5));
    client.answerRead('b', rec(3));
    await read;
    client.answerRead('c', rec(8));
    await flush();
    // The fetch holds the only slot: the repair of b waits for it rather than being dropped.
    client.take('c', 'GET').reject(new NodeUnavailableError('c', 'timeout', 'slow'));
    await flush();
    expect(client.pending.map((p) => `${p.nodeId} ${p.request.type}`)).toEqual(['b PUT']);
    expect(client.pending[0]!.request).toMatchObject({ record: rec(5) });
    expect(quorum.stats).toMatchObject({ digestFetches: 1, readRepairs: 1, readRepairsDropped: 0 });
  });

  it('tries the next replica that reported the newest version when the first cannot give its value', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const read = quorum.readWithQuorum('k', nodes, 3);
    client.answerRead('a', rec(2));
    client.answerRead('b', rec(6));
    client.answerRead('c', rec(6));
    await flush();
    client.take('b', 'GET').reject(new NodeUnavailableError('b', 'timeout', 'slow'));
    await flush();
    // A replica that answers an older record than it reported (it lost it meanwhile) gives no value either.
    client.take('c', 'GET').resolve({ type: 'GET', record: rec(2) });
    const error = await read.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuorumNotMetError);
    expect((error as QuorumNotMetError).details).toMatchObject({ needed: 3, received: 1, contacted: 3 });
    expect(quorum.stats.quorumFailures.read).toBe(1);
  });

  it('reads the whole record from every replica with readDigests false', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings({ readDigests: false }));
    const read = quorum.readWithQuorum('k', nodes, 2);
    expect(client.pending.map((p) => p.request.type)).toEqual(['GET', 'GET', 'GET']);
    client.answerRead('a', rec(1));
    client.answerRead('b', rec(2));
    expect((await read).record?.version).toBe(2);
    client.answerRead('c', rec(2));
    await flush();
    expect(client.pending.map((p) => `${p.nodeId} ${p.request.type}`)).toEqual(['a PUT']);
  });
});

describe('QuorumManager.readWithQuorum, one replica and R = 1', () => {
  it('answers the whole record of the one replica and reports its outcomes', async () => {
    const client = new ScriptedClient();
    const outcomes: string[] = [];
    const quorum = new QuorumManager(client, settings(), { onReplicaOutcome: (id, ok) => outcomes.push(`${id} ${ok}`) });
    const read = quorum.readWithQuorum('k', [nodes[0]!], 1);
    expect(client.answerRead('a', rec(3))).toBe('GET');
    expect(await read).toEqual({ record: rec(3), answered: 1 });
    const failed = quorum.readWithQuorum('k', [nodes[0]!], 1);
    client.take('a').reject(new NodeUnavailableError('a', 'timeout', 'slow'));
    const error = await failed.catch((e: unknown) => e);
    expect((error as QuorumNotMetError).message).toBe('read quorum not met: needed 1 replica answers, received 0 of 1 contacted');
    expect(outcomes).toEqual(['a true', 'a false']);
    expect(quorum.stats.quorumFailures.read).toBe(1);
  });

  it('fails at once without asking a replica known to be down', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings(), { isAvailable: () => false });
    const error = await quorum.readWithQuorum('k', [nodes[0]!], 1).catch((e: unknown) => e);
    expect((error as QuorumNotMetError).details).toMatchObject({ needed: 1, received: 0, contacted: 0 });
    expect(client.pending).toHaveLength(0);
  });
});

describe('QuorumManager.writeWithQuorum', () => {
  it('acknowledges after W and hands the others over as stragglers', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const write = quorum.writeWithQuorum('k', rec(3), nodes, 2);
    client.take('c').resolve({ type: 'PUT', applied: true, version: 3, previous: 0 });
    client.take('a').resolve({ type: 'PUT', applied: false, version: 4, previous: 4 });
    const result = await write;
    expect(result.acknowledged.map((n) => n.id)).toEqual(['c', 'a']);
    expect(result.stragglers.map((s) => s.node.id)).toEqual(['b']);
    client.take('b').reject(new NodeUnavailableError('b', 'timeout', 'slow'));
    await expect(result.stragglers[0]!.delivered).resolves.toBe(false);
  });

  it('says why when replicas refused a new key for want of room (REPLICA_FULL), after the counts, and takes them for healthy', async () => {
    const client = new ScriptedClient();
    const outcomes: string[] = [];
    const quorum = new QuorumManager(client, settings(), {
      onReplicaOutcome: (id, ok, error) => outcomes.push(`${id}:${ok}:${error === undefined ? '-' : 'error'}`),
    });
    const write = quorum.writeWithQuorum('k', rec(3), nodes, 2);
    const full = (id: string) => new NodeUnavailableError(id, 'remote', `REPLICA_FULL: node ${id}: no room for new key "k"`);
    client.take('b').reject(full('b'));
    client.take('a').resolve({ type: 'PUT', applied: true, version: 3, previous: 0 });
    client.take('c').reject(full('c'));
    const error = await write.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuorumNotMetError);
    expect((error as Error).message).toBe(
      'write quorum not met: needed 2 replica answers, received 1 of 3 contacted; node b: no room for new key "k"',
    );
    expect((error as QuorumNotMetError).details).toMatchObject({ needed: 2, received: 1, contacted: 3 });

    const one = quorum.writeIfNewer('k', rec(4), [nodes[0]!], 1);
    client.take('a').reject(full('a'));
    expect(((await one.catch((e: unknown) => e)) as Error).message).toBe(
      'write quorum not met: needed 1 replica answers, received 0 of 1 contacted; node a: no room for new key "k"',
    );
    // A full replica answers, and serves reads: it is not suspected of being down.
    expect(outcomes.sort()).toEqual(['a:true:-', 'a:true:-', 'b:true:-', 'c:true:-']);
  });

  it('names the right stragglers when the preferred replica is asked first', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings({ preferNodeId: 'c' }));
    const write = quorum.writeWithQuorum('k', rec(3), nodes, 2);
    expect(client.pending.map((p) => p.nodeId)).toEqual(['c', 'a', 'b']);
    client.take('c').resolve({ type: 'PUT', applied: true, version: 3, previous: 0 });
    client.take('b').resolve({ type: 'PUT', applied: true, version: 3, previous: 0 });
    const result = await write;
    expect(result.stragglers.map((s) => s.node.id)).toEqual(['a']);
    client.take('a').resolve({ type: 'PUT', applied: true, version: 3, previous: 0 });
  });

  it('counts a stand-in that kept a HINT toward W (sloppy quorum), and never makes it a straggler', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings(), { isAvailable: (id) => id !== 'b' && id !== 'c' });
    const write = quorum.writeWithQuorum(
      'k',
      rec(3),
      [...nodes, node('d'), node('e')],
      2,
      new Map([
        ['d', 'b'],
        ['e', 'c'],
      ]),
    );
    const hint = client.take('d', 'HINT');
    expect(hint.request).toMatchObject({ type: 'HINT', key: 'k', target: 'b' });
    hint.resolve({ type: 'HINT', accepted: true });
    client.take('a', 'PUT').resolve({ type: 'PUT', applied: true, version: 3, previous: 0 });
    const result = await write;
    expect(result.acknowledged.map((n) => n.id).sort()).toEqual(['a', 'd']);
    expect(result.stragglers.map((s) => s.node.id)).toEqual(['b', 'c']);
    client.take('e', 'HINT').resolve({ type: 'HINT', accepted: false });
  });

  it('does not count a stand-in that refused the hint', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings(), { isAvailable: (id) => id !== 'b' && id !== 'c' });
    const write = quorum.writeWithQuorum('k', rec(3), [...nodes, node('d')], 2, new Map([['d', 'b']]));
    client.take('d', 'HINT').resolve({ type: 'HINT', accepted: false });
    client.take('a', 'PUT').resolve({ type: 'PUT', applied: true, version: 3, previous: 0 });
    await expect(write).rejects.toBeInstanceOf(QuorumNotMetError);
  });

  it('reports how many acknowledged when W is not reached', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings(), { isAvailable: (id) => id === 'a' });
    const write = quorum.writeWithQuorum('k', rec(3), nodes, 2);
    const error = await write.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuorumNotMetError);
    expect((error as QuorumNotMetError).details).toMatchObject({ needed: 2, received: 0, contacted: 1 });
    client.take('a').resolve({ type: 'PUT', applied: true, version: 3, previous: 0 });
  });
});

describe('QuorumManager.readVersionWithQuorum', () => {
  it('returns the highest version metadata among the quorum', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const read = quorum.readVersionWithQuorum('k', nodes, 2);
    client.take('b').resolve({ type: 'HEAD', meta: { version: 4, writerId: 'w', createdAt: 1, expiresAt: null, tombstone: true } });
    client.take('a').resolve({ type: 'HEAD', meta: null });
    expect(await read).toMatchObject({ version: 4, tombstone: true });
  });
});

describe('QuorumManager with readFanout quorum', () => {
  /** A scheduler whose timers the test fires by hand. */
  function manualScheduler() {
    const timers: Array<{ run: () => void; cancelled: boolean }> = [];
    return {
      timers,
      after(_delayMs: number, run: () => void) {
        const timer = { run, cancelled: false };
        timers.push(timer);
        return { cancel: () => (timer.cancelled = true) };
      },
      every() {
        return { cancel() {} };
      },
      fire() {
        const live = timers.splice(0).filter((t) => !t.cancelled);
        for (const timer of live) timer.run();
      },
    };
  }

  it('asks only R replicas, and a spare at once when one of them fails', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings({ readFanout: 'quorum' }));
    const read = quorum.readWithQuorum('k', nodes, 2);
    expect(client.pending.map((p) => p.nodeId)).toEqual(['a', 'b']);
    client.take('a').reject(new NodeUnavailableError('a', 'unreachable', 'refused'));
    await flush();
    expect(client.pending.map((p) => p.nodeId)).toEqual(['b', 'c']);
    // The replica asked for the value failed: the newest version came as a digest, so its value is fetched.
    expect(client.answerRead('b', rec(2))).toBe('HEAD');
    expect(client.answerRead('c', rec(3))).toBe('HEAD');
    await flush();
    expect(client.answerRead('c', rec(3))).toBe('GET');
    expect((await read).record?.version).toBe(3);
    expect(quorum.stats.digestFetches).toBe(1);
  });

  it('asks the preferred replica (its own, in-process) first when it is one of the targets', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings({ readFanout: 'quorum', preferNodeId: 'c' }));
    const read = quorum.readWithQuorum('k', nodes, 2);
    expect(client.pending.map((p) => p.nodeId)).toEqual(['c', 'a']);
    client.answerRead('c', rec(2));
    client.answerRead('a', rec(1));
    expect((await read).record?.version).toBe(2);
    const elsewhere = new QuorumManager(client, settings({ readFanout: 'quorum', preferNodeId: 'z' }));
    const other = elsewhere.readWithQuorum('k', nodes, 2);
    expect(client.pending.map((p) => p.nodeId)).toEqual(['a', 'b']);
    client.answerRead('a', rec(1));
    client.answerRead('b', rec(1));
    expect((await other).answered).toBe(2);
  });

  it('hedges to the next replica when the first ones are slow, and never asks past the quorum', async () => {
    const client = new ScriptedClient();
    const scheduler = manualScheduler();
    const quorum = new QuorumManager(client, settings({ readFanout: 'quorum' }), { scheduler, clock: { now: () => 0 } });
    const read = quorum.readWithQuorum('k', nodes, 2);
    client.answerRead('a', rec(1));
    await flush();
    expect(client.pending.map((p) => p.nodeId)).toEqual(['b']);
    scheduler.fire();
    expect(client.pending.map((p) => p.nodeId)).toEqual(['b', 'c']);
    expect(quorum.stats.hedgedReads).toBe(1);
    client.answerRead('c', rec(1));
    expect((await read).answered).toBe(2);
    client.answerRead('b', rec(1));
    await flush();
    expect(client.pending).toHaveLength(0);
  });

  it('does not hedge once the quorum answered, and ends unasked replicas as not contacted', async () => {
    const client = new ScriptedClient();
    const scheduler = manualScheduler();
    const quorum = new QuorumManager(client, settings({ readFanout: 'quorum' }), { scheduler, clock: { now: () => 0 } });
    const read = quorum.readWithQuorum('k', nodes, 1);
    client.answerRead('a', rec(1));
    await read;
    scheduler.fire();
    expect(client.pending).toHaveLength(0);
    expect(quorum.stats.hedgedReads).toBe(0);
  });
});

describe('QuorumManager.writeIfNewer', () => {
  it('acknowledges once W replicas applied the record', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const write = quorum.writeIfNewer('k', rec(5), nodes, 2);
    client.take('a').resolve({ type: 'PUT', applied: true, version: 5, previous: 0 });
    client.take('c').resolve({ type: 'PUT', applied: true, version: 5, previous: 0 });
    const result = await write;
    expect('acknowledged' in result && result.acknowledged.map((n) => n.id)).toEqual(['a', 'c']);
    client.take('b').resolve({ type: 'PUT', applied: false, version: 9, previous: 9 });
  });

  it('reports the newest version held when conflicts leave fewer than W able to apply, without counting a failure or blaming the node', async () => {
    const client = new ScriptedClient();
    const outcomes: string[] = [];
    const quorum = new QuorumManager(client, settings(), { onReplicaOutcome: (id, ok) => outcomes.push(`${id}:${ok}`) });
    const write = quorum.writeIfNewer('k', rec(5), nodes, 2);
    client.take('a').resolve({ type: 'PUT', applied: false, version: 7, previous: 7 });
    client.take('b').resolve({ type: 'PUT', applied: false, version: 9, previous: 9 });
    expect(await write).toEqual({ conflictVersion: 9 });
    expect(quorum.stats.quorumFailures.write).toBe(0);
    expect(outcomes).toEqual(['a:true', 'b:true']);
    client.take('c').resolve({ type: 'PUT', applied: true, version: 5, previous: 0 });
  });

  it('does not count a write that applied only by winning a tie of version numbers on the writer id', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const write = quorum.writeIfNewer('k', rec(5), nodes, 2);
    // a and b held version 5 from another writer with a lower id: the record applies there, but is not above it.
    client.take('a').resolve({ type: 'PUT', applied: true, version: 5, previous: 5 });
    client.take('b').resolve({ type: 'PUT', applied: true, version: 5, previous: 5 });
    expect(await write).toEqual({ conflictVersion: 5 });
    client.take('c').resolve({ type: 'PUT', applied: true, version: 5, previous: 3 });
  });

  it('does not count a replica catching up after losing its data (previousUnknown), yet reports it healthy and delivered', async () => {
    const client = new ScriptedClient();
    const outcomes: string[] = [];
    const quorum = new QuorumManager(client, settings(), { onReplicaOutcome: (id, ok) => outcomes.push(`${id}:${ok}`) });
    const write = quorum.writeIfNewer('k', rec(5), nodes, 2);
    client.take('b').resolve({ type: 'PUT', applied: true, version: 5, previous: 0, previousUnknown: true });
    client.take('c').resolve({ type: 'PUT', applied: true, version: 5, previous: 0 });
    await flush();
    client.take('a').resolve({ type: 'PUT', applied: true, version: 5, previous: 3 });
    const result = await write;
    if (!('acknowledged' in result)) throw new Error('expected an acknowledged write');
    expect(result.acknowledged.map((n) => n.id)).toEqual(['c', 'a']);
    expect(await Promise.all(result.stragglers.map(async (s) => `${s.node.id}:${await s.delivered}`))).toEqual(['b:true']);
    expect(outcomes).toEqual(['b:true', 'c:true', 'a:true']);
  });

  it('turns a conflict beside an unvouched replica into a retry above the newer version (the lost-write interleaving)', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const write = quorum.writeIfNewer('k', rec(5), nodes, 2);
    // a holds X (version 9); b restarted empty; c missed X.
    client.take('a').resolve({ type: 'PUT', applied: false, version: 9, previous: 9 });
    client.take('b').resolve({ type: 'PUT', applied: true, version: 5, previous: 0, previousUnknown: true });
    client.take('c').resolve({ type: 'PUT', applied: true, version: 5, previous: 0 });
    expect(await write).toEqual({ conflictVersion: 9 });
  });

  it('fails with QUORUM_NOT_MET saying why when too few replicas can vouch, and counts a pending replica that cannot', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const write = quorum.writeIfNewer('k', rec(5), nodes, 2);
    client.take('c').resolve({ type: 'PUT', applied: true, version: 5, previous: 0 });
    await flush();
    client.take('a').reject(new NodeUnavailableError('a', 'unreachable', 'refused'));
    client.take('b').resolve({ type: 'PUT', applied: true, version: 5, previous: 0, previousUnknown: true });
    const error = await write.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuorumNotMetError);
    expect((error as Error).message).toMatch(
      /needed 2 replica answers, received 1 of 3 contacted; 1 more applied it but are catching up after losing their data/,
    );

    const pendingWrite = quorum.writeIfNewer('k', rec(6), nodes, 2, (n) => n.id === 'b');
    client.take('a').reject(new NodeUnavailableError('a', 'unreachable', 'refused'));
    client.take('b').resolve({ type: 'PUT', applied: true, version: 6, previous: 0, previousUnknown: true });
    client.take('c').resolve({ type: 'PUT', applied: true, version: 6, previous: 5 });
    const result = await pendingWrite;
    expect('acknowledged' in result && result.acknowledged.map((n) => n.id)).toEqual(['b', 'c']);
  });

  it('still fails with QUORUM_NOT_MET when replicas are unreachable and none conflicted', async () => {
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings());
    const write = quorum.writeIfNewer('k', rec(5), nodes, 2);
    client.take('a').reject(new NodeUnavailableError('a', 'timeout', 'slow'));
    client.take('b').reject(new NodeUnavailableError('b', 'timeout', 'slow'));
    await expect(write).rejects.toBeInstanceOf(QuorumNotMetError);
    client.take('c').resolve({ type: 'PUT', applied: true, version: 5, previous: 0 });
  });
});

describe('QuorumManager.writeIfNewer, one replica and W = 1', () => {
  // The one-node cluster's path: it must decide, count and report as the fan-out does for one replica.
  const one = [nodes[0]!];
  const outcomesOf = () => {
    const outcomes: string[] = [];
    const client = new ScriptedClient();
    const quorum = new QuorumManager(client, settings(), {
      onReplicaOutcome: (id, ok, error) => outcomes.push(`${id}:${ok}:${error === undefined ? '-' : 'error'}`),
    });
    return { outcomes, client, quorum };
  };

  it('acknowledges a record applied over a lower version, with no straggler', async () => {
    const { outcomes, client, quorum } = outcomesOf();
    const write = quorum.writeIfNewer('k', rec(5), one, 1);
    client.take('a').resolve({ type: 'PUT', applied: true, version: 5, previous: 3 });
    const result = await write;
    expect('acknowledged' in result && result.acknowledged.map((n) => n.id)).toEqual(['a']);
    expect('stragglers' in result && result.stragglers).toEqual([]);
    expect(outcomes).toEqual(['a:true:-']);
  });

  it('resolves with the version held on a conflict or a tie won on the writer id, blaming no node', async () => {
    const { outcomes, client, quorum } = outcomesOf();
    const newer = quorum.writeIfNewer('k', rec(5), one, 1);
    client.take('a').resolve({ type: 'PUT', applied: false, version: 9, previous: 9 });
    expect(await newer).toEqual({ conflictVersion: 9 });
    const tie = quorum.writeIfNewer('k', rec(5), one, 1);
    client.take('a').resolve({ type: 'PUT', applied: true, version: 5, previous: 5 });
    expect(await tie).toEqual({ conflictVersion: 5 });
    expect(outcomes).toEqual(['a:true:-', 'a:true:-']);
    expect(quorum.stats.quorumFailures.write).toBe(0);
  });

  it('fails an unvouched answer with QUORUM_NOT_MET saying why, unless the caller counts it', async () => {
    const { outcomes, client, quorum } = outcomesOf();
    const write = quorum.writeIfNewer('k', rec(5), one, 1);
    client.take('a').resolve({ type: 'PUT', applied: true, version: 5, previous: 0, previousUnknown: true });
    const error = await write.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuorumNotMetError);
    expect((error as Error).message).toBe(
      'write quorum not met: needed 1 replica answers, received 0 of 1 contacted; 1 more applied it but are catching up after losing their data, so they cannot vouch that they held nothing newer',
    );
    const counted = quorum.writeIfNewer('k', rec(6), one, 1, () => true);
    client.take('a').resolve({ type: 'PUT', applied: true, version: 6, previous: 0, previousUnknown: true });
    expect('acknowledged' in (await counted)).toBe(true);
    expect(outcomes).toEqual(['a:true:-', 'a:true:-']);
    expect(quorum.stats.quorumFailures.write).toBe(1);
  });

  it('fails with QUORUM_NOT_MET when the replica fails or is known down, and with the refusal of a version too far ahead', async () => {
    const { outcomes, client, quorum } = outcomesOf();
    const failed = quorum.writeIfNewer('k', rec(5), one, 1);
    client.take('a').reject(new NodeUnavailableError('a', 'timeout', 'slow'));
    const error = await failed.catch((e: unknown) => e);
    expect((error as QuorumNotMetError).details).toMatchObject({ needed: 1, received: 0, contacted: 1 });
    const refused = quorum.writeIfNewer('k', rec(5), one, 1);
    client.take('a').reject(new DkvError('INTERNAL', 'VERSION_TOO_FAR_AHEAD: node a refused version 5'));
    const refusal = await refused.catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(VersionTooFarAheadError);
    expect((refusal as Error).message).toContain('node a refused version 5');
    expect(outcomes).toEqual(['a:false:error', 'a:false:error']);
    expect(quorum.stats.quorumFailures.write).toBe(1);

    const down = new QuorumManager(client, settings(), { isAvailable: () => false });
    const unasked = await down.writeIfNewer('k', rec(5), one, 1).catch((e: unknown) => e);
    expect((unasked as QuorumNotMetError).details).toMatchObject({ needed: 1, received: 0, contacted: 0 });
    expect(down.stats.quorumFailures.write).toBe(1);
    expect(client.pending).toHaveLength(0);
  });
});
