import {
  compareVersionedValues,
  DEFAULT_REPLICATION_FACTOR,
  metaOf,
  type HashRange,
  type RangeDigest,
  type ScanCursor,
  type Timer,
  type VersionedValue,
  type VersionMeta,
} from '@dkv/core';
import { normalizeRanges, RingViews } from '@dkv/hashing';
import { entryNode, type Liveness } from '@dkv/membership';
import { isRingSettled, isVersionTooFarAhead, type NodeDataDeps } from './range-sync-manager.js';

/** Pacing and bounds of anti-entropy on one storage node. */
export interface AntiEntropyConfig {
  /** Replication factor N: two nodes share a hash when both are among its N replicas. */
  readonly n: number;
  /**
   * How often each pair of replicas is compared (the node with the lower id starts the periodic
   * rounds of a pair). The tombstone grace period must be well above it: a delete that reached
   * only some replicas is carried to the rest by the next round, before any of them purges it.
   */
  readonly intervalMs: number;
  /** How often the manager looks at the membership (and notices peers that came back). */
  readonly checkIntervalMs: number;
  /**
   * Shared ranges are cut so that none spans more than 2^32 / `piecesPerRing` hashes (a range
   * holds then about 1 / piecesPerRing of a node's keys, however few vnodes the ring has): the
   * first level of the hash tree, and the bound on the work a piece costs.
   */
  readonly piecesPerRing: number;
  /** Pieces per first-level DIGEST request: bounds the work one request costs its replica. */
  readonly rangesPerRequest: number;
  /** A differing range is cut into parts of about this many keys for the second level. */
  readonly keysPerSegment: number;
  /** The most parts a differing range is cut into. */
  readonly maxSegments: number;
  /** Records and bytes of one SCAN of a differing part. */
  readonly batchRecords: number;
  readonly batchBytes: number;
  /** Throttle: the average rate records are streamed at, both directions together, bytes per second. */
  readonly bytesPerSecond: number;
  /** Pause between two DIGEST requests of a round: keeps a round's digest work spread out. */
  readonly digestPauseMs: number;
  /** Deadline of one request. */
  readonly requestTimeoutMs: number;
  /** After a round failed (the peer did not answer), how long before it is tried again. */
  readonly retryDelayMs: number;
}

/** Defaults: each pair compared every minute, at most 4 MiB/s of repair traffic per node. */
export const DEFAULT_ANTI_ENTROPY_CONFIG: AntiEntropyConfig = {
  n: DEFAULT_REPLICATION_FACTOR,
  intervalMs: 60_000,
  checkIntervalMs: 1000,
  piecesPerRing: 4096,
  rangesPerRequest: 16,
  keysPerSegment: 32,
  maxSegments: 1024,
  batchRecords: 256,
  batchBytes: 1024 * 1024,
  bytesPerSecond: 4 * 1024 * 1024,
  digestPauseMs: 10,
  requestTimeoutMs: 2000,
  retryDelayMs: 5000,
};

/** Counters for metrics and tests. */
export interface AntiEntropyStats {
  /** Rounds finished (one round compares every range this node shares with one peer). */
  rounds: number;
  /** Rounds given up (the peer failed to answer, or the ring started to change). */
  roundsFailed: number;
  /** Rounds started because a peer came back (was down or suspect, is alive again). */
  recoveryRounds: number;
  /** Ranges compared at the first level, and those whose digests differed. */
  rangesCompared: number;
  rangesDiffering: number;
  /** Parts compared at the second level that differed (and were streamed). */
  segmentsDiffering: number;
  /** Records received from peers that were newer here (applied), and sent that were newer there. */
  keysPulled: number;
  keysPushed: number;
  /** Bytes of keys and values streamed, both directions. */
  bytesStreamed: number;
  /**
   * Records whose version was too far ahead of this clock: pulled from a peer and not applied, or
   * held here and dropped instead of pushed (see `NodeDataDeps.maxClockOffsetMs`).
   */
  versionsRefused: number;
}

/** What an {@link AntiEntropyManager} works with. */
export interface AntiEntropyDeps extends NodeDataDeps {
  /** Whether this node's store is complete (not catching up after losing its data). */
  readonly hasCompleteData: () => boolean;
  readonly config?: Partial<AntiEntropyConfig>;
}

/** The round stopped because the cluster changed under it; not a failure of the peer. */
class RoundAborted extends Error {}

