import { DEFAULT_VNODES } from '@dkv/hashing';
// Goal: a node's configuration comes from flags, then DKV_* variables, then defaults, and every
// bad setting stops start-up with a message naming the flag, the variable and the reason.
// Method: table cases through parseNodeConfig and parseFlags, no process started.
import { maxKeysForHeap } from '@dkv/composition';
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { parseNodeConfig, staticMembership } from './config.js';
import { ConfigError, formatHelp, parseFlags } from '@dkv/app-config';
import { NODE_SETTINGS } from './config.js';

function problemOf(flags: Record<string, string>, env: Record<string, string> = {}): string {
  try {
    parseNodeConfig(flags, env);
    return 'no error';
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message;
  }
}

describe('parseNodeConfig', () => {
  it('applies the defaults', () => {
    expect(parseNodeConfig({ id: 'n1' }, {})).toEqual({
      id: 'n1',
      host: '127.0.0.1',
      port: 7071,
      advertiseAddress: null,
      members: null,
      vnodes: DEFAULT_VNODES,
      zone: 'default',
      dataDir: null,
      fsync: { mode: 'interval', intervalMs: 100 },
      mergeMinBytes: 64 * 1024 * 1024,
      tombstoneGraceMs: 3_600_000,
      maxClockOffsetMs: 600_000,
      maxKeys: maxKeysForHeap('compact', getHeapStatistics().heap_size_limit),
      sweepIntervalMs: 100,
      sweepMaxWork: 1000,
      engine: 'compact',
      bodyLimitBytes: 2 * 1024 * 1024,
      logLevel: 'info',
      join: null,
      n: 3,
      gossipIntervalMs: 200,
      syncBytesPerSecond: 16 * 1024 * 1024,
      syncSettleDelayMs: 3000,
      antiEntropyIntervalMs: 60_000,
      antiEntropyBytesPerSecond: 4 * 1024 * 1024,
      coordinator: null,
      coordinatorClient: null,
      resp: null,
      auth: null,
      tls: null,
      clusterSecret: null,
      portBounds: { maxConnections: 4096, idleTimeoutMs: 300_000, readTimeoutMs: 30_000 },
    });
  });

  it('takes the port bounds from their flags, checked', () => {
    expect(parseNodeConfig({ id: 'n1', maxConnections: '10', idleTimeoutMs: '5000', readTimeoutMs: '2000' }, {}).portBounds).toEqual({
      maxConnections: 10,
      idleTimeoutMs: 5000,
      readTimeoutMs: 2000,
    });
    expect(() => parseNodeConfig({ id: 'n1', maxConnections: '0' }, {})).toThrow(
      /--max-connections \(DKV_MAX_CONNECTIONS\) must be a whole number from 1/,
    );
  });

  it('keeps tombstones at least two anti-entropy intervals, unless anti-entropy is off', () => {
    expect(problemOf({ id: 'n1', tombstoneGraceMs: '60000', antiEntropyIntervalMs: '60000' })).toContain(
      '--tombstone-grace-ms (DKV_TOMBSTONE_GRACE_MS) (60000) must be at least twice --anti-entropy-interval-ms (DKV_ANTI_ENTROPY_INTERVAL_MS) (60000)',
    );
    expect(parseNodeConfig({ id: 'n1', tombstoneGraceMs: '120000', antiEntropyIntervalMs: '60000' }, {})).toMatchObject({
      tombstoneGraceMs: 120_000,
    });
    expect(parseNodeConfig({ id: 'n1', tombstoneGraceMs: '1000', antiEntropyIntervalMs: '0' }, {})).toMatchObject({
      antiEntropyIntervalMs: 0,
    });
  });

  it('takes an advertised address apart from where it listens, and it must match its --members entry', () => {
    expect(
      parseNodeConfig({ id: 'dkv-0', host: '0.0.0.0', port: '7000', advertiseAddress: 'dkv-0.dkv.prod.svc.cluster.local:7000' }, {}),
    ).toMatchObject({
      host: '0.0.0.0',
      advertiseAddress: 'dkv-0.dkv.prod.svc.cluster.local:7000',
    });
    expect(parseNodeConfig({ id: 'n1' }, { DKV_ADVERTISE_ADDRESS: 'n1.local:7071' }).advertiseAddress).toBe('n1.local:7071');
    expect(problemOf({ id: 'n1', advertiseAddress: 'n1.local' })).toContain(
      '--advertise-address (DKV_ADVERTISE_ADDRESS) must be host:port with a port from 1 to 65535',
    );
    expect(problemOf({ id: 'n1', advertiseAddress: 'n1.local:0' })).toContain(
      '--advertise-address (DKV_ADVERTISE_ADDRESS) must be host:port',
    );
    expect(problemOf({ id: 'n1', members: 'n1=a.local:7001,n2=b.local:7001', advertiseAddress: 'c.local:7001' })).toContain(
      '--advertise-address (DKV_ADVERTISE_ADDRESS) is "c.local:7001" but --members (DKV_MEMBERS) lists this node at "a.local:7001"',
    );
    expect(
      parseNodeConfig({ id: 'n1', members: 'n1=a.local:7001,n2=b.local:7001', advertiseAddress: 'a.local:7001' }, {}).advertiseAddress,
    ).toBe('a.local:7001');
  });

  it('joins through one address or several (DNS names allowed), bounded and without repeats', () => {
    expect(parseNodeConfig({ id: 'n6', join: 'http://n1.local:7071/' }, {}).join).toEqual(['n1.local:7071']);
    expect(
      parseNodeConfig(
        { id: 'n6', join: 'dkv-0.dkv.ns.svc.cluster.local:7000, dkv-1.dkv.ns.svc.cluster.local:7000,dkv-0.dkv.ns.svc.cluster.local:7000' },
        {},
      ).join,
    ).toEqual(['dkv-0.dkv.ns.svc.cluster.local:7000', 'dkv-1.dkv.ns.svc.cluster.local:7000']);
    expect(problemOf({ id: 'n6', join: 'n1.local:7071,n2.local' })).toContain('"n2.local" is not host:port');
    expect(problemOf({ id: 'n6', join: ' , ' })).toContain('--join (DKV_JOIN) must be the host:port of a node of the cluster to join');
    const many = Array.from({ length: 17 }, (_, i) => `n${i}.local:7071`).join(',');
    expect(problemOf({ id: 'n6', join: many })).toContain('lists 17 addresses; at most 16 are allowed');
  });

  it('prefers a flag over its variable, and a variable over the default', () => {
    const config = parseNodeConfig({ port: '9001' }, { DKV_NODE_ID: 'n7', DKV_PORT: '9000', DKV_VNODES: '16', DKV_LOG_LEVEL: 'warn' });
    expect(config).toMatchObject({ id: 'n7', port: 9001, vnodes: 16, logLevel: 'warn' });
  });

  it('parses the static membership', () => {
    const config = parseNodeConfig({ id: 'n2', members: 'n1=127.0.0.1:7001, n2=127.0.0.1:7002,n3=db-3.local:7003' }, {});
    expect(config.members).toEqual([
      { id: 'n1', address: '127.0.0.1:7001' },
      { id: 'n2', address: '127.0.0.1:7002' },
      { id: 'n3', address: 'db-3.local:7003' },
    ]);
    expect(staticMembership(config, 'ignored:1').nodes.map((n) => [n.id, n.address, n.role, n.status, n.vnodes])).toEqual([
      ['n1', '127.0.0.1:7001', 'storage', 'up', DEFAULT_VNODES],
      ['n2', '127.0.0.1:7002', 'storage', 'up', DEFAULT_VNODES],
      ['n3', 'db-3.local:7003', 'storage', 'up', DEFAULT_VNODES],
    ]);
  });

  it('serves itself alone at its bound address when no members are given', () => {
    const membership = staticMembership(parseNodeConfig({ id: 'solo', port: '0' }, {}), '127.0.0.1:40123');
    expect(membership).toEqual({
      epoch: 1,
      nodes: [
        { id: 'solo', address: '127.0.0.1:40123', role: 'storage', status: 'up', vnodes: DEFAULT_VNODES, metadata: {}, zone: 'default' },
      ],
    });
  });

  it("takes the zone from --zone, DKV_ZONE, or the member list, and every member's zone from the list", () => {
    expect(parseNodeConfig({ id: 'n1', zone: 'us-east-1a' }, {}).zone).toBe('us-east-1a');
    expect(parseNodeConfig({ id: 'n1' }, { DKV_ZONE: 'topology.example/zone-b' }).zone).toBe('topology.example/zone-b');
    const config = parseNodeConfig({ id: 'n2', members: 'n1=h:1@z1,n2=h:2@z2,n3=h:3' }, {});
    expect(config.zone).toBe('z2');
    expect(staticMembership(config, 'ignored:1').nodes.map((n) => [n.id, n.zone])).toEqual([
      ['n1', 'z1'],
      ['n2', 'z2'],
      ['n3', 'default'],
    ]);
    expect(parseNodeConfig({ id: 'n2', members: 'n1=h:1@z1,n2=h:2@z2', zone: 'z2' }, {}).zone).toBe('z2');
  });

  it.each([
    [{}, '--id (DKV_NODE_ID) is required'],
    [{ id: 'bad id' }, '--id (DKV_NODE_ID) must be 1 to 64 letters'],
    [{ id: 'n1', port: 'abc' }, '--port (DKV_PORT) must be a whole number from 0 to 65535, got "abc"'],
    [{ id: 'n1', port: '70000' }, '--port (DKV_PORT) must be a whole number from 0 to 65535, got "70000"'],
    [{ id: 'n1', vnodes: '0' }, '--vnodes (DKV_VNODES) must be a whole number from 1 to 65536'],
    [{ id: 'n1', tombstoneGraceMs: '-5' }, '--tombstone-grace-ms (DKV_TOMBSTONE_GRACE_MS) must be a whole number'],
    [{ id: 'n1', sweepIntervalMs: '1.5' }, '--sweep-interval-ms (DKV_SWEEP_INTERVAL_MS)'],
    [{ id: 'n1', sweepMaxWork: '0' }, '--sweep-max-work (DKV_SWEEP_MAX_WORK)'],
    [{ id: 'n1', engine: 'lsm' }, '--engine (DKV_ENGINE) must be one of map, compact'],
    [{ id: 'n1', bodyLimitBytes: '10' }, '--body-limit-bytes (DKV_BODY_LIMIT_BYTES) must be a whole number from 1024'],
    [{ id: 'n1', logLevel: 'loud' }, '--log-level (DKV_LOG_LEVEL) must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ id: 'n1', members: 'n1=localhost' }, '--members (DKV_MEMBERS) must be a comma-separated list of id=host:port'],
    [{ id: 'n1', members: 'n1=h:1,n1=h:2' }, 'lists node id "n1" twice'],
    [{ id: 'n1', members: 'n2=h:1' }, '--members (DKV_MEMBERS) must include this node\'s id "n1"'],
    [{ id: 'n1', host: 'a b' }, '--host (DKV_HOST) must be a host name or IP address'],
    [
      { id: 'n1', zone: 'bad zone' },
      '--zone (DKV_ZONE) must be 1 to 64 letters, digits, ".", "_", "-" or "/", starting with a letter or digit',
    ],
    [{ id: 'n1', zone: '-z' }, '--zone (DKV_ZONE) must be 1 to 64 letters'],
    [
      { id: 'n1', members: 'n1=h:1@bad zone' },
      '--members (DKV_MEMBERS) must be a comma-separated list of id=host:port or id=host:port@zone',
    ],
    [
      { id: 'n1', members: 'n1=h:1@z1', zone: 'z2' },
      '--zone (DKV_ZONE) is "z2" but --members (DKV_MEMBERS) places this node in "z1": give every member\'s zone in the list',
    ],
  ])('rejects %j', (flags, message) => {
    expect(problemOf(flags as Record<string, string>)).toContain(message);
  });

  it('names a bad variable the same way as a bad flag', () => {
    expect(problemOf({ id: 'n1' }, { DKV_PORT: 'x' })).toContain('--port (DKV_PORT) must be a whole number');
  });

  it('reports every problem at once', () => {
    const message = problemOf({ port: 'x', vnodes: 'y' });
    expect(message).toContain('--id');
    expect(message).toContain('--port');
    expect(message).toContain('--vnodes');
  });
});

describe('parseFlags', () => {
  it('reads --flag value and --flag=value into the table keys', () => {
    expect(parseFlags(NODE_SETTINGS, ['--id', 'n1', '--tombstone-grace-ms=5000'])).toEqual({
      flags: { id: 'n1', tombstoneGraceMs: '5000' },
      help: false,
    });
    expect(parseFlags(NODE_SETTINGS, ['--help']).help).toBe(true);
  });

  it('rejects unknown flags and stray arguments', () => {
    expect(() => parseFlags(NODE_SETTINGS, ['--nope', '1'])).toThrow(ConfigError);
    expect(() => parseFlags(NODE_SETTINGS, ['stray'])).toThrow(ConfigError);
  });

  it('documents every setting in the help text', () => {
    const help = formatHelp('dkv node', NODE_SETTINGS);
    for (const setting of Object.values(NODE_SETTINGS))
      expect(help).toContain(`--${setting.flag}${'switch' in setting ? '' : ' <value>'}  ${setting.env}`);
  });
});
