import { DkvError, zoneOf, zoneProblem, type Membership, type Node } from '@dkv/core';
import { xxh32 } from '@node-rs/xxhash';

/**
 * The number of virtual nodes a node places when nothing else is configured. Chosen by
 * measurement (the distribution report in `consistent-hash.test.ts`, and a sweep over 45 naming
 * schemes of node ids): dkv promises that on 10 nodes the largest ring share is at most 1.10
 * times the mean and that a join of the (k+1)th node moves within 10% of the ideal 1/(k+1) of
 * the keys. At 512 vnodes 7 of the 45 schemes broke the first promise (worst 1.16); at 1024 none
 * did (worst 1.09, worst move 8% off ideal). The price is small: 10 nodes make 10240 tokens,
 * 80 KiB, built in about 3 ms, and a lookup does one more binary-search step.
 */
export const DEFAULT_VNODES = 1024;

/**
 * The default upper bound on one node's `vnodes`. The ring holds one token per virtual node, so
 * this bounds its memory (8 bytes per token) and its construction time; a weight beyond it is a
 * configuration mistake rather than a wish.
 */
export const DEFAULT_MAX_VNODES_PER_NODE = 65_536;

/**
 * The most nodes one ring can hold. Tokens are sorted as one float64 each, the 32-bit token
 * above a 21-bit node index, so that a single numeric sort orders by token then node id.
 */
export const MAX_RING_NODES = 1 << 21;

const HASH_SPACE = 2 ** 32;

/**
 * The longest preference list kept as a table (see {@link ConsistentHash.getNodesForHash}). dkv's
 * N is 3 by default; longer lists (the whole ring, for sloppy-quorum stand-ins) are walked.
 */
export const MAX_TABLED_REPLICAS = 8;

/** Options of a {@link ConsistentHash}. */
export interface ConsistentHashOptions {
  /** The largest `vnodes` a node may ask for; default {@link DEFAULT_MAX_VNODES_PER_NODE}. */
  readonly maxVnodesPerNode?: number;
}

/**
 * The position of `key` on the ring: xxHash32 (seed 0) of its UTF-8 bytes, an unsigned 32-bit
 * integer. It is exported so that every process and tool places keys exactly as the ring does.
 */
export function hashKey(key: string): number {
  return xxh32OfAscii(key) ?? xxh32(key);
}

const PRIME32_1 = 0x9e3779b1 | 0;
const PRIME32_2 = 0x85ebca77 | 0;
const PRIME32_3 = 0xc2b2ae3d | 0;
const PRIME32_4 = 0x27d4eb2f | 0;
const PRIME32_5 = 0x165667b1 | 0;

/**
 * xxHash32 (seed 0) of `key` when it is all ASCII (its UTF-8 bytes are its code units), or null
 * otherwise. Every request hashes its key, and for the short ASCII keys of nearly every workload
 * this is a few times cheaper than the native binding's call across N-API (which converts the
 * string first); other keys take the binding. Written from the xxHash specification (XXH32);
 * `consistent-hash.test.ts` checks it against the binding.
 */
function xxh32OfAscii(key: string): number | null {
  const length = key.length;
  for (let i = 0; i < length; i += 1) if (key.charCodeAt(i) > 0x7f) return null;
  let i = 0;
  let hash: number;
  if (length >= 16) {
    let v1 = (PRIME32_1 + PRIME32_2) | 0;
    let v2 = PRIME32_2;
    let v3 = 0;
    let v4 = -PRIME32_1 | 0;
    for (const limit = length - 16; i <= limit; i += 16) {
      v1 = xxRound(v1, wordAt(key, i));
      v2 = xxRound(v2, wordAt(key, i + 4));
      v3 = xxRound(v3, wordAt(key, i + 8));
      v4 = xxRound(v4, wordAt(key, i + 12));
    }
    hash = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0;
  } else {
    hash = PRIME32_5;
  }
  hash = (hash + length) | 0;
  for (; i + 4 <= length; i += 4) hash = Math.imul(rotl32((hash + Math.imul(wordAt(key, i), PRIME32_3)) | 0, 17), PRIME32_4);
  for (; i < length; i += 1) hash = Math.imul(rotl32((hash + Math.imul(key.charCodeAt(i), PRIME32_5)) | 0, 11), PRIME32_1);
  hash ^= hash >>> 15;
  hash = Math.imul(hash, PRIME32_2);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, PRIME32_3);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

