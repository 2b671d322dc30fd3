// Goal: a coordinator's configuration comes from flags, then DKV_* variables, then defaults (the
// coordination core's for its bounds), and every bad setting, quorums larger than N included,
// stops start-up with a message naming the flag, the variable and the reason.
// Method: table cases through parseCoordinatorConfig and parseFlags, no process started.
import { DEFAULT_COORDINATOR_CONFIG } from '@dkv/coordination';
import { describe, expect, it } from 'vitest';
import { COORDINATOR_SETTINGS, parseCoordinatorConfig } from './config.js';
import { ConfigError, parseFlags } from '@dkv/app-config';

function problemOf(flags: Record<string, string>, env: Record<string, string> = {}): string {
  try {
    parseCoordinatorConfig(flags, env);
    return 'no error';
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message;
  }
}

describe('parseCoordinatorConfig', () => {
  it('applies the defaults', () => {
    const config = parseCoordinatorConfig({ join: '127.0.0.1:7071', id: 'c1' }, {});
    expect(config).toEqual({
      host: '127.0.0.1',
      port: 7070,
      join: '127.0.0.1:7071',
      joinTimeoutMs: 30_000,
      membershipRefreshMs: 5000,
      transport: 'tcp',
      connectionsPerNode: 16,
      maxInFlightPerNode: 512,
      nodeRetry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 200 },
      circuitBreaker: { failureThreshold: 5, openMs: 1000 },
      logLevel: 'info',
      clockOffsetMs: 0,
      coordinator: { ...DEFAULT_COORDINATOR_CONFIG, nodeId: 'c1' },
      resp: {
        port: 6380,
        maxConnections: 10_000,
        idleTimeoutMs: 300_000,
        maxPipelined: 256,
        maxInFlight: 256,
        maxQueuedReplyBytes: 4 * 1024 * 1024,
        maxReplyBufferBytes: 64 * 1024 * 1024,
        maxKeysReply: 10_000,
        limits: {
          maxArgs: 1024 * 1024,
          maxInlineBytes: 64 * 1024,
          maxBulkBytes: DEFAULT_COORDINATOR_CONFIG.maxValueBytes + 64 * 1024,
          maxCommandBytes: 16 * 1024 * 1024,
        },
      },
      auth: null,
      tls: null,
      clusterSecret: null,
      portBounds: { maxConnections: 4096, idleTimeoutMs: 300_000, readTimeoutMs: 30_000 },
    });
  });

  it("takes the Redis door's settings, its bulk bound from the value limit, and checks its reply buffers", () => {
    expect(
      parseCoordinatorConfig({ join: 'h:1', respPort: '0', maxValueBytes: '4096' }, { DKV_RESP_MAX_PIPELINED: '8' }).resp,
    ).toMatchObject({ port: 0, maxPipelined: 8, limits: { maxBulkBytes: 4096 + 64 * 1024 } });
    expect(problemOf({ join: 'h:1', respPort: '65536' })).toContain('--resp-port (DKV_RESP_PORT) must be a whole number from 0 to 65535');
    expect(problemOf({ join: 'h:1', respMaxQueuedReplyBytes: '2048', respMaxReplyBufferBytes: '1024' })).toContain(
      '--resp-max-reply-buffer-bytes (DKV_RESP_MAX_REPLY_BUFFER_BYTES) must be at least --resp-max-queued-reply-bytes (DKV_RESP_MAX_QUEUED_REPLY_BYTES) (2048)',
    );
  });

  it('takes the internode transport from --transport or DKV_TRANSPORT, tcp or http only', () => {
    expect(parseCoordinatorConfig({ join: 'h:1', transport: 'http' }, {}).transport).toBe('http');
    expect(parseCoordinatorConfig({ join: 'h:1' }, { DKV_TRANSPORT: 'http' }).transport).toBe('http');
    expect(problemOf({ join: 'h:1', transport: 'udp' })).toContain('--transport (DKV_TRANSPORT)');
  });

  it('takes the read fan-out and the hint bounds', () => {
    const config = parseCoordinatorConfig(
      {
        join: 'h:1',
        readFanout: 'quorum',
        hedgeMinDelayMs: '3',
        replicationMaxTasksPerTarget: '10',
        replicationMaxSendsPerTargetPerPass: '5',
      },
      {},
    );
    expect(config.coordinator).toMatchObject({
      readFanout: 'quorum',
      hedgeMinDelayMs: 3,
      replication: { maxTasksPerTarget: 10, maxSendsPerTargetPerPass: 5 },
    });
    expect(problemOf({ join: 'h:1', readFanout: 'some' })).toContain('--read-fanout (DKV_READ_FANOUT)');
    expect(parseCoordinatorConfig({ join: 'h:1', writeVersioning: 'read-first' }, {}).coordinator.writeVersioning).toBe('read-first');
    expect(problemOf({ join: 'h:1', writeVersioning: 'blind' })).toContain('--write-versioning (DKV_WRITE_VERSIONING)');
    expect(parseCoordinatorConfig({ join: 'h:1', circuitFailureThreshold: '2', circuitOpenMs: '50' }, {}).circuitBreaker).toEqual({
      failureThreshold: 2,
      openMs: 50,
    });
    expect(problemOf({ join: 'h:1', circuitFailureThreshold: '0' })).toContain(
      '--circuit-failure-threshold (DKV_CIRCUIT_FAILURE_THRESHOLD)',
    );
    expect(parseCoordinatorConfig({ join: 'h:1', clockOffsetMs: '-300000' }, {}).clockOffsetMs).toBe(-300_000);
    expect(problemOf({ join: 'h:1', clockOffsetMs: '1.5' })).toContain('--clock-offset-ms (DKV_CLOCK_OFFSET_MS) must be a whole number');
    expect(parseCoordinatorConfig({ join: 'h:1' }, {}).coordinator.writeQuorum).toBe('strict');
    expect(parseCoordinatorConfig({ join: 'h:1' }, { DKV_WRITE_QUORUM: 'sloppy' }).coordinator.writeQuorum).toBe('sloppy');
    expect(problemOf({ join: 'h:1', writeQuorum: 'any' })).toContain('--write-quorum (DKV_WRITE_QUORUM)');
    expect(parseCoordinatorConfig({ join: 'h:1' }, {}).coordinator.writeVersioning).toBe('optimistic');
  });

  it('makes up a unique writer id when none is given', () => {
    const a = parseCoordinatorConfig({ join: 'h:1' }, {}).coordinator.nodeId;
    const b = parseCoordinatorConfig({ join: 'h:1' }, {}).coordinator.nodeId;
    expect(a).toMatch(/^coordinator-/);
    expect(a).not.toBe(b);
  });

  it('prefers a flag over its variable, and a variable over the default', () => {
    const config = parseCoordinatorConfig(
      { w: '3' },
      { DKV_JOIN: 'http://db-1:7071/', DKV_N: '5', DKV_W: '1', DKV_R: '4', DKV_MAX_VALUE_BYTES: '2048', DKV_REQUEST_TIMEOUT_MS: '250' },
    );
    expect(config.join).toBe('db-1:7071');
    expect(config.coordinator).toMatchObject({ n: 5, w: 3, r: 4, maxValueBytes: 2048, requestTimeoutMs: 250 });
  });

  it('passes every bound to the coordination core', () => {
    const config = parseCoordinatorConfig(
      {
        join: 'h:1',
        readRepairMaxInFlight: '7',
        replicationMaxQueuedTasks: '8',
        replicationRetryIntervalMs: '9',
        replicationBaseBackoffMs: '10',
        replicationMaxBackoffMs: '11',
        replicationMaxTaskAgeMs: '12',
        replicationBatchSize: '13',
        heartbeatIntervalMs: '14',
        heartbeatTimeoutMs: '15',
        heartbeatFailureThreshold: '16',
      },
      {},
    );
    expect(config.coordinator.readRepairMaxInFlight).toBe(7);
    expect(config.coordinator.replication).toEqual({
      ...DEFAULT_COORDINATOR_CONFIG.replication,
      maxQueuedTasks: 8,
      retryIntervalMs: 9,
      baseBackoffMs: 10,
      maxBackoffMs: 11,
      maxTaskAgeMs: 12,
      batchSize: 13,
    });
    expect(config.coordinator.heartbeat).toEqual({ intervalMs: 14, timeoutMs: 15, failureThreshold: 16 });
  });

  it.each([
    [{}, '--join (DKV_JOIN) is required'],
    [{ join: 'nohost' }, '--join (DKV_JOIN) must be the host:port of a storage node, got "nohost"'],
    [{ join: 'h:99999' }, '--join (DKV_JOIN) must be the host:port'],
    [{ join: 'h:1', port: 'x' }, '--port (DKV_PORT) must be a whole number from 0 to 65535, got "x"'],
    [{ join: 'h:1', n: '0' }, '--n (DKV_N) must be a whole number from 1 to 16'],
    [{ join: 'h:1', w: '4' }, '--w (DKV_W) must be at most N (3, --n (DKV_N)), got 4'],
    [{ join: 'h:1', n: '1' }, '--w (DKV_W) must be at most N (1, --n (DKV_N)), got 2'],
    [{ join: 'h:1', r: '5' }, '--r (DKV_R) must be at most N (3, --n (DKV_N)), got 5'],
    [{ join: 'h:1', requestTimeoutMs: '0' }, '--request-timeout-ms (DKV_REQUEST_TIMEOUT_MS) must be a whole number from 1'],
    [{ join: 'h:1', maxValueBytes: '1MB' }, '--max-value-bytes (DKV_MAX_VALUE_BYTES) must be a whole number'],
    [
      { join: 'h:1', replicationBaseBackoffMs: '500', replicationMaxBackoffMs: '100' },
      '--replication-max-backoff-ms (DKV_REPLICATION_MAX_BACKOFF_MS) must be at least --replication-base-backoff-ms',
    ],
    [{ join: 'h:1', nodeRetryAttempts: '11' }, '--node-retry-attempts (DKV_NODE_RETRY_ATTEMPTS) must be a whole number from 1 to 10'],
    [{ join: 'h:1', id: 'has space' }, '--id (DKV_NODE_ID) must be 1 to 64 letters'],
    [{ join: 'h:1', logLevel: 'chatty' }, '--log-level (DKV_LOG_LEVEL) must be one of'],
  ])('rejects %j', (flags, message) => {
    expect(problemOf(flags as Record<string, string>)).toContain(message);
  });

  it('names the hedge flags and variables when the most wait is below the least, and allows them equal', () => {
    const message = '--hedge-max-delay-ms (DKV_HEDGE_MAX_DELAY_MS) must be at least --hedge-min-delay-ms (DKV_HEDGE_MIN_DELAY_MS) (300)';
    expect(problemOf({ join: 'h:1', hedgeMinDelayMs: '300', hedgeMaxDelayMs: '200' })).toBe(`invalid configuration:\n  ${message}`);
    // Against the default most wait (250), from the variable: still the flags, never the core's field names.
    expect(problemOf({ join: 'h:1' }, { DKV_HEDGE_MIN_DELAY_MS: '300' })).toBe(`invalid configuration:\n  ${message}`);
    expect(parseCoordinatorConfig({ join: 'h:1', hedgeMinDelayMs: '40', hedgeMaxDelayMs: '40' }, {}).coordinator).toMatchObject({
      hedgeMinDelayMs: 40,
      hedgeMaxDelayMs: 40,
    });
  });

  it('names a bad variable the same way as a bad flag', () => {
    expect(problemOf({ join: 'h:1' }, { DKV_HEARTBEAT_FAILURE_THRESHOLD: 'never' })).toContain(
      '--heartbeat-failure-threshold (DKV_HEARTBEAT_FAILURE_THRESHOLD) must be a whole number',
    );
  });
});

describe('parseFlags', () => {
  it('reads the coordinator flags', () => {
    expect(parseFlags(COORDINATOR_SETTINGS, ['--join', 'h:1', '--request-timeout-ms=300', '--n', '3']).flags).toEqual({
      join: 'h:1',
      requestTimeoutMs: '300',
      n: '3',
    });
  });

  it('rejects unknown flags', () => {
    expect(() => parseFlags(COORDINATOR_SETTINGS, ['--members', 'x'])).toThrow(ConfigError);
  });
});
