import { DEFAULT_VNODES } from '@dkv/hashing';
import type { ClusterAdmin } from '@dkv/replication';
import type { ClusterAdminApi, ClusterNodeChange } from './public-api.js';

/**
 * The public API's membership changes on a process's copy of the membership document (a
 * coordinator's, or a storage node's own): gossip spreads them. A node added without `vnodes`
 * gets the default weight.
 */
export function clusterAdminApi(admin: ClusterAdmin): ClusterAdminApi {
  const view = (entry: ClusterNodeChange): ClusterNodeChange => ({ id: entry.id, address: entry.address, status: entry.status, vnodes: entry.vnodes });
  return {
    addNode: (request) => view(admin.rebalanceForNode({ id: request.id, address: request.address, vnodes: request.vnodes ?? DEFAULT_VNODES })),
    removeNode: (id, force) => view(admin.migrateDataFromNode(id, { force })),
    setVnodes: (id, vnodes) => view(admin.setVnodes(id, vnodes)),
  };
}
