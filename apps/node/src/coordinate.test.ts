// Goal: a storage node started with --coordinate serves the public API of API.md on its own port
// beside its internal API: PUT, GET and DELETE through any node with the statuses, headers and
// error bodies API.md gives, reads and writes reaching every replica, /v1/cluster from its own
// gossiped membership, one /metrics with both APIs' metrics, and its settings (the stand-alone
// coordinator's, under the same flags, variables and defaults) checked at start and reaching the
// running coordinator.
// Method: settings as table cases through parseNodeConfig; three nodes (N=3, W=2, R=2) started in
// this process with startNode on 127.0.0.1, each coordinating, driven over real HTTP with fetch;
// replicas inspected through the internal HTTP client; single-node clusters whose /metrics show
// which replica requests a setting made the coordinator send; every wait is a bounded poll of a
// condition.
import { freePort } from '@dkv/testkit';
import { ConfigError } from '@dkv/app-config';
import type { Node } from '@dkv/core';
import { DEFAULT_COORDINATOR_CONFIG } from '@dkv/coordination';
import { HttpNodeClient } from '@dkv/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_COORDINATE_SETTINGS } from './coordinate-config.js';
import { parseNodeConfig } from './config.js';
import { startNode, type RunningNode } from './node.composition.js';

const IDS = ['n1', 'n2', 'n3'] as const;
const WAIT = { timeout: 15_000, interval: 50 };

/** Polls `condition` until it holds, failing after WAIT.timeout (expect.poll is for test bodies only). */
async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  const giveUpAt = Date.now() + WAIT.timeout;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${WAIT.timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, WAIT.interval));
  }
}

