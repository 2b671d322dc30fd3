import type { StorageEngine, StorageRequest, StorageRequestHandler, StorageResponse } from '@dkv/core';
import type { AntiEntropyManager, AntiEntropyStats, RangeSyncManager } from '@dkv/replication';
import { counterFrom, createProcessRegistry, gaugeFrom, registerPortBoundMetrics } from '@dkv/public-api';
import { PortBoundCounters } from '@dkv/transport';
import { Counter, type Registry } from 'prom-client';

/** A storage node's Prometheus metrics, in a registry of its own (no global state). */
export interface NodeMetrics {
  readonly registry: Registry;
  /** Wraps the replica handler so every internode request is counted by type. */
  countRequests(handler: StorageRequestHandler): StorageRequestHandler;
  /** Exports the service's counts of writes refused (a version too far ahead; no room for a new key); returns the service. */
  countRefusals<S extends { readonly versionsRefused: number; readonly keysRefused: number }>(service: S): S;
  /** The node port's bound counters (connections refused, timeouts, failed handshakes...), exported as `dkv_port_bounds_total`. */
  readonly portBounds: PortBoundCounters;
  /** With `--coordinate`: the Redis door's bound counters, `dkv_port_bounds_total{port="resp"}`. */
  readonly respBounds: PortBoundCounters;
}

/**
 * Creates the node's metrics: the engine's keys, bytes and tombstones and, given `maxKeys`, its
 * bound (read when scraped, so the hot path pays nothing for them), internode requests by type,
 * and the process defaults.
 */
