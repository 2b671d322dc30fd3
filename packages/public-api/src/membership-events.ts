import type { ClusterNodeInfo } from '@dkv/core';

/** One change of the cluster's membership as a coordinating process saw it. */
export interface MembershipEvent {
  /** When it was seen (epoch ms): within one sampling interval of when it happened. */
  readonly time: number;
  readonly node: string;
  /** `added`: a node appeared; `status`: its state changed; `removed`: it left the membership. */
  readonly kind: 'added' | 'status' | 'removed';
  /** The state before (`status`, `removed`), absent for `added`. */
  readonly from?: string;
  /** The state after (`added`, `status`), absent for `removed`. */
  readonly to?: string;
}

/**
 * The recent membership events of the dashboard: fed successive views of the cluster's nodes
 * (`GET /v1/cluster`'s, which include this process's own failure detector: `suspect`, `down`), it
 * records what differs from the previous view, keeping the last `capacity` events (a ring buffer:
 * the oldest goes first). The first view is the baseline and records nothing.
 */
export class MembershipEventLog {
  private readonly events: MembershipEvent[] = [];
  private last: Map<string, string> | null = null;

  /** @param capacity the most events kept (1..10000) */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 10_000)
      throw new RangeError(`capacity must be a whole number from 1 to 10000, got ${capacity}`);
  }

  /** Compares `nodes` with the previous view and records each node added, changed or removed. */
  observe(nodes: ReadonlyArray<Pick<ClusterNodeInfo, 'id' | 'status'>>, time: number): void {
    const next = new Map(nodes.map((node) => [node.id, node.status as string]));
    const previous = this.last;
    this.last = next;
    if (previous === null) return;
    for (const [node, to] of next) {
      const from = previous.get(node);
      if (from === undefined) this.push({ time, node, kind: 'added', to });
      else if (from !== to) this.push({ time, node, kind: 'status', from, to });
    }
    for (const [node, from] of previous) if (!next.has(node)) this.push({ time, node, kind: 'removed', from });
  }

  /** The events kept, newest first. */
  recent(): MembershipEvent[] {
    return [...this.events].reverse();
  }

  private push(event: MembershipEvent): void {
    this.events.push(event);
    if (this.events.length > this.capacity) this.events.splice(0, this.events.length - this.capacity);
  }
}