describe('--coordinate settings', () => {
  it('is off by default, and on with the switch or DKV_COORDINATE', () => {
    expect(parseNodeConfig({ id: 'n1' }, {}).coordinator).toBeNull();
    expect(parseNodeConfig({ id: 'n1', coordinate: 'true' }, {}).coordinator).toMatchObject({
      nodeId: 'n1',
      localReplicaId: 'n1',
      n: 3,
      w: 2,
      r: 2,
      requestTimeoutMs: 1000,
      readFanout: 'all',
      maxValueBytes: 1024 * 1024,
    });
    expect(parseNodeConfig({ id: 'n1', coordinate: 'true', readFanout: 'quorum' }, {}).coordinator).toMatchObject({ readFanout: 'quorum' });
    expect(parseNodeConfig({ id: 'n1', coordinate: 'true' }, {}).coordinator).toMatchObject({ writeQuorum: 'strict' });
    expect(parseNodeConfig({ id: 'n1', coordinate: 'true' }, { DKV_WRITE_QUORUM: 'sloppy' }).coordinator).toMatchObject({
      writeQuorum: 'sloppy',
    });
    expect(parseNodeConfig({ id: 'n2', n: '1' }, { DKV_COORDINATE: '1', DKV_W: '1', DKV_R: '1' }).coordinator).toMatchObject({
      nodeId: 'n2',
      n: 1,
      w: 1,
      r: 1,
    });
  });

  it("defaults to the coordination core's defaults and the stand-alone coordinator's wire stack", () => {
    const config = parseNodeConfig({ id: 'n1', coordinate: 'true' }, {});
    expect(config.coordinator).toEqual({ ...DEFAULT_COORDINATOR_CONFIG, nodeId: 'n1', localReplicaId: 'n1' });
    expect(config.coordinatorClient).toEqual({
      connectionsPerNode: 16,
      maxInFlightPerNode: 512,
      nodeRetry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 200 },
      circuitBreaker: { failureThreshold: 5, openMs: 1000 },
    });
    expect(parseNodeConfig({ id: 'n1' }, {}).coordinatorClient).toBeNull();
  });

  // Each coordinate setting: its key, its variable, a value other than the default, and where it lands.
  const CASES: ReadonlyArray<readonly [keyof typeof NODE_COORDINATE_SETTINGS, string, string, object]> = [
    ['w', 'DKV_W', '3', { coordinator: { w: 3 } }],
    ['r', 'DKV_R', '1', { coordinator: { r: 1 } }],
    ['requestTimeoutMs', 'DKV_REQUEST_TIMEOUT_MS', '750', { coordinator: { requestTimeoutMs: 750 } }],
    ['readFanout', 'DKV_READ_FANOUT', 'quorum', { coordinator: { readFanout: 'quorum' } }],
    ['writeQuorum', 'DKV_WRITE_QUORUM', 'sloppy', { coordinator: { writeQuorum: 'sloppy' } }],
    ['maxValueBytes', 'DKV_MAX_VALUE_BYTES', '4096', { coordinator: { maxValueBytes: 4096 } }],
    ['writeVersioning', 'DKV_WRITE_VERSIONING', 'read-first', { coordinator: { writeVersioning: 'read-first' } }],
    ['hedgeMinDelayMs', 'DKV_HEDGE_MIN_DELAY_MS', '7', { coordinator: { hedgeMinDelayMs: 7 } }],
    ['hedgeMaxDelayMs', 'DKV_HEDGE_MAX_DELAY_MS', '90', { coordinator: { hedgeMaxDelayMs: 90 } }],
    ['readRepairMaxInFlight', 'DKV_READ_REPAIR_MAX_IN_FLIGHT', '64', { coordinator: { readRepairMaxInFlight: 64 } }],
    ['replicationMaxQueuedTasks', 'DKV_REPLICATION_MAX_QUEUED_TASKS', '1000', { coordinator: { replication: { maxQueuedTasks: 1000 } } }],
    ['replicationRetryIntervalMs', 'DKV_REPLICATION_RETRY_INTERVAL_MS', '50', { coordinator: { replication: { retryIntervalMs: 50 } } }],
    ['replicationBaseBackoffMs', 'DKV_REPLICATION_BASE_BACKOFF_MS', '10', { coordinator: { replication: { baseBackoffMs: 10 } } }],
    ['replicationMaxBackoffMs', 'DKV_REPLICATION_MAX_BACKOFF_MS', '5000', { coordinator: { replication: { maxBackoffMs: 5000 } } }],
    ['replicationMaxTaskAgeMs', 'DKV_REPLICATION_MAX_TASK_AGE_MS', '60000', { coordinator: { replication: { maxTaskAgeMs: 60_000 } } }],
    [
      'replicationMaxTasksPerTarget',
      'DKV_REPLICATION_MAX_TASKS_PER_TARGET',
      '500',
      { coordinator: { replication: { maxTasksPerTarget: 500 } } },
    ],
    [
      'replicationMaxBytesPerTarget',
      'DKV_REPLICATION_MAX_BYTES_PER_TARGET',
      '1048576',
      { coordinator: { replication: { maxBytesPerTarget: 1_048_576 } } },
    ],
    [
      'replicationMaxSendsPerTargetPerPass',
      'DKV_REPLICATION_MAX_SENDS_PER_TARGET_PER_PASS',
      '16',
      { coordinator: { replication: { maxSendsPerTargetPerPass: 16 } } },
    ],
    ['replicationBatchSize', 'DKV_REPLICATION_BATCH_SIZE', '32', { coordinator: { replication: { batchSize: 32 } } }],
    ['heartbeatIntervalMs', 'DKV_HEARTBEAT_INTERVAL_MS', '250', { coordinator: { heartbeat: { intervalMs: 250 } } }],
    ['heartbeatTimeoutMs', 'DKV_HEARTBEAT_TIMEOUT_MS', '200', { coordinator: { heartbeat: { timeoutMs: 200 } } }],
    ['heartbeatFailureThreshold', 'DKV_HEARTBEAT_FAILURE_THRESHOLD', '5', { coordinator: { heartbeat: { failureThreshold: 5 } } }],
    ['connectionsPerNode', 'DKV_CONNECTIONS_PER_NODE', '2', { coordinatorClient: { connectionsPerNode: 2 } }],
    ['maxInFlightPerNode', 'DKV_MAX_IN_FLIGHT_PER_NODE', '128', { coordinatorClient: { maxInFlightPerNode: 128 } }],
    ['nodeRetryAttempts', 'DKV_NODE_RETRY_ATTEMPTS', '3', { coordinatorClient: { nodeRetry: { maxAttempts: 3 } } }],
    ['nodeRetryBaseDelayMs', 'DKV_NODE_RETRY_BASE_DELAY_MS', '10', { coordinatorClient: { nodeRetry: { baseDelayMs: 10 } } }],
    ['nodeRetryMaxDelayMs', 'DKV_NODE_RETRY_MAX_DELAY_MS', '100', { coordinatorClient: { nodeRetry: { maxDelayMs: 100 } } }],
    ['circuitFailureThreshold', 'DKV_CIRCUIT_FAILURE_THRESHOLD', '3', { coordinatorClient: { circuitBreaker: { failureThreshold: 3 } } }],
    ['circuitOpenMs', 'DKV_CIRCUIT_OPEN_MS', '500', { coordinatorClient: { circuitBreaker: { openMs: 500 } } }],
    ['respPort', 'DKV_RESP_PORT', '7379', { resp: { port: 7379 } }],
    ['respMaxConnections', 'DKV_RESP_MAX_CONNECTIONS', '50', { resp: { maxConnections: 50 } }],
    ['respIdleTimeoutMs', 'DKV_RESP_IDLE_TIMEOUT_MS', '0', { resp: { idleTimeoutMs: 0 } }],
    ['respMaxPipelined', 'DKV_RESP_MAX_PIPELINED', '16', { resp: { maxPipelined: 16 } }],
    ['respMaxInFlight', 'DKV_RESP_MAX_IN_FLIGHT', '32', { resp: { maxInFlight: 32 } }],
    ['respMaxQueuedReplyBytes', 'DKV_RESP_MAX_QUEUED_REPLY_BYTES', '65536', { resp: { maxQueuedReplyBytes: 65_536 } }],
    ['respMaxReplyBufferBytes', 'DKV_RESP_MAX_REPLY_BUFFER_BYTES', '8388608', { resp: { maxReplyBufferBytes: 8_388_608 } }],
    ['respMaxKeys', 'DKV_RESP_MAX_KEYS', '100', { resp: { maxKeysReply: 100 } }],
  ];

  it.each(CASES)('reads %s from its flag and from %s', (key, env, text, expected) => {
    expect(NODE_COORDINATE_SETTINGS[key].env).toBe(env);
    expect(parseNodeConfig({ id: 'n1', coordinate: 'true', [key]: text }, {})).toMatchObject(expected);
    expect(parseNodeConfig({ id: 'n1', coordinate: 'true' }, { [env]: text })).toMatchObject(expected);
  });

  it('has a case above for every coordinate setting', () => {
    expect(CASES.map(([key]) => key).sort()).toEqual(
      Object.keys(NODE_COORDINATE_SETTINGS)
        .filter((key) => key !== 'coordinate')
        .sort(),
    );
  });

  it('takes no --transport: a coordinating node talks TCP to its peers', () => {
    expect(Object.values(NODE_COORDINATE_SETTINGS).map((setting) => setting.flag)).not.toContain('transport');
  });

  it.each([
    [{ coordinate: 'true', w: '4' }, '--w (DKV_W) must be at most N (3, --n (DKV_N)), got 4'],
    [{ coordinate: 'true', n: '1' }, '--r (DKV_R) must be at most N (1, --n (DKV_N)), got 2'],
    [
      { coordinate: 'true', maxValueBytes: String(2 * 1024 * 1024) },
      '--max-value-bytes (DKV_MAX_VALUE_BYTES) (2097152) must be at most --body-limit-bytes (DKV_BODY_LIMIT_BYTES) minus 65536',
    ],
    [{ coordinate: 'maybe' }, '--coordinate (DKV_COORDINATE) must be true or false'],
    [
      { coordinate: 'true', writeVersioning: 'pessimistic' },
      '--write-versioning (DKV_WRITE_VERSIONING) must be one of optimistic, read-first, got "pessimistic"',
    ],
    [
      { coordinate: 'true', hedgeMinDelayMs: '0' },
      '--hedge-min-delay-ms (DKV_HEDGE_MIN_DELAY_MS) must be a whole number from 1 to 60000, got "0"',
    ],
    [
      { coordinate: 'true', hedgeMaxDelayMs: '60001' },
      '--hedge-max-delay-ms (DKV_HEDGE_MAX_DELAY_MS) must be a whole number from 1 to 60000, got "60001"',
    ],
    [
      { coordinate: 'true', hedgeMinDelayMs: '50', hedgeMaxDelayMs: '10' },
      '--hedge-max-delay-ms (DKV_HEDGE_MAX_DELAY_MS) must be at least --hedge-min-delay-ms (DKV_HEDGE_MIN_DELAY_MS) (50)',
    ],
    [
      { coordinate: 'true', readRepairMaxInFlight: '0' },
      '--read-repair-max-in-flight (DKV_READ_REPAIR_MAX_IN_FLIGHT) must be a whole number from 1 to 1000000, got "0"',
    ],
    [
      { coordinate: 'true', replicationMaxTasksPerTarget: 'many' },
      '--replication-max-tasks-per-target (DKV_REPLICATION_MAX_TASKS_PER_TARGET) must be a whole number from 1 to 100000000, got "many"',
    ],
    [
      { coordinate: 'true', replicationMaxBytesPerTarget: '0' },
      '--replication-max-bytes-per-target (DKV_REPLICATION_MAX_BYTES_PER_TARGET) must be a whole number from 1 to 1099511627776, got "0"',
    ],
    [
      { coordinate: 'true', replicationMaxSendsPerTargetPerPass: '1.5' },
      '--replication-max-sends-per-target-per-pass (DKV_REPLICATION_MAX_SENDS_PER_TARGET_PER_PASS) must be a whole number from 1 to 1000000, got "1.5"',
    ],
    [
      { coordinate: 'true', replicationBatchSize: '-1' },
      '--replication-batch-size (DKV_REPLICATION_BATCH_SIZE) must be a whole number from 1 to 1000000, got "-1"',
    ],
    [
      { coordinate: 'true', replicationMaxQueuedTasks: '0' },
      '--replication-max-queued-tasks (DKV_REPLICATION_MAX_QUEUED_TASKS) must be a whole number from 1 to 100000000, got "0"',
    ],
    [
      { coordinate: 'true', replicationRetryIntervalMs: '3600001' },
      '--replication-retry-interval-ms (DKV_REPLICATION_RETRY_INTERVAL_MS) must be a whole number from 1 to 3600000, got "3600001"',
    ],
    [
      { coordinate: 'true', replicationBaseBackoffMs: '500', replicationMaxBackoffMs: '100' },
      '--replication-max-backoff-ms (DKV_REPLICATION_MAX_BACKOFF_MS) must be at least --replication-base-backoff-ms (DKV_REPLICATION_BASE_BACKOFF_MS) (500)',
    ],
    [
      { coordinate: 'true', replicationMaxTaskAgeMs: '3600000' },
      '--replication-max-task-age-ms (DKV_REPLICATION_MAX_TASK_AGE_MS) (3600000) must be below --tombstone-grace-ms (DKV_TOMBSTONE_GRACE_MS) (3600000)',
    ],
    [
      { coordinate: 'true', heartbeatIntervalMs: 'often' },
      '--heartbeat-interval-ms (DKV_HEARTBEAT_INTERVAL_MS) must be a whole number from 1 to 3600000, got "often"',
    ],
    [
      { coordinate: 'true', heartbeatTimeoutMs: '0' },
      '--heartbeat-timeout-ms (DKV_HEARTBEAT_TIMEOUT_MS) must be a whole number from 1 to 3600000, got "0"',
    ],
    [
      { coordinate: 'true', heartbeatFailureThreshold: '1001' },
      '--heartbeat-failure-threshold (DKV_HEARTBEAT_FAILURE_THRESHOLD) must be a whole number from 1 to 1000, got "1001"',
    ],
    [
      { coordinate: 'true', connectionsPerNode: '0' },
      '--connections-per-node (DKV_CONNECTIONS_PER_NODE) must be a whole number from 1 to 1024, got "0"',
    ],
    [
      { coordinate: 'true', maxInFlightPerNode: '1000001' },
      '--max-in-flight-per-node (DKV_MAX_IN_FLIGHT_PER_NODE) must be a whole number from 1 to 1000000, got "1000001"',
    ],
    [
      { coordinate: 'true', nodeRetryAttempts: '11' },
      '--node-retry-attempts (DKV_NODE_RETRY_ATTEMPTS) must be a whole number from 1 to 10, got "11"',
    ],
    [
      { coordinate: 'true', nodeRetryBaseDelayMs: '0' },
      '--node-retry-base-delay-ms (DKV_NODE_RETRY_BASE_DELAY_MS) must be a whole number from 1 to 60000, got "0"',
    ],
    [
      { coordinate: 'true', nodeRetryBaseDelayMs: '300' },
      '--node-retry-max-delay-ms (DKV_NODE_RETRY_MAX_DELAY_MS) must be at least --node-retry-base-delay-ms (DKV_NODE_RETRY_BASE_DELAY_MS) (300)',
    ],
    [
      { coordinate: 'true', circuitFailureThreshold: '0' },
      '--circuit-failure-threshold (DKV_CIRCUIT_FAILURE_THRESHOLD) must be a whole number from 1 to 1000000, got "0"',
    ],
    [
      { coordinate: 'true', circuitOpenMs: 'soon' },
      '--circuit-open-ms (DKV_CIRCUIT_OPEN_MS) must be a whole number from 1 to 3600000, got "soon"',
    ],
  ])('rejects %j', (flags, message) => {
    expect(() => parseNodeConfig({ id: 'n1', ...flags }, {})).toThrow(ConfigError);
    expect(() => parseNodeConfig({ id: 'n1', ...flags }, {})).toThrow(message);
  });

  it('names a bad variable as it names a bad flag', () => {
    expect(() => parseNodeConfig({ id: 'n1', coordinate: 'true' }, { DKV_WRITE_VERSIONING: 'later' })).toThrow(
      '--write-versioning (DKV_WRITE_VERSIONING) must be one of optimistic, read-first, got "later"',
    );
    expect(() => parseNodeConfig({ id: 'n1', coordinate: 'true' }, { DKV_CIRCUIT_OPEN_MS: '0' })).toThrow(
      '--circuit-open-ms (DKV_CIRCUIT_OPEN_MS) must be a whole number from 1 to 3600000, got "0"',
    );
  });

  it('keeps hints below the tombstone grace only where the node coordinates', () => {
    expect(parseNodeConfig({ id: 'n1', tombstoneGraceMs: '60000', antiEntropyIntervalMs: '0' }, {}).coordinator).toBeNull();
    expect(() => parseNodeConfig({ id: 'n1', coordinate: 'true', tombstoneGraceMs: '60000', antiEntropyIntervalMs: '0' }, {})).toThrow(
      '--replication-max-task-age-ms (DKV_REPLICATION_MAX_TASK_AGE_MS) (600000) must be below --tombstone-grace-ms (DKV_TOMBSTONE_GRACE_MS) (60000)',
    );
    const config = parseNodeConfig(
      { id: 'n1', coordinate: 'true', tombstoneGraceMs: '60000', antiEntropyIntervalMs: '0', replicationMaxTaskAgeMs: '30000' },
      {},
    );
    expect(config.coordinator?.replication.maxTaskAgeMs).toBe(30_000);
  });
});

