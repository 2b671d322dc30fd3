import type { SyncProgress } from './cluster-state.js';
import type { NodeStatus } from './node.js';

/**
 * The answer of `GET /v1/cluster` (API.md), shared by the coordinator that builds it and the
 * clients that read it.
 */
export interface ClusterInfo {
  readonly epoch: number;
  readonly replication: { readonly n: number; readonly w: number; readonly r: number };
  readonly nodes: ReadonlyArray<ClusterNodeInfo>;
  /** True while data moves between nodes (a join, a decommission or a vnode change in progress). */
  readonly rebalancing?: boolean;
  /**
   * Whether losing any one whole zone leaves every key enough replicas for the default read and
   * write quorums (with N=3, W=R=2: only when there are at least 3 zones). Every coordinator that
   * knows zones sends it; optional so that a client still reads an older one.
   */
  readonly zoneLossSafe?: boolean;
  /** Why {@link zoneLossSafe} is what it is, in a sentence naming zones, N, W and R. */
  readonly zoneLossReason?: string;
  /**
   * This process's clock minus the storage nodes' (the median of their offsets), by its own
   * measurements; absent before the first. Expiry times are computed on the cluster's clock.
   */
  readonly clockOffsetMs?: number;
  /** Set when that offset is beyond `--max-clock-offset-ms`: the process refuses writes and is not ready. */
  readonly clockProblem?: string;
}

/** One node of `GET /v1/cluster`: the API.md fields, plus sync progress while data moves to it. */
export interface ClusterNodeInfo {
  readonly id: string;
  readonly address: string;
  readonly status: NodeStatus;
  readonly vnodes: number;
  /**
   * The node's failure domain (`DEFAULT_ZONE` when it named none). Always sent; optional so that a
   * client still reads a coordinator from before zones.
   */
  readonly zone?: string;
  readonly progress?: SyncProgress;
  /** The node's clock minus this process's, as last measured (NTP's estimate, within half a round trip). */
  readonly clockOffsetMs?: number;
}

/** One row of `GET /v1/cluster/distribution` (API.md). */
export interface DistributionEntry {
  readonly id: string;
  /** Fraction of the hash space the node owns as primary. */
  readonly ringShare: number;
  readonly keys: number;
  readonly bytes: number;
}