export function createNodeMetrics(
  engine: StorageEngine,
  nodeId: string,
  sync: () => RangeSyncManager | null = () => null,
  antiEntropy: () => AntiEntropyManager | null = () => null,
  maxKeys: number | null = null,
): NodeMetrics {
  const registry = createProcessRegistry({ node: nodeId });
  if (maxKeys !== null)
    gaugeFrom(
      registry,
      'dkv_storage_max_keys',
      'The most keys (values and tombstones) this replica holds (--max-keys): new keys beyond are refused',
      () => maxKeys,
    );
  gaugeFrom(registry, 'dkv_storage_keys', 'Keys holding a live value on this replica', () => engine.stats().keys);
  gaugeFrom(registry, 'dkv_storage_bytes', 'Bytes of keys and live values held on this replica', () => engine.stats().bytes);
  gaugeFrom(registry, 'dkv_storage_tombstones', 'Tombstones kept for their grace period', () => engine.stats().tombstones);
  // The compact engine's value store: what it reserves, and what compaction gave back.
  const slabStat = (field: 'valueStoreBytes' | 'slabsReleased' | 'blocksMoved'): number => {
    const value = (engine.stats() as { [K in typeof field]?: unknown })[field];
    return typeof value === 'number' ? value : 0;
  };
  gaugeFrom(
    registry,
    'dkv_storage_value_store_bytes',
    'Bytes reserved for values by the compact engine (slabs and own buffers; 0 for the map engine)',
    () => slabStat('valueStoreBytes'),
  );
  counterFrom(registry, 'dkv_storage_slabs_released_total', 'Slabs given back by compaction since start (compact engine)', () =>
    slabStat('slabsReleased'),
  );
  counterFrom(registry, 'dkv_storage_blocks_moved_total', 'Values moved between slabs by compaction since start (compact engine)', () =>
    slabStat('blocksMoved'),
  );
  // The durable engine's log (0 for a node that keeps its data in memory only).
  const logStat = (field: 'diskBytes' | 'corruptRegions' | 'tornTails' | 'writeFailures' | 'merges' | 'fsyncs') => (): number => {
    const durability = (engine as { durability?: () => Record<typeof field, number> }).durability;
    return durability === undefined ? 0 : durability.call(engine)[field];
  };
  gaugeFrom(registry, 'dkv_storage_log_disk_bytes', "Bytes of the durable log's segment files", logStat('diskBytes'));
  gaugeFrom(
    registry,
    'dkv_storage_log_corrupt_regions',
    'Damaged stretches of the log skipped at start-up (never served; anti-entropy restores them)',
    logStat('corruptRegions'),
  );
  gaugeFrom(registry, 'dkv_storage_log_torn_tails', 'Torn records cut from the end of the log at start-up', logStat('tornTails'));
  counterFrom(
    registry,
    'dkv_storage_log_write_failures_total',
    'Writes refused because the log could not take them (disk full, I/O error) since start',
    logStat('writeFailures'),
  );
  counterFrom(registry, 'dkv_storage_log_merges_total', 'Log merges finished since start', logStat('merges'));
  counterFrom(registry, 'dkv_storage_log_fsyncs_total', 'fsync calls on the log since start', logStat('fsyncs'));
  // Range sync: what streamed to this node, what it cleaned up, and the sync under way.
  const syncStat = (read: (m: RangeSyncManager) => number) => (): number => {
    const m = sync();
    return m === null ? 0 : read(m);
  };
  counterFrom(
    registry,
    'dkv_sync_keys_received_total',
    'Records streamed to this node by range sync since start',
    syncStat((m) => m.stats.keysReceived),
  );
  counterFrom(
    registry,
    'dkv_sync_received_bytes_total',
    'Bytes streamed to this node by range sync since start',
    syncStat((m) => m.stats.bytesReceived),
  );
  counterFrom(
    registry,
    'dkv_sync_source_switches_total',
    'Times a range pull moved to another replica',
    syncStat((m) => m.stats.sourceSwitches),
  );
  counterFrom(
    registry,
    'dkv_sync_keys_removed_total',
    'Keys deleted because this node no longer owns them',
    syncStat((m) => m.stats.keysRemoved),
  );
  gaugeFrom(
    registry,
    'dkv_sync_ranges_planned',
    'Ranges of the sync under way (0 when none)',
    syncStat((m) => m.progress()?.rangesPlanned ?? 0),
  );
  gaugeFrom(
    registry,
    'dkv_sync_ranges_done',
    'Ranges of the sync under way already pulled',
    syncStat((m) => m.progress()?.rangesDone ?? 0),
  );
  // Anti-entropy: rounds with peers, what differed and what was repaired.
  const aeStat = (field: keyof AntiEntropyStats) => (): number => antiEntropy()?.stats[field] ?? 0;
  counterFrom(
    registry,
    'dkv_anti_entropy_rounds_total',
    'Anti-entropy rounds finished (every shared range compared with one peer) since start',
    aeStat('rounds'),
  );
  counterFrom(
    registry,
    'dkv_anti_entropy_rounds_failed_total',
    'Anti-entropy rounds given up (peer failed, or the ring changed) since start',
    aeStat('roundsFailed'),
  );
  counterFrom(
    registry,
    'dkv_anti_entropy_recovery_rounds_total',
    'Anti-entropy rounds started because a peer came back since start',
    aeStat('recoveryRounds'),
  );
  counterFrom(
    registry,
    'dkv_anti_entropy_ranges_differing_total',
    "Ranges whose digests differed from a peer's since start",
    aeStat('rangesDiffering'),
  );
  counterFrom(
    registry,
    'dkv_anti_entropy_keys_pulled_total',
    'Records a peer held newer, applied here by anti-entropy since start',
    aeStat('keysPulled'),
  );
  counterFrom(
    registry,
    'dkv_anti_entropy_keys_pushed_total',
    'Records this node held newer, applied at a peer by anti-entropy since start',
    aeStat('keysPushed'),
  );
  counterFrom(
    registry,
    'dkv_anti_entropy_repaired_bytes_total',
    'Bytes repaired by anti-entropy, both directions, since start',
    aeStat('bytesStreamed'),
  );
  const portBounds = new PortBoundCounters();
  // The Redis door of a node that coordinates counts apart from the node's port.
  const respBounds = new PortBoundCounters();
  registerPortBoundMetrics(registry, { node: portBounds.counts, resp: respBounds.counts });
  // Counted as plain numbers, exported when scraped: a prom-client `inc` per request, even on a
  // labelled child made once, was several percent of what a storage node spent on a GET (its
  // CPU profile). A type appears once it has been counted, as the children made on first use did.
  const counts = new RequestCounts();
  new Counter({
    name: 'dkv_storage_requests_total',
    help: 'Internode storage requests handled, by type',
    labelNames: ['type'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const type of counts.seen) this.inc({ type }, counts.of(type));
    },
  });
  return {
    registry,
    portBounds,
    respBounds,
    countRefusals(service) {
      counterFrom(
        registry,
        'dkv_storage_versions_refused_total',
        'Records refused or dropped since start because their version was beyond this clock plus --max-clock-offset-ms: writes, hints, records held from before (met by a read, write or scan), and records from range sync or anti-entropy',
        () => service.versionsRefused + (sync()?.stats.versionsRefused ?? 0) + (antiEntropy()?.stats.versionsRefused ?? 0),
      );
      counterFrom(
        registry,
        'dkv_storage_keys_refused_total',
        'Writes of new keys refused since start because this replica held --max-keys keys (values and tombstones)',
        () => service.keysRefused,
      );
      return service;
    },
    countRequests(handler) {
      const counted: StorageRequestHandler = {
        handle(request: StorageRequest): StorageResponse {
          counts.count(request.type);
          return handler.handle(request);
        },
      };
      const borrowing = handler.handleBorrowed?.bind(handler);
      if (borrowing === undefined) return counted;
      return {
        ...counted,
        handleBorrowed(request: StorageRequest): StorageResponse {
          counts.count(request.type);
          return borrowing(request);
        },
      };
    },
  };
}

/**
 * The node's count of storage requests by type, one field per type. A request is counted by a
 * switch on its type rather than in an object keyed by it: a property load and store named by a
 * variable string, once it has seen several names, is a generic (megamorphic) lookup in V8, and
 * this runs on every request the replica serves. `seen` lists the types counted, in the order of
 * their first request, as the metric's children appeared.
 */
class RequestCounts {
  readonly seen: StorageRequest['type'][] = [];
  private gets = 0;
  private heads = 0;
  private puts = 0;
  private readonly other: Partial<Record<StorageRequest['type'], number>> = {};

  count(type: StorageRequest['type']): void {
    switch (type) {
      case 'GET':
        if (this.gets++ === 0) this.seen.push(type);
        return;
      case 'HEAD':
        if (this.heads++ === 0) this.seen.push(type);
        return;
      case 'PUT':
        if (this.puts++ === 0) this.seen.push(type);
        return;
      default: {
        const held = this.other[type] ?? 0;
        if (held === 0) this.seen.push(type);
        this.other[type] = held + 1;
      }
    }
  }

  of(type: StorageRequest['type']): number {
    switch (type) {
      case 'GET':
        return this.gets;
      case 'HEAD':
        return this.heads;
      case 'PUT':
        return this.puts;
      default:
        return this.other[type] ?? 0;
    }
  }
}
