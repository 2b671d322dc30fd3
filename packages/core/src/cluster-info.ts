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
}

/** One node of `GET /v1/cluster`: the API.md fields, plus sync progress while data moves to it. */
export interface ClusterNodeInfo {
  readonly id: string;
  readonly address: string;
  readonly status: NodeStatus;
  readonly vnodes: number;
  readonly progress?: SyncProgress;
}

/** One row of `GET /v1/cluster/distribution` (API.md). */
export interface DistributionEntry {
  readonly id: string;
  /** Fraction of the hash space the node owns as primary. */
  readonly ringShare: number;
  readonly keys: number;
  readonly bytes: number;
}
