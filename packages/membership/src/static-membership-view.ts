import type { Membership, MembershipView } from '@dkv/core';

/**
 * A membership view fed from outside: start-up configuration, or a document fetched from a node.
 * It keeps the document with the highest epoch it has been given and tells its listeners when
 * that changes. The apps route by their `Gossiper` instead (it is a `MembershipView` itself); this
 * one serves fixed clusters (the simulation without elastic membership, tests, benchmarks).
 */
export class StaticMembershipView implements MembershipView {
  private membership: Membership;
  private readonly listeners = new Set<(membership: Membership) => void>();

  constructor(initial: Membership) {
    this.membership = initial;
  }

  current(): Membership {
    return this.membership;
  }

  subscribe(listener: (membership: Membership) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Adopts `next` if its epoch is higher than the current one; returns whether it did. */
  update(next: Membership): boolean {
    if (next.epoch <= this.membership.epoch) return false;
    this.membership = next;
    for (const listener of this.listeners) listener(next);
    return true;
  }
}
