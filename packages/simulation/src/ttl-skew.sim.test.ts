// Goal: a TTL lasts what the client asked, within the stated bound, even through a coordinator
// whose clock is five minutes off: the coordinator measures its clock's offset from the replicas'
// (TIME requests, NTP's midpoint of the round trip), reports it per node in `/v1/cluster`, and
// fixes expiry times by the cluster's clock; a coordinator beyond the tolerated offset refuses
// writes and is not ready, saying why (issue 10, finding 6).
// Method: seeded simulations of 3 storage nodes and one coordinator on virtual clocks, the
// coordinator 5 minutes behind (or ahead); a 60 s TTL is written, read back and scanned for
// through the same coordinator, and checked against the replicas' clocks. Each test prints its seed; DKV_SEED=<n>
// replays it.
import { seedForTest } from '@dkv/testkit';
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim-cluster.js';

const FIVE_MINUTES_MS = 5 * 60_000;
/** The bound README states for this set-up: the replicas' clocks agree, the round trip is a few ms. */
const BOUND_MS = 1000;

async function ttlLifetime(skewMs: number, seed: number) {
  const sim = new SimCluster({ seed, storageNodes: 3, coordinators: 1, coordinatorSkewMs: [skewMs] });
  const service = sim.service();
  // A few heartbeat rounds: the coordinator has measured the replicas' clocks.
  await sim.runFor(3000);
  const offsets = service.cluster().nodes.map((node) => node.clockOffsetMs);
  const written = await sim.run(service.put('session', Buffer.from('alive'), 60));
  const writtenAt = sim.scheduler.now();
  const replicaNow = sim.storageNode('n1').clock.now();
  // Readable for the whole minute, gone after it: probe every 500 ms.
  let lastSeenMs = -1;
  let lastScannedMs = -1;
  for (let elapsed = 0; elapsed <= 65_000; elapsed += 500) {
    const read = await sim.run(service.get('session'));
    if (read !== null) lastSeenMs = sim.scheduler.now() - writtenAt;
    // A key scan (SCAN, GET /v1/kv) judges expiry by the same clock as reads.
    const page = await sim.run(service.scanKeys(null, { count: 10 }));
    if (page.keys.includes('session')) lastScannedMs = sim.scheduler.now() - writtenAt;
    await sim.runFor(500);
  }
  sim.stop();
  return { offsets, expiresInMs: (written.expiresAt ?? 0) - replicaNow, lastSeenMs, lastScannedMs };
}

describe('TTLs through a coordinator whose clock is off', () => {
  it('a coordinator 5 minutes behind writes a 60 s TTL that is readable for about 60 s, and reports the offset per node', async () => {
    const seed = seedForTest();
    const { offsets, expiresInMs, lastSeenMs, lastScannedMs } = await ttlLifetime(-FIVE_MINUTES_MS, seed);
    console.log(
      `ttl skew -5 min (seed ${seed}): offsets ${JSON.stringify(offsets)}, expires in ${expiresInMs} ms by the replicas' clock, last read ${lastSeenMs} ms after the write`,
    );
    expect(lastSeenMs).toBeGreaterThanOrEqual(60_000 - BOUND_MS);
    expect(lastSeenMs).toBeLessThan(60_000 + BOUND_MS);
    expect(Math.abs(lastScannedMs - lastSeenMs)).toBeLessThan(BOUND_MS);
    expect(Math.abs(expiresInMs - 60_000)).toBeLessThan(BOUND_MS);
    for (const offset of offsets) expect(Math.abs((offset ?? 0) - FIVE_MINUTES_MS)).toBeLessThan(BOUND_MS);
  });

  it('a coordinator 5 minutes ahead writes a 60 s TTL that expires after about 60 s, not 5 minutes', async () => {
    const seed = seedForTest();
    const { expiresInMs, lastSeenMs, lastScannedMs } = await ttlLifetime(FIVE_MINUTES_MS, seed);
    expect(Math.abs(expiresInMs - 60_000)).toBeLessThan(BOUND_MS);
    expect(lastSeenMs).toBeLessThan(60_000 + BOUND_MS);
    expect(Math.abs(lastScannedMs - lastSeenMs)).toBeLessThan(BOUND_MS);
  });

  it('a coordinator beyond the tolerated offset refuses writes with CLOCK_OFFSET_TOO_LARGE and is not ready', async () => {
    const seed = seedForTest();
    const sim = new SimCluster({
      seed,
      storageNodes: 3,
      coordinators: 1,
      coordinatorSkewMs: [-FIVE_MINUTES_MS],
      coordinator: { maxClockOffsetMs: 60_000 },
    });
    const service = sim.service();
    await sim.runFor(3000);
    expect(service.isReady()).toBe(false);
    expect(service.cluster().clockProblem).toMatch(/behind the storage nodes' by about 300\d{3} ms; at most 60000 ms/);
    await expect(sim.run(service.put('k', Buffer.from('v'), 60))).rejects.toMatchObject({ code: 'CLOCK_OFFSET_TOO_LARGE' });
    expect(service.metrics().clockOffsetMs).toBeLessThan(-FIVE_MINUTES_MS + BOUND_MS);
    sim.stop();
  });
});