/**
 * Anti-entropy: replicas of the same ranges compare hash trees and exchange only what differs,
 * both ways, tombstones included (the seed's "data synchronisation on node recovery").
 *
 * A round compares this node with one peer over every range both replicate on the read ring,
 * as a hash tree of three levels. First, one DIGEST per chunk of ranges: a sum of the records'
 * identities per range. For each range that differs, a second DIGEST cuts it into parts of about
 * `keysPerSegment` keys. For each part that differs, the peer's records are pulled (SCAN) and
 * applied here if newer, and this node's records of the part that the peer lacks or holds older
 * are pushed to it (PUT, apply-if-newer there). So after a round both hold, key by key, the newer
 * of their two records. Streaming is throttled to `bytesPerSecond`, DIGESTs are spaced by
 * `digestPauseMs`, and one round runs at a time, so repair never floods a node.
 *
 * Rounds run periodically (each pair every `intervalMs`, started by the lower id) and at once when
 * a peer comes back: seen down or suspect, alive again. Only while the ring is settled (no data
 * moving: range sync owns that) and only between nodes whose stores are complete and readable.
 *
 * Hinted handoff and read repair fix most divergence quickly; anti-entropy is what bounds it
 * when they could not (hints dropped by their bounds, a coordinator that crashed holding hints,
 * keys never read), within `intervalMs`: that, plus the longest hint age, is what the tombstone
 * grace period must exceed.
 */
export class AntiEntropyManager {
  readonly stats: AntiEntropyStats = {
    rounds: 0,
    roundsFailed: 0,
    recoveryRounds: 0,
    rangesCompared: 0,
    rangesDiffering: 0,
    segmentsDiffering: 0,
    keysPulled: 0,
    keysPushed: 0,
    bytesStreamed: 0,
    versionsRefused: 0,
  };
  private readonly config: AntiEntropyConfig;
  private readonly selfId: string;
  private timer: Timer | null = null;
  private running = false;
  private inRound: string | null = null;
  private readonly lastRoundAtMs = new Map<string, number>();
  private readonly lastLiveness = new Map<string, Liveness>();
  private readonly urgent = new Set<string>();
  /** Peers whose last round failed, and when to try again. */
  private readonly retryAtMs = new Map<string, number>();
  private shared: { readonly readId: string; readonly byPeer: Map<string, HashRange[]> } | null = null;

  constructor(private readonly deps: AntiEntropyDeps) {
    this.config = { ...DEFAULT_ANTI_ENTROPY_CONFIG, ...deps.config };
    this.selfId = deps.selfId;
  }

  /** Runs {@link tick} every `checkIntervalMs`. */
  start(): void {
    if (this.timer) return;
    this.running = true;
    this.timer = this.deps.scheduler.every(this.config.checkIntervalMs, () => this.tick());
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
  }

  /** The peer a round is running with, or null. */
  current(): string | null {
    return this.inRound;
  }

  /** Asks for a round with `peerId` as soon as none runs (as when it comes back). */
  requestRound(peerId: string): void {
    if (peerId !== this.selfId) this.urgent.add(peerId);
  }

  /** One look: notice peers that came back, and start the most urgent or most overdue round. */
  tick(): void {
    const peers = this.eligiblePeers();
    const now = this.deps.clock.now();
    for (const entry of this.deps.gossiper.document()) {
      if (entry.id === this.selfId || entry.role !== 'storage') continue;
      const liveness = this.deps.gossiper.livenessOf(entry.id);
      const before = this.lastLiveness.get(entry.id);
      if (liveness === 'alive' && (before === 'down' || before === 'suspect')) this.urgent.add(entry.id);
      this.lastLiveness.set(entry.id, liveness);
    }
    if (this.inRound !== null || peers === null) return;
    for (const [id, atMs] of this.retryAtMs) {
      if (atMs > now) continue;
      this.retryAtMs.delete(id);
      this.urgent.add(id);
    }
    let chosen = [...this.urgent].find((id) => peers.has(id)) ?? null;
    const recovery = chosen !== null;
    if (chosen === null) {
      let oldest = Number.POSITIVE_INFINITY;
      for (const id of peers.keys()) {
        if (id < this.selfId) continue;
        if (!this.lastRoundAtMs.has(id)) this.lastRoundAtMs.set(id, now);
        const last = this.lastRoundAtMs.get(id) ?? now;
        if (now - last >= this.config.intervalMs && last < oldest) {
          oldest = last;
          chosen = id;
        }
      }
    }
    if (chosen === null) return;
    const ranges = peers.get(chosen) ?? [];
    this.urgent.delete(chosen);
    this.lastRoundAtMs.set(chosen, now);
    if (recovery) this.stats.recoveryRounds += 1;
    this.inRound = chosen;
    void this.round(chosen, ranges).finally(() => {
      this.inRound = null;
    });
  }

