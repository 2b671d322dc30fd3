// Goal: the admin commands of issue #14 against a real cluster, as an operator runs them: their
// text output and --json schemas, progress lines, and exit codes (0 success, 1 refused, 2 usage,
// 3 unreachable); a repair that finds divergence planted behind the coordinator's back and leaves
// every replica agreeing; hints owed to a killed node; a vnodes change; a decommission of a live node and a removenode of a
// SIGKILLed one that complete with every acknowledged key still readable.
// Method: `dkv cluster up --nodes 5 --port 0` from the built CLI with small rings and periodic
// anti-entropy off (so only the operator's repair can fix the planted records); every command is
// the real `dkv` binary run as a child process; divergence is planted by sending internode PUTs
// to single replicas over the binary protocol; every wait has a deadline; afterAll kills every
// process this file started, by pid.
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { KeyEndpoints } from '@dkv/coordination';
import type { Node, VersionedValue } from '@dkv/core';
import { TcpNodeClient } from '@dkv/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses, freePort } from './e2e-support.js';

const DEADLINE_MS = 60_000;
const CLI = fileURLToPath(new URL('../bin/dkv.js', import.meta.url));
const ENV = { ...process.env, DKV_VNODES: '16', DKV_SYNC_SETTLE_DELAY_MS: '300', DKV_ANTI_ENTROPY_INTERVAL_MS: '0', DKV_LOG_LEVEL: 'warn' };
const cli = new CliProcesses(ENV, DEADLINE_MS);
const internode = new TcpNodeClient({ connectionsPerNode: 1 });
let url = '';
const acknowledged = new Map<string, string>();

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `dkv <args>` to its end (bounded), with `DKV_URL` naming the cluster unless `--url` is given. */
function dkv(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...ENV, DKV_URL: url, ...env }, timeout: DEADLINE_MS }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

interface ClusterView {
  readonly nodes: ReadonlyArray<{ id: string; status: string; vnodes: number }>;
  readonly rebalancing?: boolean;
}

async function cluster(): Promise<ClusterView> {
  return (await (await fetch(`${url}/v1/cluster`, { signal: AbortSignal.timeout(5000) })).json()) as ClusterView;
}

async function settled(ids: readonly string[]): Promise<ClusterView | undefined> {
  const view = await cluster();
  const now = view.nodes.map((n) => `${n.id}:${n.status}`).sort();
  return !view.rebalancing && JSON.stringify(now) === JSON.stringify(ids.map((id) => `${id}:up`).sort()) ? view : undefined;
}

