import type { Coordinator, CoordinatorConfig } from '@dkv/coordination';
import type { ClusterObserver } from '@dkv/coordination';
import { token, type Clock, type MembershipView, type NodeClient, type RangeScanStorageEngine, type Rng, type Scheduler } from '@dkv/core';
import type { Gossiper } from '@dkv/membership';
import type { ElasticMember, ElasticMemberOptions } from '@dkv/replication';
import type { WireStackSettings } from '@dkv/transport';
import type { CoordinatorGossipSettings } from './membership.composition.js';
import type { StorageSettings } from './storage.composition.js';

/**
 * The tokens of dkv's object graph, one per port or settings object, namespaced `dkv.*`. The
 * modules of this package bind the ports from the settings; each composition root (the apps,
 * `SimCluster`) binds the settings and its runtime ports (clock, scheduler, rng), and a test
 * rebinds one token to swap one adapter.
 */
export const TOKENS = {
  /** Wall clock, or a simulated one. */
  clock: token<Clock>('dkv.Clock'),
  /** Timers, or a simulated timeline. */
  scheduler: token<Scheduler>('dkv.Scheduler'),
  /** Randomness (jitter, gossip peers), or a seeded source. */
  rng: token<Rng>('dkv.Rng'),

  /** What the data client to the storage nodes is configured with. */
  wireSettings: token<WireStackSettings>('dkv.transport.WireSettings'),
  /** The wire adapter of the data client: TCP, HTTP, in-memory or simulated. The one binding to swap the transport. */
  wire: token<NodeClient>('dkv.transport.Wire'),
  /** The data client to the other processes: the wire adapter inside the circuit breaker and the retries (`createWireStack`). */
  remoteClient: token<NodeClient>('dkv.transport.RemoteClient'),
  /** What the coordinator sends through: the remote client, or (a coordinating node) its own replica in-process first. */
  nodeClient: token<NodeClient>('dkv.transport.NodeClient'),
  /** The control client (gossip, range sync, anti-entropy): its own connections, so control traffic never queues behind data. */
  controlClient: token<NodeClient>('dkv.transport.ControlClient'),

  /** Which engine a storage node keeps its records in, and how long it remembers tombstones. */
  storageSettings: token<StorageSettings>('dkv.storage.Settings'),
  /** The replica's storage engine: map, compact or durable. The one binding to swap the engine. */
  engine: token<RangeScanStorageEngine>('dkv.storage.Engine'),

  /** The membership a process routes by (a gossiper, or a static view). */
  membership: token<MembershipView>('dkv.membership.View'),
  /** Liveness and sync progress from gossip, for `/v1/cluster`. */
  observer: token<ClusterObserver>('dkv.membership.Observer'),
  /** How a process that is not a member (a stand-alone coordinator) gossips with the storage nodes. */
  gossipSettings: token<CoordinatorGossipSettings>('dkv.membership.GossipSettings'),
  /** The gossiper of a process that is not a member. */
  gossiper: token<Gossiper>('dkv.membership.Gossiper'),
  /** A storage node's part of the elastic cluster, less the ports the module binds. */
  memberOptions: token<MemberOptions>('dkv.membership.MemberOptions'),
  /** A storage node's membership, range sync, anti-entropy and hints. */
  member: token<ElasticMember>('dkv.membership.ElasticMember'),

  /** The coordination core's configuration, complete (parsed at the edge). */
  coordinatorConfig: token<CoordinatorConfig>('dkv.coordination.Config'),
  /** The coordinator: service, quorum, replication, node manager, repair. */
  coordinator: token<Coordinator>('dkv.coordination.Coordinator'),
} as const;

/** An {@link ElasticMember}'s options less the ports the membership module binds (engine, control client, clock, scheduler, rng). */
export type MemberOptions = Omit<ElasticMemberOptions, 'engine' | 'nodeClient' | 'clock' | 'scheduler' | 'rng'>;
