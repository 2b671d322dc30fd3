// Goal: an acknowledged write is never lost when a replica restarts empty while a coordinator's
// clock is a minute behind (issue 10, finding 1). The optimistic write path counts a replica only
// where it applied over a lower version; a replica that lost its data answers "nothing here"
// (previous 0) for every key, so it must not count as proof that no newer write exists.
// Method: an elastic SimCluster (N=3, W=2) with coordinator c2 60 s behind c1 replays the exact
// interleaving: c1 writes X, acknowledged by A and B while C is cut off from c1; B restarts empty;
// a client writes Y through c2 (whose clock issues a lower version) while B is still catching up;
// once everything heals and B has caught up, reads at R=3 through both coordinators go into the
// history, and the testkit's history checker judges it. Before the fix Y was acknowledged at a
// version below X and X came back on top (a lost write); after it, Y is ordered above X.
// The seed is printed; DKV_SEED=<n> replays the run.
import { describe, expect, it } from 'vitest';
import { checkHistory, HistoryRecorder, recordingStore, seedForTest } from '@dkv/testkit';
import { SimCluster } from './sim-cluster.js';

const SKEW_MS = 60_000;
const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString() : undefined);

describe('an empty restart while a coordinator is a minute behind', () => {
  it('loses no acknowledged write: a replica catching up does not vouch for "nothing newer here"', async () => {
    const sim = new SimCluster({
      seed: seedForTest(),
      storageNodes: 3,
      coordinators: 2,
      coordinatorSkewMs: [0, -SKEW_MS],
      elastic: { vnodes: 16 },
    });
    await sim.runUntil(() => sim.settled() && sim.service(0).isReady() && sim.service(1).isReady());
    // Heartbeats have spread, so the restarted process learns from its first exchange that it is a restart.
    await sim.runFor(2000);
    const recorder = new HistoryRecorder();
    const now = () => sim.scheduler.now();
    const k1 = recordingStore(sim.service(0), recorder, 'k1', now);
    const k2 = recordingStore(sim.service(1), recorder, 'k2', now);
    const key = 'session:lost';
    const [a, b, c] = sim.preferenceList(key);
    expect([a, b, c].every((id) => id !== undefined)).toBe(true);

    // X through K1, acknowledged by A and B; C misses it (cut off from K1 only, so K1 keeps a hint).
    sim.network.partition([c!], ['c1']);
    const x = await sim.run(k1.put(key, Buffer.from('X')));
    expect(sim.storageNode(a!).engine.get(key)?.version).toBe(x.version);
    expect(sim.storageNode(b!).engine.get(key)?.version).toBe(x.version);
    expect(sim.storageNode(c!).engine.get(key)).toBeNull();

    // B restarts without its data and is catching up; Y goes through K2, whose clock is behind.
    sim.restartEmpty(b!);
    await sim.runFor(5);
    const probe = sim.network.clientFor('probe');
    const readOfB = await sim
      .run(probe.send(sim.storageNode(b!).node, { type: 'GET', key }, { timeoutMs: 100 }))
      .catch((error: unknown) => error);
    expect(String(readOfB)).toMatch(/catching up/);
    const y = await sim.run(k2.put(key, Buffer.from('Y'))).catch((error: unknown) => error);

    // Everything heals: K1's hint reaches C, B catches up by range sync.
    sim.network.heal();
    await sim.runUntil(() => sim.settled() && sim.storageNode(b!).sync?.hasCompleteData() === true, { maxVirtualMs: 120_000 });
    await sim.runFor(5000);
    const read1 = await sim.run(k1.get(key, { r: 3 }));
    const read2 = await sim.run(k2.get(key, { r: 3 }));

    const verdict = checkHistory(recorder.history(now()), { expiryToleranceMs: SKEW_MS + 1000 });
    const lost = verdict.anomalies.map((anomaly) => `${anomaly.kind}: ${anomaly.message}`);
    expect(lost).toEqual([]);
    // Y was acknowledged (the cluster could order it above X), and it is what every replica holds.
    expect(y).toMatchObject({ key });
    expect(text(read1?.value)).toBe('Y');
    expect(text(read2?.value)).toBe('Y');
    for (const replica of sim.replicasOf(key)) if (replica.record) expect(text(replica.record.value)).toBe('Y');
    sim.stop();
  });
});