describe('a cluster of coordinating nodes', () => {
  const nodes = new Map<string, RunningNode>();
  const internal = new HttpNodeClient();
  const url = (id: (typeof IDS)[number]): string => nodes.get(id)?.url ?? '';

  beforeAll(async () => {
    const ports = await Promise.all(IDS.map(() => freePort()));
    const members = IDS.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
    for (const [i, id] of IDS.entries()) {
      const config = parseNodeConfig(
        { id, port: String(ports[i]), members, coordinate: 'true', respPort: '0', maxValueBytes: '4096', logLevel: 'silent' },
        {},
      );
      nodes.set(id, await startNode(config));
    }
    for (const id of IDS) await until(`${id} to be ready`, async () => (await fetch(`${url(id)}/readyz`)).status === 200);
    // Ready needs a quorum; the tests below read at r=3 and check the whole view, so each node must
    // also have heard from every other (a first heartbeat refused while a peer started holds it down).
    for (const id of IDS) {
      await until(`${id} to see every node up`, async () => {
        const view = (await (await fetch(`${url(id)}/v1/cluster`)).json()) as { nodes: Array<{ status: string }> };
        return view.nodes.length === IDS.length && view.nodes.every((node) => node.status === 'up');
      });
    }
  });

  afterAll(async () => {
    await internal.close();
    for (const node of nodes.values()) await node.close();
  });

  /** The record each node's replica holds for `key`, read over the internal API. */
  async function replicas(key: string): Promise<Array<number | null>> {
    return Promise.all(
      IDS.map(async (id) => {
        const target: Node = { id, address: nodes.get(id)?.address ?? '', role: 'storage', status: 'up', vnodes: 1, metadata: {} };
        const answer = await internal.send(target, { type: 'GET', key }, { timeoutMs: 2000 });
        return answer.record?.tombstone === false ? answer.record.version : null;
      }),
    );
  }

  it('writes through one node and reads through the others, with the headers of API.md', async () => {
    const put = await fetch(`${url('n1')}/v1/kv/session%3A42?ttl=3600`, { method: 'PUT', body: '{"user":42}' });
    expect(put.status).toBe(200);
    const body = (await put.json()) as { key: string; version: number; expiresAt: number };
    expect(body.key).toBe('session:42');
    expect(Number.isSafeInteger(body.version) && body.version > 0).toBe(true);
    expect(body.expiresAt).toBeGreaterThan(Date.now());
    for (const id of ['n2', 'n3', 'n1'] as const) {
      const get = await fetch(`${url(id)}/v1/kv/session%3A42${id === 'n3' ? '?r=3' : ''}`);
      expect(get.status).toBe(200);
      expect(await get.text()).toBe('{"user":42}');
      expect(get.headers.get('etag')).toBe(`"${body.version}"`);
      expect(get.headers.get('x-dkv-version')).toBe(String(body.version));
      expect(get.headers.get('x-dkv-expires-at')).toBe(String(body.expiresAt));
    }
    await expect.poll(() => replicas('session:42'), WAIT).toEqual([body.version, body.version, body.version]);
  });

  it('orders a write through another node after it, and deletes through a third', async () => {
    const first = (await (await fetch(`${url('n2')}/v1/kv/k1`, { method: 'PUT', body: 'a' })).json()) as { version: number };
    const second = (await (await fetch(`${url('n3')}/v1/kv/k1?w=3`, { method: 'PUT', body: 'b' })).json()) as { version: number };
    expect(second.version).toBeGreaterThan(first.version);
    expect(await (await fetch(`${url('n1')}/v1/kv/k1`)).text()).toBe('b');
    const del = await fetch(`${url('n1')}/v1/kv/k1`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const gone = await fetch(`${url('n2')}/v1/kv/k1?r=3`);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    expect((await fetch(`${url('n3')}/v1/kv/never-written`, { method: 'DELETE' })).status).toBe(204);
    await expect.poll(() => replicas('k1'), WAIT).toEqual([null, null, null]);
  });

  it('answers bad requests with the error codes of API.md', async () => {
    const expectError = async (response: Response, status: number, code: string): Promise<void> => {
      expect(response.status).toBe(status);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    };
    await expectError(await fetch(`${url('n1')}/v1/kv/k?ttl=0`, { method: 'PUT', body: 'v' }), 400, 'INVALID_TTL');
    await expectError(await fetch(`${url('n2')}/v1/kv/k?r=4`), 400, 'INVALID_CONSISTENCY');
    await expectError(await fetch(`${url('n3')}/v1/kv/%E0%A4%A`), 400, 'INVALID_KEY');
    await expectError(await fetch(`${url('n1')}/v1/kv/${'x'.repeat(513)}`), 400, 'INVALID_KEY');
    await expectError(await fetch(`${url('n2')}/v1/kv/big`, { method: 'PUT', body: Buffer.alloc(4097) }), 413, 'VALUE_TOO_LARGE');
    await expectError(await fetch(`${url('n3')}/nope`), 404, 'NOT_FOUND');
  });

  it('serves /v1/cluster from its gossiped membership, /livez, /readyz, and one /metrics for both APIs', async () => {
    const cluster = (await (await fetch(`${url('n2')}/v1/cluster`)).json()) as {
      replication: unknown;
      nodes: Array<{ id: string; status: string }>;
    };
    expect(cluster.replication).toEqual({ n: 3, w: 2, r: 2 });
    expect(cluster.nodes.map((node) => [node.id, node.status])).toEqual(IDS.map((id) => [id, 'up']));
    const distribution = (await (await fetch(`${url('n3')}/v1/cluster/distribution`)).json()) as Array<{ id: string }>;
    expect(distribution.map((entry) => entry.id)).toEqual([...IDS]);
    expect((await fetch(`${url('n1')}/livez`)).status).toBe(200);
    expect(((await (await fetch(`${url('n1')}/readyz`)).json()) as { status: string }).status).toBe('ready');
    const membership = await fetch(`${url('n1')}/internal/v1/membership`);
    expect(membership.status).toBe(200);
    const metrics = await (await fetch(`${url('n1')}/metrics`)).text();
    expect(metrics).toMatch(/dkv_requests_total\{operation="put",status="200",node="n1"\} [1-9]/);
    expect(metrics).toMatch(/dkv_storage_requests_total\{type="GET",node="n1"\} [1-9]/);
    expect(metrics).toContain('dkv_replication_queue_depth{node="n1"}');
    expect(metrics).toMatch(/dkv_storage_keys\{node="n1"\} \d/);
    expect(metrics).toMatch(/dkv_anti_entropy_rounds_total\{node="n1"\} \d+/);
    expect(metrics).toMatch(/dkv_anti_entropy_keys_pulled_total\{node="n1"\} \d+/);
  });
});

describe('coordinate settings reach the running coordinator', () => {
  const nodes: RunningNode[] = [];

  afterAll(async () => {
    for (const node of nodes) await node.close();
  });

  /** Starts a coordinating node alone in its cluster (N=W=R=1), waits for /readyz, PUTs one key and returns the replica requests its /metrics counted by type. */
  async function storageRequestsOfOnePut(id: string, flags: Record<string, string>): Promise<Record<string, number>> {
    const node = await startNode(
      parseNodeConfig({ id, port: '0', n: '1', w: '1', r: '1', coordinate: 'true', respPort: '0', logLevel: 'silent', ...flags }, {}),
    );
    nodes.push(node);
    await until(`${id} to be ready`, async () => (await fetch(`${node.url}/readyz`)).status === 200);
    expect((await fetch(`${node.url}/v1/kv/k`, { method: 'PUT', body: 'v' })).status).toBe(200);
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    const counts: Record<string, number> = {};
    for (const match of metrics.matchAll(/^dkv_storage_requests_total\{type="([A-Z_]+)",node="[^"]+"\} (\d+)$/gm))
      counts[match[1] ?? ''] = Number(match[2]);
    return counts;
  }

  it('--write-versioning read-first reads the version (HEAD) before the write; optimistic writes at once', async () => {
    const optimistic = await storageRequestsOfOnePut('opt', {});
    expect(optimistic.PUT).toBe(1);
    expect(optimistic.HEAD ?? 0).toBe(0);
    const readFirst = await storageRequestsOfOnePut('rf', { writeVersioning: 'read-first' });
    expect(readFirst.HEAD).toBe(1);
    expect(readFirst.PUT).toBe(1);
  });
});