function xxRound(accumulator: number, input: number): number {
  return Math.imul(rotl32((accumulator + Math.imul(input, PRIME32_2)) | 0, 13), PRIME32_1);
}

function rotl32(x: number, bits: number): number {
  return (x << bits) | (x >>> (32 - bits));
}

/** The little-endian 32-bit word of the ASCII string `s` at `i`. */
function wordAt(s: string, i: number): number {
  return s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24);
}

/**
 * The token of virtual node `index` of node `nodeId`: the hash of `${nodeId}#${index}`. Node ids
 * cannot contain `#` (NODE_ID_PATTERN), so distinct (id, index) pairs hash distinct strings.
 */
export function vnodeToken(nodeId: string, index: number): number {
  return xxh32(`${nodeId}#${index}`);
}

/**
 * The seed's `ConsistentHash`: a ring of virtual nodes over the 32-bit xxHash space, after
 * Dynamo and riak_core's `chash`. Each node places `vnodes` tokens (its weight); a key belongs to
 * the owner of the first token at or after its hash, wrapping past the top, and its preference
 * list is the next distinct nodes clockwise from there, zone-aware as below.
 *
 * Zones (failure domains). Each node is in one zone ({@link zoneOf}). The preference list walks
 * clockwise as Cassandra's NetworkTopologyStrategy does for racks: a node whose zone already holds
 * a replica is skipped until every zone holds one. With at least N zones the N replicas are
 * therefore in N distinct zones. With fewer zones the list fills in rounds: round k takes, in
 * ring order, the k-th node met of each zone, so no zone holds two replicas more than another
 * can (2 zones and N=3 give 2+1; Cassandra's fallback instead takes the skipped nodes in ring
 * order, which for larger N can stack one zone). With one zone (no node names one) every round
 * takes the next distinct node: the plain Dynamo walk, so a cluster without zones is placed
 * exactly as before zones existed. The primary is always the owner of the key's token.
 *
 * The ring is an immutable value and a pure function of the nodes' ids, weights and zones: input
 * order, addresses and statuses do not change it, and nothing random goes in, so every process
 * and every restart computes the same ring from the same membership. Equal tokens of two nodes (a
 * 32-bit collision) are ordered by node id; the second then owns an empty arc, which every process
 * agrees on.
 *
 * Tokens live in a sorted `Uint32Array` with a parallel array of owner indexes. A preference list
 * depends only on the token a key falls to, so for each list length up to
 * {@link MAX_TABLED_REPLICAS} the ring keeps (built on first use) a table of every token's list of
 * owner indexes: a lookup is a binary search and a copy of N indexes, whatever the zones.
 */
export class ConsistentHash {
  /** The ring's nodes, sorted by id: the order owner indexes refer to. */
  readonly nodes: readonly Node[];
  /** The zones of the nodes that place tokens, sorted by name: the order zone indexes refer to. */
  readonly zones: readonly string[];
  private readonly tokens: Uint32Array;
  private readonly owners: Uint32Array;
  /** The zone index of each node (by node index). */
  private readonly nodeZones: Uint32Array;
  /** How many nodes with tokens each zone has (by zone index). */
  private readonly zoneCapacity: Uint32Array;
  /** How many nodes place tokens: the longest possible preference list. */
  private readonly placedNodes: number;
  /** Per list length, every token's preference list of owner indexes (`length` per token). */
  private readonly tables = new Map<number, Uint32Array>();
  private readonly walker: ZoneWalker;

  constructor(nodes: readonly Node[], options: ConsistentHashOptions = {}) {
    const maxVnodes = options.maxVnodesPerNode ?? DEFAULT_MAX_VNODES_PER_NODE;
    const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    validateNodes(sorted, maxVnodes);
    this.nodes = Object.freeze(sorted);
    [this.tokens, this.owners] = placeTokens(sorted);
    const placed = sorted.filter((node) => node.vnodes > 0);
    this.placedNodes = placed.length;
    this.zones = Object.freeze([...new Set(placed.map(zoneOf))].sort());
    const zoneIndex = new Map(this.zones.map((zone, index) => [zone, index]));
    this.nodeZones = Uint32Array.from(sorted, (node) => zoneIndex.get(zoneOf(node)) ?? 0);
    this.zoneCapacity = new Uint32Array(this.zones.length);
    for (const node of placed) {
      const zone = zoneIndex.get(zoneOf(node)) ?? 0;
      this.zoneCapacity[zone] = (this.zoneCapacity[zone] ?? 0) + 1;
    }
    this.walker = new ZoneWalker(this.tokens, this.owners, this.nodeZones, this.zoneCapacity);
  }

