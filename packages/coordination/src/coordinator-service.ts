import {
  isLive,
  validateConsistency,
  validateKey,
  validateTtlSeconds,
  validateValueSize,
  type Clock,
  type DeleteOptions,
  type DeleteResult,
  type KVStore,
  type Membership,
  type MembershipView,
  type Node,
  type NodeClient,
  type NodeStatus,
  type ReadOptions,
  type ReadResult,
  type VersionedValue,
  type VersionMeta,
  type WriteOptions,
  type WriteResult,
} from '@dkv/core';
import { ConsistentHash } from '@dkv/hashing';
import type { NodeManager } from '@dkv/membership';
import type { QuorumManager } from '@dkv/quorum';
import { VersionGenerator } from '@dkv/quorum';
import type { ReplicationManager } from '@dkv/replication';
import type { CoordinatorConfig } from './config.js';

/** `GET /v1/cluster` (API.md). */
export interface ClusterInfo {
  readonly epoch: number;
  readonly replication: { readonly n: number; readonly w: number; readonly r: number };
  readonly nodes: ReadonlyArray<{ readonly id: string; readonly address: string; readonly status: NodeStatus; readonly vnodes: number }>;
}

/** One row of `GET /v1/cluster/distribution` (API.md). */
export interface DistributionEntry {
  readonly id: string;
  /** Fraction of the hash space the node owns as primary. */
  readonly ringShare: number;
  readonly keys: number;
  readonly bytes: number;
}

/** The counters a coordinator exposes as metrics. */
export interface CoordinatorMetrics {
  readonly readRepairs: number;
  readonly readRepairsDropped: number;
  readonly quorumFailures: { readonly read: number; readonly write: number };
  readonly replicationQueueDepth: number;
  readonly replicationDelivered: number;
  readonly replicationDropped: number;
}

const EMPTY = new Uint8Array(0);

/**
 * The seed's `CoordinatorService`: the use cases behind the public API. For each request it finds
 * the key's replicas on the ring (`ConsistentHash.getNodesForKey`), runs the quorum read or write
 * (`QuorumManager`) and hands the replicas that were not in the quorum to the `ReplicationManager`.
 *
 * Writes (and deletes, which write tombstones) first read the key's current version from a quorum
 * and issue a higher one through a hybrid logical clock, so a write is ordered after every write
 * acknowledged before it began, whichever coordinator took it and whatever the clocks say.
 */
export class CoordinatorService implements KVStore {
  private ring: ConsistentHash;
  private readonly versions: VersionGenerator;

  constructor(
    private readonly config: CoordinatorConfig,
    private readonly membership: MembershipView,
    private readonly nodeManager: NodeManager,
    private readonly quorum: QuorumManager,
    private readonly replication: ReplicationManager,
    private readonly nodeClient: NodeClient,
    private readonly clock: Clock,
  ) {
    this.versions = new VersionGenerator(clock);
    this.ring = ringOf(membership.current());
    membership.subscribe((next) => {
      this.ring = ringOf(next);
    });
  }

  /** Reads `key` with quorum `r` (default R). Missing, expired and deleted keys read as null. */
  async get(key: string, options: ReadOptions = {}): Promise<ReadResult | null> {
    validateKey(key);
    const r = options.r ?? this.config.r;
    validateConsistency('r', r, this.config.n);
    const { record } = await this.quorum.readWithQuorum(key, this.replicasOf(key), r);
    if (!record) return null;
    this.versions.observe(record.version);
    if (!isLive(record, this.clock.now())) return null;
    return { key, value: record.value, version: record.version, expiresAt: record.expiresAt };
  }

  /** Writes `value` under `key` with quorum `w` (default W); `ttlSeconds` makes it expire. */
  async put(key: string, value: Uint8Array, ttlSeconds?: number, options: WriteOptions = {}): Promise<WriteResult> {
    validateKey(key);
    validateValueSize(value.byteLength, this.config.maxValueBytes);
    if (ttlSeconds !== undefined) validateTtlSeconds(ttlSeconds);
    const w = options.w ?? this.config.w;
    validateConsistency('w', w, this.config.n);
    const record = await this.write(key, w, (now, previous) => ({
      value,
      createdAt: previous && isLive(previous, now) ? previous.createdAt : now,
      expiresAt: ttlSeconds === undefined ? null : now + ttlSeconds * 1000,
      tombstone: false,
    }));
    return { key, version: record.version, expiresAt: record.expiresAt };
  }

