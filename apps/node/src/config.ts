import { DEFAULT_VNODES } from '@dkv/hashing';
import {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  DEFAULT_REPLICATION_FACTOR,
  DEFAULT_TOMBSTONE_GRACE_MS,
  DEFAULT_ZONE,
  NODE_ID_PATTERN,
  ZONE_PATTERN,
  type Membership,
  type Node,
} from '@dkv/core';
import { DEFAULT_GOSSIPER_CONFIG } from '@dkv/membership';
import { DEFAULT_ANTI_ENTROPY_CONFIG, DEFAULT_RANGE_SYNC_CONFIG } from '@dkv/replication';
import { z } from 'zod';
import {
  AUTH_SETTINGS,
  authFileConfigFrom,
  ConfigError,
  DURABILITY_SETTINGS,
  LOG_LEVELS,
  autoOrIntSchema,
  enumSchema,
  intSchema,
  isValidAddress,
  parseSettings,
  patternSchema,
  settingName,
  type AuthFileConfig,
  type FsyncSetting,
  type Setting,
} from '@dkv/app-config';
import type { CoordinatorConfig } from '@dkv/coordination';
import type { RespDoorConfig } from '@dkv/app-config';
import { PORT_BOUNDS_SETTINGS, portBoundsFrom, TLS_SETTINGS, tlsConfigFrom, type TlsConfig } from '@dkv/app-config';
import type { PortBounds } from '@dkv/transport';
import { HEAP_BYTES_PER_KEY, maxKeysForHeap, STORAGE_ENGINES, type StorageEngineKind } from '@dkv/composition';
import { MAX_KEYS_PER_REPLICA } from '@dkv/storage';
import { getHeapStatistics } from 'node:v8';
import { NODE_COORDINATE_SETTINGS, nodeCoordinatorConfig, type CoordinatorClientConfig } from './coordinate-config.js';

/** A static member as `--members` lists it: `id=host:port`, or `id=host:port@zone`. */
export interface MemberSpec {
  readonly id: string;
  readonly address: string;
  /** The member's zone; absent: `DEFAULT_ZONE`. */
  readonly zone?: string;
}

