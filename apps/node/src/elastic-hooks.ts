import { DkvError, type GossipState, type VersionedValue } from '@dkv/core';
import type { ElasticMember } from '@dkv/replication';
import type { GossipHandler, HintKeeper } from '@dkv/storage';

/**
 * The storage service's view of the node's elastic membership. The service is built before the
 * node listens, but the `ElasticMember` needs the node's address, known only once it listens
 * (`--port 0`): these hooks stand in until {@link attach}, answering GOSSIP with UNAVAILABLE and
 * refusing reads and scans (nothing can arrive before the listen anyway).
 */
export class ElasticHooks implements GossipHandler, HintKeeper {
  private member: ElasticMember | null = null;

  attach(member: ElasticMember): void {
    this.member = member;
  }

  handleGossip(state: GossipState): GossipState {
    if (this.member === null) throw new DkvError('UNAVAILABLE', 'the node is starting');
    return this.member.gossiper.handleGossip(state);
  }

  canRead(): boolean {
    return this.member?.storageHooks().canRead() ?? false;
  }

  canScan(): boolean {
    return this.member?.storageHooks().canScan() ?? false;
  }

  /** Keeps a sloppy-quorum write for another replica (HINT); refused while the node is starting. */
  keep(key: string, record: VersionedValue, targetNodeId: string): boolean {
    return this.member?.storageHooks().hints.keep(key, record, targetNodeId) ?? false;
  }

  /** The member, once attached: its gossiper, range sync and admin entry points. */
  current(): ElasticMember | null {
    return this.member;
  }
}