  /**
   * The peers a round may run with now, each with the ranges shared with it; null when this node
   * may not repair at all (ring not settled, store incomplete, not up).
   */
  private eligiblePeers(): Map<string, HashRange[]> | null {
    const document = this.deps.gossiper.document();
    const me = this.deps.gossiper.entry(this.selfId);
    if (me === undefined || me.status !== 'up' || me.rejoining || !this.deps.hasCompleteData() || !this.deps.gossiper.hasHeardFromPeers())
      return null;
    const views = RingViews.fromMembership(this.deps.gossiper.current());
    if (!isRingSettled(document, views)) return null;
    if (this.shared?.readId !== views.readId)
      this.shared = { readId: views.readId, byPeer: sharedRanges(views, this.selfId, this.config.n, this.config.piecesPerRing) };
    const eligible = new Map<string, HashRange[]>();
    for (const [id, ranges] of this.shared.byPeer) {
      const entry = this.deps.gossiper.entry(id);
      if (entry?.status === 'up' && !entry.rejoining && this.deps.gossiper.livenessOf(id) === 'alive') eligible.set(id, ranges);
    }
    return eligible;
  }

  private async round(peerId: string, ranges: readonly HashRange[]): Promise<void> {
    const readId = this.shared?.readId;
    try {
      for (let start = 0; start < ranges.length; start += this.config.rangesPerRequest) {
        this.checkStillValid(peerId, readId);
        const chunk = ranges.slice(start, start + this.config.rangesPerRequest);
        const differing = await this.compare(peerId, chunk, 1);
        this.stats.rangesCompared += chunk.length;
        this.stats.rangesDiffering += differing.length;
        for (const { range, local, remote } of differing)
          await this.repairRange(peerId, range, Math.max(local.count, remote.count), readId);
        await this.sleep(this.config.digestPauseMs);
      }
      this.stats.rounds += 1;
    } catch (error) {
      this.stats.roundsFailed += 1;
      // A peer that failed to answer (a lost message, a timeout) is tried again after
      // `retryDelayMs`, ahead of its periodic turn; an aborted round waits for the ring to settle.
      if (!(error instanceof RoundAborted)) {
        this.retryAtMs.set(peerId, this.deps.clock.now() + this.config.retryDelayMs);
      }
    }
  }

  /** Cuts a differing range into parts of about `keysPerSegment` keys and streams the parts that differ. */
  private async repairRange(peerId: string, range: HashRange, keys: number, readId: string | undefined): Promise<void> {
    const size = range[1] - range[0] + 1;
    const segments = Math.max(1, Math.min(this.config.maxSegments, Math.ceil(keys / this.config.keysPerSegment), size));
    this.checkStillValid(peerId, readId);
    const parts = segments === 1 ? [{ range }] : await this.compare(peerId, [range], segments);
    this.stats.segmentsDiffering += parts.length;
    for (const part of parts) {
      this.checkStillValid(peerId, readId);
      await this.exchange(peerId, [part.range]);
    }
  }

  /** Asks the peer for the digests of `ranges` cut in `segments` and returns the parts that differ from ours. */
  private async compare(
    peerId: string,
    ranges: readonly HashRange[],
    segments: number,
  ): Promise<Array<{ range: HashRange; local: RangeDigest; remote: RangeDigest }>> {
    const answer = await this.deps.nodeClient.send(
      this.node(peerId),
      { type: 'DIGEST', ranges, segments },
      { timeoutMs: this.config.requestTimeoutMs },
    );
    const local = this.deps.engine.digest(ranges, segments);
    if (answer.digests.length !== local.length)
      throw new Error(`peer ${peerId} answered ${answer.digests.length} digests for ${local.length} parts`);
    const differing: Array<{ range: HashRange; local: RangeDigest; remote: RangeDigest }> = [];
    for (let part = 0; part < local.length; part += 1) {
      const mine = local[part]!;
      const theirs = answer.digests[part]!;
      if (mine.hash === theirs.hash && mine.count === theirs.count) continue;
      differing.push({ range: partRange(ranges, segments, part), local: mine, remote: theirs });
    }
    return differing;
  }

