import {
  compareVersionedValues,
  DkvError,
  metaOf,
  type Clock,
  type HashRange,
  type Node,
  type NodeClient,
  type RangeDigest,
  type ResponseFor,
  type Scheduler,
  type StorageRequest,
  type ScanCursor,
  type VersionedValue,
  type VersionMeta,
} from '@dkv/core';
import type { RingViews } from '@dkv/hashing';
import type { AntiEntropyConfig } from '@dkv/replication';
import { readArcs, ReplicaSetGroups, type ReplicaSetGroup } from './ring-walk.js';

/**
 * Bounds and pacing of an operator's repair (`POST /v1/cluster/repair`, `dkv repair`): the same
 * two-level comparison as the nodes' background anti-entropy, so the same knobs, taken from
 * {@link AntiEntropyConfig} (pieces of the ring, pieces per DIGEST request, parts of a differing
 * piece, SCAN batches, and the throttle, here on the records the repair writes).
 */
export interface RepairBounds extends Pick<
  AntiEntropyConfig,
  'piecesPerRing' | 'rangesPerRequest' | 'keysPerSegment' | 'maxSegments' | 'batchRecords' | 'batchBytes' | 'bytesPerSecond'
> {
  /** Finished repairs whose reports are kept for `GET /v1/cluster/repair/{id}` (the oldest are forgotten). */
  readonly reportsKept: number;
}

/** Defaults: 1024 pieces over the ring, 32 per request, at most 8 MiB/s of repair writes. */
export const DEFAULT_REPAIR_BOUNDS: RepairBounds = {
  piecesPerRing: 1024,
  rangesPerRequest: 32,
  keysPerSegment: 32,
  maxSegments: 1024,
  batchRecords: 256,
  batchBytes: 1024 * 1024,
  bytesPerSecond: 8 * 1024 * 1024,
  reportsKept: 16,
};

/** Where a repair stands: `running`, then `done` or `failed` (with `error`). */
export type RepairState = 'running' | 'done' | 'failed';

/**
 * One repair's progress and outcome, as `POST /v1/cluster/repair` and
 * `GET /v1/cluster/repair/{id}` answer it (a stable JSON shape: `dkv repair --json` prints it).
 */
export interface RepairReport {
  readonly id: string;
  readonly state: RepairState;
  /** The node whose ranges are repaired, or null for every range of the ring. */
  readonly node: string | null;
  /** Epoch milliseconds by the coordinator's clock. */
  readonly startedAt: number;
  readonly finishedAt: number | null;
  /** Pieces of the ring to compare, compared so far, found differing, and skipped (fewer than two replicas available). */
  readonly rangesPlanned: number;
  readonly rangesCompared: number;
  readonly rangesDiffering: number;
  readonly rangesSkipped: number;
  /** Keys some replica lacked or held an older record of. */
  readonly keysDiffering: number;
  /** Records written to replicas that lacked them or held older ones, and their key and value bytes. */
  readonly recordsRepaired: number;
  readonly bytesRepaired: number;
  /** Why a failed repair stopped; null otherwise. */
  readonly error: string | null;
}

/** What a {@link ClusterRepair} works with: the coordinator's rings, its connections, and whether a node is worth asking. */
export interface ClusterRepairDeps {
  readonly views: () => RingViews;
  readonly nodeClient: NodeClient;
  readonly isAvailable: (nodeId: string) => boolean;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly n: number;
  readonly requestTimeoutMs: number;
  readonly bounds?: Partial<RepairBounds>;
}

/** The pieces one group of replicas shares, compared together. */
type ReplicaGroup = ReplicaSetGroup;

type MutableReport = { -readonly [K in keyof RepairReport]: RepairReport[K] };

/**
 * An anti-entropy pass on demand, run by a coordinator over the internode protocol it already
 * speaks (DIGEST, SCAN, PUT), so an operator can repair now rather than wait for the storage
 * nodes' periodic rounds, and watch it: the report counts pieces compared and what was fixed.
 *
 * The read ring's arcs are cut into pieces and grouped by replica set. For each batch of pieces,
 * every available replica answers a DIGEST; a piece whose replicas disagree is cut into parts of
 * about `keysPerSegment` keys, and for each part that differs every replica's records are read
 * (SCAN) and the newest record of each key is written (apply-if-newer PUT) to the replicas that
 * lack it or hold an older one. After a repair, the available replicas of every piece hold the
 * same records. One repair runs at a time; writes are throttled to `bytesPerSecond`. It is
 * refused while data moves (the range sync owns that) and stops, failed, if the ring changes or
 * a replica fails to answer.
 */
export class ClusterRepair {
  private readonly bounds: RepairBounds;
  private readonly reports = new Map<string, MutableReport>();
  private running: MutableReport | null = null;
  private nextId = 1;

