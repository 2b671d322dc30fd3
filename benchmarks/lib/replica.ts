/**
 * Pieces the drivers that measure a storage node's path share: keys named as redis-benchmark's
 * `-r` names them, and a replica's request handler built as `apps/node/src/node.composition.ts`
 * builds it (the compact in-memory engine, the StorageService with the hooks of a member that is
 * complete, its refusal counter and per-request metrics), so that every driver measures the same
 * handler as a node runs.
 */
import { DEFAULT_MAX_CLOCK_OFFSET_MS, type Clock } from '@dkv/core';
import { CompactStorageEngine, StorageService } from '@dkv/storage';
import { createNodeMetrics } from '../../apps/node/src/node-metrics.js';

/** The key of index `i`, as redis-benchmark -r names them (`key:000000001234`). */
export function benchmarkKey(i: number): string {
  return `key:${String(i).padStart(12, '0')}`;
}

/** The handler of `nodeContainer` (T.handler) for `nodeId`, and its engine. */
export function replicaHandler(clock: Clock, nodeId: string) {
  const engine = new CompactStorageEngine({ clock, tombstoneGraceMs: 86_400_000 });
  const metrics = createNodeMetrics(engine, nodeId);
  const handler = metrics.countRequests(
    metrics.countRefusals(
      new StorageService({
        nodeId,
        engine,
        clock,
        maxClockOffsetMs: DEFAULT_MAX_CLOCK_OFFSET_MS,
        canRead: () => true,
        canScan: () => true,
        hints: { keep: () => true },
      }),
    ),
  );
  return { engine, handler };
}