  /** Deletes `key` by writing a tombstone with quorum `w`; deleting a missing key succeeds too. */
  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    validateKey(key);
    const w = options.w ?? this.config.w;
    validateConsistency('w', w, this.config.n);
    const record = await this.write(key, w, (now) => ({ value: EMPTY, createdAt: now, expiresAt: null, tombstone: true }));
    return { key, version: record.version };
  }

  /** The cluster as this coordinator sees it: membership epoch, quorum settings, node health. */
  cluster(): ClusterInfo {
    return {
      epoch: this.membership.current().epoch,
      replication: { n: this.config.n, w: this.config.w, r: this.config.r },
      nodes: this.nodeManager.nodes().map((node) => ({ id: node.id, address: node.address, status: node.status, vnodes: node.vnodes })),
    };
  }

  /** Each storage node's ring share, with its key and byte counts asked fresh (last known if it does not answer). */
  async distribution(): Promise<DistributionEntry[]> {
    const shares = this.ring.ringShares();
    const nodes = this.nodeManager.nodes();
    return Promise.all(
      nodes.map(async (node) => {
        let keys = this.nodeManager.healthOf(node.id)?.keys ?? 0;
        let bytes = this.nodeManager.healthOf(node.id)?.bytes ?? 0;
        try {
          const answer = await this.nodeClient.send(node, { type: 'PING' }, { timeoutMs: this.config.requestTimeoutMs });
          keys = answer.keys;
          bytes = answer.bytes;
        } catch {
          // The node did not answer: report what the last heartbeat said.
        }
        return { id: node.id, ringShare: shares.get(node.id) ?? 0, keys, bytes };
      }),
    );
  }

  /** True when enough storage nodes are up to serve the default read and write quorums. */
  isReady(): boolean {
    return this.ring.size > 0 && this.nodeManager.availableCount() >= Math.max(this.config.r, this.config.w);
  }

  metrics(): CoordinatorMetrics {
    const q = this.quorum.stats;
    const rep = this.replication.stats;
    return {
      readRepairs: q.readRepairs,
      readRepairsDropped: q.readRepairsDropped,
      quorumFailures: { read: q.quorumFailures.read, write: q.quorumFailures.write + q.quorumFailures['version read'] },
      replicationQueueDepth: this.replication.queueDepth,
      replicationDelivered: rep.delivered,
      replicationDropped: rep.dropped,
    };
  }

  /** The key's N replicas in preference order. */
  replicasOf(key: string): Node[] {
    return this.ring.getNodesForKey(key, this.config.n);
  }

  /**
   * The write path shared by put and delete: read the current version from a quorum (as many
   * replicas as the write's own quorum, at most R), issue a higher version, write it to W
   * replicas, and leave the rest to the ReplicationManager.
   */
  private async write(
    key: string,
    w: number,
    build: (now: number, previous: VersionMeta | null) => Pick<VersionedValue, 'value' | 'createdAt' | 'expiresAt' | 'tombstone'>,
  ): Promise<VersionedValue> {
    const replicas = this.replicasOf(key);
    const previous = await this.quorum.readVersionWithQuorum(key, replicas, Math.min(w, this.config.r));
    const now = this.clock.now();
    const version = this.versions.next(previous?.version ?? 0);
    const record: VersionedValue = { ...build(now, previous), version, writerId: this.config.nodeId, updatedAt: now };
    const { stragglers } = await this.quorum.writeWithQuorum(key, record, replicas, w);
    this.replication.replicateAsync(key, record, stragglers);
    return record;
  }
}

function ringOf(membership: Membership): ConsistentHash {
  return new ConsistentHash(membership.nodes.filter((node) => node.role === 'storage'));
}