/** Everything a storage node process is configured with. */
export interface NodeConfig {
  readonly id: string;
  readonly host: string;
  /** 0 picks a free port; the address in the membership then uses the port actually bound. */
  readonly port: number;
  /**
   * `host:port` the other nodes and coordinators reach this node at, when it differs from where it
   * listens (`--host 0.0.0.0` in a container, reached by its pod's DNS name). Null: `host:port` as bound.
   */
  readonly advertiseAddress: string | null;
  /** The cluster's storage nodes; null means just this node. */
  readonly members: readonly MemberSpec[] | null;
  readonly vnodes: number;
  /** This node's failure domain (`--zone`, or its `@zone` in `--members`); `DEFAULT_ZONE` when none is named. */
  readonly zone: string;
  readonly tombstoneGraceMs: number;
  /** The largest clock offset the cluster tolerates: PUTs of versions further ahead of this node's clock are refused. */
  readonly maxClockOffsetMs: number;
  readonly sweepIntervalMs: number;
  readonly sweepMaxWork: number;
  /** The replica's storage engine (see {@link STORAGE_ENGINES}). */
  readonly engine: StorageEngineKind;
  /**
   * The most keys (values and tombstones) this node holds; a write of a new key beyond is refused
   * (`--max-keys`; `auto`, the default, is `maxKeysForHeap` of the engine and this process's heap limit).
   */
  readonly maxKeys: number;
  /** With a directory, the engine's records are also kept in a log under `<dataDir>/<id>` and replayed at start; null: in memory only. */
  readonly dataDir: string | null;
  /** When the log is fsynced (see `DURABILITY_SETTINGS`); unused without `dataDir`. */
  readonly fsync: FsyncSetting;
  /** A log smaller than this is never merged (see `DURABILITY_SETTINGS`); unused without `dataDir`. */
  readonly mergeMinBytes: number;
  readonly bodyLimitBytes: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /**
   * `host:port`s of nodes of a running cluster (DNS names are looked up at every connection, so a
   * pod that comes back on a new IP is found again): this node asks the first that answers to add
   * it, and data moves to it. Null: the node is a member of the initial cluster (`members`) or a
   * cluster of its own.
   */
  readonly join: readonly string[] | null;
  /** The cluster's replication factor N (as the coordinators'): what this node owns follows from it. */
  readonly n: number;
  /** Time between two rounds of membership gossip. */
  readonly gossipIntervalMs: number;
  /** Throttle of data streaming to this node when it gains ranges, bytes per second. */
  readonly syncBytesPerSecond: number;
  /** Wait before streaming starts, so every coordinator has learnt the change by gossip. */
  readonly syncSettleDelayMs: number;
  /** How often this node compares its ranges with each peer replica (anti-entropy); 0 turns it off. */
  readonly antiEntropyIntervalMs: number;
  /** Throttle of anti-entropy repair traffic, both directions, bytes per second. */
  readonly antiEntropyBytesPerSecond: number;
  /**
   * With `--coordinate`: the coordination core's configuration, and the node serves the public API
   * on its own port too (any node can coordinate). Null: a storage node only.
   */
  readonly coordinator: CoordinatorConfig | null;
  /** With `--coordinate`: the wire stack its coordinator sends to the other nodes through. Null exactly when `coordinator` is. */
  readonly coordinatorClient: CoordinatorClientConfig | null;
  /** With `--coordinate`: the Redis protocol door it opens on `host`. Null exactly when `coordinator` is. */
  readonly resp: RespDoorConfig | null;
  /**
   * With `--auth-file`: its users (the public API and Redis door of a node that coordinates, and
   * `/metrics`, need credentials) and its `clusterSecret`, which the internode transport proves
   * and checks. Null: authentication off.
   */
  readonly auth: AuthFileConfig | null;
  /** The bounds of the node's port (binary internode protocol and HTTP alike). */
  readonly portBounds: PortBounds;
  /**
   * THE PLACE THE CLUSTER SECRET ENTERS A NODE (fed from the auth file's `clusterSecret` by the
   * process that parses it; no flag or variable of its own). When set, every peer must prove it
   * before the node reads a request: the binary port's handshake and the internal HTTP routes'
   * signed header (see SECURITY.md, "Internode authentication"); the node proves it in turn to the
   * peers it calls. Null: the internode port is open, as before.
   */
  readonly clusterSecret: string | null;
  /**
   * With `--tls-cert`, `--tls-key` and `--tls-ca`: the node's one port (internode protocol, internal
   * routes and, with `--coordinate`, the public API) is TLS, its Redis door too, and internode
   * connections both ways are mutual TLS with certificates from the CA. Null: plain TCP.
   */
  readonly tls: TlsConfig | null;
}

/** Most addresses `--join` takes: they are gossip seeds, and only the first few are asked at once. */
export const MAX_JOIN_ADDRESSES = 16;

const joinSchema: z.ZodType<string[], string> = z.string().transform((text, ctx) => {
  const addresses = text
    .split(',')
    .map((part) =>
      part
        .trim()
        .replace(/^http:\/\//, '')
        .replace(/\/+$/, ''),
    )
    .filter((part) => part.length > 0);
  const bad = addresses.find((address) => !isValidAddress(address));
  if (addresses.length === 0 || bad !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `must be the host:port of a node of the cluster to join, or several separated by commas${bad === undefined ? '' : `; "${bad}" is not host:port`}`,
    });
    return z.NEVER;
  }
  if (addresses.length > MAX_JOIN_ADDRESSES) {
    ctx.addIssue({ code: 'custom', message: `lists ${addresses.length} addresses; at most ${MAX_JOIN_ADDRESSES} are allowed` });
    return z.NEVER;
  }
  return [...new Set(addresses)];
});

const advertiseSchema: z.ZodType<string, string> = z.string().transform((text, ctx) => {
  const address = text.trim();
  if (!isValidAddress(address) || address.endsWith(':0')) {
    ctx.addIssue({ code: 'custom', message: 'must be host:port with a port from 1 to 65535 (the address other nodes reach this one at)' });
    return z.NEVER;
  }
  return address;
});

