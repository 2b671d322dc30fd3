import { DkvError, globMatch, isLive, metaOf, QuorumNotMetError, type Clock, type Node, type NodeClient } from '@dkv/core';
import type { RingViews } from '@dkv/hashing';
import {
  bucketOfKey,
  comparePositions,
  decodeScanCursor,
  encodeScanCursor,
  mergeScanAnswers,
  planScanWindow,
  SCAN_BUCKETS,
  type KeyScanPosition,
  type ReplicaScanAnswer,
  type ScanGroup,
  type ScanWindow,
} from './key-scan-plan.js';

/** The options of one call of a cluster-wide key scan, as Redis's `SCAN` takes them. */
export interface ScanKeysOptions {
  /** A Redis glob pattern (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, backslash escapes); absent = every key. */
  readonly match?: string;
  /** How many keys to aim for in this call: a hint of at least 1; above `maxCount` it counts as `maxCount`. */
  readonly count: number;
}

/** One call's answer: some keys, and the cursor to continue from (null when the scan is complete). */
export interface ScanKeysResult {
  readonly keys: string[];
  readonly cursor: string | null;
}

/** The bounds of the key scan; each one limits the memory or the requests of one call. */
export interface KeyScanBounds {
  /** The most keys one call returns, whatever `count` asks (Redis leaves it open; a bound keeps one call's answer small). */
  readonly maxCount: number;
  /** Distinct replica sets one window may ask at once: the requests in flight are this times R. */
  readonly maxGroupsPerWindow: number;
  /** Windows one call may go through while it has found fewer than `count` keys. */
  readonly maxWindowsPerCall: number;
  /** The byte budget of one replica's answer (keys and values; values are dropped at once). */
  readonly batchMaxBytes: number;
  /** The longest `match` pattern accepted, in bytes. */
  readonly maxPatternBytes: number;
}

/**
 * Defaults: a call holds at most 8 sets x R answers of 256 KiB in flight (4 MiB with R=2), and
 * returns at most 1000 keys.
 */
export const DEFAULT_KEY_SCAN_BOUNDS: KeyScanBounds = {
  maxCount: 1000,
  maxGroupsPerWindow: 8,
  maxWindowsPerCall: 8,
  batchMaxBytes: 256 * 1024,
  maxPatternBytes: 1024,
};

/** What the scanner needs of its coordinator. */
export interface KeyScanDeps {
  /** The ring views requests route by now (they change with the membership). */
  readonly views: () => RingViews;
  readonly nodeClient: NodeClient;
  readonly isAvailable: (nodeId: string) => boolean;
  /** The cluster's clock (the coordinator's corrected by its measured offset): expiry is judged by it. */
  readonly clock: Clock;
  readonly n: number;
  /** Replicas asked per range: the read quorum R. */
  readonly r: number;
  readonly requestTimeoutMs: number;
  readonly bounds: KeyScanBounds;
}

/**
 * The cluster-wide key scan behind Redis's `SCAN` and `KEYS` and `GET /v1/kv`, with Redis's promise:
 * a full scan (cursor null, then each cursor returned, until null) returns every key that held a
 * live value throughout it, across the whole cluster, and may return a key more than once.
 *
 * How: the scan walks the storage engines' global scan order (bucket of the ring hash, then key;
 * see `key-scan-plan.ts`) a window of buckets at a time. For each set of replicas owning part of
 * the window it asks R of them (the read quorum, from the read ring's readable replicas, those
 * believed available first, the next one when one fails) for their records there, tombstones
 * included, and keeps, for each key up to where every answer is complete, the highest version any
 * of them holds; a key is returned when that version is live (not a tombstone, not expired).
 *
 * Why R replicas and not one: a write acknowledged at W=2 of N=3 may be on two replicas only, so
 * one replica can miss a key that exists; and a replica that missed a delete still holds the old
 * value. Asking R with R + W > N (the defaults 2 + 2 > 3) means some asked replica holds the last
 * acknowledged write of every key, and the highest version wins as in a quorum read: keys that
 * were live throughout are returned, and keys whose delete was acknowledged before the scan began
 * are not. With R + W <= N that promise weakens exactly as reads do. Fewer than R answers for a
 * range fail the call with QUORUM_NOT_MET; the same cursor can be retried.
 *
 * Bounded: per call at most `maxWindowsPerCall` windows, each of at most `maxGroupsPerWindow`
 * replica sets (so at most that times R requests in flight), each answer at most `batchMaxBytes`
 * and `count` records, reduced to keys and versions as it arrives.
 */
