import { zoneOf, type Membership, type Node } from '@dkv/core';
import { ConsistentHash, hashKey, type ConsistentHashOptions } from './consistent-hash.js';
import { ringId } from './hash-ranges.js';

/** The views built for each membership object (default options), for as long as it is in use. */
const VIEWS_OF_MEMBERSHIP = new WeakMap<Membership, RingViews>();

/**
 * The weight `node` has on the read ring: its `readVnodes` when the membership says, otherwise
 * `vnodes` for a node that serves (up, suspect, down, leaving) and 0 for a node still joining.
 */
export function readWeightOf(node: Node): number {
  if (node.readVnodes !== undefined) return node.readVnodes;
  return node.status === 'joining' ? 0 : node.vnodes;
}

/**
 * The zone `node` has on the read ring: its `readZone` while a move to another zone is being
 * synced, otherwise its zone (see `zoneOf`).
 */
export function readZoneOf(node: Node): string {
  return node.readZone ?? zoneOf(node);
}

/** Whether reads may go to `node`: as the membership says, otherwise every status but joining. */
export function isReadable(node: Node): boolean {
  return node.readable ?? node.status !== 'joining';
}

/** Whether `node` is on the future ring: every storage node that is not leaving. */
export function isOnFutureRing(node: Node): boolean {
  return node.status !== 'leaving' && node.vnodes > 0;
}

/** Where one write goes and how many acknowledgements it needs (see {@link planWrite}). */
export interface WritePlan {
  readonly targets: readonly Node[];
  readonly needed: number;
}

/**
 * Cassandra's rule for writes while ranges move: send to the union of the key's read and future
 * preference lists, and wait for `w` plus one acknowledgement per future replica that is not a
 * read replica (a "pending" replica). Whatever subset acknowledges, at least `w` of the read
 * replicas and at least `w` of the future ones hold the write (|union| = N + pending, so at most
 * N - w of either list can be missing), so reads stay correct on both sides of the switch.
 * `needed` is capped at the number of targets.
 */
export function planWrite(readList: readonly Node[], futureList: readonly Node[], w: number): WritePlan {
  const targets = [...readList];
  let pending = 0;
  for (const node of futureList) {
    if (targets.some((t) => t.id === node.id)) continue;
    targets.push(node);
    pending += 1;
  }
  return { targets, needed: Math.min(w + pending, targets.length) };
}

/**
 * The two rings of a cluster whose data is moving (after Cassandra's natural and pending
 * endpoints). The read ring places each storage node with its read weight and read zone: the
 * placement for which data is complete, where reads go. The future ring places every storage node
 * that is not leaving with its `vnodes` and `zone`: where data is moving to. When nothing moves they are the same ring.
 *
 * Reads go to the read ring's preference list minus nodes that are not readable (a node that
 * restarted empty keeps its place but is not read until it has caught up). Writes follow
 * {@link planWrite}.
 */
export class RingViews {
  readonly read: ConsistentHash;
  readonly future: ConsistentHash;
  readonly readId: string;
  readonly futureId: string;
  private readonly unreadable: ReadonlySet<string>;

  constructor(storageNodes: readonly Node[], options: ConsistentHashOptions = {}) {
    const storage = storageNodes.filter((node) => node.role === 'storage');
    this.read = new ConsistentHash(
      storage.filter((node) => readWeightOf(node) > 0).map((node) => ({ ...node, vnodes: readWeightOf(node), zone: readZoneOf(node) })),
      options,
    );
    this.future = new ConsistentHash(storage.filter(isOnFutureRing), options);
    this.readId = ringId(this.read);
    this.futureId = ringId(this.future);
    this.unreadable = new Set(storage.filter((node) => !isReadable(node)).map((node) => node.id));
  }

  /**
   * The views of a membership document's storage nodes. Views are immutable, so those of one
   * membership object with the default options are built once and shared: a coordinating node's
   * coordinator, range sync and anti-entropy all route by the same gossiped membership.
   */
  static fromMembership(membership: Membership, options?: ConsistentHashOptions): RingViews {
    if (options !== undefined) return new RingViews(membership.nodes, options);
    let views = VIEWS_OF_MEMBERSHIP.get(membership);
    if (views === undefined) {
      views = new RingViews(membership.nodes);
      VIEWS_OF_MEMBERSHIP.set(membership, views);
    }
    return views;
  }

  /** True while data moves: the two rings differ. */
  get changing(): boolean {
    return this.readId !== this.futureId;
  }

  /** The replicas to read `key` from: its read preference list, readable nodes only. */
  readReplicas(key: string, n: number): Node[] {
    return this.readReplicasOfHash(hashKey(key), n);
  }

  /**
   * {@link readReplicas} of a key whose ring hash (`hashKey`) the caller already has. With `firstId`,
   * that node, when it is on the list, is moved to its front (the rest keep their order): a
   * coordinating storage node reads its own replica first, and moving it here, in the list this
   * call has just made, saves the reader a second array per read.
   */
  readReplicasOfHash(hash: number, n: number, firstId?: string): Node[] {
    const walked = this.read.getNodesForHash(hash, n);
    const list = this.unreadable.size === 0 ? walked : walked.filter((node) => !this.unreadable.has(node.id));
    if (firstId !== undefined) moveToFront(list, firstId);
    return list;
  }

  /** Where a write of `key` goes and how many acknowledgements it needs for quorum `w`. */
  writePlan(key: string, n: number, w: number): WritePlan {
    return this.writePlanOfHash(hashKey(key), n, w);
  }

  /** {@link writePlan} of a key whose ring hash the caller already has. */
  writePlanOfHash(hash: number, n: number, w: number): WritePlan {
    const readList = this.read.getNodesForHash(hash, n);
    if (!this.changing) return { targets: readList, needed: Math.min(w, readList.length) };
    return planWrite(readList, this.future.getNodesForHash(hash, n), w);
  }
}

/** Moves the node `id` of `list` to its front in place, the others keeping their order; nothing when it is absent. */
function moveToFront(list: Node[], id: string): void {
  let index = 0;
  while (index < list.length && list[index]!.id !== id) index += 1;
  if (index === 0 || index === list.length) return;
  const node = list[index]!;
  for (let i = index; i > 0; i -= 1) list[i] = list[i - 1]!;
  list[0] = node;
}
