import { DEFAULT_ZONE, type ClusterSettings, type Membership, type MemberEntry, type Node, type NodeRole } from '@dkv/core';

/**
 * A canonical text of an entry: fields in a fixed order and metadata sorted by key, so that two
 * processes holding equal entries produce the same text, and unequal entries compare the same way
 * everywhere.
 */
export function canonicalEntry(entry: MemberEntry): string {
  const metadata = Object.keys(entry.metadata)
    .sort()
    .map((key) => [key, entry.metadata[key]]);
  return JSON.stringify([
    entry.id,
    entry.version,
    entry.status,
    entry.address,
    entry.role,
    entry.vnodes,
    entry.readVnodes,
    entry.syncedRing,
    entry.forced,
    entry.rejoining,
    metadata,
    entry.zone ?? DEFAULT_ZONE,
    entryReadZone(entry),
  ]);
}

/**
 * Orders two copies of one node's entry: the higher `version` wins; equal versions (two processes
 * changed the entry concurrently) are ordered by their canonical text, so every process keeps the
 * same one. Negative when `a` loses, positive when it wins, 0 when they are equal.
 */
export function compareEntries(a: MemberEntry, b: MemberEntry): number {
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  const ca = canonicalEntry(a);
  const cb = canonicalEntry(b);
  return ca === cb ? 0 : ca < cb ? -1 : 1;
}

/** The result of {@link mergeEntries}: the merged document and whether it differs from `local`. */
export interface MergeResult {
  readonly entries: readonly MemberEntry[];
  readonly changed: boolean;
}

/**
 * The merge of two membership documents: per node id, the winning entry by
 * {@link compareEntries}. It is commutative, associative and idempotent (a join-semilattice, so a
 * state-based CRDT): processes that have seen the same entries hold the same document whatever
 * the order. The result is sorted by id.
 */
export function mergeEntries(local: readonly MemberEntry[], incoming: readonly MemberEntry[]): MergeResult {
  const byId = new Map<string, MemberEntry>();
  for (const entry of local) byId.set(entry.id, entry);
  let changed = false;
  for (const entry of incoming) {
    const held = byId.get(entry.id);
    if (held === undefined || compareEntries(entry, held) > 0) {
      byId.set(entry.id, entry);
      changed = true;
    }
  }
  if (!changed) return { entries: local, changed: false };
  return { entries: [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)), changed: true };
}

/**
 * The document's epoch: the sum of its entries' versions. Every change bumps one version and a
 * merge only ever keeps higher versions, so the epoch only grows, and two processes with the same
 * epoch have (almost always) the same document.
 */
export function epochOf(entries: readonly MemberEntry[]): number {
  return entries.reduce((sum, entry) => sum + entry.version, 0);
}

/**
 * The membership a coordinator routes by: every node that is not removed, with its document
 * status, its weight on the read ring, and whether it may be read from (not while joining, which
 * includes a node that restarted empty and is catching up).
 */
export function toMembership(entries: readonly MemberEntry[]): Membership {
  const nodes: Node[] = [];
  for (const entry of entries) {
    if (entry.status === 'removed') continue;
    nodes.push({
      id: entry.id,
      address: entry.address,
      role: entry.role,
      status: entry.status,
      vnodes: entry.vnodes,
      readVnodes: entry.readVnodes,
      readable: entry.status !== 'joining',
      metadata: entry.metadata,
      zone: entry.zone ?? DEFAULT_ZONE,
      readZone: entryReadZone(entry),
    });
  }
  return { epoch: epochOf(entries), nodes };
}

/** What a new entry is made from. */
export interface NewMember {
  readonly id: string;
  readonly address: string;
  readonly role?: NodeRole;
  readonly vnodes: number;
  readonly metadata?: Readonly<Record<string, string>>;
  /** The node's failure domain; absent: `DEFAULT_ZONE`. */
  readonly zone?: string;
}

/**
 * The entry of a node of the initial cluster: `up`, placed on both rings, holding complete data for
 * `initialRingId` (an empty store owns nothing yet, so it is trivially complete).
 */
