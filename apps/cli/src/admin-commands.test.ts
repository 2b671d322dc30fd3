// Goal: the admin commands (`getendpoints`, `hints`, `vnodes`, `decommission`, `removenode`,
// `repair`) send the requests API.md and the README promise, print their text and their stable
// `--json` schema, show progress on stderr while a long operation runs, and exit 0 / 1 (refused or
// failed) / 2 (usage) / 3 (unreachable) / 4 (gave up waiting).
// Method: buildProgram with a scripted HTTP double (answers per method and path, changing over
// successive polls) and an instant sleep; the real coordinator is exercised in ops.e2e.test.ts.
import { CommanderError } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AdminHttpError, type AdminRequest } from './admin-http.js';
import { buildProgram, type CliDeps } from './program.js';

type Handler = (request: AdminRequest, call: number) => unknown;

interface Run {
  requests: AdminRequest[];
  out: string;
  err: string;
  exits: number[];
}

afterEach(() => {
  vi.unstubAllEnvs();
});

const CLUSTER = {
  epoch: 4,
  replication: { n: 3, w: 2, r: 2 },
  nodes: [
    { id: 'n1', address: '127.0.0.1:7001', status: 'up', vnodes: 64, zone: 'default' },
    { id: 'n2', address: '127.0.0.1:7002', status: 'up', vnodes: 64, zone: 'default' },
    { id: 'n3', address: '127.0.0.1:7003', status: 'up', vnodes: 64, zone: 'default' },
    { id: 'n4', address: '127.0.0.1:7004', status: 'down', vnodes: 64, zone: 'default' },
  ],
};
const DISTRIBUTION = CLUSTER.nodes.map((n) => ({ id: n.id, ringShare: 0.25, keys: 100, bytes: 10_000 }));

/** Runs `dkv <args>` with `routes` answering `METHOD path` (the call number counts requests to that route). */
async function run(args: string[], routes: Record<string, Handler>, env: Record<string, string> = {}): Promise<Run> {
  for (const name of ['DKV_URL', 'DKV_JSON', 'DKV_INTERVAL_MS', 'DKV_TIMEOUT_MS']) vi.stubEnv(name, undefined);
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  const result: Run = { requests: [], out: '', err: '', exits: [] };
  const calls = new Map<string, number>();
  let clock = 0;
  const deps: CliDeps = {
    clusterUp: async () => 0,
    runNode: async () => undefined,
    runCoordinator: async () => undefined,
    fetchCluster: async () => CLUSTER as never,
    fetchDistribution: async () => DISTRIBUTION,
    http: async (request) => {
      result.requests.push(request);
      const route = `${request.method} ${request.path}`;
      const handler = routes[route];
      if (handler === undefined) throw new Error(`unexpected request ${route}`);
      const call = (calls.get(route) ?? 0) + 1;
      calls.set(route, call);
      return handler(request, call);
    },
    sleep: async (ms) => void (clock += ms),
    now: () => clock,
    env,
    out: (text) => (result.out += text),
    err: (text) => (result.err += text),
    exit: (code) => void result.exits.push(code),
  };
  try {
    await buildProgram(deps).parseAsync(['node', 'dkv', ...args]);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    result.exits.push(2);
  }
  return result;
}

const ENDPOINTS = {
  key: 'user/42',
  hash: 123456,
  replicas: [
    { id: 'n2', address: '127.0.0.1:7002', zone: 'default', status: 'up' },
    { id: 'n1', address: '127.0.0.1:7001', zone: 'default', status: 'up' },
    { id: 'n3', address: '127.0.0.1:7003', zone: 'default', status: 'up' },
  ],
  pending: [],
};

