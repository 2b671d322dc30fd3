import { DEFAULT_ZONE, zoneOf, type HashRange, type Node } from '@dkv/core';
import { xxh32 } from '@node-rs/xxhash';
import type { ConsistentHash } from './consistent-hash.js';

/** The largest position on the ring: hashes are unsigned 32-bit integers. */
export const MAX_HASH = 2 ** 32 - 1;

/** The whole hash space as one range. */
export const FULL_RANGE: HashRange = [0, MAX_HASH];

/**
 * Sorts `ranges` and merges the ones that overlap or touch, so that equal sets of hashes always
 * have the same representation. Empty input (or only empty ranges) gives [].
 */
export function normalizeRanges(ranges: readonly HashRange[]): HashRange[] {
  const sorted = ranges.filter(([s, e]) => s <= e).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: Array<[number, number]> = [];
  for (const [start, end] of sorted) {
    const last = out[out.length - 1];
    if (last && start <= last[1] + 1) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/** The hashes in `a` and not in `b`, normalized. */
export function subtractRanges(a: readonly HashRange[], b: readonly HashRange[]): HashRange[] {
  const minus = normalizeRanges(b);
  const out: HashRange[] = [];
  for (const [start, end] of normalizeRanges(a)) {
    let from = start;
    for (const [s, e] of minus) {
      if (e < from || s > end) continue;
      if (s > from) out.push([from, s - 1]);
      from = e + 1;
      if (from > end) break;
    }
    if (from <= end) out.push([from, end]);
  }
  return out;
}

/** The hashes in both `a` and `b`, normalized. */
export function intersectRanges(a: readonly HashRange[], b: readonly HashRange[]): HashRange[] {
  return subtractRanges(a, subtractRanges(a, b));
}

/** Whether `hash` lies in one of `ranges` (any order). */
export function rangesContain(ranges: readonly HashRange[], hash: number): boolean {
  return ranges.some(([start, end]) => hash >= start && hash <= end);
}

/** How many hashes `ranges` cover (normalized first, so overlaps count once). */
export function rangesSize(ranges: readonly HashRange[]): number {
  return normalizeRanges(ranges).reduce((sum, [s, e]) => sum + (e - s + 1), 0);
}

/** The hash ranges for which `nodeId` is one of the `n` replicas on `ring`, normalized. */
export function ownedRanges(ring: ConsistentHash, nodeId: string, n: number): HashRange[] {
  return normalizeRanges(
    ring
      .arcs(n)
      .filter((arc) => arc.nodes.some((node) => node.id === nodeId))
      .map((arc) => arc.range),
  );
}

/**
 * The ranges `nodeId` must receive when the ring changes from `before` to `after`: those it holds
 * as one of `n` replicas on `after` and did not on `before`. A node that was not on `before`
 * (or an empty `before`: a node that lost its data) gains everything it owns on `after`.
 */
export function gainedRanges(before: ConsistentHash, after: ConsistentHash, nodeId: string, n: number): HashRange[] {
  return subtractRanges(ownedRanges(after, nodeId, n), ownedRanges(before, nodeId, n));
}

/** A part of some ranges in which every hash has the same preference list on a ring. */
export interface RangeOwners {
  readonly ranges: readonly HashRange[];
  readonly owners: readonly Node[];
}

/**
 * Cuts `ranges` along `ring`'s arcs and groups the pieces by preference list: each group can be
 * streamed from the same replicas. Groups are ordered by their first hash.
 */
export function groupRangesByOwners(ring: ConsistentHash, ranges: readonly HashRange[], n: number): RangeOwners[] {
  const wanted = normalizeRanges(ranges);
  const groups = new Map<string, { ranges: HashRange[]; owners: Node[] }>();
  let w = 0;
  for (const arc of ring.arcs(n)) {
    while (w < wanted.length && (wanted[w]?.[1] ?? 0) < arc.range[0]) w += 1;
    for (let i = w; i < wanted.length; i += 1) {
      const [s, e] = wanted[i] ?? [1, 0];
      if (s > arc.range[1]) break;
      const piece: HashRange = [Math.max(s, arc.range[0]), Math.min(e, arc.range[1])];
      const key = arc.nodes.map((node) => node.id).join(',');
      const group = groups.get(key) ?? { ranges: [], owners: arc.nodes };
      group.ranges.push(piece);
      groups.set(key, group);
    }
  }
  return [...groups.values()].map((g) => ({ ranges: normalizeRanges(g.ranges), owners: g.owners }));
}

/**
 * A short stable name of a ring's placement: two 32-bit xxHashes (seeds 0 and 1) of the sorted
 * `id:vnodes` list (`id:vnodes@zone` for a node outside the default zone, so a ring without zones
 * keeps the name it had before zones existed), plus the node count. Two rings with the same name
 * place every token and every replica the same way (up to a 64-bit hash collision); nodes publish
 * the name of the ring they hold complete data for, instead of the ring itself, to keep gossip
 * small. A node's move to another zone changes the name, and so starts a sync like a join does.
 */
export function ringId(ring: ConsistentHash): string {
  const text = ring.nodes
    .map((node) => (zoneOf(node) === DEFAULT_ZONE ? `${node.id}:${node.vnodes}` : `${node.id}:${node.vnodes}@${zoneOf(node)}`))
    .join(',');
  const a = xxh32(text, 0).toString(16).padStart(8, '0');
  const b = xxh32(text, 1).toString(16).padStart(8, '0');
  return `${ring.nodes.length}-${a}${b}`;
}