  /**
   * The ring of a membership's storage nodes, whatever their status: a node that is down keeps
   * its place (its replicas are covered by hinted handoff, not by moving the data), and a joining
   * or leaving node is on the ring while its data moves. Pass `include` to choose otherwise.
   */
  static fromMembership(
    membership: Membership,
    include: (node: Node) => boolean = (node) => node.role === 'storage',
    options: ConsistentHashOptions = {},
  ): ConsistentHash {
    return new ConsistentHash(membership.nodes.filter(include), options);
  }

  /** The number of physical nodes on the ring. */
  get size(): number {
    return this.nodes.length;
  }

  /** The number of tokens (virtual nodes) on the ring. */
  get tokenCount(): number {
    return this.tokens.length;
  }

  /**
   * The preference list of `key`: up to `replicationFactor` distinct nodes, in order, clockwise
   * from the key's hash, in distinct zones whenever the ring has that many (see the class
   * comment). With fewer nodes that place tokens than that, all of them.
   */
  getNodesForKey(key: string, replicationFactor: number): Node[] {
    return this.walkFrom(hashKey(key), replicationFactor);
  }

  /** The first node of the key's preference list: its primary replica, or null on an empty ring. */
  primaryFor(key: string): Node | null {
    const index = this.tokenIndexFor(hashKey(key));
    if (index < 0) return null;
    return this.nodeAt(this.owners[index] ?? 0);
  }

  /**
   * The fraction of the 2^32 hash space each node owns as primary, by node id. Every node is
   * listed (0 when it has no tokens) and the fractions sum to 1 on a non-empty ring. This is the
   * `ringShare` of the distribution endpoint.
   */
  ringShares(): Map<string, number> {
    const arcs = new Float64Array(this.nodes.length);
    const count = this.tokens.length;
    for (let i = 0; i < count; i += 1) {
      const token = this.tokens[i] ?? 0;
      const previous = i === 0 ? (this.tokens[count - 1] ?? 0) - HASH_SPACE : (this.tokens[i - 1] ?? 0);
      const owner = this.owners[i] ?? 0;
      arcs[owner] = (arcs[owner] ?? 0) + (token - previous);
    }
    const shares = new Map<string, number>();
    this.nodes.forEach((node, index) => shares.set(node.id, (arcs[index] ?? 0) / HASH_SPACE));
    return shares;
  }

  /**
   * True when `other` places the same tokens with the same owners (node ids and zones): the two
   * route every key identically. Lets a process skip work when a membership change left the ring as it was.
   */
  sameRingAs(other: ConsistentHash): boolean {
    if (other.tokens.length !== this.tokens.length) return false;
    for (let i = 0; i < this.tokens.length; i += 1) {
      if (other.tokens[i] !== this.tokens[i]) return false;
      const mine = this.nodes[this.owners[i] ?? 0];
      const theirs = other.nodes[other.owners[i] ?? 0];
      if (theirs?.id !== mine?.id || (theirs && mine && zoneOf(theirs) !== zoneOf(mine))) return false;
    }
    return true;
  }

  /** The preference list of a position on the ring: as {@link getNodesForKey} for a key of that hash. */
  getNodesForHash(hash: number, replicationFactor: number): Node[] {
    return this.walkFrom(hash >>> 0, replicationFactor);
  }

  /**
   * The ring cut into arcs, each with its preference list of `replicationFactor` nodes: every hash
   * in `range` has exactly `nodes` as its preference list. Arcs are in hash order, cover the whole
   * space (the arc of the first token is split in two at the wrap) and are never empty. Adjacent
   * arcs with the same list are merged. O(tokens x n); meant for planning data movement, not routing.
   */
  arcs(replicationFactor: number): Array<{ range: readonly [number, number]; nodes: Node[] }> {
    const count = this.tokens.length;
    const out: Array<{ range: readonly [number, number]; nodes: Node[] }> = [];
    if (count === 0) return out;
    const push = (start: number, end: number, nodes: Node[]): void => {
      if (start > end) return;
      const last = out[out.length - 1];
      if (last && last.range[1] + 1 === start && sameIds(last.nodes, nodes)) {
        last.range = [last.range[0], end];
        return;
      }
      out.push({ range: [start, end], nodes });
    };
    const first = this.tokens[0] ?? 0;
    const firstNodes = this.walkFrom(first, replicationFactor);
    push(0, first, firstNodes);
    for (let i = 1; i < count; i += 1) {
      const previous = this.tokens[i - 1] ?? 0;
      const token = this.tokens[i] ?? 0;
      if (token === previous) continue;
      push(previous + 1, token, this.walkFrom(token, replicationFactor));
    }
    push((this.tokens[count - 1] ?? 0) + 1, HASH_SPACE - 1, firstNodes);
    return out;
  }