export class ClusterKeyScanner {
  constructor(private readonly deps: KeyScanDeps) {}

  /** One call of the scan: up to `count` keys from `cursor` on, and the cursor after them. */
  async scan(cursor: string | null, options: ScanKeysOptions): Promise<ScanKeysResult> {
    const { bounds } = this.deps;
    if (!Number.isInteger(options.count) || options.count < 1) {
      throw new DkvError('INVALID_REQUEST', `count must be a whole number of at least 1, got ${String(options.count)}`);
    }
    // A hint, as Redis's COUNT: above the bound it is the bound, not an error.
    const count = Math.min(options.count, bounds.maxCount);
    if (options.match !== undefined && Buffer.byteLength(options.match, 'utf8') > bounds.maxPatternBytes) {
      throw new DkvError('INVALID_REQUEST', `match pattern is over ${bounds.maxPatternBytes} bytes`);
    }
    let position: KeyScanPosition | null = decodeScanCursor(cursor);
    const keys: string[] = [];
    for (let windows = 0; position !== null && keys.length < count && windows < bounds.maxWindowsPerCall; windows += 1) {
      const window = planScanWindow(this.deps.views(), this.deps.n, position, bounds.maxGroupsPerWindow);
      const merged = mergeScanAnswers(await this.askWindow(window, count));
      const now = this.deps.clock.now();
      const found = [...merged.winners]
        .filter(([key, meta]) => isLive(meta, now) && (options.match === undefined || globMatch(options.match, key)))
        .map(([key]) => ({ key, bucket: bucketOfKey(key) }))
        .sort((a, b) => comparePositions({ bucket: a.bucket, afterKey: a.key }, { bucket: b.bucket, afterKey: b.key }));
      const room = count - keys.length;
      if (found.length > room) {
        const last = found[room - 1] as { key: string; bucket: number };
        for (const { key } of found.slice(0, room)) keys.push(key);
        position = { bucket: last.bucket, afterKey: last.key };
        break;
      }
      for (const { key } of found) keys.push(key);
      position = merged.until ?? (window.lastBucket + 1 < SCAN_BUCKETS ? { bucket: window.lastBucket + 1, afterKey: null } : null);
    }
    return { keys, cursor: position === null ? null : encodeScanCursor(position) };
  }

  private async askWindow(window: ScanWindow, limit: number): Promise<ReplicaScanAnswer[]> {
    const perGroup = await Promise.all(window.groups.map((group) => this.askGroup(window, group, limit)));
    return perGroup.flat();
  }

  /**
   * R answers for one group: its available replicas first; each failure is replaced by the next
   * replica not asked yet, until R answered or none is left (QUORUM_NOT_MET).
   */
  private async askGroup(window: ScanWindow, group: ScanGroup, limit: number): Promise<ReplicaScanAnswer[]> {
    const { isAvailable, r } = this.deps;
    const candidates = [...group.owners.filter((node) => isAvailable(node.id)), ...group.owners.filter((node) => !isAvailable(node.id))];
    const answers: ReplicaScanAnswer[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (answers.length < r && next < candidates.length) {
        const node = candidates[next] as Node;
        next += 1;
        const answer = await this.askReplica(node, window, group, limit);
        if (answer !== null) answers.push(answer);
      }
    };
    await Promise.all(Array.from({ length: Math.min(r, candidates.length) }, worker));
    if (answers.length < r) throw new QuorumNotMetError('read', r, answers.length, next);
    return answers;
  }

  private async askReplica(node: Node, window: ScanWindow, group: ScanGroup, limit: number): Promise<ReplicaScanAnswer | null> {
    const { from } = window;
    try {
      const answer = await this.deps.nodeClient.send(
        node,
        {
          type: 'SCAN',
          ranges: group.ranges,
          cursor: from.afterKey === null ? null : { bucket: from.bucket, afterKey: from.afterKey },
          limit,
          maxBytes: this.deps.bounds.batchMaxBytes,
        },
        { timeoutMs: this.deps.requestTimeoutMs },
      );
      return {
        records: answer.records.map(({ key, record }) => ({ key, meta: metaOf(record) })),
        stoppedAt: answer.cursor === null ? null : { bucket: answer.cursor.bucket, afterKey: answer.cursor.afterKey },
      };
    } catch {
      // Counted by askGroup: another replica of the group is asked instead.
      return null;
    }
  }
}