describe('dkv getendpoints', () => {
  it('asks for the URL-encoded key and prints the replicas in preference order', async () => {
    const result = await run(['getendpoints', 'user/42', '--url', 'http://c:1'], {
      'GET /v1/cluster/endpoints/user%2F42': () => ENDPOINTS,
    });
    expect(result.requests[0]!.url).toBe('http://c:1');
    expect(result.out).toBe(
      [
        'key "user/42" hash 123456',
        '#  ID  ADDRESS         ZONE     STATUS',
        '1  n2  127.0.0.1:7002  default  up',
        '2  n1  127.0.0.1:7001  default  up',
        '3  n3  127.0.0.1:7003  default  up',
        '',
      ].join('\n'),
    );
    expect(result.exits).toEqual([]);
  });

  it('prints the schema {key, hash, replicas[{id,address,zone,status}], pending[]} with --json, dropping unknown fields', async () => {
    const result = await run(['getendpoints', 'user/42', '--json'], {
      'GET /v1/cluster/endpoints/user%2F42': () => ({ ...ENDPOINTS, extra: 1 }),
    });
    expect(JSON.parse(result.out)).toEqual(ENDPOINTS);
  });

  it("exits 1 with the server's message when the key is refused, 3 when the coordinator is unreachable", async () => {
    const refused = await run(['getendpoints', 'k'], {
      'GET /v1/cluster/endpoints/k': () => {
        throw new AdminHttpError('refused', 'GET /v1/cluster/endpoints/k refused (400 INVALID_KEY): bad', 400, 'INVALID_KEY');
      },
    });
    expect(refused.exits).toEqual([1]);
    expect(refused.err).toBe('dkv getendpoints: http://127.0.0.1:7070: GET /v1/cluster/endpoints/k refused (400 INVALID_KEY): bad\n');
    const down = await run(['getendpoints', 'k'], {
      'GET /v1/cluster/endpoints/k': () => {
        throw new AdminHttpError('unreachable', 'cannot reach the coordinator: ECONNREFUSED');
      },
    });
    expect(down.exits).toEqual([3]);
  });
});

describe('dkv hints', () => {
  it('prints one row per target with its age, and totals; --json adds the totals to the schema', async () => {
    const answer = { hints: [{ target: 'n4', count: 3, bytes: 300, oldestAgeMs: 65_000 }] };
    const text = await run(['hints'], { 'GET /v1/cluster/hints': () => answer });
    expect(text.out).toBe(['TARGET  HINTS  BYTES  OLDEST', 'n4      3      300    1m05s', 'total   3      300', ''].join('\n'));
    const json = await run(['hints', '--json'], { 'GET /v1/cluster/hints': () => answer });
    expect(JSON.parse(json.out)).toEqual({ hints: answer.hints, total: { count: 3, bytes: 300 } });
    const none = await run(['hints'], { 'GET /v1/cluster/hints': () => ({ hints: [] }) });
    expect(none.out).toBe('no hinted writes pending\n');
  });
});

describe('dkv vnodes', () => {
  const routes = (): Record<string, Handler> => ({
    'GET /v1/cluster': () => CLUSTER,
    'GET /v1/cluster/distribution': () => DISTRIBUTION,
    'PATCH /v1/cluster/nodes/n2': () => ({ id: 'n2', vnodes: 128 }),
  });

  it('with --preview shows the shares after and changes nothing', async () => {
    const result = await run(['vnodes', 'n2', '128', '--preview', '--json'], routes());
    expect(result.requests.map((r) => r.method)).toEqual(['GET', 'GET']);
    const json = JSON.parse(result.out) as {
      node: string;
      vnodesBefore: number;
      vnodesAfter: number;
      applied: boolean;
      rows: Array<{ id: string; shareBefore: number; shareAfter: number }>;
      replicasMovedFraction: number;
      bytesToMove: number;
    };
    expect(json).toMatchObject({ node: 'n2', vnodesBefore: 64, vnodesAfter: 128, applied: false });
    expect(json.rows.map((r) => r.id).sort()).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(json.replicasMovedFraction).toBeGreaterThan(0);
    expect(json.bytesToMove).toBe(Math.round(json.replicasMovedFraction * 40_000));
  });

  it('without --preview sends PATCH {"vnodes"} and says the data moves in the background', async () => {
    const result = await run(['vnodes', 'n2', '128'], routes());
    expect(result.requests.find((r) => r.method === 'PATCH')?.body).toEqual({ vnodes: 128 });
    expect(result.out).toMatch(/^n2: vnodes 64 -> 128\n/);
    expect(result.out).toContain('in the background');
  });

  it('refuses an unknown node with exit 1 and a bad count with exit 2, sending no change', async () => {
    const unknown = await run(['vnodes', 'n9', '8'], routes());
    expect(unknown.exits).toEqual([1]);
    expect(unknown.err).toContain('node n9 is not in the cluster (members: n1, n2, n3, n4)');
    const bad = await run(['vnodes', 'n2', '0'], routes());
    expect(bad.exits).toEqual([2]);
    expect([...unknown.requests, ...bad.requests].some((r) => r.method === 'PATCH')).toBe(false);
  });
});

