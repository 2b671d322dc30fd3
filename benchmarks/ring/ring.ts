/**
 * Microbenchmark and balance report of the ring (`@dkv/hashing`'s ConsistentHash) with and
 * without zones:
 *
 * - speed: nanoseconds per preference-list lookup (N=3) by key (`getNodesForKey`, which hashes
 *   the key) and by hash (`getNodesForHash`), against the zone-blind walk the ring used before
 *   zones (re-implemented here over the same tokens, so both are measured in the same run), and
 *   the time to build a ring and its first N=3 table;
 * - balance: per node and per zone, max/mean of the share of replicas held (N=3), and the share
 *   of keys whose preference list a join in zone z1 changes, against its even part.
 *
 * Run: npx tsx --conditions=development benchmarks/ring/ring.ts [--lookups <n>]
 */
import type { Node } from '@dkv/core';
import { ConsistentHash, DEFAULT_VNODES, hashKey, replicaShares, vnodeToken, zoneLossReport, zoneReplicaShares } from '@dkv/hashing';
import { parseFlags } from '../lib/args.js';

const flags = parseFlags(process.argv.slice(2), { lookups: 'number' }, 'usage: benchmarks/ring/ring.ts [--lookups <n>]');
const LOOKUPS = Number(flags['lookups'] ?? 2_000_000);
const KEYS = 65_536;
const JOIN_SAMPLES = 100_000;

function layout(counts: readonly number[], zoned = true): Node[] {
  const nodes: Node[] = [];
  counts.forEach((count, z) => {
    for (let i = 0; i < count; i += 1)
      nodes.push({
        id: `n${nodes.length + 1}`,
        address: 'x:1',
        role: 'storage',
        status: 'up',
        vnodes: DEFAULT_VNODES,
        metadata: {},
        ...(zoned ? { zone: `z${z + 1}` } : {}),
      });
  });
  return nodes;
}

/** The zone-blind walk of the ring before zones: next distinct nodes clockwise. */
class PlainWalk {
  private readonly tokens: Uint32Array;
  private readonly owners: Uint32Array;
  constructor(private readonly nodes: readonly Node[]) {
    const all = nodes
      .flatMap((node, index) => Array.from({ length: node.vnodes }, (_, v) => [vnodeToken(node.id, v), index] as const))
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.tokens = Uint32Array.from(all, (t) => t[0]);
    this.owners = Uint32Array.from(all, (t) => t[1]);
  }
  getNodesForHash(hash: number, n: number): Node[] {
    const count = this.tokens.length;
    let low = 0;
    let high = count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.tokens[mid] ?? 0) < hash) low = mid + 1;
      else high = mid;
    }
    let index = low === count ? 0 : low;
    const result: Node[] = [];
    for (let step = 0; step < count && result.length < n; step += 1) {
      const node = this.nodes[this.owners[index] ?? 0]!;
      if (!result.includes(node)) result.push(node);
      index = index + 1 === count ? 0 : index + 1;
    }
    return result;
  }
}

function nsPer(loop: () => number): number {
  loop();
  const started = process.hrtime.bigint();
  const sink = loop();
  const ns = Number(process.hrtime.bigint() - started) / LOOKUPS;
  if (sink === -1) console.log('unreachable');
  return ns;
}

const keys = Array.from({ length: KEYS }, (_, i) => `session:${i}`);
const hashes = Uint32Array.from(keys, hashKey);

const speedRows: Array<Record<string, string>> = [];
const balanceRows: Array<Record<string, string | boolean>> = [];
const layouts: Array<[string, number[]]> = [
  ['3 nodes, 1 zone', [3]],
  ['6 nodes, 1 zone', [6]],
  ['6 nodes, 2 zones (3+3)', [3, 3]],
  ['6 nodes, 3 zones (2+2+2)', [2, 2, 2]],
  ['9 nodes, 3 zones (3+3+3)', [3, 3, 3]],
  ['12 nodes, 3 zones (4+4+4)', [4, 4, 4]],
  ['12 nodes, 4 zones (3+3+3+3)', [3, 3, 3, 3]],
  ['7 nodes, 3 zones (3+2+2)', [3, 2, 2]],
  ['6 nodes, 3 zones (3+2+1)', [3, 2, 1]],
];

for (const [name, counts] of layouts) {
  const nodes = layout(counts);
  const buildStarted = process.hrtime.bigint();
  const ring = new ConsistentHash(nodes);
  ring.getNodesForHash(0, 3);
  const buildMs = Number(process.hrtime.bigint() - buildStarted) / 1e6;
  const plain = new PlainWalk(nodes);
  const byKey = nsPer(() => {
    let sink = 0;
    for (let i = 0; i < LOOKUPS; i += 1) sink += ring.getNodesForKey(keys[i & (KEYS - 1)]!, 3).length;
    return sink;
  });
  const byHash = nsPer(() => {
    let sink = 0;
    for (let i = 0; i < LOOKUPS; i += 1) sink += ring.getNodesForHash(hashes[i & (KEYS - 1)]!, 3).length;
    return sink;
  });
  const plainByHash = nsPer(() => {
    let sink = 0;
    for (let i = 0; i < LOOKUPS; i += 1) sink += plain.getNodesForHash(hashes[i & (KEYS - 1)]!, 3).length;
    return sink;
  });
  speedRows.push({
    layout: name,
    tokens: String(ring.tokenCount),
    'build + N=3 table (ms)': buildMs.toFixed(1),
    'getNodesForKey (ns)': byKey.toFixed(0),
    'getNodesForHash (ns)': byHash.toFixed(0),
    'zone-blind walk by hash, before zones (ns)': plainByHash.toFixed(0),
  });

  const perNode = [...replicaShares(ring, 3).values()];
  const perZone = [...zoneReplicaShares(ring, 3).values()];
  const mean = (values: number[]) => values.reduce((s, x) => s + x, 0) / values.length;
  const joined = new ConsistentHash([
    ...nodes,
    { id: 'joiner', address: 'x:1', role: 'storage', status: 'up', vnodes: DEFAULT_VNODES, metadata: {}, zone: 'z1' },
  ]);
  let changed = 0;
  for (let i = 0; i < JOIN_SAMPLES; i += 1) {
    const key = `join-${i}`;
    const was = new Set(ring.getNodesForKey(key, 3).map((node) => node.id));
    if (joined.getNodesForKey(key, 3).some((node) => !was.has(node.id))) changed += 1;
  }
  const z1Nodes = counts[0] ?? 0;
  balanceRows.push({
    layout: name,
    'node max/mean': (Math.max(...perNode) / mean(perNode)).toFixed(3),
    'node min/mean': (Math.min(...perNode) / mean(perNode)).toFixed(3),
    'zone max/mean': (Math.max(...perZone) / mean(perZone)).toFixed(3),
    'keys moved by a join in z1': (changed / JOIN_SAMPLES).toFixed(4),
    'even part': (((zoneReplicaShares(ring, 3).get('z1') ?? 0) * 3) / (z1Nodes + 1)).toFixed(4),
    'zone loss safe (W=R=2)': zoneLossReport(ring, 3, 2, 2).safe,
  });
}

console.log(`ring lookups, N=3, ${DEFAULT_VNODES} vnodes per node, ${LOOKUPS} lookups each (node ${process.version})`);
console.table(speedRows);
console.log(
  `balance, N=3: replica share max/mean per node and per zone; keys whose replica set a join in z1 changes (${JOIN_SAMPLES} sampled) against z1's replicas per key / (z1 nodes + 1)`,
);
console.table(balanceRows);
