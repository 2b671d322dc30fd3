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
 * `dkv status`: the ring's epoch and quorums, whether losing a whole zone would cost quorum (when
 * the coordinator says), then one row per node with its zone and state; while data moves, a SYNC
 * column says how far each receiving node has come.
 */
export function formatStatus(cluster: ClusterInfo): string {
  const { n, w, r } = cluster.replication;
  const summary = `epoch ${cluster.epoch}, replication N=${n} W=${w} R=${r}, ${cluster.nodes.filter((node) => node.status === 'up').length} of ${cluster.nodes.length} nodes up`;
  const zoneLoss =
    cluster.zoneLossSafe === undefined ? '' : `\nzone loss: ${cluster.zoneLossSafe ? 'safe' : 'NOT SAFE'}: ${cluster.zoneLossReason ?? ''}`;
  const header = `${summary}${zoneLoss}`;
  const nodes: readonly NodeWithProgress[] = cluster.nodes;
  const syncing = nodes.some((node) => node.progress !== undefined);
  const sync = (node: NodeWithProgress): string[] => {
    if (!syncing) return [];
    const p = node.progress;
    return [p === undefined ? '-' : `${p.rangesDone}/${p.rangesPlanned} ranges, ${p.keys} keys, ${p.bytes} bytes`];
  };
  const rows = [
    ['ID', 'ADDRESS', 'ZONE', 'STATUS', 'VNODES', ...(syncing ? ['SYNC'] : [])],
    ...nodes.map((node) => [node.id, node.address, node.zone ?? '-', node.status, String(node.vnodes), ...sync(node)]),
  ];
  return `${header}\n${formatTable(rows)}`;
}

/**
 * `dkv ring`: one row per node with its share of the ring as primary, its keys and bytes, and the
 * totals. With the cluster's nodes (`zones`, from `/v1/cluster`), a ZONE column and one subtotal
 * row per zone, so an operator sees at once whether the zones carry even loads.
 */
export function formatRing(entries: readonly DistributionEntry[], zones?: ReadonlyMap<string, string>): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const sum = (list: readonly DistributionEntry[]) => ({
    share: list.reduce((s, e) => s + e.ringShare, 0),
    keys: list.reduce((s, e) => s + e.keys, 0),
    bytes: list.reduce((s, e) => s + e.bytes, 0),
  });
  const zoneOf = (e: DistributionEntry) => zones?.get(e.id) ?? '-';
  const rows = [
    ['ID', ...(zones ? ['ZONE'] : []), 'SHARE', 'KEYS', 'BYTES'],
    ...entries.map((e) => [e.id, ...(zones ? [zoneOf(e)] : []), pct(e.ringShare), String(e.keys), String(e.bytes)]),
  ];
  if (zones) {
    for (const zone of [...new Set(entries.map(zoneOf))].sort()) {
      const t = sum(entries.filter((e) => zoneOf(e) === zone));
      rows.push([`zone ${zone}`, zone, pct(t.share), String(t.keys), String(t.bytes)]);
    }
  }
  const total = sum(entries);
  rows.push(['total', ...(zones ? [''] : []), pct(total.share), String(total.keys), String(total.bytes)]);
  return formatTable(rows);
}

/** `dkv ring --preview-add/--preview-remove`: shares now and after, and the data that would move. */
export function formatRingPreview(preview: RingPreview): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const rows = [['ID', 'SHARE NOW', 'SHARE AFTER'], ...preview.rows.map((r) => [r.id, pct(r.shareBefore), pct(r.shareAfter)])];
  return `${formatTable(rows)}\nwould move ${pct(preview.replicasMovedFraction)} of the replica copies, about ${preview.bytesToMove} bytes (estimated over ${preview.sampledKeys} sampled keys); nothing has changed`;
}