describe('dkv decommission and dkv removenode', () => {
  /** /v1/cluster as the coordinator answers it on successive polls while n3 leaves. */
  function leaving(id: string): Handler {
    return (_request, call) => {
      const without = CLUSTER.nodes.filter((n) => n.id !== id);
      if (call === 1) return CLUSTER;
      if (call === 2)
        return {
          ...CLUSTER,
          rebalancing: true,
          nodes: [
            ...without.map((n) =>
              n.id === 'n1' ? { ...n, progress: { targetRing: 'r', rangesPlanned: 10, rangesDone: 4, keys: 40, bytes: 4000 } } : n,
            ),
            { ...CLUSTER.nodes.find((n) => n.id === id)!, status: 'leaving' },
          ],
        };
      if (call === 3)
        return {
          ...CLUSTER,
          rebalancing: true,
          nodes: [
            ...without.map((n) =>
              n.id === 'n1' ? { ...n, progress: { targetRing: 'r', rangesPlanned: 10, rangesDone: 10, keys: 100, bytes: 10_000 } } : n,
            ),
            { ...CLUSTER.nodes.find((n) => n.id === id)!, status: 'leaving' },
          ],
        };
      return { ...CLUSTER, nodes: without };
    };
  }

  it('decommission sends DELETE, prints progress lines on stderr until the node has left, then a summary', async () => {
    const result = await run(['decommission', 'n3'], {
      'GET /v1/cluster': leaving('n3'),
      'DELETE /v1/cluster/nodes/n3': () => ({ id: 'n3', status: 'leaving' }),
    });
    expect(result.exits).toEqual([]);
    expect(result.err.split('\n').filter((l) => l)).toEqual([
      'decommission n3: leaving, 4/10 ranges, 40 keys, 4000 bytes moved',
      'decommission n3: leaving, 10/10 ranges, 100 keys, 10000 bytes moved',
    ]);
    expect(result.out).toMatch(/^n3 decommissioned in \S+: 10\/10 ranges, 100 keys, 10000 bytes moved/);
  });

  it('--json prints one object {operation, node, state, elapsedMs, rangesDone, rangesPlanned, keys, bytes}', async () => {
    const result = await run(['decommission', 'n3', '--json', '--interval-ms', '100'], {
      'GET /v1/cluster': leaving('n3'),
      'DELETE /v1/cluster/nodes/n3': () => ({}),
    });
    expect(JSON.parse(result.out)).toEqual({
      operation: 'decommission',
      node: 'n3',
      state: 'done',
      elapsedMs: 200,
      rangesDone: 10,
      rangesPlanned: 10,
      keys: 100,
      bytes: 10_000,
    });
  });

  it('removenode sends DELETE ?force=true for a dead node', async () => {
    const result = await run(['removenode', 'n4', '--json'], {
      'GET /v1/cluster': leaving('n4'),
      'DELETE /v1/cluster/nodes/n4?force=true': () => ({}),
    });
    expect(result.exits).toEqual([]);
    expect(JSON.parse(result.out)).toMatchObject({ operation: 'removenode', node: 'n4', state: 'done' });
  });

  it('refuses an unknown node, a decommission of a dead node and a removenode of a live one, with exit 1 and no DELETE', async () => {
    const routes = { 'GET /v1/cluster': () => CLUSTER };
    const unknown = await run(['decommission', 'n9'], routes);
    expect(unknown.exits).toEqual([1]);
    expect(unknown.err).toContain('node n9 is not in the cluster');
    const dead = await run(['decommission', 'n4'], routes);
    expect(dead.exits).toEqual([1]);
    expect(dead.err).toContain('dkv removenode n4');
    const live = await run(['removenode', 'n2'], routes);
    expect(live.exits).toEqual([1]);
    expect(live.err).toContain('dkv decommission n2');
  });

  it('gives up after --timeout-ms with exit 4, saying the move goes on', async () => {
    const stuck: Handler = (_r, call) =>
      call === 1 ? CLUSTER : { ...CLUSTER, nodes: CLUSTER.nodes.map((n) => (n.id === 'n3' ? { ...n, status: 'leaving' } : n)) };
    const result = await run(['decommission', 'n3', '--timeout-ms', '1000', '--interval-ms', '300'], {
      'GET /v1/cluster': stuck,
      'DELETE /v1/cluster/nodes/n3': () => ({}),
    });
    expect(result.exits).toEqual([4]);
    expect(result.err).toContain('gave up waiting after 1000 ms');
  });
});

