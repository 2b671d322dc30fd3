import { DEFAULT_ZONE, type MemberEntry } from '@dkv/core';
import { DEFAULT_VNODES } from '@dkv/hashing';
import type { ClusterAdmin } from '@dkv/replication';
import type { ClusterRepair, CoordinatorService } from '@dkv/coordination';
import type { ClusterAdminApi, ClusterNodeChange, ClusterOperationsApi } from './public-api.js';

/**
 * The public API's membership changes on a process's copy of the membership document (a
 * coordinator's, or a storage node's own): gossip spreads them. A node added without `vnodes`
 * gets the default weight, and one added without `zone` the default zone.
 */
export function clusterAdminApi(admin: ClusterAdmin): ClusterAdminApi {
  const view = (entry: MemberEntry): ClusterNodeChange => ({
    id: entry.id,
    address: entry.address,
    status: entry.status,
    vnodes: entry.vnodes,
    zone: entry.zone ?? DEFAULT_ZONE,
  });
  return {
    addNode: (request) =>
      view(
        admin.rebalanceForNode({ id: request.id, address: request.address, vnodes: request.vnodes ?? DEFAULT_VNODES, zone: request.zone }),
      ),
    removeNode: (id, force) => view(admin.migrateDataFromNode(id, { force })),
    setVnodes: (id, vnodes) => view(admin.setVnodes(id, vnodes)),
    setZone: (id, zone) => view(admin.setZone(id, zone)),
  };
}

/**
 * The public API's operations over a coordinator (its service and its repair), for the
 * composition roots: what `dkv getendpoints`, `dkv hints` and `dkv repair` ask.
 */
export function clusterOperationsApi(coordinator: {
  readonly service: Pick<CoordinatorService, 'endpoints' | 'hints'>;
  readonly repair: ClusterRepair;
}): ClusterOperationsApi {
  return {
    endpoints: (key) => coordinator.service.endpoints(key),
    hints: () => coordinator.service.hints(),
    startRepair: (options) => coordinator.repair.start(options),
    repair: (id) => coordinator.repair.report(id),
  };
}
