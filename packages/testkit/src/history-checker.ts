/**
 * Checks a recorded history against what dkv promises a register-per-key store under strict
 * quorums (N=3, W=2, R=2; last writer wins by version; versions issued so that every write is
 * ordered after every write acknowledged before it began; deletes are versioned tombstones; an
 * expired value acts as a tombstone at its own version).
 *
 * The checks are targeted rather than a full linearizability search (export the history to
 * Knossos or Porcupine for that, see `history-export.ts`): each is a sweep over one key's
 * operations sorted by time, O(n log n) per key, so 100k operations take well under a second.
 * Every check is sound: it never flags a history that a correct store could have produced.
 * Ties in time are read as concurrency (only `a.endMs < b.startMs` orders `a` before `b`), and
 * indeterminate (`info`) writes may take effect at any moment after they began, even after the
 * client gave up, or never.
 */
import type { HistoryOperation } from './history-recorder.js';

/** The kinds of anomaly {@link checkHistory} and {@link checkConvergence} report; see {@link checkHistory}. */
export type AnomalyKind =
  'lost-write' | 'stale-read' | 'resurrected-delete' | 'phantom-value' | 'expired-value' | 'version-order' | 'divergence';

/** Every anomaly kind, in the order {@link HistoryCheckStats.anomalies} lists them. */
export const ANOMALY_KINDS: readonly AnomalyKind[] = [
  'lost-write',
  'stale-read',
  'resurrected-delete',
  'phantom-value',
  'expired-value',
  'version-order',
  'divergence',
];

/** One violation, with the operations that prove it. */
export interface Anomaly {
  readonly kind: AnomalyKind;
  readonly key: string;
  /** A sentence naming every operation involved by id, value, version and interval. */
  readonly message: string;
  /** The operations involved: the offending one first (the read; for `version-order`, the write). Empty for `divergence`. */
  readonly ops: readonly HistoryOperation[];
}

/** Options of {@link checkHistory}. */
export interface CheckHistoryOptions {
  /**
   * How far, in ms, the recorder's clock may disagree with the clocks that decide expiry (the
   * coordinator that fixed `expiresAt` and the replicas that compare it with their own clock).
   * Widens both TTL checks in the store's favour. Default 1000; set it to the cluster's worst
   * clock skew in simulations that skew clocks.
   */
  readonly expiryToleranceMs?: number;
  /** How many anomalies to return; the rest are only counted in the stats. Default 100. */
  readonly maxAnomalies?: number;
}

/** Counts that say what a check covered, so a vacuous pass (no reads, all failed) is visible. */
export interface HistoryCheckStats {
  readonly operations: number;
  readonly keys: number;
  readonly reads: { readonly ok: number; readonly fail: number };
  readonly writes: { readonly ok: number; readonly info: number; readonly fail: number };
  /** Anomalies found of each kind, including those beyond `maxAnomalies`. */
  readonly anomalies: Readonly<Record<AnomalyKind, number>>;
}

/** The verdict of {@link checkHistory}. */
export interface HistoryCheckResult {
  /** True when no anomaly was found. */
  readonly valid: boolean;
  /** Up to `maxAnomalies` anomalies, ordered by the offending operation's start time. */
  readonly anomalies: readonly Anomaly[];
  /** True when more anomalies were found than returned. */
  readonly truncated: boolean;
  readonly stats: HistoryCheckStats;
}

const DEFAULT_EXPIRY_TOLERANCE_MS = 1000;
const DEFAULT_MAX_ANOMALIES = 100;
const MS_PER_SECOND = 1000;
const VALUE_PREVIEW_CHARS = 40;

/** Best item of each prefix of a list, by a score; an item with score -Infinity never counts. */
class PrefixBest<T> {
  private readonly best: Int32Array;
  constructor(
    private readonly items: readonly T[],
    private readonly score: (item: T) => number,
  ) {
    this.best = new Int32Array(items.length);
    let bestIndex = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < items.length; i += 1) {
      const s = score(items[i]!);
      if (s > bestScore) {
        bestScore = s;
        bestIndex = i;
      }
      this.best[i] = bestIndex;
    }
  }

  /** The best of the first `count` items, or undefined when none of them counts. */
  of(count: number): T | undefined {
    if (count <= 0) return undefined;
    const index = this.best[count - 1]!;
    return index < 0 ? undefined : this.items[index];
  }

  /** The score of {@link of}(count), or -Infinity. */
  scoreOf(count: number): number {
    const item = this.of(count);
    return item === undefined ? Number.NEGATIVE_INFINITY : this.score(item);
  }
}