  constructor(private readonly deps: ClusterRepairDeps) {
    this.bounds = { ...DEFAULT_REPAIR_BOUNDS, ...deps.bounds };
  }

  /**
   * Starts a repair of every range (or, with `node`, of the ranges that node replicates) and
   * answers its first report; the work continues in the background.
   * @throws DkvError NOT_FOUND for a node not on the ring; INVALID_REQUEST while a repair runs or data moves.
   */
  start(options: { readonly node?: string } = {}): RepairReport {
    if (this.running !== null)
      throw new DkvError(
        'INVALID_REQUEST',
        `repair ${this.running.id} is still running: follow it with GET /v1/cluster/repair/${this.running.id}, or wait for it to end`,
      );
    const views = this.deps.views();
    if (views.changing)
      throw new DkvError(
        'INVALID_REQUEST',
        'data is moving (a join, decommission, removal or vnodes change is under way): repair once the ring is settled (dkv status shows no joining or leaving node)',
      );
    const node = options.node ?? null;
    if (node !== null && !views.read.ringShares().has(node)) throw new DkvError('NOT_FOUND', `node ${node} is not on the ring`);
    if (node !== null && !this.deps.isAvailable(node))
      throw new DkvError(
        'INVALID_REQUEST',
        `node ${node} is down: a repair needs it to answer (remove it with dkv removenode, or repair once it is back)`,
      );
    const groups = this.plan(views, node);
    const report: MutableReport = {
      id: `repair-${this.nextId++}`,
      state: 'running',
      node,
      startedAt: this.deps.clock.now(),
      finishedAt: null,
      rangesPlanned: groups.reduce((sum, group) => sum + group.ranges.length, 0),
      rangesCompared: 0,
      rangesDiffering: 0,
      rangesSkipped: 0,
      keysDiffering: 0,
      recordsRepaired: 0,
      bytesRepaired: 0,
      error: null,
    };
    this.remember(report);
    this.running = report;
    void this.run(report, groups, views.readId).finally(() => {
      this.running = null;
    });
    return { ...report };
  }

  /** The report of repair `id` (running or among the last `reportsKept` finished), or null. */
  report(id: string): RepairReport | null {
    const report = this.reports.get(id);
    return report === undefined ? null : { ...report };
  }

  private remember(report: MutableReport): void {
    this.reports.set(report.id, report);
    while (this.reports.size > this.bounds.reportsKept) this.reports.delete(this.reports.keys().next().value as string);
  }

  /** The read ring's pieces (those `node` replicates, if given), grouped by their replica set. */
  private plan(views: RingViews, node: string | null): ReplicaGroup[] {
    const width = Math.ceil(2 ** 32 / Math.max(1, this.bounds.piecesPerRing));
    const groups = new ReplicaSetGroups();
    for (const arc of readArcs(views, this.deps.n)) {
      if (arc.replicas.length < 2 || (node !== null && !arc.replicas.some((n) => n.id === node))) continue;
      groups.add(arc.replicasKey, arc.replicas, cutRange(arc.range, width), 'apart');
    }
    const list = groups.list();
    for (const group of list) group.ranges.sort((a, b) => a[0] - b[0]);
    return list;
  }

  private async run(report: MutableReport, groups: readonly ReplicaGroup[], readId: string): Promise<void> {
    try {
      for (const group of groups) {
        for (let start = 0; start < group.ranges.length; start += this.bounds.rangesPerRequest) {
          this.checkRing(readId);
          const chunk = group.ranges.slice(start, start + this.bounds.rangesPerRequest);
          const replicas = group.replicas.filter((replica) => this.deps.isAvailable(replica.id));
          if (replicas.length < 2) {
            report.rangesSkipped += chunk.length;
            continue;
          }
          const differing = await this.differingParts(replicas, chunk, 1);
          report.rangesCompared += chunk.length;
          report.rangesDiffering += differing.length;
          for (const { range, keys } of differing) await this.repairRange(report, replicas, range, keys, readId);
        }
      }
      report.state = 'done';
    } catch (error) {
      report.state = 'failed';
      report.error = error instanceof Error ? error.message : String(error);
    } finally {
      report.finishedAt = this.deps.clock.now();
    }
  }

  private checkRing(readId: string): void {
    const views = this.deps.views();
    if (views.readId !== readId || views.changing)
      throw new Error('the ring changed during the repair (data started moving): run it again once the ring is settled');
  }

