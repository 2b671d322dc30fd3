import type { StorageEngine, StorageRequest, StorageRequestHandler, StorageResponse } from '@dkv/core';
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
export function createNodeMetrics(engine: StorageEngine, nodeId: string): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'dkv_storage_keys', help: 'Keys holding a live value on this replica', registers: [registry], collect() { this.set(engine.stats().keys); } });
  new Gauge({ name: 'dkv_storage_bytes', help: 'Bytes of keys and live values held on this replica', registers: [registry], collect() { this.set(engine.stats().bytes); } });
  new Gauge({ name: 'dkv_storage_tombstones', help: 'Tombstones kept for their grace period', registers: [registry], collect() { this.set(engine.stats().tombstones); } });
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
