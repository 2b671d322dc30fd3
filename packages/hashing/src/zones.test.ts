// Goal: zone-aware placement keeps the ring's promises and adds its own: a key's N replicas are in
// N distinct zones whenever the ring has N zones, spread as evenly as the zones allow otherwise;
// the ring is deterministic; a join or a removal changes only preference lists that gain the
// joining node or lose the removed one; a cluster without zones is placed exactly as before.
// Method: fast-check properties over random memberships against a brute-force reference (the
// placement's definition walked literally, round by round over the whole ring), hand-made tables
// for the zone-loss report and the stand-in choice, and a balance report printed as a table (per
// node and per zone, max/mean of the replica share) with its bounds asserted.
import type { Node } from '@dkv/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConsistentHash, DEFAULT_VNODES, hashKey, vnodeToken } from './consistent-hash.js';
import { gainedRanges, ownedRanges, subtractRanges } from './hash-ranges.js';
import { RingViews } from './ring-views.js';
import { preferOtherZones, replicaShares, zoneLossReport, zoneReplicaShares } from './zones.js';

function node(id: string, zone: string | undefined, vnodes = DEFAULT_VNODES, extra: Partial<Node> = {}): Node {
  return {
    id,
    address: `${id}:7000`,
    role: 'storage',
    status: 'up',
    vnodes,
    metadata: {},
    ...(zone === undefined ? {} : { zone }),
    ...extra,
  };
}

/** `count` nodes spread round-robin over zones z1..z`zones` (as `dkv cluster up --zones` does). */
function zoned(count: number, zones: number, vnodes = DEFAULT_VNODES): Node[] {
  return Array.from({ length: count }, (_, i) => node(`n${i + 1}`, `z${(i % zones) + 1}`, vnodes));
}

const ids = (nodes: readonly Node[]) => nodes.map((n) => n.id);
const zoneOfNode = (n: Node) => n.zone ?? 'default';

/** Every vnode token of `nodes` in ring order (ties by node id). */
function sortedTokens(nodes: readonly Node[]): { token: number; node: Node }[] {
  return nodes
    .flatMap((x) => Array.from({ length: x.vnodes }, (_, i) => ({ token: vnodeToken(x.id, i), node: x })))
    .sort((a, b) => a.token - b.token || (a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0));
}

/**
 * The definition, walked literally: round k goes once round the whole ring from the key's token
 * and takes each node not yet taken whose zone holds fewer than k, until `n` are taken or no
 * round can add anything.
 */
function referenceList(nodes: readonly Node[], hash: number, n: number, tokens = sortedTokens(nodes)): string[] {
  if (tokens.length === 0) return [];
  let start = tokens.findIndex((t) => t.token >= hash);
  if (start < 0) start = 0;
  const taken: Node[] = [];
  for (let round = 1; taken.length < n; round += 1) {
    const before = taken.length;
    for (let i = 0; i < tokens.length && taken.length < n; i += 1) {
      const candidate = tokens[(start + i) % tokens.length]?.node;
      if (candidate === undefined || taken.includes(candidate)) continue;
      if (taken.filter((t) => zoneOfNode(t) === zoneOfNode(candidate)).length < round) taken.push(candidate);
    }
    if (taken.length === before && round > n) break;
  }
  return ids(taken);
}

const membershipArb = fc
  .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/), { minLength: 1, maxLength: 9 })
  .chain((names) =>
    fc.tuple(
      ...names.map((name) =>
        fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 12 })).map(([zone, vnodes]) => node(name, `z${zone}`, vnodes)),
      ),
    ),
  );

/** Sample positions on the ring: a fixed spread plus the key hashes of a few keys. */
const positions = [
  ...Array.from({ length: 64 }, (_, i) => Math.floor((i * 2 ** 32) / 64) + 12345),
  ...Array.from({ length: 64 }, (_, i) => hashKey(`key-${i}`)),
];

