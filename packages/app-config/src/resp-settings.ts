import { DEFAULT_RESP_SERVER_LIMITS, respServerLimits, type RespServerOptions } from '@dkv/resp';
import { intSchema, settingName, type Setting, type SettingsValues } from './settings.js';

/**
 * The Redis door's settings (API.md, "Redis protocol"), as every coordinating process takes them:
 * the coordinator (`dkv coordinator`), a storage node with `--coordinate`, and `dkv cluster up`
 * for its port. One flag, variable, default and schema each, so one environment configures all.
 */
export const RESP_SETTINGS = {
  respPort: {
    flag: 'resp-port',
    env: 'DKV_RESP_PORT',
    defaultValue: '6380',
    description: 'port of the Redis protocol door, RESP2/RESP3 (0 picks a free one)',
    schema: intSchema(0, 65535),
  },
  respMaxConnections: {
    flag: 'resp-max-connections',
    env: 'DKV_RESP_MAX_CONNECTIONS',
    defaultValue: '10000',
    description: 'Redis-protocol connections at once; one more is answered "-ERR max number of clients reached" and closed',
    schema: intSchema(1, 1_000_000),
  },
  respIdleTimeoutMs: {
    flag: 'resp-idle-timeout-ms',
    env: 'DKV_RESP_IDLE_TIMEOUT_MS',
    defaultValue: '300000',
    description: 'a Redis-protocol connection without traffic this long is closed (0: never; clients reconnect)',
    schema: intSchema(0, 86_400_000),
  },
  respMaxPipelined: {
    flag: 'resp-max-pipelined',
    env: 'DKV_RESP_MAX_PIPELINED',
    defaultValue: '256',
    description: 'commands of one Redis-protocol connection in flight, at most; more wait unread (back-pressure)',
    schema: intSchema(1, 1_000_000),
  },
  respMaxInFlight: {
    flag: 'resp-max-in-flight',
    env: 'DKV_RESP_MAX_IN_FLIGHT',
    defaultValue: '256',
    description:
      'commands on keys running at once across all Redis-protocol connections; more wait their turn (keep it below --max-in-flight-per-node, where requests fail fast)',
    schema: intSchema(1, 1_000_000),
  },
  respMaxQueuedReplyBytes: {
    flag: 'resp-max-queued-reply-bytes',
    env: 'DKV_RESP_MAX_QUEUED_REPLY_BYTES',
    defaultValue: String(4 * 1024 * 1024),
    description: 'reply bytes queued for one Redis-protocol client beyond which its commands wait unread until it reads',
    schema: intSchema(1024, 2 ** 40),
  },
  respMaxReplyBufferBytes: {
    flag: 'resp-max-reply-buffer-bytes',
    env: 'DKV_RESP_MAX_REPLY_BUFFER_BYTES',
    defaultValue: String(64 * 1024 * 1024),
    description: 'reply bytes queued for one Redis-protocol client beyond which it is disconnected (it does not read its replies)',
    schema: intSchema(1024, 2 ** 40),
  },
  respMaxKeys: {
    flag: 'resp-max-keys',
    env: 'DKV_RESP_MAX_KEYS',
    defaultValue: String(DEFAULT_RESP_SERVER_LIMITS.maxKeysReply),
    description: 'most keys one KEYS answers; above, KEYS is refused (SCAN pages through any number)',
    schema: intSchema(1, 10_000_000),
  },
} satisfies Record<string, Setting<unknown>>;

/** The parsed values of {@link RESP_SETTINGS} (any table that holds them all). */
export type RespSettingsValues = SettingsValues<typeof RESP_SETTINGS>;

/** A Redis door's configuration, less what the process supplies at start (host, backend, clock, log). */
export type RespDoorConfig = Omit<RespServerOptions, 'host' | 'backend' | 'now' | 'log'>;

/** The one cross-check: the reply buffer that disconnects is at least the one that pauses. */
export function respProblems(values: RespSettingsValues): string[] {
  const S = RESP_SETTINGS;
  if (values.respMaxReplyBufferBytes < values.respMaxQueuedReplyBytes) {
    return [
      `${settingName(S.respMaxReplyBufferBytes)} must be at least ${settingName(S.respMaxQueuedReplyBytes)} (${values.respMaxQueuedReplyBytes})`,
    ];
  }
  return [];
}

/** The door's configuration from the settings and the store's value limit (which bounds a bulk string: see `respServerLimits`). */
export function respDoorConfigFrom(values: RespSettingsValues, maxValueBytes: number): RespDoorConfig {
  return {
    port: values.respPort,
    maxConnections: values.respMaxConnections,
    idleTimeoutMs: values.respIdleTimeoutMs,
    maxPipelined: values.respMaxPipelined,
    maxInFlight: values.respMaxInFlight,
    maxQueuedReplyBytes: values.respMaxQueuedReplyBytes,
    maxReplyBufferBytes: values.respMaxReplyBufferBytes,
    maxKeysReply: values.respMaxKeys,
    limits: respServerLimits(maxValueBytes),
  };
}
