// Goal: a durable storage node stopped for longer than half the tombstone grace and started again
// on its data directory knows that it was away (issue 10, finding 3): it does not serve the values
// it held, it wipes them and catches up from the others, as a node paused that long does. Before
// its last-contact time was kept in the data directory, a restarted node counted itself in
// contact and served a value the others no longer had (one whose delete they may have purged).
// Method: three nodes of one cluster (--members) in this process, each with --data-dir, a 4 s
// grace (so 2 s away is too long) and anti-entropy off; a value is written to n3 alone (standing
// for one whose tombstone the others purged), another to all three; n3 is stopped for 4 s and
// started again on its directory; once it answers reads again, it must not hold the first value.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_VNODES } from '@dkv/hashing';
import { LOGICAL_BITS, VERSION_EPOCH_MS, type Node, type VersionedValue } from '@dkv/core';
import { LAST_CONTACT_FILE } from '@dkv/runtime';
import { freePort } from '@dkv/testkit';
import { TcpNodeClient } from '@dkv/transport';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from './config.js';
import { startNode, type RunningNode } from './node.composition.js';

const GRACE_MS = 4000;
const dataDir = mkdtempSync(join(tmpdir(), 'dkv-node-isolation-'));
const client = new TcpNodeClient({ connectionsPerNode: 1 });
const running: RunningNode[] = [];
afterAll(async () => {
  for (const node of running) await node.close().catch(() => undefined);
  await client.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const record = (value: string): VersionedValue => ({
  value: Buffer.from(value),
  version: (Date.now() - VERSION_EPOCH_MS) * 2 ** LOGICAL_BITS,
  writerId: 'c1',
  createdAt: Date.now(),
  updatedAt: Date.now(),
  expiresAt: null,
  tombstone: false,
});
const target = (id: string, address: string): Node => ({
  id,
  address,
  role: 'storage',
  status: 'up',
  vnodes: DEFAULT_VNODES,
  metadata: {},
});

/** Polls `probe` until it returns a value that is not undefined; throws after `timeoutMs`. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await probe().catch(() => undefined);
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The value `id` answers for `key` (null when it holds none), or undefined while it refuses reads. */
async function readOn(node: Node, key: string): Promise<string | null | undefined> {
  const answer = await client.send(node, { type: 'GET', key }, { timeoutMs: 2000 });
  if (answer.type !== 'GET') return undefined;
  return answer.record === null || answer.record.tombstone ? null : Buffer.from(answer.record.value).toString();
}

describe('a durable node stopped longer than the grace allows', () => {
  it('does not serve, after its restart, a value that only it held: it wipes and catches up', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const members = ports.map((port, i) => `n${i + 1}=127.0.0.1:${port}`).join(',');
    const start = (i: number) =>
      startNode(
        parseNodeConfig(
          {
            id: `n${i + 1}`,
            port: String(ports[i]),
            members,
            dataDir,
            logLevel: 'silent',
            tombstoneGraceMs: String(GRACE_MS),
            antiEntropyIntervalMs: '0',
            gossipIntervalMs: '100',
          },
          {},
        ),
      );
    for (let i = 0; i < 3; i += 1) running.push(await start(i));
    const nodes = running.map((node, i) => target(`n${i + 1}`, node.address));
    await until('every node serving reads', async () =>
      (await Promise.all(nodes.map((node) => readOn(node, 'none')))).every((value) => value === null) ? true : undefined,
    );

    expect(await client.send(nodes[2]!, { type: 'PUT', key: 'only-on-n3', record: record('stale') }, { timeoutMs: 5000 })).toMatchObject({
      applied: true,
    });
    for (const node of nodes)
      expect(await client.send(node, { type: 'PUT', key: 'everywhere', record: record('kept') }, { timeoutMs: 5000 })).toMatchObject({
        applied: true,
      });

    await running[2]!.close();
    expect(existsSync(join(dataDir, 'n3', LAST_CONTACT_FILE))).toBe(true);
    // Away for twice the time a node may be away (half the grace); this wait is the fault itself.
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS));
    running[2] = await start(2);
    const n3 = target('n3', running[2].address);

    const kept = await until('n3 serving reads again', () => readOn(n3, 'everywhere').then((value) => value ?? undefined));
    expect(kept).toBe('kept');
    expect(await readOn(n3, 'only-on-n3')).toBeNull();
  }, 60_000);
});
