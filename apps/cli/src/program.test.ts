// Goal: the `dkv` command line parses what API.md documents (`cluster up [--nodes] [--port]`,
// `node ...`, `coordinator ...`, `status`/`ring [--url]`), applies the defaults, reads DKV_*
// variables, and turns bad arguments into exit code 2 with a message naming the setting.
// Method: buildProgram with recording doubles for every action, so nothing is started; plus
// table cases for the local quorums and the table rendering.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ClusterUpOptions } from './cluster-up.js';
import { localQuorums, memberList } from './cluster-up.js';
import { AdminHttpError } from './admin-http.js';
import { PROCESS_SETTINGS, type ProcessSettingsLoader } from './process-settings.js';
import { buildProgram, camelCase, DEFAULT_URL, type CliDeps } from './program.js';
import { formatRing, formatStatus } from './views.js';

interface Recorded {
  calls: Array<[string, unknown]>;
  /** The credentials each fetch was given (undefined: none). */
  credentials: unknown[];
  out: string;
  err: string;
  exits: number[];
}

afterEach(() => {
  vi.unstubAllEnvs();
});

/** Runs the program on `args`; `env` is seen both by commander (process.env) and by the apps' parsers. */
async function parse(
  args: string[],
  env: Record<string, string> = {},
  settings?: ProcessSettingsLoader,
): Promise<Recorded & { error?: CommanderError }> {
  for (const name of [
    'DKV_NODES',
    'DKV_PORT',
    'DKV_RESP_PORT',
    'DKV_URL',
    'DKV_JSON',
    'DKV_LOG_LEVEL',
    'DKV_READY_TIMEOUT_MS',
    'DKV_ZONES',
    'DKV_USER',
    'DKV_PASSWORD',
    'DKV_AUTH_FILE',
  ])
    vi.stubEnv(name, undefined);
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  const recorded: Recorded = { calls: [], credentials: [], out: '', err: '', exits: [] };
  const deps: CliDeps = {
    clusterUp: async (options: ClusterUpOptions) => {
      recorded.calls.push(['clusterUp', options]);
      return 0;
    },
    runNode: async (config) => void recorded.calls.push(['runNode', config]),
    runCoordinator: async (config) => void recorded.calls.push(['runCoordinator', config]),
    fetchCluster: async (url, credentials) => {
      recorded.calls.push(['fetchCluster', url]);
      recorded.credentials.push(credentials);
      if (url.endsWith(':1')) throw new AdminHttpError('unreachable', 'cannot reach the coordinator: connect ECONNREFUSED');
      return {
        epoch: 3,
        replication: { n: 3, w: 2, r: 2 },
        nodes: [
          { id: 'n1', address: '127.0.0.1:7001', status: 'up', vnodes: 128, zone: 'z1' },
          { id: 'n2', address: '127.0.0.1:7002', status: 'down', vnodes: 128, zone: 'z2' },
        ],
        zoneLossSafe: false,
        zoneLossReason: '2 zones for N=3: a zone holds up to 2 replicas of some keys',
      };
    },
    fetchDistribution: async (url, credentials) => {
      recorded.calls.push(['fetchDistribution', url]);
      recorded.credentials.push(credentials);
      if (url.endsWith(':1')) throw new AdminHttpError('unreachable', 'cannot reach the coordinator: connect ECONNREFUSED');
      return [
        { id: 'n1', ringShare: 0.5, keys: 10, bytes: 1000 },
        { id: 'n2', ringShare: 0.5, keys: 10, bytes: 1000 },
      ];
    },
    http: async (request) => {
      throw new Error(`unexpected admin request ${request.method} ${request.path}`);
    },
    env,
    out: (text) => (recorded.out += text),
    err: (text) => (recorded.err += text),
    exit: (code) => void recorded.exits.push(code),
    ...(settings ? { settings } : {}),
  };
  try {
    await buildProgram(deps).parseAsync(['node', 'dkv', ...args]);
    return recorded;
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return { ...recorded, error };
  }
}

/** The real settings loader, counting which commands' settings were loaded. */
function countingSettings(): { loader: ProcessSettingsLoader; loaded: string[] } {
  const loaded: string[] = [];
  const loader: ProcessSettingsLoader = {
    clusterUp: () => (loaded.push('clusterUp'), PROCESS_SETTINGS.clusterUp()),
    node: () => (loaded.push('node'), PROCESS_SETTINGS.node()),
    coordinator: () => (loaded.push('coordinator'), PROCESS_SETTINGS.coordinator()),
  };
  return { loader, loaded };
}