  /** Cuts a differing piece into parts of about `keysPerSegment` keys and reconciles the parts that differ. */
  private async repairRange(
    report: MutableReport,
    replicas: readonly Node[],
    range: HashRange,
    keys: number,
    readId: string,
  ): Promise<void> {
    const size = range[1] - range[0] + 1;
    const segments = Math.max(1, Math.min(this.bounds.maxSegments, Math.ceil(keys / this.bounds.keysPerSegment), size));
    const parts = segments === 1 ? [{ range, keys }] : await this.differingParts(replicas, [range], segments);
    for (const part of parts) {
      this.checkRing(readId);
      await this.reconcile(report, replicas, part.range);
    }
  }

  /** Asks every replica for the digests of `ranges` cut in `segments`; answers the parts on which they do not all agree. */
  private async differingParts(
    replicas: readonly Node[],
    ranges: readonly HashRange[],
    segments: number,
  ): Promise<Array<{ range: HashRange; keys: number }>> {
    const answers = await Promise.all(replicas.map((replica) => this.digest(replica, ranges, segments)));
    const parts = ranges.length * segments;
    const differing: Array<{ range: HashRange; keys: number }> = [];
    for (let part = 0; part < parts; part += 1) {
      const digests = answers.map((answer) => answer[part]);
      const first = digests[0];
      if (digests.every((d) => d !== undefined && first !== undefined && d.hash === first.hash && d.count === first.count)) continue;
      differing.push({ range: partOf(ranges, segments, part), keys: Math.max(...digests.map((d) => d?.count ?? 0)) });
    }
    return differing;
  }

  private async digest(replica: Node, ranges: readonly HashRange[], segments: number): Promise<readonly RangeDigest[]> {
    const answer = await this.send(replica, { type: 'DIGEST', ranges, segments });
    if (answer.digests.length !== ranges.length * segments)
      throw new Error(`node ${replica.id} answered a DIGEST with the wrong number of parts`);
    return answer.digests;
  }

  /**
   * Reads every replica's records of `range`, then writes each key's newest record to the
   * replicas that lack it or hold an older one. Memory: the part's records (about
   * `keysPerSegment` keys, one newest record and one version per replica each).
   */
  private async reconcile(report: MutableReport, replicas: readonly Node[], range: HashRange): Promise<void> {
    const newest = new Map<string, VersionedValue>();
    const held = new Map<string, Map<string, VersionMeta>>();
    for (const replica of replicas) {
      const metas = new Map<string, VersionMeta>();
      held.set(replica.id, metas);
      let cursor: ScanCursor | null = null;
      do {
        const answer: ResponseFor<{ type: 'SCAN' } & StorageRequest> = await this.send(replica, {
          type: 'SCAN',
          ranges: [range],
          cursor,
          limit: this.bounds.batchRecords,
          maxBytes: this.bounds.batchBytes,
        });
        for (const { key, record } of answer.records) {
          metas.set(key, metaOf(record));
          const best = newest.get(key);
          if (best === undefined || compareVersionedValues(record, best) > 0) newest.set(key, record);
        }
        cursor = answer.cursor;
      } while (cursor !== null);
    }
    for (const [key, record] of newest) {
      const behind = replicas.filter((replica) => {
        const meta = held.get(replica.id)?.get(key);
        return meta === undefined || compareVersionedValues(meta, record) < 0;
      });
      if (behind.length === 0) continue;
      report.keysDiffering += 1;
      for (const replica of behind) {
        const answer = await this.send(replica, { type: 'PUT', key, record });
        if (!answer.applied) continue;
        const bytes = Buffer.byteLength(key, 'utf8') + record.value.byteLength;
        report.recordsRepaired += 1;
        report.bytesRepaired += bytes;
        await this.sleep((bytes / this.bounds.bytesPerSecond) * 1000);
      }
    }
  }

  private send<R extends StorageRequest>(replica: Node, request: R): Promise<ResponseFor<R>> {
    return this.deps.nodeClient.send(replica, request, { timeoutMs: this.deps.requestTimeoutMs });
  }

  private sleep(ms: number): Promise<void> {
    if (ms < 1) return Promise.resolve();
    return new Promise((resolve) => this.deps.scheduler.after(Math.ceil(ms), resolve));
  }
}

/** `range` cut at every multiple of `width`. */
function cutRange(range: readonly [number, number], width: number): HashRange[] {
  const out: HashRange[] = [];
  let from = range[0];
  while (from <= range[1]) {
    const to = Math.min(range[1], (Math.floor(from / width) + 1) * width - 1);
    out.push([from, to]);
    from = to + 1;
  }
  return out;
}

/** The hashes of part `part` of `ranges` cut into `segments` (the rule of the storage engines' DIGEST). */
function partOf(ranges: readonly HashRange[], segments: number, part: number): HashRange {
  const [start, end] = ranges[Math.floor(part / segments)] ?? [0, -1];
  const j = part % segments;
  const size = end - start + 1;
  return [start + Math.floor((j * size) / segments), start + Math.floor(((j + 1) * size) / segments) - 1];
}