describe('dkv repair', () => {
  const report = (over: Record<string, unknown>) => ({
    id: 'repair-1',
    state: 'running',
    node: null,
    startedAt: 1000,
    finishedAt: null,
    rangesPlanned: 64,
    rangesCompared: 0,
    rangesDiffering: 0,
    rangesSkipped: 0,
    keysDiffering: 0,
    recordsRepaired: 0,
    bytesRepaired: 0,
    error: null,
    ...over,
  });

  it('starts a repair, prints progress until done and a summary of what differed', async () => {
    const result = await run(['repair', '--node', 'n2'], {
      'POST /v1/cluster/repair': () => report({ node: 'n2' }),
      'GET /v1/cluster/repair/repair-1': (_r, call) =>
        call === 1
          ? report({ node: 'n2', rangesCompared: 32 })
          : report({
              node: 'n2',
              state: 'done',
              rangesCompared: 64,
              rangesDiffering: 2,
              keysDiffering: 3,
              recordsRepaired: 3,
              bytesRepaired: 90,
              finishedAt: 2500,
            }),
    });
    expect(result.requests[0]!.body).toEqual({ node: 'n2' });
    expect(result.err.split('\n').filter((l) => l)).toEqual([
      'repair-1: 0/64 ranges compared, 0 differing, 0 keys differing, 0 records (0 bytes) repaired',
      'repair-1: 32/64 ranges compared, 0 differing, 0 keys differing, 0 records (0 bytes) repaired',
    ]);
    expect(result.out).toBe(
      'repair-1 done in 1.5s: compared 64 of 64 ranges (those n2 replicates); 2 ranges differed: 3 keys, 3 records (90 bytes) repaired\n',
    );
    expect(result.exits).toEqual([]);
  });

  it('--json prints the final report with exactly the documented fields', async () => {
    const result = await run(['repair', '--json'], {
      'POST /v1/cluster/repair': () => report({ state: 'done', rangesCompared: 64, finishedAt: 1200, extra: true }),
    });
    expect(JSON.parse(result.out)).toEqual(report({ state: 'done', rangesCompared: 64, finishedAt: 1200 }));
  });

  it('exits 1 with the reason when the repair failed, and when it is refused', async () => {
    const failed = await run(['repair'], {
      'POST /v1/cluster/repair': () => report({ state: 'failed', error: 'node n2 did not answer', finishedAt: 1100 }),
    });
    expect(failed.exits).toEqual([1]);
    expect(failed.err).toContain('repair-1 failed: node n2 did not answer');
    const refused = await run(['repair', '--node', 'n9'], {
      'POST /v1/cluster/repair': () => {
        throw new AdminHttpError(
          'refused',
          'POST /v1/cluster/repair refused (404 NOT_FOUND): node n9 is not on the ring',
          404,
          'NOT_FOUND',
        );
      },
    });
    expect(refused.exits).toEqual([1]);
    expect(refused.err).toContain('node n9 is not on the ring');
  });
});
