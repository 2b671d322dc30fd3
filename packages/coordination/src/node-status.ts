import type { NodeStatus } from '@dkv/core';
import type { Liveness } from '@dkv/membership';

/**
 * The status `/v1/cluster` (and so `dkv status` and the dashboard) shows for a storage node, from
 * three opinions: the membership document's lifecycle status (`joining`, `up` or `leaving`), the
 * gossip failure detector's liveness (absent in a process that is not gossip-fed), and this
 * coordinator's own heartbeats (`up`, `suspect` after a missed or not-ready answer, `down` after
 * `failureThreshold` misses or a refused connection).
 *
 * Precedence, highest first; every pair of states is ordered by it:
 *
 * 1. `down`, from either source. Heartbeats are what decide whether requests go to the node, and
 *    gossip's `down` means nobody has heard from it for `downAfterMs`; either one is evidence the
 *    process is gone. Down outranks suspect because gossip's suspicion only says "silent for a
 *    while", and a node this coordinator has already given up on is not merely suspected: before
 *    this rule a killed node stayed `suspect` for as long as gossip lagged heartbeats.
 * 2. `suspect`, from gossip, or from heartbeats when the process has no gossip. A gossip-fed
 *    process ignores the heartbeats' suspect: it also means "answered but not ready" (a joining
 *    node still streaming), which gossip already covers without false alarms.
 * 3. `leaving` and `joining`, from the document. Liveness outranks lifecycle: a node that dies
 *    while it joins or leaves shows `down` (the operator must `removenode` it), not a data move
 *    that will never finish. A node is never both joining and leaving: the document holds one.
 * 4. `up`.
 */
export function displayedStatus(documentStatus: NodeStatus, gossip: Liveness | undefined, heartbeat: NodeStatus): NodeStatus {
  if (gossip === 'down' || heartbeat === 'down') return 'down';
  if (gossip === 'suspect' || (gossip === undefined && heartbeat === 'suspect')) return 'suspect';
  return documentStatus;
}