describe('settings loaded on demand', () => {
  it('loads no app settings for the admin commands and the top-level help', async () => {
    const { loader, loaded } = countingSettings();
    for (const args of [['status'], ['status', '--help'], ['ring', '--json'], ['--help'], ['help'], ['help', 'status']])
      await parse(args, {}, loader);
    expect(loaded).toEqual([]);
  });

  it('loads exactly the settings of the command run or helped, whose flags then show', async () => {
    for (const [args, expected, flag] of [
      [['node', '--help'], ['node'], '--tombstone-grace-ms <value>'],
      [['help', 'node'], ['node'], '--tombstone-grace-ms <value>'],
      [['coordinator', '--help'], ['coordinator'], '--heartbeat-interval-ms <value>'],
      [['help', 'coordinator'], ['coordinator'], '--heartbeat-interval-ms <value>'],
      [['cluster', 'up', '--help'], ['clusterUp'], '--data-dir <dir>'],
      [['cluster', 'help', 'up'], ['clusterUp'], '--auth-file <file>'],
    ] as const) {
      const { loader, loaded } = countingSettings();
      const result = await parse([...args], {}, loader);
      expect(loaded, args.join(' ')).toEqual(expected);
      expect(result.out, args.join(' ')).toContain(flag);
    }
  });

  it('answers help for an unknown command with the command list, as a usage error (which main exits 2 for)', async () => {
    const result = await parse(['help', 'nosuch']);
    expect(result.err).toContain('Commands:');
    expect(result.error?.exitCode).toBe(1);
  });
});

describe('dkv cluster up --auth-file', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('passes a valid file on as an absolute path, and stops at a bad one naming the field', async () => {
    dir = mkdtempSync(join(tmpdir(), 'dkv-cli-auth-'));
    const good = join(dir, 'auth.json');
    writeFileSync(
      good,
      JSON.stringify({ users: [{ name: 'root', password: 'pw', role: 'admin' }], clusterSecret: 'a-cluster-secret-of-16+' }),
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({ users: [{ name: 'root', password: 'hunter2-pw', role: 'god' }], clusterSecret: 'a-cluster-secret-of-16+' }),
    );
    const result = await parse(['cluster', 'up', '--auth-file', good]);
    expect(result.calls).toEqual([['clusterUp', expect.objectContaining({ authFile: good })]]);
    const refused = await parse(['cluster', 'up', '--auth-file', bad]);
    expect(refused.calls).toEqual([]);
    expect(refused.error).toBeDefined();
    expect(refused.err).toContain('users[0].role must be one of read, readwrite, admin');
    expect(refused.err).not.toContain('hunter2');
  });
});

