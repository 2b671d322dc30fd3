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
