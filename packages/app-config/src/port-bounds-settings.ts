import { DEFAULT_PORT_BOUNDS, type PortBounds } from '@dkv/transport';
import { intSchema, type Setting, type SettingsValues } from './settings.js';

/**
 * The connection bounds of a process's HTTP or internode port (see `PortBounds` in
 * `@dkv/transport`, where the defaults live): a storage node applies them to its one port (binary
 * internode protocol and HTTP alike), a coordinator to its public HTTP port. The Redis door has its
 * own (`RESP_SETTINGS`). Each bound that triggers is counted in `dkv_port_bounds_total`.
 */
export const PORT_BOUNDS_SETTINGS = {
  maxConnections: {
    flag: 'max-connections',
    env: 'DKV_MAX_CONNECTIONS',
    defaultValue: String(DEFAULT_PORT_BOUNDS.maxConnections),
    description: "connections open at once on this process's port (the Redis door has --resp-max-connections); one more is closed at once",
    schema: intSchema(1, 1_000_000),
  },
  idleTimeoutMs: {
    flag: 'idle-timeout-ms',
    env: 'DKV_IDLE_TIMEOUT_MS',
    defaultValue: String(DEFAULT_PORT_BOUNDS.idleTimeoutMs),
    description: 'a connection with no traffic either way this long is closed',
    schema: intSchema(1000, 86_400_000),
  },
  readTimeoutMs: {
    flag: 'read-timeout-ms',
    env: 'DKV_READ_TIMEOUT_MS',
    defaultValue: String(DEFAULT_PORT_BOUNDS.readTimeoutMs),
    description:
      'a request (internode frame, or HTTP headers and body) that has begun must arrive whole within this long, however slowly it trickles (slowloris)',
    schema: intSchema(100, 3_600_000),
  },
} satisfies Record<string, Setting<unknown>>;

/** The port bounds from parsed {@link PORT_BOUNDS_SETTINGS} values. */
export function portBoundsFrom(values: SettingsValues<typeof PORT_BOUNDS_SETTINGS>): PortBounds {
  return { maxConnections: values.maxConnections, idleTimeoutMs: values.idleTimeoutMs, readTimeoutMs: values.readTimeoutMs };
}
