import type { VersionedValue } from './versioned-value.js';

/**
 * A replication that has not been delivered yet: one version of one key owed to one replica.
 * The ReplicationManager keeps at most one task per (target, key), the newest version, since a
 * newer version supersedes an older one on arrival anyway.
 */
export interface ReplicationTask {
  readonly id: string;
  readonly key: string;
  readonly record: VersionedValue;
  readonly targetNodeId: string;
  /** Epoch ms when the task was queued; a task older than the configured age is dropped. */
  readonly createdAt: number;
  /** How many sends have been tried so far. */
  attempts: number;
  /** Epoch ms before which the task is not tried again (exponential backoff). */
  nextAttemptAt: number;
  lastError: string | null;
}