describe('dkv cluster up', () => {
  it('defaults to 3 nodes on port 7070', async () => {
    const result = await parse(['cluster', 'up']);
    expect(result.calls).toEqual([
      ['clusterUp', { nodes: 3, port: 7070, respPort: 6380, topology: 'coordinator', logLevel: 'warn', readyTimeoutMs: 30_000 }],
    ]);
    expect(result.exits).toEqual([0]);
  });

  it('takes --topology nodes (every node coordinates) and DKV_TOPOLOGY', async () => {
    expect((await parse(['cluster', 'up', '--topology', 'nodes', '--port', '0'])).calls[0]?.[1]).toMatchObject({
      topology: 'nodes',
      port: 0,
    });
    expect((await parse(['cluster', 'up'], { DKV_TOPOLOGY: 'nodes' })).calls[0]?.[1]).toMatchObject({ topology: 'nodes' });
  });

  it('takes --resp-port (0 for a free port) and DKV_RESP_PORT', async () => {
    expect((await parse(['cluster', 'up', '--resp-port', '0'])).calls[0]?.[1]).toMatchObject({ respPort: 0 });
    expect((await parse(['cluster', 'up'], { DKV_RESP_PORT: '7379' })).calls[0]?.[1]).toMatchObject({ respPort: 7379 });
  });

  it('takes --nodes and --port (0 for a free port), and DKV_NODES / DKV_PORT', async () => {
    expect((await parse(['cluster', 'up', '--nodes', '5', '--port', '0'])).calls[0]?.[1]).toMatchObject({ nodes: 5, port: 0 });
    expect((await parse(['cluster', 'up'], { DKV_NODES: '4', DKV_PORT: '8080' })).calls[0]?.[1]).toMatchObject({ nodes: 4, port: 8080 });
    expect((await parse(['cluster', 'up', '--port', '9000'], { DKV_PORT: '8080' })).calls[0]?.[1]).toMatchObject({ port: 9000 });
  });

  it('takes --zones (DKV_ZONES) and passes it on; without it, one zone', async () => {
    expect((await parse(['cluster', 'up', '--nodes', '6', '--zones', '3'])).calls[0]?.[1]).toMatchObject({ nodes: 6, zones: 3 });
    expect((await parse(['cluster', 'up', '--nodes', '6'], { DKV_ZONES: '2' })).calls[0]?.[1]).toMatchObject({ zones: 2 });
    expect((await parse(['cluster', 'up'])).calls[0]?.[1]).not.toHaveProperty('zones');
  });

  it('refuses more zones than nodes, with exit 2 and a message naming both', async () => {
    const result = await parse(['cluster', 'up', '--nodes', '2', '--zones', '3']);
    expect(result.calls).toEqual([]);
    expect(result.exits).toEqual([2]);
    expect(result.err).toBe('dkv: --zones (3) must be at most --nodes (2): every zone needs a node\n');
  });

  it('lays the members out round-robin over z1..zk', () => {
    expect(memberList(['n1', 'n2', 'n3', 'n4'], [1, 2, 3, 4], 3)).toBe(
      'n1=127.0.0.1:1@z1,n2=127.0.0.1:2@z2,n3=127.0.0.1:3@z3,n4=127.0.0.1:4@z1',
    );
    expect(memberList(['n1', 'n2'], [1, 2], undefined)).toBe('n1=127.0.0.1:1,n2=127.0.0.1:2');
  });

  it('takes --data-dir and --fsync (DKV_DATA_DIR, DKV_FSYNC) for its nodes, the fsync default only with a data dir', async () => {
    expect((await parse(['cluster', 'up', '--data-dir', '/tmp/d', '--fsync', 'always'])).calls[0]?.[1]).toMatchObject({
      dataDir: '/tmp/d',
      fsync: 'always',
    });
    expect((await parse(['cluster', 'up'], { DKV_DATA_DIR: '/tmp/e' })).calls[0]?.[1]).toMatchObject({ dataDir: '/tmp/e', fsync: '100' });
  });

  it.each([
    [['--zones', '0'], "option '--zones <k>' argument '0' is invalid. must be a whole number from 1 to 64"],
    [
      ['--fsync', 'sometimes'],
      "option '--fsync <policy>' argument 'sometimes' is invalid. must be always, never, or an interval in milliseconds from 1 to 60000",
    ],
    [['--nodes', '0'], "option '--nodes <n>' argument '0' is invalid. must be a whole number from 1 to 64"],
    [['--nodes', 'three'], "argument 'three' is invalid"],
    [['--port', '65536'], "option '--port <port>' argument '65536' is invalid. must be a whole number from 0 to 65535"],
    [['--resp-port', '70000'], "option '--resp-port <port>' argument '70000' is invalid. must be a whole number from 0 to 65535"],
    [['--log-level', 'loud'], "argument 'loud' is invalid"],
    [['--topology', 'mesh'], "argument 'mesh' is invalid. Allowed choices are coordinator, nodes."],
    [['--bogus'], "unknown option '--bogus'"],
  ])('rejects %j', async (args, message) => {
    const result = await parse(['cluster', 'up', ...args]);
    expect(result.calls).toEqual([]);
    expect(result.error).toBeDefined();
    expect(result.err).toContain(message);
  });
});