  private walkFrom(hash: number, replicationFactor: number): Node[] {
    const length = this.listLength(replicationFactor);
    const index = this.tokenIndexFor(hash);
    if (index < 0 || length === 0) return [];
    if (length <= MAX_TABLED_REPLICAS) {
      // Sized at once: every read and write makes one, and growing an empty array by push
      // allocates room for 17 nodes.
      const table = this.tableOf(length);
      const from = index * length;
      const list = new Array<Node>(length);
      for (let i = 0; i < length; i += 1) list[i] = this.nodeAt(table[from + i] ?? 0);
      return list;
    }
    const result: Node[] = [];
    const scratch = new Uint32Array(length);
    this.walker.walk(index, length, scratch, 0);
    for (let i = 0; i < length; i += 1) result.push(this.nodeAt(scratch[i] ?? 0));
    return result;
  }

  /** How long a preference list of `replicationFactor` is on this ring: at most the placed nodes. */
  private listLength(replicationFactor: number): number {
    return Math.min(Math.max(0, Math.floor(replicationFactor)), this.placedNodes);
  }

  /** Every token's preference list of `length` owner indexes, built on first use. */
  private tableOf(length: number): Uint32Array {
    let table = this.tables.get(length);
    if (table === undefined) {
      table = new Uint32Array(this.tokens.length * length);
      for (let i = 0; i < this.tokens.length; i += 1) this.walker.walk(i, length, table, i * length);
      this.tables.set(length, table);
    }
    return table;
  }

  /** The index of the first token >= `hash`, wrapping to 0 past the top; -1 on an empty ring. */
  private tokenIndexFor(hash: number): number {
    const count = this.tokens.length;
    if (count === 0) return -1;
    let low = 0;
    let high = count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.tokens[mid] ?? 0) < hash) low = mid + 1;
      else high = mid;
    }
    return low === count ? 0 : low;
  }

  private nodeAt(ownerIndex: number): Node {
    const node = this.nodes[ownerIndex];
    if (node === undefined) throw new DkvError('INTERNAL', `ring owner index ${ownerIndex} out of range`);
    return node;
  }
}

function sameIds(a: readonly Node[], b: readonly Node[]): boolean {
  return a.length === b.length && a.every((node, i) => node.id === b[i]?.id);
}

/**
 * The preference list of `key` on `ring`: riak_core's `successors`, as a function. The same as
 * `ring.getNodesForKey(key, n)`.
 */
export function preferenceList(ring: ConsistentHash, key: string, n: number): Node[] {
  return ring.getNodesForKey(key, n);
}

function validateNodes(sorted: readonly Node[], maxVnodes: number): void {
  if (sorted.length > MAX_RING_NODES) {
    throw new DkvError('INVALID_REQUEST', `a ring holds at most ${MAX_RING_NODES} nodes, got ${sorted.length}`);
  }
  for (let i = 0; i < sorted.length; i += 1) {
    const node = sorted[i];
    if (node === undefined) continue;
    if (i > 0 && sorted[i - 1]?.id === node.id) {
      throw new DkvError('INVALID_REQUEST', `node id ${node.id} appears twice in the ring's membership`);
    }
    if (!Number.isInteger(node.vnodes) || node.vnodes < 0 || node.vnodes > maxVnodes) {
      throw new DkvError(
        'INVALID_REQUEST',
        `node ${node.id}: vnodes must be a whole number from 0 to ${maxVnodes}, got ${String(node.vnodes)}`,
      );
    }
    const zoneError = node.zone === undefined ? null : zoneProblem(node.zone);
    if (zoneError !== null) throw new DkvError('INVALID_REQUEST', `node ${node.id}: ${zoneError}`);
  }
}

/**
 * Hashes every virtual node and sorts the tokens by (token, node index). Nodes are already sorted
 * by id, so the node index orders collisions by id. A single float64 sort key per token keeps this
 * one typed-array sort rather than a sort of objects.
 */
