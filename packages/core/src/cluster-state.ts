import type { NodeRole } from './node.js';

/**
 * The status a node has in the shared membership document. `removed` is a tombstone: a node that
 * left (or was removed by force) keeps its entry so that an older copy of the entry, still
 * travelling by gossip, can never bring it back. `suspect` and `down` are not here: they are a
 * process's local opinion from its failure detector, layered over the document (see API.md).
 */
export type MemberStatus = 'joining' | 'up' | 'leaving' | 'removed';

/**
 * One node's entry in the membership document. The document is a state-based CRDT: of two copies
 * of an entry, the one with the higher `version` wins (ties broken by a canonical comparison), so
 * every process converges on the same document whatever order gossip delivers it in.
 */
export interface MemberEntry {
  readonly id: string;
  /** `host:port` of the node's internal API. */
  readonly address: string;
  readonly role: NodeRole;
  /** The node's weight on the future ring (the ring data is moving towards). */
  readonly vnodes: number;
  /**
   * The node's weight on the read ring: equal to `vnodes` except while a change of `vnodes` is
   * being synced, when reads still follow the old placement.
   */
  readonly readVnodes: number;
  readonly status: MemberStatus;
  /** Grows by one on every change of the entry; the merge keeps the higher. */
  readonly version: number;
  /** Id of the ring for which this node holds complete data (see `ringId`), or null. */
  readonly syncedRing: string | null;
  /** A `leaving` node removed by force: it is dead, so nobody streams from it. */
  readonly forced: boolean;
  /**
   * A node that restarted empty and is catching up: it keeps its place on the read ring (so no
   * other node without the data takes its place) but is not read from until it has synced.
   */
  readonly rejoining: boolean;
  readonly metadata: Readonly<Record<string, string>>;
  /** The node's failure domain on the future ring; absent: `DEFAULT_ZONE`. */
  readonly zone?: string;
  /**
   * The node's zone on the read ring: equal to `zone` except while a move to another zone is being
   * synced, when reads still follow the old placement (as `readVnodes` does for a weight change).
   * Absent: the same as `zone`.
   */
  readonly readZone?: string;
}

/** How far a node's range sync has come, carried on its heartbeat for `/v1/cluster` and metrics. */
export interface SyncProgress {
  /** Id of the ring the node is syncing to. */
  readonly targetRing: string;
  readonly rangesPlanned: number;
  readonly rangesDone: number;
  readonly keys: number;
  readonly bytes: number;
}

/**
 * A node's heartbeat: `generation` changes when the process restarts (it is the start time) and
 * `counter` grows every gossip round. Merged by the larger (generation, counter); a failure
 * detector watches for progress. It is kept apart from the document so that liveness does not
 * bump versions.
 */
export interface Heartbeat {
  readonly id: string;
  readonly generation: number;
  readonly counter: number;
  readonly progress: SyncProgress | null;
  /**
   * The future ring id (`ringId`) this process routes writes by, for a process that coordinates
   * writes; null for one that does not. A node gaining ranges waits until every live process
   * routes by its target ring before it streams (see `RangeSyncManager`).
   */
  readonly routes: string | null;
}

/**
 * Settings every process of a cluster must agree on: two processes that disagree on N disagree on
 * who owns what, and two that disagree on the tombstone grace on how long a delete must be kept.
 * Each process declares the ones it knows (a coordinator has no tombstone grace); they travel in
 * the gossiped document, and a process whose value differs from the cluster's refuses to join.
 */
export interface ClusterSettings {
  /** Replication factor N. */
  readonly n?: number;
  /** How long a tombstone is kept before it is purged (ms). */
  readonly tombstoneGraceMs?: number;
}

/**
 * What one gossip message carries: the whole membership document, the cluster-wide settings
 * (absent from processes older than them) and the heartbeats known.
 */
export interface GossipState {
  readonly entries: readonly MemberEntry[];
  readonly heartbeats: readonly Heartbeat[];
  readonly settings?: ClusterSettings;
}

/**
 * An inclusive interval `[start, end]` of the 32-bit hash space (`hashKey`); `start <= end`, so an
 * interval that wraps past 2^32 - 1 is written as two.
 */
export type HashRange = readonly [start: number, end: number];

/** Where a range scan stopped: the hash bucket it was in and the last key it returned from it. */
export interface ScanCursor {
  readonly bucket: number;
  readonly afterKey: string;
}

/** The most segments one DIGEST request may cut each range into. */
export const MAX_DIGEST_SEGMENTS = 4096;
/** The most (range, segment) parts one DIGEST answer may hold. */
export const MAX_DIGEST_PARTS = 1 << 20;

/**
 * What a replica holds in one part of a hash range, as a DIGEST answers it: `hash` is an
 * order-independent sum (53 bits) of the identities (key, version, writer) of the records held
 * there, tombstones included, and `count` how many there are. Two replicas whose parts have the
 * same hash hold the same writes there (but for a hash collision, about 2^-53 per part).
 */
export interface RangeDigest {
  readonly hash: number;
  readonly count: number;
}

/**
 * Checks a DIGEST request's shape: ranges sorted and disjoint, segments 1..{@link MAX_DIGEST_SEGMENTS},
 * and at most {@link MAX_DIGEST_PARTS} parts in all. Returns what is wrong, or null.
 */
export function digestRequestProblem(ranges: readonly HashRange[], segments: number): string | null {
  if (!Number.isInteger(segments) || segments < 1 || segments > MAX_DIGEST_SEGMENTS) {
    return `segments must be a whole number from 1 to ${MAX_DIGEST_SEGMENTS}, got ${String(segments)}`;
  }
  if (ranges.length * segments > MAX_DIGEST_PARTS) {
    return `a digest holds at most ${MAX_DIGEST_PARTS} parts, asked ${ranges.length} ranges x ${segments} segments`;
  }
  let previousEnd = -1;
  for (const [start, end] of ranges) {
    if (!(start <= end)) return `range [${start}, ${end}] ends before it starts`;
    if (start <= previousEnd) return `ranges must be sorted and disjoint: [${start}, ${end}] starts at or before ${previousEnd}`;
    previousEnd = end;
  }
  return null;
}
