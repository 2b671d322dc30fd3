import { DEFAULT_ZONE, DkvError, NODE_ID_PATTERN, zoneProblem, type MemberEntry } from '@dkv/core';
import { entryReadZone, joiningEntry, type Gossiper, type NewMember } from '@dkv/membership';

/** Options of {@link ClusterAdmin.migrateDataFromNode}. */
export interface DecommissionOptions {
  /** The node is dead: its ranges are re-replicated from the surviving replicas, not from it. */
  readonly force?: boolean;
}

/**
 * The operator's entry points for changing the cluster online, with the seed's names. Each one
 * is a change of the membership document on this process; gossip spreads it and every storage
 * node's `RangeSyncManager` moves the data:
 *
 * - `rebalanceForNode` adds a node as `joining`: it pulls the ranges it gains while writes
 *   already go to it, and becomes `up` once every node holds complete data for the new ring.
 * - `migrateDataFromNode` decommissions a node: it becomes `leaving`, the nodes that gain its
 *   ranges pull them (from it too, unless `force`), and it becomes `removed` once they have.
 * - `setVnodes` changes a node's weight, with the same background movement.
 * - `setZone` moves a node to another zone (failure domain), with the same background movement:
 *   reads keep the old placement until every node holds complete data for the new one.
 */
export class ClusterAdmin {
  constructor(
    private readonly gossiper: Gossiper,
    private readonly n: number,
  ) {}

  /** Adds `member` as a joining storage node; a node already in the cluster is left as it is. */
  rebalanceForNode(member: NewMember): MemberEntry {
    if (!NODE_ID_PATTERN.test(member.id))
      throw new DkvError('INVALID_REQUEST', `node id must match ${NODE_ID_PATTERN.source}, got '${member.id}'`);
    if (!Number.isInteger(member.vnodes) || member.vnodes < 1)
      throw new DkvError('INVALID_REQUEST', `vnodes must be a whole number of at least 1, got ${member.vnodes}`);
    const zoneError = member.zone === undefined ? null : zoneProblem(member.zone);
    if (zoneError !== null) throw new DkvError('INVALID_REQUEST', `zone: ${zoneError}`);
    const existing = this.gossiper.entry(member.id);
    if (existing !== undefined && existing.status !== 'removed') return existing;
    // The new entry's version goes above every version in this document: a node that ran alone
    // before (a cluster of one, its own entry `up`) then adopts `joining` instead of winning a tie.
    const highest = Math.max(0, ...this.gossiper.document().map((e) => e.version));
    const entry = { ...joiningEntry(member, existing), version: highest + 1 };
    this.gossiper.put([entry]);
    return entry;
  }

  /**
   * Starts the decommission of `nodeId`. Refused when the cluster would keep fewer than N storage
   * nodes (the ranges would have nowhere to go), for an unknown node, and for a node already removed.
   */
  migrateDataFromNode(nodeId: string, options: DecommissionOptions = {}): MemberEntry {
    const entry = this.gossiper.entry(nodeId);
    if (entry === undefined || entry.status === 'removed') throw new DkvError('NOT_FOUND', `node ${nodeId} is not in the cluster`);
    const staying = this.gossiper
      .document()
      .filter((e) => e.role === 'storage' && (e.status === 'up' || e.status === 'joining') && e.id !== nodeId);
    if (entry.status !== 'leaving' && staying.length < this.n) {
      throw new DkvError(
        'INVALID_REQUEST',
        `cannot remove ${nodeId}: ${staying.length} storage nodes would stay, fewer than N = ${this.n}`,
      );
    }
    const force = options.force ?? false;
    if (entry.status === 'leaving' && entry.forced === force) return entry;
    this.gossiper.change([{ id: nodeId, change: { status: 'leaving', forced: force || entry.forced } }]);
    return this.gossiper.entry(nodeId) ?? entry;
  }

  /** Changes the weight of `nodeId` on the ring; data moves as for a join. */
  setVnodes(nodeId: string, vnodes: number): MemberEntry {
    if (!Number.isInteger(vnodes) || vnodes < 1)
      throw new DkvError('INVALID_REQUEST', `vnodes must be a whole number of at least 1, got ${vnodes}`);
    const entry = this.gossiper.entry(nodeId);
    if (entry === undefined || entry.status === 'removed') throw new DkvError('NOT_FOUND', `node ${nodeId} is not in the cluster`);
    if (entry.vnodes !== vnodes) this.gossiper.change([{ id: nodeId, change: { vnodes } }]);
    return this.gossiper.entry(nodeId) ?? entry;
  }

  /**
   * Moves `nodeId` to `zone`. The future ring places it there at once; the read ring keeps the
   * zone it has data for (`readZone`) until the ring switch, so reads stay complete while the
   * replicas whose preference lists change pull their new ranges.
   */
  setZone(nodeId: string, zone: string): MemberEntry {
    const zoneError = zoneProblem(zone);
    if (zoneError !== null) throw new DkvError('INVALID_REQUEST', `zone: ${zoneError}`);
    const entry = this.gossiper.entry(nodeId);
    if (entry === undefined || entry.status === 'removed') throw new DkvError('NOT_FOUND', `node ${nodeId} is not in the cluster`);
    if ((entry.zone ?? DEFAULT_ZONE) !== zone) this.gossiper.change([{ id: nodeId, change: { zone, readZone: entryReadZone(entry) } }]);
    return this.gossiper.entry(nodeId) ?? entry;
  }
}