async function readAll(): Promise<string[]> {
  const wrong: string[] = [];
  for (const [key, value] of acknowledged) {
    const res = await fetch(`${url}/v1/kv/${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    if (res.status !== 200 || text !== value) wrong.push(`${key} -> ${res.status} ${text.slice(0, 40)}`);
  }
  return wrong;
}

/** Gossip's failure detector default: a node silent this long is down (suspect from 2 s). */
const GOSSIP_DOWN_AFTER_MS = 5000;

/** The statuses `/v1/cluster` shows for `id` until `untilMs` (polled every 200 ms), repeats collapsed. */
async function statusesUntil(id: string, untilMs: number): Promise<string[]> {
  const shown: string[] = [];
  while (Date.now() < untilMs) {
    const status = (await cluster()).nodes.find((n) => n.id === id)?.status ?? 'absent';
    if (shown.at(-1) !== status) shown.push(status);
    await sleep(200);
  }
  return shown;
}

function nodeOf(id: string): Node {
  return { id, address: cli.announced.get(id)!.address, role: 'storage', status: 'up', vnodes: 16, metadata: {} };
}

/** The key's replicas, read over HTTP (the CLI's rendering of the same answer is checked once, below). */
async function endpoints(key: string): Promise<KeyEndpoints> {
  const res = await fetch(`${url}/v1/cluster/endpoints/${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(200);
  return (await res.json()) as KeyEndpoints;
}

beforeAll(async () => {
  url = await cli.readyUrl(cli.start(['cluster', 'up', '--nodes', '5', '--port', '0']));
  for (let i = 0; i < 60; i += 1) {
    const res = await fetch(`${url}/v1/kv/session%3A${i}`, { method: 'PUT', body: `value-${i}`, signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
    acknowledged.set(`session:${i}`, `value-${i}`);
  }
}, DEADLINE_MS);

afterAll(async () => {
  await internode.close();
  await cli.stopAll();
});

describe('dkv admin commands against a real cluster', () => {
  it(
    'getendpoints, hints, status and ring answer in text and in their --json schemas',
    async () => {
      // Independent commands run side by side: each CLI start is slow on a loaded machine.
      const [text, jsonRun, hints, hintsText, status, ring] = await Promise.all([
        dkv(['getendpoints', 'session:1']),
        dkv(['getendpoints', 'session:1', '--json']),
        dkv(['hints', '--json']),
        dkv(['hints']),
        dkv(['status'], { DKV_JSON: '1' }),
        dkv(['ring', '--json']),
      ]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^key "session:1" hash \d+\n# +ID +ADDRESS +ZONE +STATUS\n1 +n\d /);
      expect(jsonRun.code).toBe(0);
      const json = JSON.parse(jsonRun.stdout) as KeyEndpoints;
      expect(json).toEqual(await endpoints('session:1'));
      expect(Object.keys(json).sort()).toEqual(['hash', 'key', 'pending', 'replicas']);
      expect(json.replicas).toHaveLength(3);
      expect(new Set(json.replicas.map((r) => r.id)).size).toBe(3);
      for (const replica of json.replicas) expect(Object.keys(replica).sort()).toEqual(['address', 'id', 'status', 'zone']);

      expect(hints.code).toBe(0);
      const parsed = JSON.parse(hints.stdout) as { hints: unknown[]; total: { count: number; bytes: number } };
      expect(Array.isArray(parsed.hints)).toBe(true);
      expect(Object.keys(parsed.total).sort()).toEqual(['bytes', 'count']);
      expect(hintsText.stdout).toMatch(/^(no hinted writes pending|TARGET +HINTS +BYTES +OLDEST)\n/);

      expect((JSON.parse(status.stdout) as ClusterView).nodes).toHaveLength(5);
      expect(
        (JSON.parse(ring.stdout) as { nodes: Array<{ id: string; ringShare: number; keys: number; bytes: number }> }).nodes
          .map((n) => n.id)
          .sort(),
      ).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    },
    DEADLINE_MS,
  );

  it(
    'exits 3 for an unreachable coordinator, 1 for a refused request, 2 for bad usage',
    async () => {
      const nowhere = `http://127.0.0.1:${await freePort()}`;
      const [status, repair, unknown, repairUnknown, live, badKey, usage] = await Promise.all([
        dkv(['status', '--url', nowhere]),
        dkv(['repair', '--url', nowhere]),
        dkv(['decommission', 'n99']),
        dkv(['repair', '--node', 'n99']),
        dkv(['removenode', 'n3']),
        dkv(['getendpoints', 'x'.repeat(600)]),
        dkv(['vnodes', 'n1', 'many']),
      ]);
      for (const [name, ran] of [
        ['status', status],
        ['repair', repair],
      ] as const) {
        expect(ran.code, name).toBe(3);
        expect(ran.stderr).toContain(`dkv ${name}: ${nowhere}: cannot reach the coordinator`);
      }
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('node n99 is not in the cluster');
      expect(repairUnknown.code).toBe(1);
      expect(repairUnknown.stderr).toContain('refused (404 NOT_FOUND): node n99 is not on the ring');
      expect(live.code).toBe(1);
      expect(live.stderr).toContain('dkv decommission n3');
      expect(badKey.code).toBe(1);
      expect(badKey.stderr).toContain('INVALID_KEY');
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain('must be a whole number from 1 to 65536');
      expect((await cluster()).nodes.find((n) => n.id === 'n1')?.vnodes).toBe(16);
    },
    DEADLINE_MS,
  );

  it(
    'repair finds divergence planted on single replicas, reports it with progress, and leaves every replica agreeing',
    async () => {
      const newer = await endpoints('session:7');
      const first = nodeOf(newer.replicas[0]!.id);
      const held = await internode.send(first, { type: 'GET', key: 'session:7' }, { timeoutMs: 5000 });
      const base = held.record!;
      const planted: VersionedValue = { ...base, value: Buffer.from('planted-newer'), version: base.version + 1, writerId: 'planted' };
      expect((await internode.send(first, { type: 'PUT', key: 'session:7', record: planted }, { timeoutMs: 5000 })).applied).toBe(true);
      const lonely = await endpoints('planted:only-one');
      const now = Date.now();
      const alone: VersionedValue = {
        value: Buffer.from('only-on-one'),
        version: base.version + 2,
        writerId: 'planted',
        createdAt: now,
        updatedAt: now,
        expiresAt: null,
        tombstone: false,
      };
      expect(
        (await internode.send(nodeOf(lonely.replicas[1]!.id), { type: 'PUT', key: 'planted:only-one', record: alone }, { timeoutMs: 5000 }))
          .applied,
      ).toBe(true);

      // The divergence is there: another replica still holds the old session:7, and the first
      // replica of planted:only-one holds nothing.
      const stale = await internode.send(nodeOf(newer.replicas[1]!.id), { type: 'GET', key: 'session:7' }, { timeoutMs: 5000 });
      expect(Buffer.from(stale.record!.value).toString()).toBe('value-7');
      expect(
        (await internode.send(nodeOf(lonely.replicas[0]!.id), { type: 'GET', key: 'planted:only-one' }, { timeoutMs: 5000 })).record,
      ).toBeNull();

      const ran = await dkv(['repair', '--json', '--interval-ms', '100']);
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stderr).toMatch(/^repair-\d+: \d+\/\d+ ranges compared, \d+ differing/m);
      const report = JSON.parse(ran.stdout) as Record<string, unknown>;
      expect(Object.keys(report).sort()).toEqual([
        'bytesRepaired',
        'error',
        'finishedAt',
        'id',
        'keysDiffering',
        'node',
        'rangesCompared',
        'rangesDiffering',
        'rangesPlanned',
        'rangesSkipped',
        'recordsRepaired',
        'startedAt',
        'state',
      ]);
      expect(report).toMatchObject({ state: 'done', node: null, error: null, rangesSkipped: 0 });
      expect(report.rangesCompared).toBe(report.rangesPlanned);
      expect(report.keysDiffering).toBeGreaterThanOrEqual(2);
      expect(report.recordsRepaired).toBeGreaterThanOrEqual(4);

      for (const [key, value] of [
        ['session:7', 'planted-newer'],
        ['planted:only-one', 'only-on-one'],
      ] as const) {
        for (const replica of (await endpoints(key)).replicas) {
          const answer = await internode.send(nodeOf(replica.id), { type: 'GET', key }, { timeoutMs: 5000 });
          expect(Buffer.from(answer.record!.value).toString(), `${key} on ${replica.id}`).toBe(value);
        }
      }
      acknowledged.set('session:7', 'planted-newer');
      acknowledged.set('planted:only-one', 'only-on-one');

      const again = await dkv(['repair', '--node', 'n2']);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/^repair-\d+ done in \S+: compared (\d+) of \1 ranges \(those n2 replicates\); all replicas agreed\n$/);
    },
    DEADLINE_MS,
  );

  it(
    'vnodes --preview changes nothing; vnodes applies the change and the data settles',
    async () => {
      const preview = await dkv(['vnodes', 'n1', '24', '--preview', '--json']);
      expect(preview.code, preview.stderr).toBe(0);
      expect(JSON.parse(preview.stdout)).toMatchObject({ node: 'n1', vnodesBefore: 16, vnodesAfter: 24, applied: false });
      expect((await cluster()).nodes.find((n) => n.id === 'n1')?.vnodes).toBe(16);
      const applied = await dkv(['vnodes', 'n1', '24']);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stdout).toMatch(/^n1: vnodes 16 -> 24\n/);
      const view = await cli.waitFor('the vnodes change to settle', () => settled(['n1', 'n2', 'n3', 'n4', 'n5']));
      expect(view.nodes.find((n) => n.id === 'n1')?.vnodes).toBe(24);
    },
    DEADLINE_MS,
  );

  it(
    'decommission of a live node shows progress and completes; every key stays readable',
    async () => {
      const ran = await dkv(['decommission', 'n5', '--interval-ms', '100']);
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stderr).toMatch(/^decommission n5: /m);
      expect(ran.stdout).toMatch(/^n5 decommissioned in \S+: \d+\/\d+ ranges, \d+ keys, \d+ bytes moved/);
      expect((await cluster()).nodes.map((n) => n.id).sort()).toEqual(['n1', 'n2', 'n3', 'n4']);
      expect(await readAll()).toEqual([]);
    },
    DEADLINE_MS,
  );

  it(
    'hints pile up for a SIGKILLed node; removenode of it completes with --json; every key stays readable',
    async () => {
      const killedAt = Date.now();
      process.kill(cli.announced.get('n4')!.pid, 'SIGKILL');
      const seen = await cli.waitFor('n4 to be seen dead', async () => {
        const status = (await cluster()).nodes.find((n) => n.id === 'n4')?.status;
        return status === 'up' ? undefined : status;
      });
      expect(seen).toBe('down');
      // From then on it stays down, also while gossip's own detector only suspects it (2 to 5 s of
      // silence): watched beside the writes and `dkv hints` below, until past gossip's down.
      const shown = statusesUntil('n4', killedAt + GOSSIP_DOWN_AFTER_MS + 2000);
      // Writes while n4 is dead leave hints for it on the coordinator.
      for (let i = 0; i < 20; i += 1) {
        const res = await fetch(`${url}/v1/kv/while-dead%3A${i}`, { method: 'PUT', body: `dead-${i}`, signal: AbortSignal.timeout(5000) });
        expect(res.status).toBe(200);
        acknowledged.set(`while-dead:${i}`, `dead-${i}`);
      }
      const [hints, status] = await Promise.all([dkv(['hints', '--json']), dkv(['status', '--json'])]);
      expect((JSON.parse(status.stdout) as ClusterView).nodes.find((n) => n.id === 'n4')?.status).toBe('down');
      expect(await shown).toEqual(['down']);
      const owed = (
        JSON.parse(hints.stdout) as { hints: Array<{ target: string; count: number; bytes: number; oldestAgeMs: number }> }
      ).hints.find((h) => h.target === 'n4');
      expect(owed?.count).toBeGreaterThan(0);
      expect(owed?.bytes).toBeGreaterThan(0);
      expect(owed?.oldestAgeMs).toBeGreaterThanOrEqual(0);

      const ran = await dkv(['removenode', 'n4', '--json', '--interval-ms', '100']);
      expect(ran.code, ran.stderr).toBe(0);
      const result = JSON.parse(ran.stdout) as Record<string, unknown>;
      expect(Object.keys(result).sort()).toEqual([
        'bytes',
        'elapsedMs',
        'keys',
        'node',
        'operation',
        'rangesDone',
        'rangesPlanned',
        'state',
      ]);
      expect(result).toMatchObject({ operation: 'removenode', node: 'n4', state: 'done' });
      await cli.waitFor('the three survivors to settle', () => settled(['n1', 'n2', 'n3']));
      expect(await readAll()).toEqual([]);
      // Twice the others' budget: it also watches n4's status through gossip's detection window.
    },
    DEADLINE_MS * 2,
  );
});
