import type { StorageEngine, StorageRequest, StorageRequestHandler, StorageResponse } from '@dkv/core';
import type { RangeSyncManager } from '@dkv/replication';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** A storage node's Prometheus metrics, in a registry of its own (no global state). */
export interface NodeMetrics {
  readonly registry: Registry;
  /** Wraps the replica handler so every internode request is counted by type. */
  countRequests(handler: StorageRequestHandler): StorageRequestHandler;
}

/**
 * Creates the node's metrics: the engine's keys, bytes and tombstones (read when scraped, so the
 * hot path pays nothing for them), internode requests by type, and the process defaults.
 */
export function createNodeMetrics(engine: StorageEngine, nodeId: string, sync: () => RangeSyncManager | null = () => null): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'dkv_storage_keys', help: 'Keys holding a live value on this replica', registers: [registry], collect() { this.set(engine.stats().keys); } });
  new Gauge({ name: 'dkv_storage_bytes', help: 'Bytes of keys and live values held on this replica', registers: [registry], collect() { this.set(engine.stats().bytes); } });
  new Gauge({ name: 'dkv_storage_tombstones', help: 'Tombstones kept for their grace period', registers: [registry], collect() { this.set(engine.stats().tombstones); } });
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
  const requests = new Counter({ name: 'dkv_storage_requests_total', help: 'Internode storage requests handled, by type', labelNames: ['type'] as const, registers: [registry] });
  return {
    registry,
    countRequests(handler) {
      return {
        handle(request: StorageRequest): StorageResponse {
          requests.inc({ type: request.type });
          return handler.handle(request);
        },
      };
    },
  };
}