describe('dkv node and dkv coordinator', () => {
  it('hands the node its parsed configuration', async () => {
    const result = await parse([
      'node',
      '--id',
      'n1',
      '--port',
      '7001',
      '--members',
      'n1=127.0.0.1:7001,n2=127.0.0.1:7002',
      '--tombstone-grace-ms',
      '180000',
    ]);
    expect(result.calls).toHaveLength(1);
    expect(result.calls[0]?.[0]).toBe('runNode');
    expect(result.calls[0]?.[1]).toMatchObject({
      id: 'n1',
      port: 7001,
      tombstoneGraceMs: 180_000,
      members: [
        { id: 'n1', address: '127.0.0.1:7001' },
        { id: 'n2', address: '127.0.0.1:7002' },
      ],
    });
  });

  it('takes --coordinate as a switch, and its quorum settings', async () => {
    const result = await parse(['node', '--id', 'n1', '--coordinate', '--w', '3', '--max-value-bytes', '4096']);
    expect(result.calls[0]?.[1]).toMatchObject({ id: 'n1', coordinator: { nodeId: 'n1', n: 3, w: 3, r: 2, maxValueBytes: 4096 } });
    expect((await parse(['node', '--id', 'n1'])).calls[0]?.[1]).toMatchObject({ coordinator: null });
    expect((await parse(['node', '--id', 'n1'], { DKV_COORDINATE: 'true' })).calls[0]?.[1]).toMatchObject({
      coordinator: { nodeId: 'n1' },
    });
  });

  it('reads DKV_* variables for the node', async () => {
    const result = await parse(['node'], { DKV_NODE_ID: 'n9', DKV_PORT: '7009' });
    expect(result.calls[0]?.[1]).toMatchObject({ id: 'n9', port: 7009 });
  });

  it('exits 2 naming a bad node setting', async () => {
    const result = await parse(['node', '--id', 'n1', '--sweep-max-work', '-1']);
    expect(result.calls).toEqual([]);
    expect(result.exits).toEqual([2]);
    expect(result.err).toContain('--sweep-max-work (DKV_SWEEP_MAX_WORK) must be a whole number');
  });

  it('hands the coordinator its parsed configuration', async () => {
    const result = await parse(['coordinator', '--port', '7070', '--join', '127.0.0.1:7001', '--id', 'c1', '--w', '3']);
    expect(result.calls[0]?.[0]).toBe('runCoordinator');
    expect(result.calls[0]?.[1]).toMatchObject({ port: 7070, join: '127.0.0.1:7001', coordinator: { nodeId: 'c1', n: 3, w: 3, r: 2 } });
  });

  it('exits 2 naming a bad coordinator setting', async () => {
    const result = await parse(['coordinator', '--join', '127.0.0.1:7001', '--r', '7']);
    expect(result.exits).toEqual([2]);
    expect(result.err).toContain('--r (DKV_R) must be at most N (3, --n (DKV_N)), got 7');
  });

  it("offers exactly the apps' settings as options, named as commander names them", async () => {
    for (const table of [(await PROCESS_SETTINGS.node()).settings, (await PROCESS_SETTINGS.coordinator()).settings]) {
      for (const [key, setting] of Object.entries(table)) expect(camelCase(setting.flag)).toBe(key);
    }
  });
});

describe('dkv status and dkv ring', () => {
  it('renders the cluster as a table, from --url, DKV_URL or the default', async () => {
    const result = await parse(['status']);
    expect(result.calls).toEqual([['fetchCluster', DEFAULT_URL]]);
    expect(result.out).toBe(
      [
        'epoch 3, replication N=3 W=2 R=2, 1 of 2 nodes up',
        'zone loss: NOT SAFE: 2 zones for N=3: a zone holds up to 2 replicas of some keys',
        'ID  ADDRESS         ZONE  STATUS  VNODES',
        'n1  127.0.0.1:7001  z1    up      128',
        'n2  127.0.0.1:7002  z2    down    128',
        '',
      ].join('\n'),
    );
    expect((await parse(['status', '--url', 'http://db:1'])).calls).toEqual([['fetchCluster', 'http://db:1']]);
    expect((await parse(['status'], { DKV_URL: 'http://env:2' })).calls).toEqual([['fetchCluster', 'http://env:2']]);
  });

  it("shows each node's zone and a subtotal per zone in dkv ring", async () => {
    const result = await parse(['ring']);
    expect(result.calls.map(([name]) => name).sort()).toEqual(['fetchCluster', 'fetchDistribution']);
    expect(result.out).toBe(
      [
        'ID       ZONE  SHARE   KEYS  BYTES',
        'n1       z1    50.0%   10    1000',
        'n2       z2    50.0%   10    1000',
        'zone z1  z1    50.0%   10    1000',
        'zone z2  z2    50.0%   10    1000',
        'total          100.0%  20    2000',
        '',
      ].join('\n'),
    );
  });

  it('sends --user/--password or DKV_USER/DKV_PASSWORD with every request, and refuses one without the other', async () => {
    expect((await parse(['status', '--user', 'ops', '--password', 'pw'])).credentials).toEqual([{ username: 'ops', password: 'pw' }]);
    expect((await parse(['ring'], { DKV_USER: 'ops', DKV_PASSWORD: 'pw' })).credentials).toEqual([
      { username: 'ops', password: 'pw' },
      { username: 'ops', password: 'pw' },
    ]);
    expect((await parse(['status'])).credentials).toEqual([undefined]);
    const half = await parse(['status', '--user', 'ops']);
    expect(half.exits).toEqual([1]);
    expect(half.err).toContain('--user (DKV_USER) was given without --password (DKV_PASSWORD)');
  });

  it('reports an unreachable coordinator with exit 3', async () => {
    const result = await parse(['ring', '--url', 'http://127.0.0.1:1']);
    expect(result.exits).toEqual([3]);
    expect(result.err).toBe('dkv ring: http://127.0.0.1:1: cannot reach the coordinator: connect ECONNREFUSED\n');
  });

  it('prints the cluster and the distribution as JSON with --json', async () => {
    const status = JSON.parse((await parse(['status', '--json'])).out) as { epoch: number; nodes: unknown[] };
    expect(status.epoch).toBe(3);
    expect(status.nodes).toHaveLength(2);
    const ring = JSON.parse((await parse(['ring'], { DKV_JSON: '1' })).out) as { nodes: unknown[] };
    expect(ring.nodes).toEqual([
      { id: 'n1', ringShare: 0.5, keys: 10, bytes: 1000, zone: 'z1' },
      { id: 'n2', ringShare: 0.5, keys: 10, bytes: 1000, zone: 'z2' },
    ]);
  });
});

