import type { StorageEngine, StorageRequest, StorageRequestHandler, StorageResponse } from '@dkv/core';
import type { AntiEntropyManager, AntiEntropyStats, RangeSyncManager } from '@dkv/replication';
import { registerPortBoundMetrics } from '@dkv/public-api';
import { PortBoundCounters } from '@dkv/transport';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** A storage node's Prometheus metrics, in a registry of its own (no global state). */
export interface NodeMetrics {
  readonly registry: Registry;
  /** Wraps the replica handler so every internode request is counted by type. */
  countRequests(handler: StorageRequestHandler): StorageRequestHandler;
  /** Exports the service's count of writes refused for a version too far ahead; returns the service. */
  countRefusals<S extends { readonly versionsRefused: number }>(service: S): S;
  /** The node port's bound counters (connections refused, timeouts, failed handshakes...), exported as `dkv_port_bounds_total`. */
  readonly portBounds: PortBoundCounters;
}

/**
 * Creates the node's metrics: the engine's keys, bytes and tombstones (read when scraped, so the
 * hot path pays nothing for them), internode requests by type, and the process defaults.
 */
export function createNodeMetrics(
  engine: StorageEngine,
  nodeId: string,
  sync: () => RangeSyncManager | null = () => null,
  antiEntropy: () => AntiEntropyManager | null = () => null,
): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'dkv_storage_keys', help: 'Keys holding a live value on this replica', registers: [registry], collect() { this.set(engine.stats().keys); } });
  new Gauge({ name: 'dkv_storage_bytes', help: 'Bytes of keys and live values held on this replica', registers: [registry], collect() { this.set(engine.stats().bytes); } });
  new Gauge({ name: 'dkv_storage_tombstones', help: 'Tombstones kept for their grace period', registers: [registry], collect() { this.set(engine.stats().tombstones); } });
  // The compact engine's value store: what it reserves, and what compaction gave back.
  const slabGauge = (name: string, help: string, field: 'valueStoreBytes' | 'slabsReleased' | 'blocksMoved'): void => {
    new Gauge({ name, help, registers: [registry], collect() { const value = (engine.stats() as { [K in typeof field]?: unknown })[field]; this.set(typeof value === 'number' ? value : 0); } });
  };
  slabGauge('dkv_storage_value_store_bytes', 'Bytes reserved for values by the compact engine (slabs and own buffers; 0 for the map engine)', 'valueStoreBytes');
  slabGauge('dkv_storage_slabs_released', 'Slabs given back by compaction since start (compact engine)', 'slabsReleased');
  slabGauge('dkv_storage_blocks_moved', 'Values moved between slabs by compaction since start (compact engine)', 'blocksMoved');
  // The durable engine's log (0 for a node that keeps its data in memory only).
  const logGauge = (name: string, help: string, field: 'diskBytes' | 'corruptRegions' | 'tornTails' | 'writeFailures' | 'merges' | 'fsyncs'): void => {
    new Gauge({ name, help, registers: [registry], collect() { const durability = (engine as { durability?: () => Record<typeof field, number> }).durability; this.set(durability === undefined ? 0 : durability.call(engine)[field]); } });
  };
  logGauge('dkv_storage_log_disk_bytes', 'Bytes of the durable log\'s segment files', 'diskBytes');
  logGauge('dkv_storage_log_corrupt_regions', 'Damaged stretches of the log skipped at start-up (never served; anti-entropy restores them)', 'corruptRegions');
  logGauge('dkv_storage_log_torn_tails', 'Torn records cut from the end of the log at start-up', 'tornTails');
  logGauge('dkv_storage_log_write_failures', 'Writes refused because the log could not take them (disk full, I/O error) since start', 'writeFailures');
  logGauge('dkv_storage_log_merges', 'Log merges finished since start', 'merges');
  logGauge('dkv_storage_log_fsyncs', 'fsync calls on the log since start', 'fsyncs');
  // Range sync: what streamed to this node, what it cleaned up, and the sync under way.
  const syncCounter = (name: string, help: string, read: (m: RangeSyncManager) => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { const m = sync(); this.set(m === null ? 0 : read(m)); } });
  };
  syncCounter('dkv_sync_keys_received', 'Records streamed to this node by range sync since start', (m) => m.stats.keysReceived);
  syncCounter('dkv_sync_bytes_received', 'Bytes streamed to this node by range sync since start', (m) => m.stats.bytesReceived);
  syncCounter('dkv_sync_source_switches', 'Times a range pull moved to another replica', (m) => m.stats.sourceSwitches);
  syncCounter('dkv_sync_keys_removed', 'Keys deleted because this node no longer owns them', (m) => m.stats.keysRemoved);
  syncCounter('dkv_sync_ranges_planned', 'Ranges of the sync under way (0 when none)', (m) => m.progress()?.rangesPlanned ?? 0);
  syncCounter('dkv_sync_ranges_done', 'Ranges of the sync under way already pulled', (m) => m.progress()?.rangesDone ?? 0);
  // Anti-entropy: rounds with peers, what differed and what was repaired.
  const aeCounter = (name: string, help: string, field: keyof AntiEntropyStats): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(antiEntropy()?.stats[field] ?? 0); } });
  };
  aeCounter('dkv_anti_entropy_rounds', 'Anti-entropy rounds finished (every shared range compared with one peer) since start', 'rounds');
  aeCounter('dkv_anti_entropy_rounds_failed', 'Anti-entropy rounds given up (peer failed, or the ring changed) since start', 'roundsFailed');
  aeCounter('dkv_anti_entropy_recovery_rounds', 'Anti-entropy rounds started because a peer came back since start', 'recoveryRounds');
  aeCounter('dkv_anti_entropy_ranges_differing', 'Ranges whose digests differed from a peer\'s since start', 'rangesDiffering');
  aeCounter('dkv_anti_entropy_keys_pulled', 'Records a peer held newer, applied here by anti-entropy since start', 'keysPulled');
  aeCounter('dkv_anti_entropy_keys_pushed', 'Records this node held newer, applied at a peer by anti-entropy since start', 'keysPushed');
  aeCounter('dkv_anti_entropy_bytes', 'Bytes repaired by anti-entropy, both directions, since start', 'bytesStreamed');
  const portBounds = new PortBoundCounters();
  registerPortBoundMetrics(registry, 'node', portBounds.counts);
  const requests = new Counter({ name: 'dkv_storage_requests_total', help: 'Internode storage requests handled, by type', labelNames: ['type'] as const, registers: [registry] });
  return {
    registry,
    portBounds,
    countRefusals(service) {
      new Gauge({ name: 'dkv_storage_versions_refused', help: 'Writes refused since start: their version was beyond this clock plus --max-clock-offset-ms', registers: [registry], collect() { this.set(service.versionsRefused); } });
      return service;
    },
    countRequests(handler) {
      const counted: StorageRequestHandler = {
        handle(request: StorageRequest): StorageResponse {
          requests.inc({ type: request.type });
          return handler.handle(request);
        },
      };
      const borrowing = handler.handleBorrowed?.bind(handler);
      if (borrowing === undefined) return counted;
      return {
        ...counted,
        handleBorrowed(request: StorageRequest): StorageResponse {
          requests.inc({ type: request.type });
          return borrowing(request);
        },
      };
    },
  };
}