/** How many of the ascending `times` are below `t` (`inclusive`: at or below). */
function countBefore(times: Float64Array, t: number, inclusive = false): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = times[mid]!;
    if (x < t || (inclusive && x === t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sortedBy<T>(items: readonly T[], time: (item: T) => number): { items: T[]; times: Float64Array } {
  const sorted = [...items].sort((a, b) => time(a) - time(b));
  return { items: sorted, times: Float64Array.from(sorted, time) };
}

/** The puts that wrote one value to one key (ok or info), by start time. */
interface ValueWriters {
  readonly starts: Float64Array;
  /** Latest moment each could have taken effect: its end if ok, never-ending if info. */
  readonly latest: PrefixBest<HistoryOperation>;
  /** Latest moment, by the recorder's clock, each value can still be live. */
  readonly liveUntil: PrefixBest<HistoryOperation>;
  /** Any acknowledged writer. */
  readonly acknowledged: PrefixBest<HistoryOperation>;
}

/** The indexes over one key's operations that every read queries. */
class KeyIndex {
  /** Acknowledged writes by end time, with the best of each prefix for each question asked. */
  readonly ackedEnds: Float64Array;
  readonly maxVersion: PrefixBest<HistoryOperation>;
  readonly maxDeleteVersion: PrefixBest<HistoryOperation>;
  readonly maxPutVersion: PrefixBest<HistoryOperation>;
  readonly latestPutStart: PrefixBest<HistoryOperation>;
  readonly latestDeleteStart: PrefixBest<HistoryOperation>;
  /** Writes that can leave the key absent (deletes, puts with a TTL), by the earliest time they can. */
  readonly absenceTimes: Float64Array;
  readonly absence: PrefixBest<HistoryOperation>;
  readonly values = new Map<string, ValueWriters>();

  constructor(
    writes: readonly HistoryOperation[],
    readonly toleranceMs: number,
  ) {
    const acked = sortedBy(
      writes.filter((op) => op.outcome === 'ok'),
      (op) => op.endMs,
    );
    this.ackedEnds = acked.times;
    const version = (op: HistoryOperation): number => op.version!;
    const only = (kind: HistoryOperation['kind'], score: (op: HistoryOperation) => number) => (op: HistoryOperation) =>
      op.kind === kind ? score(op) : Number.NEGATIVE_INFINITY;
    this.maxVersion = new PrefixBest(acked.items, version);
    this.maxDeleteVersion = new PrefixBest(acked.items, only('delete', version));
    this.maxPutVersion = new PrefixBest(acked.items, only('put', version));
    this.latestPutStart = new PrefixBest(
      acked.items,
      only('put', (op) => op.startMs),
    );
    this.latestDeleteStart = new PrefixBest(
      acked.items,
      only('delete', (op) => op.startMs),
    );

    const absence = sortedBy(
      writes.filter((op) => op.kind === 'delete' || op.ttlSeconds !== undefined),
      (op) => this.earliestAbsenceMs(op),
    );
    this.absenceTimes = absence.times;
    // An indeterminate write's version is unknown, so it may be the highest of all.
    this.absence = new PrefixBest(absence.items, (op) => (op.outcome === 'ok' ? op.version! : Number.POSITIVE_INFINITY));

    const byValue = new Map<string, HistoryOperation[]>();
    for (const op of writes) {
      if (op.kind !== 'put' || op.value === null) continue;
      const list = byValue.get(op.value);
      if (list) list.push(op);
      else byValue.set(op.value, [op]);
    }
    for (const [value, puts] of byValue) {
      const { items, times } = sortedBy(puts, (op) => op.startMs);
      this.values.set(value, {
        starts: times,
        latest: new PrefixBest(items, (op) => (op.outcome === 'ok' ? op.endMs : Number.POSITIVE_INFINITY)),
        liveUntil: new PrefixBest(items, (op) => this.liveUntilMs(op)),
        acknowledged: new PrefixBest(items, (op) => (op.outcome === 'ok' ? 0 : Number.NEGATIVE_INFINITY)),
      });
    }
  }

  /**
   * The earliest recorder time at which `op` can have left the key absent: a delete from its
   * start; a put with a TTL from its start plus the TTL (its coordinator fixed the expiry no
   * earlier), less the clock tolerance.
   */
  earliestAbsenceMs(op: HistoryOperation): number {
    if (op.kind === 'delete') return op.startMs;
    return op.startMs + (op.ttlSeconds ?? 0) * MS_PER_SECOND - this.toleranceMs;
  }

  /**
   * The latest recorder time at which the value `op` wrote can still be live: an acknowledged put
   * with a TTL expires at most TTL after it was acknowledged (plus the clock tolerance). A put
   * without TTL, or an indeterminate one (which a slow coordinator may still apply much later),
   * has no such bound.
   */
  liveUntilMs(op: HistoryOperation): number {
    if (op.outcome !== 'ok' || op.ttlSeconds === undefined) return Number.POSITIVE_INFINITY;
    return op.endMs + op.ttlSeconds * MS_PER_SECOND + this.toleranceMs;
  }
}

/**
 * Judges one ok read. At most one anomaly per read, the most specific: phantom-value, then
 * resurrected-delete, stale-read, lost-write and expired-value.
 */
function checkRead(read: HistoryOperation, index: KeyIndex): Anomaly | null {
  const ackedBefore = countBefore(index.ackedEnds, read.startMs);
  if (read.value === null) return checkNotFound(read, index, ackedBefore);

  const writers = index.values.get(read.value);
  const possible = writers ? countBefore(writers.starts, read.endMs, true) : 0;
  if (!writers || possible === 0) {
    const future = writers?.latest.of(writers.starts.length);
    const why = future
      ? `which was only written by ${describeOperation(future)}, invoked after the read ended`
      : `which no put (ok or indeterminate) to this key ever wrote`;
    return anomaly(
      'phantom-value',
      read,
      `phantom value: ${describeOperation(read)} returned ${preview(read.value)}, ${why}`,
      future ? [future] : [],
    );
  }
  const latestWriter = writers.latest.of(possible)!;
  const latestEffectMs = writers.latest.scoreOf(possible);
  const acknowledgedWriter = writers.acknowledged.of(possible);
  const readVersion = read.version!;

  const deleteByVersion = index.maxDeleteVersion.of(ackedBefore);
  if (acknowledgedWriter && deleteByVersion && deleteByVersion.version! > readVersion) {
    return anomaly(
      'resurrected-delete',
      read,
      `resurrected delete: ${describeOperation(read)} returned a value written by ${describeOperation(acknowledgedWriter)}, ` +
        `but ${describeOperation(deleteByVersion)} deleted the key at a higher version and was acknowledged before the read began`,
      [acknowledgedWriter, deleteByVersion],
    );
  }
  const deleteByTime = index.latestDeleteStart.of(ackedBefore);
  if (deleteByTime && deleteByTime.startMs > latestEffectMs) {
    return anomaly(
      'resurrected-delete',
      read,
      `resurrected delete: ${describeOperation(read)} returned a value whose every put (latest ${describeOperation(latestWriter)}) ` +
        `completed before ${describeOperation(deleteByTime)} began, and that delete was acknowledged before the read began`,
      [latestWriter, deleteByTime],
    );
  }
  const newer = index.maxVersion.of(ackedBefore);
  if (newer && newer.version! > readVersion) {
    return anomaly(
      'stale-read',
      read,
      `stale read: ${describeOperation(read)} returned version ${readVersion} (written by ${describeOperation(latestWriter)}), lower than version ` +
        `${newer.version} of ${describeOperation(newer)}, which was acknowledged before the read began`,
      [newer, latestWriter],
    );
  }
  const overwrite = index.latestPutStart.of(ackedBefore);
  if (overwrite && overwrite.startMs > latestEffectMs) {
    return anomaly(
      'lost-write',
      read,
      `lost write: ${describeOperation(overwrite)} was acknowledged before ${describeOperation(read)} began, yet the read returned ` +
        `a value whose every put (latest ${describeOperation(latestWriter)}) completed before that write began`,
      [overwrite, latestWriter],
    );
  }
  const liveUntilMs = writers.liveUntil.scoreOf(possible);
  if (read.startMs > liveUntilMs) {
    const expired = writers.liveUntil.of(possible)!;
    return anomaly(
      'expired-value',
      read,
      `expired value returned: ${describeOperation(read)} began at ${read.startMs}, after the value of ${describeOperation(expired)} had expired ` +
        `by the recorder's clock (acknowledged at ${expired.endMs} with a ${expired.ttlSeconds} s TTL, so gone by ${liveUntilMs} ` +
        `including ${index.toleranceMs} ms of clock tolerance)`,
      [expired],
    );
  }
  return null;
}

/**
 * A read of not-found is wrong when some put was acknowledged before it began (the newest such,
 * by version, is W) and nothing can have removed W's value by the time the read ended: no delete
 * that began by then with a version above W's (any indeterminate delete counts, its version
 * being unknown), and no put with a TTL at or above W's version that can have expired by then.
 */
function checkNotFound(read: HistoryOperation, index: KeyIndex, ackedBefore: number): Anomaly | null {
  const newest = index.maxPutVersion.of(ackedBefore);
  if (!newest) return null;
  const removers = countBefore(index.absenceTimes, read.endMs, true);
  if (index.absence.scoreOf(removers) >= newest.version!) return null;
  return anomaly(
    'lost-write',
    read,
    `lost write: ${describeOperation(read)} returned not-found, but ${describeOperation(newest)} was acknowledged before the read began, ` +
      `and no delete or expiry can explain it (no delete with a higher or unknown version began before the read ended, ` +
      `and no value at that version or above can have expired by then)`,
    [newest],
  );
}

/** Every acknowledged write must get a version above that of every write acknowledged before it began. */
function checkVersionOrder(write: HistoryOperation, index: KeyIndex): Anomaly | null {
  const before = index.maxVersion.of(countBefore(index.ackedEnds, write.startMs));
  if (!before || before.version! < write.version!) return null;
  return anomaly(
    'version-order',
    write,
    `version order: ${describeOperation(write)} got version ${write.version}, not above version ${before.version} of ${describeOperation(before)}, ` +
      `which was acknowledged before it began`,
    [before],
  );
}

function anomaly(kind: AnomalyKind, offender: HistoryOperation, message: string, others: readonly HistoryOperation[]): Anomaly {
  return { kind, key: offender.key, message, ops: [offender, ...others] };
}

function preview(value: string | null): string {
  if (value === null) return 'not-found';
  const cut = value.length > VALUE_PREVIEW_CHARS ? `${value.slice(0, VALUE_PREVIEW_CHARS)}...` : value;
  return JSON.stringify(cut);
}

/** One operation as anomaly messages name it: `#12 put("k", "v3") v7 by p2 [100, 110] ok`. */
export function describeOperation(op: HistoryOperation): string {
  const key = JSON.stringify(op.key);
  const call =
    op.kind === 'put'
      ? `put(${key}, ${preview(op.value)}${op.ttlSeconds !== undefined ? `, ttl ${op.ttlSeconds} s` : ''})`
      : `${op.kind}(${key})`;
  const answer = op.kind === 'get' && op.outcome === 'ok' ? ` -> ${preview(op.value)}` : '';
  const version = op.version !== undefined ? ` v${op.version}` : '';
  return `#${op.id} ${call}${answer}${version} by ${op.process} [${op.startMs}, ${op.endMs}] ${op.outcome}`;
}

function validate(op: HistoryOperation): void {
  if (!(Number.isFinite(op.startMs) && op.endMs >= op.startMs)) {
    throw new RangeError(`operation #${op.id}: needs a finite startMs and endMs >= startMs, got [${op.startMs}, ${op.endMs}]`);
  }
  const needsVersion = op.outcome === 'ok' && (op.kind !== 'get' || op.value !== null);
  if (needsVersion && !(typeof op.version === 'number' && Number.isFinite(op.version))) {
    throw new RangeError(
      `operation #${op.id} (${op.kind} ${op.outcome}) has no version; ok writes and ok reads of a value carry the store's version`,
    );
  }
  if (op.ttlSeconds !== undefined && !(op.ttlSeconds > 0))
    throw new RangeError(`operation #${op.id}: ttlSeconds must be positive, got ${op.ttlSeconds}`);
}

function emptyCounts(): Record<AnomalyKind, number> {
  return Object.fromEntries(ANOMALY_KINDS.map((kind) => [kind, 0])) as Record<AnomalyKind, number>;
}

/**
 * Checks `history` and returns every anomaly found (up to `maxAnomalies`). Failed operations are
 * ignored: a failed write had no effect, a failed read told nothing. The kinds, per key:
 *
 * - `phantom-value`: an ok read returned a value that no put (ok or info) to that key wrote, or
 *   that was only written by puts invoked after the read ended.
 * - `resurrected-delete`: an ok read returned a value with an acknowledged writer, and a delete
 *   acknowledged before the read began supersedes it: by version (the delete's version is above
 *   the version the read returned) or by real time (every put of that value completed before
 *   the delete began).
 * - `stale-read`: an ok read returned version v, and a write (put or delete) with a version above
 *   v was acknowledged before the read began. Exact, since versions come from the results.
 * - `lost-write`: an ok put W was acknowledged before an ok read began, and the read returned
 *   either a value all of whose puts completed before W began (real-time order, which catches
 *   versions issued out of order), or not-found when nothing can explain it. For not-found, W
 *   is the acknowledged put with the highest version among those that ended before the read
 *   began; the read is explained by any delete invoked by the read's end whose version is at
 *   least W's (or unknown: indeterminate), or by any put with a TTL whose version is at least
 *   W's (or unknown) that can have expired by the read's end (invoked TTL -
 *   `expiryToleranceMs` or more before it).
 * - `expired-value`: an ok read began after the value it returned had surely expired: every put
 *   of that value was acknowledged with a TTL, and the read began more than TTL +
 *   `expiryToleranceMs` after the latest of them was acknowledged.
 * - `version-order`: an ok write got a version not above that of a write acknowledged before it
 *   began, against dkv's version guarantee.
 *
 * A read is reported once, under the first kind that applies in the order above (expired-value
 * last, as the one that depends on clocks). Reads are matched to writes by value, so a workload
 * that writes unique values gets the sharpest checks; with repeated values, the checker assumes
 * the most favourable writer. Throws a RangeError for a malformed history (an ok write without a
 * version, an interval that ends before it starts).
 */
export function checkHistory(history: readonly HistoryOperation[], options: CheckHistoryOptions = {}): HistoryCheckResult {
  const toleranceMs = options.expiryToleranceMs ?? DEFAULT_EXPIRY_TOLERANCE_MS;
  const maxAnomalies = options.maxAnomalies ?? DEFAULT_MAX_ANOMALIES;
  if (!(toleranceMs >= 0)) throw new RangeError(`expiryToleranceMs must be 0 or more, got ${String(toleranceMs)}`);
  if (!Number.isInteger(maxAnomalies) || maxAnomalies < 0)
    throw new RangeError(`maxAnomalies must be a whole number, got ${String(maxAnomalies)}`);

  const reads = { ok: 0, fail: 0 };
  const writes = { ok: 0, info: 0, fail: 0 };
  const byKey = new Map<string, { writes: HistoryOperation[]; reads: HistoryOperation[] }>();
  for (const op of history) {
    validate(op);
    if (op.kind === 'get') reads[op.outcome === 'ok' ? 'ok' : 'fail'] += 1;
    else writes[op.outcome] += 1;
    if (op.outcome === 'fail') continue;
    let entry = byKey.get(op.key);
    if (!entry) {
      entry = { writes: [], reads: [] };
      byKey.set(op.key, entry);
    }
    // An indeterminate read tells nothing; only ok reads are judged.
    if (op.kind !== 'get') entry.writes.push(op);
    else if (op.outcome === 'ok') entry.reads.push(op);
  }

  const counts = emptyCounts();
  const found: Anomaly[] = [];
  const note = (found1: Anomaly | null): void => {
    if (!found1) return;
    counts[found1.kind] += 1;
    if (found.length < maxAnomalies) found.push(found1);
  };
  for (const entry of byKey.values()) {
    const index = new KeyIndex(entry.writes, toleranceMs);
    for (const write of entry.writes) if (write.outcome === 'ok') note(checkVersionOrder(write, index));
    for (const read of entry.reads) note(checkRead(read, index));
  }
  found.sort((a, b) => a.ops[0]!.startMs - b.ops[0]!.startMs || a.ops[0]!.id - b.ops[0]!.id);
  const total = ANOMALY_KINDS.reduce((sum, kind) => sum + counts[kind], 0);
  return {
    valid: total === 0,
    anomalies: found,
    truncated: total > found.length,
    stats: { operations: history.length, keys: byKey.size, reads, writes, anomalies: counts },
  };
}