describe('zone-aware placement, properties', () => {
  it('follows the definition (rounds of distinct zones, ring order) on random memberships', () => {
    fc.assert(
      fc.property(membershipArb, fc.integer({ min: 0, max: 6 }), (nodes, n) => {
        const ring = new ConsistentHash(nodes);
        const tokens = sortedTokens(nodes);
        const actual = positions.slice(0, 40).map((hash) => ids(ring.getNodesForHash(hash, n)));
        expect(actual).toEqual(positions.slice(0, 40).map((hash) => referenceList(nodes, hash, n, tokens)));
      }),
      { numRuns: 300 },
    );
  });

  it('puts the N replicas in N distinct zones whenever the ring has N zones, and spreads them evenly otherwise', () => {
    fc.assert(
      fc.property(membershipArb, fc.integer({ min: 1, max: 5 }), (nodes, n) => {
        const ring = new ConsistentHash(nodes);
        const placed = nodes.filter((x) => x.vnodes > 0);
        const capacity = new Map<string, number>();
        for (const x of placed) capacity.set(zoneOfNode(x), (capacity.get(zoneOfNode(x)) ?? 0) + 1);
        const length = Math.min(n, placed.length);
        // Checked with plain comparisons and asserted once per membership: a million expect()
        // calls made this test take 28 s on a loaded 2-core machine.
        const violations: string[] = [];
        for (const hash of positions) {
          const list = ring.getNodesForHash(hash, n);
          if (list.length !== length || new Set(ids(list)).size !== length)
            violations.push(`${hash}: ${ids(list).join(',')} is not ${length} distinct nodes`);
          const perZone = new Map<string, number>();
          for (const x of list) perZone.set(zoneOfNode(x), (perZone.get(zoneOfNode(x)) ?? 0) + 1);
          if (capacity.size >= n && perZone.size !== length) violations.push(`${hash}: ${perZone.size} zones for ${length} replicas`);
          // Even spread: no zone holds two more than another that still had nodes to give.
          for (const [zone, count] of perZone) {
            for (const [other, otherCapacity] of capacity) {
              const otherCount = perZone.get(other) ?? 0;
              if (otherCount < otherCapacity && count - otherCount > 1)
                violations.push(`${hash}: ${zone} holds ${count}, ${other} ${otherCount}`);
            }
          }
        }
        expect(violations).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('is the same ring whatever the input order, addresses and statuses, and differs when a zone changes', () => {
    fc.assert(
      fc.property(membershipArb, fc.integer(), (nodes, seed) => {
        const shuffled = [...nodes]
          .sort((x, y) => ((hashKey(x.id) ^ seed) >>> 0) - ((hashKey(y.id) ^ seed) >>> 0))
          .map((x) => ({ ...x, address: 'elsewhere:1', status: 'down' as const }));
        const a = new ConsistentHash(nodes);
        const b = new ConsistentHash(shuffled);
        expect(a.sameRingAs(b)).toBe(true);
        for (const hash of positions) expect(ids(b.getNodesForHash(hash, 3))).toEqual(ids(a.getNodesForHash(hash, 3)));
        const first = nodes[0];
        fc.pre(first !== undefined && first.vnodes > 0);
        const moved = new ConsistentHash(nodes.map((x) => (x === first ? { ...x, zone: 'elsewhere' } : x)));
        expect(a.sameRingAs(moved)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('changes, on a join, only preference lists that gain the joining node; on a removal, only lists that lose the removed one', () => {
    fc.assert(
      fc.property(
        membershipArb,
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        (nodes, zone, vnodes, n) => {
          const joiner = node('joiner', `z${zone}`, vnodes);
          const before = new ConsistentHash(nodes);
          const after = new ConsistentHash([...nodes, joiner]);
          for (const hash of positions) {
            const was = new Set(ids(before.getNodesForHash(hash, n)));
            const is = new Set(ids(after.getNodesForHash(hash, n)));
            const changed = [...is].some((id) => !was.has(id)) || [...was].some((id) => !is.has(id));
            // The join, and read backwards, the removal of `joiner` from `after`.
            if (changed) expect(is.has('joiner')).toBe(true);
          }
          // The data that moves is exactly what the joiner gains; nobody else gains anything.
          for (const other of nodes) expect(gainedRanges(before, after, other.id, n)).toEqual([]);
          expect(subtractRanges(ownedRanges(after, 'joiner', n), gainedRanges(before, after, 'joiner', n))).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('places a ring whose nodes all name one zone exactly as a ring without zones', () => {
    fc.assert(
      fc.property(membershipArb, (nodes) => {
        const plain = new ConsistentHash(nodes.map((x) => node(x.id, undefined, x.vnodes)));
        const oneZone = new ConsistentHash(nodes.map((x) => ({ ...x, zone: 'us-east-1a' })));
        for (const hash of positions) expect(ids(oneZone.getNodesForHash(hash, 3))).toEqual(ids(plain.getNodesForHash(hash, 3)));
      }),
      { numRuns: 100 },
    );
  });

  it('answers lists longer than the table (the whole ring, for stand-ins) by the same rule', () => {
    const nodes = zoned(12, 3, 16);
    const ring = new ConsistentHash(nodes);
    for (const hash of positions.slice(0, 20)) {
      const whole = ids(ring.getNodesForHash(hash, 12));
      expect(whole).toEqual(referenceList(nodes, hash, 12));
      expect(whole.slice(0, 3)).toEqual(ids(ring.getNodesForHash(hash, 3)));
    }
  });

  it('rejects a zone name that is not allowed, saying what is', () => {
    expect(() => new ConsistentHash([node('a', 'bad zone', 8)])).toThrow(/node a: a zone is 1 to 64 characters.*got "bad zone"/);
    expect(() => new ConsistentHash([node('a', '', 8)])).toThrow(/a zone is 1 to 64 characters/);
  });
});

describe('read and future rings during a move to another zone', () => {
  it('reads by the old zone and writes to both placements until the move completes', () => {
    const nodes = zoned(6, 3, 64);
    const mover = { ...(nodes[0] as Node), zone: 'z2', readZone: 'z1' };
    const views = new RingViews([mover, ...nodes.slice(1)]);
    const oldRing = new ConsistentHash(nodes);
    const newRing = new ConsistentHash([{ ...mover, readZone: undefined }, ...nodes.slice(1)]);
    expect(views.changing).toBe(true);
    expect(views.read.sameRingAs(oldRing)).toBe(true);
    expect(views.future.sameRingAs(newRing)).toBe(true);
    let differing = 0;
    for (const hash of positions) {
      const plan = views.writePlanOfHash(hash, 3, 2);
      const oldList = ids(oldRing.getNodesForHash(hash, 3));
      const newList = ids(newRing.getNodesForHash(hash, 3));
      expect(ids(views.readReplicasOfHash(hash, 3))).toEqual(oldList);
      expect(new Set(ids(plan.targets))).toEqual(new Set([...oldList, ...newList]));
      if (oldList.join() !== newList.join()) differing += 1;
    }
    expect(differing).toBeGreaterThan(0);
  });
});

describe('zone-loss report', () => {
  it.each([
    ['3 zones of 2', zoned(6, 3, 64), true, 1],
    ['4 zones', zoned(8, 4, 64), true, 1],
    ['2 zones', zoned(6, 2, 64), false, 2],
    ['one zone (none named)', [node('a', undefined, 64), node('b', undefined, 64), node('c', undefined, 64)], false, 3],
    [
      '3 zones, one of them empty of data (vnodes 0)',
      [node('a', 'z1', 64), node('b', 'z2', 64), node('c', 'z3', 0), node('d', 'z1', 64)],
      false,
      2,
    ],
  ])('%s', (_name, nodes, safe, maxInZone) => {
    const report = zoneLossReport(new ConsistentHash(nodes), 3, 2, 2);
    expect(report.safe).toBe(safe);
    expect(report.maxReplicasInOneZone).toBe(maxInZone);
    expect(report.reason).toMatch(
      safe ? /losing any one zone leaves at least 2; W=2 and R=2 need 2/ : /place the nodes in at least 3 zones/,
    );
  });

  it('says no layout helps when the quorum needs every replica', () => {
    const report = zoneLossReport(new ConsistentHash(zoned(6, 3, 64)), 3, 3, 1);
    expect(report.safe).toBe(false);
    expect(report.reason).toMatch(/no layout helps/);
  });
});

describe('stand-ins prefer another zone', () => {
  const a1 = node('a1', 'za', 1);
  const a2 = node('a2', 'za', 1);
  const b1 = node('b1', 'zb', 1);
  const c1 = node('c1', 'zc', 1);
  it.each([
    ['skips a candidate in a live replica zone', [a1, b1, c1], ['za'], 1, ['b1']],
    ['two picks in two new zones', [a1, a2, b1, c1], ['za'], 2, ['b1', 'c1']],
    ['two picks not in one zone when another exists', [b1, node('b2', 'zb', 1), c1], [], 2, ['b1', 'c1']],
    ['falls back to ring order when every zone is used', [a1, a2, b1], ['za', 'zb'], 2, ['a1', 'a2']],
    ['fewer when candidates run out', [a1], [], 3, ['a1']],
  ])('%s', (_name, candidates, used, count, expected) => {
    expect(ids(preferOtherZones(candidates, used, count))).toEqual(expected);
  });
});

describe('balance report', () => {
  const layouts: Array<[string, Node[]]> = [
    ['3 nodes, 1 zone', zoned(3, 1)],
    ['6 nodes, 1 zone', zoned(6, 1)],
    ['6 nodes, 2 zones (3+3)', zoned(6, 2)],
    ['6 nodes, 3 zones (2+2+2)', zoned(6, 3)],
    ['9 nodes, 3 zones (3+3+3)', zoned(9, 3)],
    ['12 nodes, 3 zones (4+4+4)', zoned(12, 3)],
    ['12 nodes, 4 zones (3+3+3+3)', zoned(12, 4)],
    ['7 nodes, 3 zones (3+2+2)', zoned(7, 3)],
    [
      '6 nodes, 3 zones (3+2+1)',
      [node('n1', 'z1'), node('n2', 'z1'), node('n3', 'z1'), node('n4', 'z2'), node('n5', 'z2'), node('n6', 'z3')],
    ],
  ];

  it('reports replica share max/mean per node and per zone, and keys moved on a join', () => {
    const rows = layouts.map(([name, nodes]) => balanceRow(name, nodes));
    console.log('zone-aware placement, N=3: replica share max/mean per node and per zone; preference lists changed by a join in zone z1');
    console.table(rows);
    const byName = new Map(rows.map((row) => [row.layout, row]));
    // Equal zones: every node within 10% of the mean, every zone exactly a third.
    for (const name of [
      '6 nodes, 3 zones (2+2+2)',
      '9 nodes, 3 zones (3+3+3)',
      '12 nodes, 3 zones (4+4+4)',
      '12 nodes, 4 zones (3+3+3+3)',
      '6 nodes, 2 zones (3+3)',
    ]) {
      expect(Number(byName.get(name)?.['node max/mean']), name).toBeLessThanOrEqual(1.1);
      expect(Number(byName.get(name)?.['zone max/mean']), name).toBeLessThanOrEqual(1.02);
    }
    // Unequal zones with N zones: each zone still holds a third, so a lone node holds every key.
    expect(Number(byName.get('6 nodes, 3 zones (3+2+1)')?.['node max/mean'])).toBeGreaterThan(1.9);
  });
});

function balanceRow(layout: string, nodes: Node[]) {
  const ring = new ConsistentHash(nodes);
  const perNode = [...replicaShares(ring, 3).values()];
  const perZone = [...zoneReplicaShares(ring, 3).values()];
  const maxOverMean = (values: number[]) => (Math.max(...values) / (values.reduce((s, x) => s + x, 0) / values.length)).toFixed(3);
  const joined = new ConsistentHash([...nodes, node('joiner', 'z1')]);
  let changed = 0;
  const samples = 20_000;
  for (let i = 0; i < samples; i += 1) {
    const key = `key-${i}`;
    const was = new Set(ids(ring.getNodesForKey(key, 3)));
    if (ids(joined.getNodesForKey(key, 3)).some((id) => !was.has(id))) changed += 1;
  }
  const zoneNodes = nodes.filter((x) => zoneOfNode(x) === 'z1').length;
  return {
    layout,
    'node max/mean': maxOverMean(perNode),
    'node min/mean': (Math.min(...perNode) / (perNode.reduce((s, x) => s + x, 0) / perNode.length)).toFixed(3),
    'zone max/mean': maxOverMean(perZone),
    'lists changed by a join in z1': (changed / samples).toFixed(4),
    // A joiner in z1 takes its even part of z1's replicas: z1's replicas per key / (z1's nodes + 1).
    ideal: (((zoneReplicaShares(ring, 3).get('z1') ?? 0) * 3) / (zoneNodes + 1)).toFixed(4),
    'zone loss safe': zoneLossReport(ring, 3, 2, 2).safe,
  };
}