  /**
   * Makes this node and the peer hold, for every key of `ranges`, the newer of their records:
   * pulls the peer's records (applying the newer ones here), then pushes ours that the peer lacks
   * or holds older. Memory: the metadata of the peer's records in `ranges` (one part: about
   * `keysPerSegment` keys) plus one batch.
   */
  private async exchange(peerId: string, ranges: readonly HashRange[]): Promise<void> {
    const peer = this.node(peerId);
    const theirs = new Map<string, VersionMeta>();
    let cursor: ScanCursor | null = null;
    do {
      const answer: {
        readonly records: ReadonlyArray<{ readonly key: string; readonly record: VersionedValue }>;
        readonly cursor: ScanCursor | null;
      } = await this.deps.nodeClient.send(
        peer,
        { type: 'SCAN', ranges, cursor, limit: this.config.batchRecords, maxBytes: this.config.batchBytes },
        { timeoutMs: this.config.requestTimeoutMs },
      );
      let bytes = 0;
      for (const { key, record } of answer.records) {
        // Not noted as theirs: ours is then pushed, and replaces it there.
        if (isVersionTooFarAhead(this.deps, record.version)) {
          this.stats.versionsRefused += 1;
          continue;
        }
        theirs.set(key, metaOf(record));
        if (this.deps.engine.apply(key, record).applied) {
          this.stats.keysPulled += 1;
          bytes += Buffer.byteLength(key, 'utf8') + record.value.byteLength;
        }
      }
      cursor = answer.cursor;
      await this.throttle(bytes);
    } while (cursor !== null);
    let localCursor: ScanCursor | null = null;
    let pushFailures = 0;
    do {
      const batch = this.deps.engine.scan(ranges, localCursor, this.config.batchRecords, this.config.batchBytes);
      localCursor = batch.cursor;
      const newer = batch.records.filter(({ key, record }) => {
        if (isVersionTooFarAhead(this.deps, record.version)) {
          // Held here from before the check: dropped, never pushed.
          this.deps.engine.remove(key);
          this.stats.versionsRefused += 1;
          return false;
        }
        const held = theirs.get(key);
        return held === undefined || compareVersionedValues(record, held) > 0;
      });
      let bytes = 0;
      let failed = 0;
      await Promise.all(
        newer.map(async ({ key, record }) => {
          try {
            const answer = await this.deps.nodeClient.send(peer, { type: 'PUT', key, record }, { timeoutMs: this.config.requestTimeoutMs });
            if (answer.applied) {
              this.stats.keysPushed += 1;
              bytes += Buffer.byteLength(key, 'utf8') + record.value.byteLength;
            }
          } catch {
            failed += 1;
          }
        }),
      );
      await this.throttle(bytes);
      // The rest of the part still goes; the round is then retried soon, not after a full interval.
      pushFailures += failed;
    } while (localCursor !== null);
    if (pushFailures > 0) throw new Error(`${pushFailures} records could not be pushed to ${peerId}`);
  }

  private async throttle(bytes: number): Promise<void> {
    this.stats.bytesStreamed += bytes;
    if (bytes > 0) await this.sleep((bytes / this.config.bytesPerSecond) * 1000);
  }

  /** Gives up the round when the node stopped, the ring changed, or the peer is no longer eligible. */
  private checkStillValid(peerId: string, readId: string | undefined): void {
    const peers = this.running ? this.eligiblePeers() : null;
    if (peers === null || !peers.has(peerId) || this.shared?.readId !== readId) throw new RoundAborted(`round with ${peerId} aborted`);
  }

  private node(peerId: string) {
    const entry = this.deps.gossiper.entry(peerId);
    if (entry === undefined) throw new RoundAborted(`peer ${peerId} left the membership`);
    return entryNode(entry);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.scheduler.after(Math.max(0, Math.ceil(ms)), resolve));
  }
}

/**
 * For each other storage node, the ranges of which both it and `selfId` are replicas on the read
 * ring: normalized, then cut at every multiple of 2^32 / `piecesPerRing`, so that no range is
 * wider than that (with few nodes, the shared ranges merge into one range of the whole ring).
 */
export function sharedRanges(views: RingViews, selfId: string, n: number, piecesPerRing = 1): Map<string, HashRange[]> {
  const byPeer = new Map<string, HashRange[]>();
  for (const arc of views.read.arcs(n)) {
    if (!arc.nodes.some((node) => node.id === selfId)) continue;
    for (const node of arc.nodes) {
      if (node.id === selfId) continue;
      let ranges = byPeer.get(node.id);
      if (ranges === undefined) {
        ranges = [];
        byPeer.set(node.id, ranges);
      }
      ranges.push(arc.range);
    }
  }
  const width = Math.ceil(2 ** 32 / Math.max(1, piecesPerRing));
  for (const [id, ranges] of byPeer) byPeer.set(id, cutRanges(normalizeRanges(ranges), width));
  return byPeer;
}

/** `ranges` (sorted, disjoint) cut at every multiple of `width`. */
function cutRanges(ranges: readonly HashRange[], width: number): HashRange[] {
  const out: HashRange[] = [];
  for (const [start, end] of ranges) {
    let from = start;
    while (from <= end) {
      const boundary = (Math.floor(from / width) + 1) * width - 1;
      const to = Math.min(end, boundary);
      out.push([from, to]);
      from = to + 1;
    }
  }
  return out;
}

/** The hashes of part `part` of `ranges` cut into `segments` (the rule of `RangeScanStorageEngine.digest`). */
export function partRange(ranges: readonly HashRange[], segments: number, part: number): HashRange {
  const [start, end] = ranges[Math.floor(part / segments)] ?? [0, -1];
  const j = part % segments;
  const size = end - start + 1;
  return [start + Math.floor((j * size) / segments), start + Math.floor(((j + 1) * size) / segments) - 1];
}