describe('dkv ring --preview-add / --preview-remove', () => {
  it('shows the shares after adding nodes and the data that would move, changing nothing', async () => {
    const result = await parse(['ring', '--preview-add', '2', '--preview-vnodes', '64']);
    expect(result.calls.map(([name]) => name).sort()).toEqual(['fetchCluster', 'fetchDistribution']);
    expect(result.out).toMatch(/^ID +SHARE NOW +SHARE AFTER/);
    expect(result.out).toContain('new-1');
    expect(result.out).toMatch(/would move \d+\.\d% of the replica copies, about \d+ bytes .* nothing has changed/);
  });

  it('refuses to preview removing a node that is not a member, with exit 1', async () => {
    const result = await parse(['ring', '--preview-remove', 'n9']);
    expect(result.exits).toEqual([1]);
    expect(result.err).toContain('cannot preview removing n9: it is not a member');
  });
});

describe('views and local quorums', () => {
  it('renders the ring with percentages and totals', () => {
    expect(
      formatRing([
        { id: 'n1', ringShare: 0.5, keys: 10, bytes: 1000 },
        { id: 'n22', ringShare: 0.5, keys: 2, bytes: 30 },
      ]),
    ).toBe(['ID     SHARE   KEYS  BYTES', 'n1     50.0%   10    1000', 'n22    50.0%   2     30', 'total  100.0%  12    1030'].join('\n'));
  });

  it('renders status for an empty cluster', () => {
    expect(formatStatus({ epoch: 0, replication: { n: 3, w: 2, r: 2 }, nodes: [] })).toBe(
      'epoch 0, replication N=3 W=2 R=2, 0 of 0 nodes up\nID  ADDRESS  ZONE  STATUS  VNODES',
    );
    const moving = {
      epoch: 7,
      replication: { n: 3, w: 2, r: 2 },
      nodes: [
        { id: 'n1', address: 'h:1', status: 'up' as const, vnodes: 8 },
        {
          id: 'n4',
          address: 'h:4',
          status: 'joining' as const,
          vnodes: 8,
          progress: { targetRing: 'r', rangesPlanned: 10, rangesDone: 4, keys: 120, bytes: 4096 },
        },
      ],
    };
    expect(formatStatus(moving).split('\n').slice(1)).toEqual([
      'ID  ADDRESS  ZONE  STATUS   VNODES  SYNC',
      'n1  h:1      -     up       8       -',
      'n4  h:4      -     joining  8       4/10 ranges, 120 keys, 4096 bytes',
    ]);
  });

  it.each([
    [1, { n: 1, w: 1, r: 1 }],
    [2, { n: 2, w: 2, r: 2 }],
    [3, { n: 3, w: 2, r: 2 }],
    [10, { n: 3, w: 2, r: 2 }],
  ])('uses N=min(3, nodes) and majority quorums for %i nodes', (nodes, expected) => {
    expect(localQuorums(nodes)).toEqual(expected);
  });
});
