import type { ClusterInfo, DistributionEntry, Node } from '@dkv/core';
import { ConsistentHash, DEFAULT_VNODES } from '@dkv/hashing';

/** A change to preview: nodes to add (by count, with their vnodes), node ids to remove, and a member's new vnode count. */
export interface RingChangePlan {
  readonly add: number;
  readonly addVnodes?: number;
  readonly remove: readonly string[];
  /** `dkv vnodes <id> <count> --preview`: member `id` weighted `count` on the ring after. */
  readonly vnodes?: { readonly id: string; readonly count: number };
}

/** One node's ring share before and after a planned change. */
export interface RingPreviewRow {
  readonly id: string;
  readonly shareBefore: number;
  readonly shareAfter: number;
}

/** What a planned change would do, computed from the same ring every process builds. */
export interface RingPreview {
  readonly rows: readonly RingPreviewRow[];
  /** Fraction of all replica copies that would have to be created on a new owner. */
  readonly replicasMovedFraction: number;
  /** Estimated bytes that would stream: that fraction of the bytes the cluster holds now. */
  readonly bytesToMove: number;
  readonly sampledKeys: number;
}

/** Keys sampled to estimate how much data moves: enough for about a tenth of a percent of error. */
const SAMPLE_KEYS = 50_000;

/**
 * Previews a cluster change before anything moves (`dkv ring --preview-add`, `--preview-remove`):
 * builds the ring of today's readable members and the ring after the change, and compares their
 * shares and, over a sample of keys, the replica placements that would change. Added nodes are
 * named `new-1`, `new-2`, ... and spread round-robin over the members' zones (sorted by name), as
 * an operator growing a zoned cluster evenly would. Throws when the plan removes (or reweighs) a
 * node that is not a member.
 */
export function previewRingChange(
  cluster: ClusterInfo,
  distribution: readonly DistributionEntry[],
  plan: RingChangePlan,
  n = cluster.replication.n,
): RingPreview {
  const members: Node[] = cluster.nodes
    .filter((node) => node.status !== 'joining')
    .map((node) => ({
      id: node.id,
      address: node.address,
      role: 'storage',
      status: 'up',
      vnodes: node.vnodes,
      metadata: {},
      ...(node.zone === undefined ? {} : { zone: node.zone }),
    }));
  for (const id of plan.remove) {
    if (!members.some((node) => node.id === id))
      throw new Error(`cannot preview removing ${id}: it is not a member (members: ${members.map((m) => m.id).join(', ')})`);
  }
  const reweighted = plan.vnodes;
  if (reweighted !== undefined && !members.some((node) => node.id === reweighted.id)) {
    throw new Error(`cannot preview the vnodes of ${reweighted.id}: it is not a member (members: ${members.map((m) => m.id).join(', ')})`);
  }
  const zones = [...new Set(members.flatMap((node) => (node.zone === undefined ? [] : [node.zone])))].sort();
  const added: Node[] = Array.from({ length: plan.add }, (_, i) => ({
    id: `new-${i + 1}`,
    address: 'preview:0',
    role: 'storage',
    status: 'up',
    vnodes: plan.addVnodes ?? DEFAULT_VNODES,
    metadata: {},
    ...(zones.length === 0 ? {} : { zone: zones[i % zones.length] }),
  }));
  const before = new ConsistentHash(members);
  const staying = members
    .filter((node) => !plan.remove.includes(node.id))
    .map((node) => (node.id === reweighted?.id ? { ...node, vnodes: reweighted.count } : node));
  const after = new ConsistentHash([...staying, ...added]);
  let moved = 0;
  for (let i = 0; i < SAMPLE_KEYS; i += 1) {
    const key = `preview-${i}`;
    const old = new Set(before.getNodesForKey(key, n).map((node) => node.id));
    for (const node of after.getNodesForKey(key, n)) if (!old.has(node.id)) moved += 1;
  }
  const replicasMovedFraction = moved / (SAMPLE_KEYS * Math.min(n, Math.max(1, after.size)));
  const sharesBefore = before.ringShares();
  const sharesAfter = after.ringShares();
  const ids = [...new Set([...sharesBefore.keys(), ...sharesAfter.keys()])];
  const bytesNow = distribution.reduce((sum, entry) => sum + entry.bytes, 0);
  return {
    rows: ids.map((id) => ({ id, shareBefore: sharesBefore.get(id) ?? 0, shareAfter: sharesAfter.get(id) ?? 0 })),
    replicasMovedFraction,
    bytesToMove: Math.round(replicasMovedFraction * bytesNow),
    sampledKeys: SAMPLE_KEYS,
  };
}
