import type { ClusterInfo, DistributionEntry } from '@dkv/client';
import type { RingPreview } from './ring-preview.js';

/** Lays out rows as left-aligned columns separated by two spaces; the first row is the header. */
export function formatTable(rows: ReadonlyArray<readonly string[]>): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

type NodeWithProgress = ClusterInfo['nodes'][number];

/**
 * `dkv status`: the ring's epoch and quorums, then one row per node with its state; while data
 * moves, a SYNC column says how far each receiving node has come.
 */
export function formatStatus(cluster: ClusterInfo): string {
  const { n, w, r } = cluster.replication;
  const header = `epoch ${cluster.epoch}, replication N=${n} W=${w} R=${r}, ${cluster.nodes.filter((node) => node.status === 'up').length} of ${cluster.nodes.length} nodes up`;
  const nodes: readonly NodeWithProgress[] = cluster.nodes;
  const syncing = nodes.some((node) => node.progress !== undefined);
  const sync = (node: NodeWithProgress): string[] => {
    if (!syncing) return [];
    const p = node.progress;
    return [p === undefined ? '-' : `${p.rangesDone}/${p.rangesPlanned} ranges, ${p.keys} keys, ${p.bytes} bytes`];
  };
  const rows = [['ID', 'ADDRESS', 'STATUS', 'VNODES', ...(syncing ? ['SYNC'] : [])], ...nodes.map((node) => [node.id, node.address, node.status, String(node.vnodes), ...sync(node)])];
  return `${header}\n${formatTable(rows)}`;
}

/** `dkv ring`: one row per node with its share of the ring as primary, its keys and bytes, and the totals. */
export function formatRing(entries: readonly DistributionEntry[]): string {
  const rows = [['ID', 'SHARE', 'KEYS', 'BYTES'], ...entries.map((e) => [e.id, `${(e.ringShare * 100).toFixed(1)}%`, String(e.keys), String(e.bytes)])];
  const share = entries.reduce((sum, e) => sum + e.ringShare, 0);
  const keys = entries.reduce((sum, e) => sum + e.keys, 0);
  const bytes = entries.reduce((sum, e) => sum + e.bytes, 0);
  rows.push(['total', `${(share * 100).toFixed(1)}%`, String(keys), String(bytes)]);
  return formatTable(rows);
}

/** `dkv ring --preview-add/--preview-remove`: shares now and after, and the data that would move. */
export function formatRingPreview(preview: RingPreview): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const rows = [['ID', 'SHARE NOW', 'SHARE AFTER'], ...preview.rows.map((r) => [r.id, pct(r.shareBefore), pct(r.shareAfter)])];
  return `${formatTable(rows)}\nwould move ${pct(preview.replicasMovedFraction)} of the replica copies, about ${preview.bytesToMove} bytes (estimated over ${preview.sampledKeys} sampled keys); nothing has changed`;
}