export function bootstrapEntry(member: NewMember, initialRingId: string): MemberEntry {
  return {
    id: member.id,
    address: member.address,
    role: member.role ?? 'storage',
    vnodes: member.vnodes,
    readVnodes: member.vnodes,
    status: 'up',
    version: 1,
    syncedRing: initialRingId,
    forced: false,
    rejoining: false,
    metadata: member.metadata ?? {},
    zone: member.zone ?? DEFAULT_ZONE,
    readZone: member.zone ?? DEFAULT_ZONE,
  };
}

/**
 * The entry of a node asking to join: `joining`, on the future ring only, holding nothing. When a
 * tombstone of the same id exists, the new entry's version goes above it, so the join wins.
 */
export function joiningEntry(member: NewMember, previous: MemberEntry | undefined): MemberEntry {
  return {
    id: member.id,
    address: member.address,
    role: member.role ?? 'storage',
    vnodes: member.vnodes,
    readVnodes: 0,
    status: 'joining',
    version: (previous?.version ?? 0) + 1,
    syncedRing: null,
    forced: false,
    rejoining: false,
    metadata: member.metadata ?? {},
    zone: member.zone ?? DEFAULT_ZONE,
    readZone: member.zone ?? DEFAULT_ZONE,
  };
}

/** `entry` with `change` applied and its version bumped: how every change of an entry is made. */
export function changeEntry(entry: MemberEntry, change: Partial<Omit<MemberEntry, 'id' | 'version'>>): MemberEntry {
  return { ...entry, ...change, version: entry.version + 1 };
}

/** The zone of `entry` on the read ring: its `readZone` while a zone move syncs, otherwise its zone. */
export function entryReadZone(entry: MemberEntry): string {
  return entry.readZone ?? entry.zone ?? DEFAULT_ZONE;
}

/**
 * Whether `entry` still waits for the ring switch: a join, a decommission, a restart catching up,
 * or a weight or zone change whose data is still moving (read placement not yet the future one).
 */
export function entryPendingSwitch(entry: MemberEntry): boolean {
  return (
    entry.status === 'joining' ||
    entry.status === 'leaving' ||
    entry.rejoining ||
    entry.readVnodes !== entry.vnodes ||
    entryReadZone(entry) !== (entry.zone ?? DEFAULT_ZONE)
  );
}

/** The cluster-wide settings, in the order {@link settingsConflicts} reports them, with their flags. */
const CLUSTER_SETTING_FLAGS: ReadonlyArray<readonly [keyof ClusterSettings, string]> = [
  ['n', '--n'],
  ['tombstoneGraceMs', '--tombstone-grace-ms'],
];

/**
 * Where two sets of cluster-wide settings disagree: one sentence per setting both declare with
 * different values, naming the setting (and its flag) and both values. Empty when they agree.
 */
export function settingsConflicts(own: ClusterSettings, cluster: ClusterSettings): string[] {
  const conflicts: string[] = [];
  for (const [key, flag] of CLUSTER_SETTING_FLAGS) {
    const mine = own[key];
    const theirs = cluster[key];
    if (mine !== undefined && theirs !== undefined && mine !== theirs) {
      conflicts.push(`cluster setting ${key} (${flag}) is ${theirs} in the cluster but ${mine} in this process`);
    }
  }
  return conflicts;
}

/** The settings of both, each taken from whichever declares it (call only when they agree). */
export function mergeSettings(own: ClusterSettings, cluster: ClusterSettings): ClusterSettings {
  return { ...cluster, ...own };
}

/**
 * A process whose cluster-wide settings differ from those of the cluster it contacted: it refuses
 * to join. The message names every setting that differs and both values.
 */
export class ClusterSettingsConflictError extends Error {
  constructor(readonly conflicts: readonly string[]) {
    super(`refusing to join the cluster: ${conflicts.join('; ')}; start this process with the cluster's values`);
    this.name = 'ClusterSettingsConflictError';
  }
}
