import type { ClusterInfo } from '@dkv/client';
import type { HintBacklog, KeyEndpoints, RepairReport } from '@dkv/coordination';
import type { SyncProgress } from '@dkv/core';
import type { RingPreview } from './ring-preview.js';
import { formatTable } from './views.js';

/** `dkv hints --json`: per target node, then the totals. */
export interface HintsJson {
  readonly hints: readonly HintBacklog[];
  readonly total: { readonly count: number; readonly bytes: number };
}

/** The progress of data moving for a decommission or a removal, summed over the receiving nodes' last reports. */
export type MoveProgress = Omit<SyncProgress, 'targetRing'>;

/** `dkv decommission --json` and `dkv removenode --json`: the one object printed when the node has left. */
export interface RemovalJson extends MoveProgress {
  readonly operation: 'decommission' | 'removenode';
  readonly node: string;
  readonly state: 'done';
  readonly elapsedMs: number;
}

/** `dkv vnodes --json`: the change (applied, or only previewed) and what it moves. */
export interface VnodesJson {
  readonly node: string;
  readonly vnodesBefore: number;
  readonly vnodesAfter: number;
  readonly applied: boolean;
  readonly rows: RingPreview['rows'];
  readonly replicasMovedFraction: number;
  readonly bytesToMove: number;
}

/** `dkv getendpoints`: one row per replica, in preference order, then the replicas the key is moving to. */
export function formatEndpoints(endpoints: KeyEndpoints): string {
  const rows = [
    ['#', 'ID', 'ADDRESS', 'ZONE', 'STATUS'],
    ...endpoints.replicas.map((r, i) => [String(i + 1), r.id, r.address, r.zone, r.status]),
  ];
  const pending = endpoints.pending.length === 0 ? '' : `\nmoving to: ${endpoints.pending.map((p) => `${p.id} (${p.address})`).join(', ')}`;
  return `key ${JSON.stringify(endpoints.key)} hash ${endpoints.hash}\n${formatTable(rows)}${pending}`;
}

/** `dkv hints`: one row per target node with its pending hinted writes, bytes and oldest age, or a line saying there are none. */
export function formatHints(hints: HintsJson): string {
  if (hints.hints.length === 0) return 'no hinted writes pending';
  const rows = [
    ['TARGET', 'HINTS', 'BYTES', 'OLDEST'],
    ...hints.hints.map((h) => [h.target, String(h.count), String(h.bytes), formatAge(h.oldestAgeMs)]),
  ];
  rows.push(['total', String(hints.total.count), String(hints.total.bytes), '']);
  return formatTable(rows)
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/** An age in the largest unit that keeps it readable: `850ms`, `12.3s`, `4m05s`, `2h03m`. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** The data moving now, summed over the nodes that report sync progress in `/v1/cluster`. */
export function moveProgressOf(cluster: ClusterInfo): MoveProgress | null {
  const moving = cluster.nodes.flatMap((node) => (node.progress === undefined || node.progress === null ? [] : [node.progress]));
  if (moving.length === 0) return null;
  return {
    rangesDone: moving.reduce((s, p) => s + p.rangesDone, 0),
    rangesPlanned: moving.reduce((s, p) => s + p.rangesPlanned, 0),
    keys: moving.reduce((s, p) => s + p.keys, 0),
    bytes: moving.reduce((s, p) => s + p.bytes, 0),
  };
}

/** A progress line of a decommission or removal: the node's state and the data moved so far. */
export function formatMoveProgress(operation: string, node: string, status: string, progress: MoveProgress | null): string {
  const moved =
    progress === null
      ? 'waiting for data to move'
      : `${progress.rangesDone}/${progress.rangesPlanned} ranges, ${progress.keys} keys, ${progress.bytes} bytes moved`;
  return `${operation} ${node}: ${status}, ${moved}`;
}

/** The summary of a finished decommission or removal. */
export function formatRemoval(result: RemovalJson): string {
  const what = result.operation === 'decommission' ? 'decommissioned' : 'removed';
  return `${result.node} ${what} in ${formatAge(result.elapsedMs)}: ${result.rangesDone}/${result.rangesPlanned} ranges, ${result.keys} keys, ${result.bytes} bytes moved (as last reported by the receiving nodes)`;
}

/** A progress line of a repair. */
export function formatRepairProgress(report: RepairReport): string {
  return `${report.id}: ${report.rangesCompared}/${report.rangesPlanned} ranges compared, ${report.rangesDiffering} differing, ${report.keysDiffering} keys differing, ${report.recordsRepaired} records (${report.bytesRepaired} bytes) repaired`;
}

/** The summary of a finished repair. */
export function formatRepair(report: RepairReport): string {
  const scope = report.node === null ? 'the whole ring' : `those ${report.node} replicates`;
  const elapsed = report.finishedAt === null ? '' : ` in ${formatAge(report.finishedAt - report.startedAt)}`;
  const skipped = report.rangesSkipped === 0 ? '' : `; ${report.rangesSkipped} ranges skipped (fewer than two replicas answering)`;
  const outcome =
    report.rangesDiffering === 0 && report.keysDiffering === 0
      ? 'all replicas agreed'
      : `${report.rangesDiffering} ranges differed: ${report.keysDiffering} keys, ${report.recordsRepaired} records (${report.bytesRepaired} bytes) repaired`;
  return `${report.id} ${report.state}${elapsed}: compared ${report.rangesCompared} of ${report.rangesPlanned} ranges (${scope}); ${outcome}${skipped}`;
}

/** `dkv vnodes`: shares now and after, what moves, and whether it was applied or only previewed. */
export function formatVnodes(change: VnodesJson): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const rows = [['ID', 'SHARE NOW', 'SHARE AFTER'], ...change.rows.map((r) => [r.id, pct(r.shareBefore), pct(r.shareAfter)])];
  const head = `${change.node}: vnodes ${change.vnodesBefore} -> ${change.vnodesAfter}`;
  const tail = change.applied
    ? `moving ${pct(change.replicasMovedFraction)} of the replica copies, about ${change.bytesToMove} bytes, in the background (dkv status shows the progress)`
    : `would move ${pct(change.replicasMovedFraction)} of the replica copies, about ${change.bytesToMove} bytes; nothing has changed (preview)`;
  return `${head}\n${formatTable(rows)}\n${tail}`;
}
