import type { HashRange, Node } from '@dkv/core';
import type { RingViews } from '@dkv/hashing';

/**
 * The one walk over the read ring that the coordinator's ring-wide work shares: the key scan
 * (`planScanWindow`) and the operator repair (`ClusterRepair`) both go through the read ring's
 * arcs and gather them by replica set, so that one request per set covers its arcs.
 */
export interface ReadArc {
  readonly range: readonly [number, number];
  /** The arc's N replicas on the read ring, in preference order. */
  readonly replicas: readonly Node[];
  /** The replicas that may answer reads of the arc (`readReplicasOfHash`), in preference order. */
  readonly readable: readonly Node[];
  /** The keys of the two sets, for {@link ReplicaSetGroups}. */
  readonly replicasKey: string;
  readonly readableKey: string;
}

/** The arcs of each ring views, computed once per views object (a scan asks for them on every window). */
const ARCS_OF_VIEWS = new WeakMap<RingViews, { n: number; arcs: readonly ReadArc[] }>();

/** The read ring's arcs in hash order, with their replicas and readable replicas. */
export function readArcs(views: RingViews, n: number): readonly ReadArc[] {
  const cached = ARCS_OF_VIEWS.get(views);
  if (cached !== undefined && cached.n === n) return cached.arcs;
  const arcs = views.read.arcs(n).map((arc): ReadArc => {
    const readable = views.readReplicasOfHash(arc.range[0], n);
    return { range: arc.range, replicas: arc.nodes, readable, replicasKey: replicaSetKey(arc.nodes), readableKey: replicaSetKey(readable) };
  });
  ARCS_OF_VIEWS.set(views, { n, arcs });
  return arcs;
}

/** A set of nodes as a key: the ids sorted, so arcs with the same replicas in any order share one group. */
export function replicaSetKey(nodes: readonly Node[]): string {
  return nodes
    .map((node) => node.id)
    .sort()
    .join(',');
}

/** The ranges one set of replicas holds, gathered from the arcs they share. */
export interface ReplicaSetGroup {
  /** The replicas of the first arc added, in its preference order. */
  readonly replicas: readonly Node[];
  /** Sorted by start when the arcs were added in hash order. */
  readonly ranges: Array<[number, number]>;
}

/** Arcs' ranges gathered by replica set, in the order each set was first met. */
export class ReplicaSetGroups {
  private readonly groups = new Map<string, ReplicaSetGroup>();

  /** How many replica sets were met so far. */
  get size(): number {
    return this.groups.size;
  }

  /** True when the set with this key was met already. */
  has(key: string): boolean {
    return this.groups.has(key);
  }

  /**
   * Adds `ranges` to the group of the set `key` (`replicas`). `merge-touching`: a range that
   * starts where the group's last one ends extends it (one request range instead of two);
   * `apart`: every range stays its own (pieces compared one by one).
   */
  add(key: string, replicas: readonly Node[], ranges: readonly HashRange[], join: 'merge-touching' | 'apart'): void {
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { replicas, ranges: [] };
      this.groups.set(key, group);
    }
    for (const range of ranges) {
      const previous = group.ranges[group.ranges.length - 1];
      if (join === 'merge-touching' && previous !== undefined && previous[1] + 1 >= range[0]) previous[1] = range[1];
      else group.ranges.push([range[0], range[1]]);
    }
  }

  /** The groups, in the order their sets were first met. */
  list(): ReplicaSetGroup[] {
    return [...this.groups.values()];
  }
}