function placeTokens(sorted: readonly Node[]): [Uint32Array, Uint32Array] {
  const total = sorted.reduce((sum, node) => sum + node.vnodes, 0);
  const keys = new Float64Array(total);
  let at = 0;
  sorted.forEach((node, nodeIndex) => {
    for (let v = 0; v < node.vnodes; v += 1) {
      keys[at] = vnodeToken(node.id, v) * MAX_RING_NODES + nodeIndex;
      at += 1;
    }
  });
  keys.sort();
  const tokens = new Uint32Array(total);
  const owners = new Uint32Array(total);
  for (let i = 0; i < total; i += 1) {
    const sortKey = keys[i] ?? 0;
    owners[i] = sortKey % MAX_RING_NODES;
    tokens[i] = (sortKey - (owners[i] ?? 0)) / MAX_RING_NODES;
  }
  return [tokens, owners];
}

/**
 * The zone-aware walk of {@link ConsistentHash}, over the ring's typed arrays with scratch arrays
 * of its own, so that building a table allocates nothing per token.
 *
 * For a list of `length` nodes it first finds the number of rounds K: the least k for which the
 * zones can give `length` nodes taking at most k from each (sum over zones of min(nodes, k)).
 * Rounds 1..K-1 are then complete (each zone gives min(nodes, K-1)) and round K is partial. The
 * walk goes clockwise once, noting for each distinct node met whose zone has not yet given
 * min(nodes, K) the round it belongs to (how many of its zone came before, plus one), and stops as
 * soon as the complete rounds are found and the partial one has enough nodes. The list is the
 * nodes of round 1 in ring order, then those of round 2, and so on up to `length`.
 */
class ZoneWalker {
  private readonly taken: Uint8Array;
  private readonly zoneCount: Uint32Array;
  private readonly metNodes: Uint32Array;
  private readonly metRounds: Uint32Array;

  constructor(
    private readonly tokens: Uint32Array,
    private readonly owners: Uint32Array,
    private readonly nodeZones: Uint32Array,
    private readonly zoneCapacity: Uint32Array,
  ) {
    this.taken = new Uint8Array(nodeZones.length);
    this.zoneCount = new Uint32Array(zoneCapacity.length);
    this.metNodes = new Uint32Array(nodeZones.length);
    this.metRounds = new Uint32Array(nodeZones.length);
  }

  /** Writes the `length` owner indexes of the list that starts at token `start` into `out` at `at`. */
  walk(start: number, length: number, out: Uint32Array, at: number): void {
    const rounds = this.roundsFor(length);
    let inCompleteRounds = 0;
    for (let z = 0; z < this.zoneCapacity.length; z += 1) inCompleteRounds += Math.min(this.zoneCapacity[z] ?? 0, rounds - 1);
    const count = this.tokens.length;
    let met = 0;
    let completeMet = 0;
    let index = start;
    for (let step = 0; step < count; step += 1) {
      const node = this.owners[index] ?? 0;
      index = index + 1 === count ? 0 : index + 1;
      if (this.taken[node] === 1) continue;
      const zone = this.nodeZones[node] ?? 0;
      const round = (this.zoneCount[zone] ?? 0) + 1;
      if (round > rounds) continue;
      this.taken[node] = 1;
      this.zoneCount[zone] = round;
      this.metNodes[met] = node;
      this.metRounds[met] = round;
      met += 1;
      if (round < rounds) completeMet += 1;
      if (completeMet === inCompleteRounds && met >= length) break;
    }
    let written = 0;
    for (let round = 1; round <= rounds && written < length; round += 1) {
      for (let i = 0; i < met && written < length; i += 1) {
        if (this.metRounds[i] === round) {
          out[at + written] = this.metNodes[i] ?? 0;
          written += 1;
        }
      }
    }
    for (let i = 0; i < met; i += 1) this.taken[this.metNodes[i] ?? 0] = 0;
    this.zoneCount.fill(0);
  }

  /** The least number of rounds in which the zones can give `length` nodes. */
  private roundsFor(length: number): number {
    for (let rounds = 1; ; rounds += 1) {
      let available = 0;
      for (let z = 0; z < this.zoneCapacity.length; z += 1) available += Math.min(this.zoneCapacity[z] ?? 0, rounds);
      if (available >= length || rounds >= length) return rounds;
    }
  }
}
