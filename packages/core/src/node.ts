/** The states a node moves through, as API.md names them. */
export type NodeStatus = 'joining' | 'up' | 'suspect' | 'down' | 'leaving';

/** What a node does in the cluster. Storage nodes hold replicas; coordinators only route. */
export type NodeRole = 'storage' | 'coordinator';

/**
 * A member of the cluster. `id` is stable across restarts (a node restarted with the same id
 * rejoins as itself), `address` is `host:port` of its internal API, and `vnodes` is its weight on
 * the ring: the number of virtual nodes it places.
 */
export interface Node {
  readonly id: string;
  readonly address: string;
  readonly role: NodeRole;
  readonly status: NodeStatus;
  readonly vnodes: number;
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * The node's weight on the read ring while data moves (see `@dkv/hashing`'s ring views).
   * Absent: `vnodes` when the status is up, suspect, down or leaving; 0 (not placed) when joining.
   */
  readonly readVnodes?: number;
  /** Whether reads may be sent to the node. Absent: every status but `joining` is readable. */
  readonly readable?: boolean;
  /**
   * The node's failure domain (an availability zone, a rack): the ring places a key's replicas in
   * distinct zones whenever there are enough. Absent: {@link DEFAULT_ZONE}.
   */
  readonly zone?: string;
  /**
   * The zone the node has on the read ring while a move to another zone is being synced, as
   * `readVnodes` is to `vnodes`. Absent: `zone`.
   */
  readonly readZone?: string;
}

/**
 * The cluster's membership as one versioned value. `epoch` only grows: of two documents, the one
 * with the higher epoch is the newer, which is what lets processes converge on one view.
 */
export interface Membership {
  readonly epoch: number;
  readonly nodes: readonly Node[];
}

/** The allowed shape of a node id: what a person can type, log and put in a URL without escaping. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The zone of a node that names none: a cluster whose nodes name no zone is one zone, placed
 * exactly as before zones existed.
 */
export const DEFAULT_ZONE = 'default';

/**
 * The allowed shape of a zone name: letters, digits, `.`, `_`, `-` and `/`, 1 to 64 characters,
 * starting with a letter or digit. It admits cloud zone names (`us-east-1a`, `europe-west4-b`) and
 * Kubernetes' `topology.kubernetes.io/zone` values, and keeps a zone printable in tables and logs.
 */
export const ZONE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$/;

/** What is wrong with `zone` as a zone name, or null when it is valid (see {@link ZONE_PATTERN}). */
export function zoneProblem(zone: string): string | null {
  if (ZONE_PATTERN.test(zone)) return null;
  return `a zone is 1 to 64 characters: letters, digits, '.', '_', '-' or '/', starting with a letter or digit; got ${JSON.stringify(zone)}`;
}

/** The zone `node` is placed in on the ring: its `zone`, or {@link DEFAULT_ZONE}. */
export function zoneOf(node: Pick<Node, 'zone'>): string {
  return node.zone ?? DEFAULT_ZONE;
}
