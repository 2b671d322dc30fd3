// Goal: `dkv ring --preview-add/--preview-remove` tells an operator, before anything changes, the
// shares after the change and how much data would move, close to the ideal of consistent hashing.
// Method: previews of synthetic clusters; the moved fraction is compared with the ideal k/(k+1).
import type { ClusterInfo, DistributionEntry } from '@dkv/core';
import { describe, expect, it } from 'vitest';
import { previewRingChange } from './ring-preview.js';

function cluster(count: number): { info: ClusterInfo; distribution: DistributionEntry[] } {
  const nodes = Array.from({ length: count }, (_, i) => ({ id: `n${i + 1}`, address: `h:${i + 1}`, status: 'up' as const, vnodes: 256 }));
  return {
    info: { epoch: 1, replication: { n: 3, w: 2, r: 2 }, nodes },
    distribution: nodes.map((node) => ({ id: node.id, ringShare: 1 / count, keys: 1000, bytes: 1_000_000 })),
  };
}

describe('previewRingChange', () => {
  it('adding 5 nodes to 5 moves about half of the replica copies, and each node ends near a tenth', () => {
    const { info, distribution } = cluster(5);
    const preview = previewRingChange(info, distribution, { add: 5, addVnodes: 256, remove: [] });
    expect(preview.replicasMovedFraction).toBeGreaterThan(0.45);
    expect(preview.replicasMovedFraction).toBeLessThan(0.55);
    expect(preview.bytesToMove).toBe(Math.round(preview.replicasMovedFraction * 5_000_000));
    expect(preview.rows).toHaveLength(10);
    for (const row of preview.rows) expect(row.shareAfter).toBeGreaterThan(0.07);
    expect(preview.rows.filter((r) => r.id.startsWith('new-')).every((r) => r.shareBefore === 0)).toBe(true);
  });

  it('removing one of 5 moves about a fifth of the copies and gives its share to the others', () => {
    const { info, distribution } = cluster(5);
    const preview = previewRingChange(info, distribution, { add: 0, remove: ['n3'] });
    expect(preview.replicasMovedFraction).toBeGreaterThan(0.15);
    expect(preview.replicasMovedFraction).toBeLessThan(0.25);
    expect(preview.rows.find((r) => r.id === 'n3')?.shareAfter).toBe(0);
    expect(preview.rows.reduce((sum, r) => sum + r.shareAfter, 0)).toBeCloseTo(1, 9);
  });

  it("doubling one of 4 nodes' vnodes takes its share from a quarter towards two fifths, and the others' shrink", () => {
    const { info, distribution } = cluster(4);
    const preview = previewRingChange(info, distribution, { add: 0, remove: [], vnodes: { id: 'n2', count: 512 } });
    const n2 = preview.rows.find((r) => r.id === 'n2')!;
    expect(n2.shareAfter / n2.shareBefore).toBeGreaterThan(1.3);
    expect(n2.shareAfter / n2.shareBefore).toBeLessThan(1.9);
    for (const row of preview.rows.filter((r) => r.id !== 'n2')) expect(row.shareAfter).toBeLessThan(row.shareBefore);
    expect(preview.replicasMovedFraction).toBeGreaterThan(0.01);
    expect(preview.replicasMovedFraction).toBeLessThan(0.4);
    const unchanged = previewRingChange(info, distribution, { add: 0, remove: [], vnodes: { id: 'n2', count: 256 } });
    expect(unchanged.replicasMovedFraction).toBe(0);
    expect(() => previewRingChange(info, distribution, { add: 0, remove: [], vnodes: { id: 'n9', count: 8 } })).toThrow(
      /vnodes of n9: it is not a member/,
    );
  });

  it('refuses to preview removing a node that is not a member', () => {
    const { info, distribution } = cluster(3);
    expect(() => previewRingChange(info, distribution, { add: 0, remove: ['n9'] })).toThrow(/n9: it is not a member/);
  });
});