const membersSchema: z.ZodType<MemberSpec[], string> = z.string().transform((text, ctx) => {
  const members: MemberSpec[] = [];
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)) {
    const eq = part.indexOf('=');
    const id = part.slice(0, eq);
    const at = part.indexOf('@', eq + 1);
    const address = at < 0 ? part.slice(eq + 1) : part.slice(eq + 1, at);
    const zone = at < 0 ? undefined : part.slice(at + 1);
    if (eq < 1 || !NODE_ID_PATTERN.test(id) || !isValidAddress(address) || (zone !== undefined && !ZONE_PATTERN.test(zone))) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a comma-separated list of id=host:port or id=host:port@zone (ids of letters, digits, '.', '_', '-'; zones of letters, digits, '.', '_', '-', '/'); "${part}" is not`,
      });
      return z.NEVER;
    }
    if (members.some((m) => m.id === id)) {
      ctx.addIssue({ code: 'custom', message: `lists node id "${id}" twice` });
      return z.NEVER;
    }
    members.push(zone === undefined ? { id, address } : { id, address, zone });
  }
  if (members.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'must list at least one id=host:port' });
    return z.NEVER;
  }
  return members;
});

/**
 * The storage node's settings: the flags of `dkv node` and `apps/node/dist/main.js`, their
 * `DKV_*` variables and defaults. The README's configuration table is this table.
 */
export const NODE_SETTINGS = {
  id: {
    flag: 'id',
    env: 'DKV_NODE_ID',
    required: true,
    description: "this node's stable id (a restarted node keeps it)",
    schema: patternSchema(NODE_ID_PATTERN, '1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  },
  host: {
    flag: 'host',
    env: 'DKV_HOST',
    defaultValue: '127.0.0.1',
    description: "interface to listen on, also the host of this node's address",
    schema: patternSchema(/^[A-Za-z0-9.:-]+$/, 'a host name or IP address'),
  },
  port: {
    flag: 'port',
    env: 'DKV_PORT',
    defaultValue: '7071',
    description: 'port of the internal API (0 picks a free one)',
    schema: intSchema(0, 65535),
  },
  advertiseAddress: {
    flag: 'advertise-address',
    env: 'DKV_ADVERTISE_ADDRESS',
    description: "host:port the other nodes reach this node at, e.g. its pod's DNS name (default: --host and the port bound)",
    schema: advertiseSchema,
  },
  members: {
    flag: 'members',
    env: 'DKV_MEMBERS',
    description: "the cluster's storage nodes, id=host:port,... (default: this node alone)",
    schema: membersSchema,
  },
  zone: {
    flag: 'zone',
    env: 'DKV_ZONE',
    description: `this node's failure domain, e.g. an availability zone or topology.kubernetes.io/zone (default: "${DEFAULT_ZONE}"); a key's N replicas go to N distinct zones whenever there are N`,
    schema: patternSchema(ZONE_PATTERN, '1 to 64 letters, digits, ".", "_", "-" or "/", starting with a letter or digit'),
  },
  vnodes: {
    flag: 'vnodes',
    env: 'DKV_VNODES',
    defaultValue: String(DEFAULT_VNODES),
    description: 'virtual nodes each member places on the ring (its weight)',
    schema: intSchema(1, 65_536),
  },
  tombstoneGraceMs: {
    flag: 'tombstone-grace-ms',
    env: 'DKV_TOMBSTONE_GRACE_MS',
    defaultValue: String(DEFAULT_TOMBSTONE_GRACE_MS),
    description: 'how long deletes and expiries are remembered before they are purged',
    schema: intSchema(1000, 31_536_000_000),
  },
  maxClockOffsetMs: {
    flag: 'max-clock-offset-ms',
    env: 'DKV_MAX_CLOCK_OFFSET_MS',
    defaultValue: String(DEFAULT_MAX_CLOCK_OFFSET_MS),
    description:
      "largest clock offset the cluster tolerates: a write whose version is further ahead of this node's clock is refused (VERSION_TOO_FAR_AHEAD)",
    schema: intSchema(1, 31_536_000_000),
  },
  sweepIntervalMs: {
    flag: 'sweep-interval-ms',
    env: 'DKV_SWEEP_INTERVAL_MS',
    defaultValue: '100',
    description: 'time between two active-expiry sweeps',
    schema: intSchema(1, 3_600_000),
  },
  sweepMaxWork: {
    flag: 'sweep-max-work',
    env: 'DKV_SWEEP_MAX_WORK',
    defaultValue: '1000',
    description: 'most keys one sweep expires or purges',
    schema: intSchema(1, 10_000_000),
  },
  engine: {
    flag: 'engine',
    env: 'DKV_ENGINE',
    defaultValue: 'compact',
    description:
      'storage engine: compact (values in slabs, metadata in typed arrays: about 1.1x the payload per 2 KB session) or map (a Map of records, the reference layout: about 1.36x)',
    schema: enumSchema(STORAGE_ENGINES),
  },
  maxKeys: {
    flag: 'max-keys',
    env: 'DKV_MAX_KEYS',
    defaultValue: 'auto',
    description: `most keys (values and tombstones) this node holds; a write of a new key beyond is refused (a delete of a key not held writes one too), overwrites and deletes of keys held go on (auto: what fits in 70% of the V8 heap limit at ${HEAP_BYTES_PER_KEY.compact} B a key with the compact engine, ${HEAP_BYTES_PER_KEY.map} B with map; --max-old-space-size raises it; at most ${MAX_KEYS_PER_REPLICA})`,
    schema: autoOrIntSchema(1, MAX_KEYS_PER_REPLICA),
  },
  bodyLimitBytes: {
    flag: 'body-limit-bytes',
    env: 'DKV_BODY_LIMIT_BYTES',
    defaultValue: String(2 * 1024 * 1024),
    description: "largest internal request accepted (must exceed the coordinators' value limit)",
    schema: intSchema(1024, 1024 * 1024 * 1024),
  },
  logLevel: {
    flag: 'log-level',
    env: 'DKV_LOG_LEVEL',
    defaultValue: 'info',
    description: 'pino log level',
    schema: enumSchema(LOG_LEVELS),
  },
  join: {
    flag: 'join',
    env: 'DKV_JOIN',
    description:
      'host:port of a node of a running cluster to join, or several separated by commas (DNS names are looked up again at each connection); data then moves to this node (default: start a cluster of --members)',
    schema: joinSchema,
  },
  n: {
    flag: 'n',
    env: 'DKV_N',
    defaultValue: String(DEFAULT_REPLICATION_FACTOR),
    description: "the cluster's replication factor N (as the coordinators')",
    schema: intSchema(1, 16),
  },
  gossipIntervalMs: {
    flag: 'gossip-interval-ms',
    env: 'DKV_GOSSIP_INTERVAL_MS',
    defaultValue: String(DEFAULT_GOSSIPER_CONFIG.intervalMs),
    description: 'time between two rounds of membership gossip',
    schema: intSchema(10, 60_000),
  },
  syncBytesPerSecond: {
    flag: 'sync-bytes-per-second',
    env: 'DKV_SYNC_BYTES_PER_SECOND',
    defaultValue: String(DEFAULT_RANGE_SYNC_CONFIG.bytesPerSecond),
    description: 'throttle of data streaming to this node when it gains ranges',
    schema: intSchema(1024, 10 * 1024 * 1024 * 1024),
  },
  antiEntropyIntervalMs: {
    flag: 'anti-entropy-interval-ms',
    env: 'DKV_ANTI_ENTROPY_INTERVAL_MS',
    defaultValue: String(DEFAULT_ANTI_ENTROPY_CONFIG.intervalMs),
    description: 'how often each pair of replicas compares its data and repairs differences (0: off); at most half the tombstone grace',
    schema: intSchema(0, 86_400_000),
  },
  antiEntropyBytesPerSecond: {
    flag: 'anti-entropy-bytes-per-second',
    env: 'DKV_ANTI_ENTROPY_BYTES_PER_SECOND',
    defaultValue: String(DEFAULT_ANTI_ENTROPY_CONFIG.bytesPerSecond),
    description: 'throttle of anti-entropy repair traffic, both directions',
    schema: intSchema(1024, 10 * 1024 * 1024 * 1024),
  },
  syncSettleDelayMs: {
    flag: 'sync-settle-delay-ms',
    env: 'DKV_SYNC_SETTLE_DELAY_MS',
    defaultValue: '3000',
    description: 'wait before streaming starts, so every coordinator has learnt the change',
    schema: intSchema(0, 600_000),
  },
  ...DURABILITY_SETTINGS,
  ...PORT_BOUNDS_SETTINGS,
  ...NODE_COORDINATE_SETTINGS,
  ...AUTH_SETTINGS,
  ...TLS_SETTINGS,
} satisfies Record<string, Setting<unknown>>;

/**
 * The node's configuration from flags (keyed like {@link NODE_SETTINGS}) and environment. Throws a
 * {@link ConfigError} naming every bad setting, including a member list that leaves this node out.
 */
export function parseNodeConfig(
  flags: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): NodeConfig {
  const values = parseSettings(NODE_SETTINGS, flags, env);
  const members = values.members ?? null;
  if (members !== null && !members.some((m) => m.id === values.id)) {
    throw new ConfigError([`${settingName(NODE_SETTINGS.members)} must include this node's id "${values.id}"`]);
  }
  if (members !== null && values.join !== undefined) {
    throw new ConfigError([
      `${settingName(NODE_SETTINGS.join)} and ${settingName(NODE_SETTINGS.members)} exclude each other: a node either starts a cluster or joins one`,
    ]);
  }
  const listedZone = members?.find((m) => m.id === values.id)?.zone;
  if (members !== null && values.zone !== undefined && values.zone !== (listedZone ?? DEFAULT_ZONE)) {
    throw new ConfigError([
      `${settingName(NODE_SETTINGS.zone)} is "${values.zone}" but ${settingName(NODE_SETTINGS.members)} places this node in "${listedZone ?? DEFAULT_ZONE}": give every member's zone in the list (id=host:port@zone), so that every node starts from the same ring`,
    ]);
  }
  if (values.antiEntropyIntervalMs > 0 && values.tombstoneGraceMs < 2 * values.antiEntropyIntervalMs) {
    throw new ConfigError([
      `${settingName(NODE_SETTINGS.tombstoneGraceMs)} (${values.tombstoneGraceMs}) must be at least twice ${settingName(NODE_SETTINGS.antiEntropyIntervalMs)} (${values.antiEntropyIntervalMs}): a delete that reached only some replicas must be carried to the rest by anti-entropy before any of them forgets it`,
    ]);
  }
  const listedAddress = members?.find((m) => m.id === values.id)?.address;
  if (listedAddress !== undefined && values.advertiseAddress !== undefined && values.advertiseAddress !== listedAddress) {
    throw new ConfigError([
      `${settingName(NODE_SETTINGS.advertiseAddress)} is "${values.advertiseAddress}" but ${settingName(NODE_SETTINGS.members)} lists this node at "${listedAddress}": the other members reach it at the listed address, so the two must be the same`,
    ]);
  }
  const coordination = values.coordinate ? nodeCoordinatorConfig(values) : null;
  const zone = values.zone ?? listedZone ?? DEFAULT_ZONE;
  const problems: string[] = [];
  const auth = authFileConfigFrom(values, problems);
  const tls = tlsConfigFrom(values, problems);
  if (tls !== null && tls.ca === null) {
    // The node's port carries internode traffic too: TLS on it means TLS for its peers, who must know whom to trust.
    problems.push(
      `${settingName(TLS_SETTINGS.tlsCert)} on a storage node needs ${settingName(TLS_SETTINGS.tlsCa)}: its one port carries internode traffic too, which then runs over mutual TLS with certificates signed by that CA`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const { authFile: _authFile, tlsCert: _tlsCert, tlsKey: _tlsKey, tlsCa: _tlsCa, ...rest } = withoutCoordinateSettings(values);
  return {
    ...rest,
    maxKeys: values.maxKeys === 'auto' ? maxKeysForHeap(values.engine, getHeapStatistics().heap_size_limit) : values.maxKeys,
    auth,
    tls,
    clusterSecret: auth?.clusterSecret ?? null,
    zone,
    members,
    advertiseAddress: values.advertiseAddress ?? null,
    join: values.join ?? null,
    dataDir: values.dataDir ?? null,
    coordinator: coordination?.coordinator ?? null,
    coordinatorClient: coordination?.client ?? null,
    resp: coordination?.resp ?? null,
    portBounds: portBoundsFrom(values),
  };
}

/** The parsed values less the coordinate and port-bound settings: a {@link NodeConfig} holds those as `coordinator`, `coordinatorClient` and `portBounds`. */
function withoutCoordinateSettings<V extends Record<string, unknown>>(values: V): Omit<V, keyof typeof NODE_COORDINATE_SETTINGS> {
  // The port bounds are held as `portBounds`, not as flat fields.
  return Object.fromEntries(
    Object.entries(values).filter(([key]) => !Object.hasOwn(NODE_COORDINATE_SETTINGS, key) && !Object.hasOwn(PORT_BOUNDS_SETTINGS, key)),
  ) as Omit<V, keyof typeof NODE_COORDINATE_SETTINGS>;
}

/** The static membership a node serves: the configured members, or this node alone at `selfAddress`. */
export function staticMembership(config: NodeConfig, selfAddress: string): Membership {
  const specs: readonly MemberSpec[] = config.members ?? [{ id: config.id, address: selfAddress, zone: config.zone }];
  const nodes: Node[] = specs.map((spec) => ({
    id: spec.id,
    address: spec.id === config.id && config.members === null ? selfAddress : spec.address,
    role: 'storage',
    status: 'up',
    vnodes: config.vnodes,
    metadata: {},
    zone: spec.zone ?? DEFAULT_ZONE,
  }));
  return { epoch: 1, nodes };
}
