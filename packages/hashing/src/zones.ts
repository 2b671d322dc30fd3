import { zoneOf, type Node } from '@dkv/core';
import type { ConsistentHash } from './consistent-hash.js';

const HASH_SPACE = 2 ** 32;

/**
 * The fraction of the hash space for which each node holds one of the `n` replicas, by node id:
 * the share of the data it stores (the primary share is `ringShares`). Every node of the ring is
 * listed; the fractions sum to the list length (n, or fewer on a small ring).
 */
export function replicaShares(ring: ConsistentHash, n: number): Map<string, number> {
  const shares = new Map<string, number>(ring.nodes.map((node) => [node.id, 0]));
  for (const arc of ring.arcs(n)) {
    const size = (arc.range[1] - arc.range[0] + 1) / HASH_SPACE;
    for (const node of arc.nodes) shares.set(node.id, (shares.get(node.id) ?? 0) + size);
  }
  return shares;
}

/**
 * The fraction of all replicas each zone holds, by zone name: a zone's nodes' replica shares
 * summed and divided by the list length, so the fractions sum to 1. With N zones and N replicas
 * per key every zone holds exactly 1/N, whatever its node count.
 */
export function zoneReplicaShares(ring: ConsistentHash, n: number): Map<string, number> {
  const length = Math.min(n, ring.nodes.filter((node) => node.vnodes > 0).length);
  const shares = new Map<string, number>(ring.zones.map((zone) => [zone, 0]));
  if (length === 0) return shares;
  const byNode = replicaShares(ring, n);
  for (const node of ring.nodes) shares.set(zoneOf(node), (shares.get(zoneOf(node)) ?? 0) + (byNode.get(node.id) ?? 0) / length);
  return shares;
}

/** What losing one whole zone does to the quorums (see {@link zoneLossReport}). */
export interface ZoneLossReport {
  /** True when every key keeps at least max(W, R) replicas whichever single zone is lost. */
  readonly safe: boolean;
  /** The most replicas of one key that one zone holds, over all keys and zones. */
  readonly maxReplicasInOneZone: number;
  /** A sentence saying why, naming the zones, N, W and R, and what would make it safe. */
  readonly reason: string;
}

const LOSS_REPORTS = new WeakMap<ConsistentHash, Map<string, ZoneLossReport>>();

/**
 * Whether the loss of any one whole zone would cost quorum on `ring` with replication `n` and
 * quorums `w`, `r`: exact, from the preference lists of every arc (cached per ring), not from the
 * zone count alone, since a zone with too few nodes can hold two replicas of a key even where
 * there are N zones in all. It is what `/v1/cluster` and `dkv status` report.
 */
export function zoneLossReport(ring: ConsistentHash, n: number, w: number, r: number): ZoneLossReport {
  const cacheKey = `${n}/${w}/${r}`;
  let cache = LOSS_REPORTS.get(ring);
  const cached = cache?.get(cacheKey);
  if (cached !== undefined) return cached;
  const report = computeZoneLoss(ring, n, w, r);
  if (cache === undefined) {
    cache = new Map();
    LOSS_REPORTS.set(ring, cache);
  }
  cache.set(cacheKey, report);
  return report;
}

function computeZoneLoss(ring: ConsistentHash, n: number, w: number, r: number): ZoneLossReport {
  const quorum = Math.max(w, r);
  const zones = ring.zones.length;
  const zoneWord = zones === 1 ? '1 zone' : `${zones} zones`;
  let maxInZone = 0;
  let shortest = Number.POSITIVE_INFINITY;
  for (const arc of ring.arcs(n)) {
    shortest = Math.min(shortest, arc.nodes.length);
    const counts = new Map<string, number>();
    for (const node of arc.nodes) counts.set(zoneOf(node), (counts.get(zoneOf(node)) ?? 0) + 1);
    for (const count of counts.values()) maxInZone = Math.max(maxInZone, count);
  }
  if (zones === 0) return { safe: false, maxReplicasInOneZone: 0, reason: 'the ring has no nodes' };
  const left = shortest - maxInZone;
  const needs = `W=${w} and R=${r} need ${quorum}`;
  if (left >= quorum) {
    return {
      safe: true,
      maxReplicasInOneZone: maxInZone,
      reason: `${zoneWord} for N=${n}: a zone holds at most ${maxInZone} replica${maxInZone === 1 ? '' : 's'} of a key, so losing any one zone leaves at least ${left}; ${needs}`,
    };
  }
  const fix =
    n - 1 >= quorum
      ? `; place the nodes in at least ${n} zones with at least one node each`
      : `; no layout helps, since even one lost replica leaves ${n - 1}`;
  return {
    safe: false,
    maxReplicasInOneZone: maxInZone,
    reason: `${zoneWord} for N=${n}: a zone holds up to ${maxInZone} replicas of some keys, so losing it leaves ${Math.max(0, left)}; ${needs}${fix}`,
  };
}

/**
 * Picks `count` of `candidates` (in their order of preference, normally the ring's) to stand in
 * for unavailable replicas, preferring nodes in a zone that neither `usedZones` (the zones of the
 * replicas that are live) nor an earlier pick already holds: with zones, a live replica in another
 * zone is worth more than a second one in the same zone, since a zone fails whole. Where no such
 * node is left, the next candidates in order. Pure; fewer than `count` when candidates run out.
 */
export function preferOtherZones(candidates: readonly Node[], usedZones: Iterable<string>, count: number): Node[] {
  const used = new Set(usedZones);
  const picked: Node[] = [];
  const rest: Node[] = [];
  for (const node of candidates) {
    if (picked.length >= count) break;
    if (used.has(zoneOf(node))) {
      rest.push(node);
      continue;
    }
    used.add(zoneOf(node));
    picked.push(node);
  }
  for (const node of rest) {
    if (picked.length >= count) break;
    picked.push(node);
  }
  return picked;
}
