/**
 * The end-of-run check of anti-entropy: once faults stop and the cluster has had time to heal,
 * every replica of a key holds the same record. Histories cannot show this (a read quorum hides
 * a lagging replica), so a test reads the replicas' storage directly and hands it here.
 */
import type { Anomaly } from './history-checker.js';
import { valueToken } from './history-recorder.js';

/**
 * What one replica holds for one key. A `VersionedValue` from `@dkv/core` fits as it is; a test
 * reading replicas over the wire may give `value` as text.
 */
export interface ReplicaCopy {
  readonly version: number;
  readonly tombstone: boolean;
  /** Ignored for tombstones. */
  readonly value?: string | Uint8Array | null;
  /** The coordinator that issued the version; compared when given. */
  readonly writerId?: string;
  /** Epoch ms, or null; with `nowMs`, an expired copy counts as a tombstone at its version. */
  readonly expiresAt?: number | null;
}

/**
 * For each key, what each of its replicas (replica id to copy) holds; null or undefined when a
 * replica has nothing for the key. List the key's current preference list, N replicas.
 */
export type ReplicaStates = ReadonlyMap<string, ReadonlyMap<string, ReplicaCopy | null | undefined>>;

/** Options of {@link checkConvergence}. */
export interface ConvergenceOptions {
  /** The replication factor N: how many replicas each key must have. */
  readonly n: number;
  /**
   * When given, a copy whose `expiresAt` is at or before `nowMs` is compared as the tombstone it
   * is folded into (same version, same writer), since replicas fold expired values lazily.
   */
  readonly nowMs?: number;
  /** How many anomalies to return; the rest are only counted. Default 100. */
  readonly maxAnomalies?: number;
}

/** The verdict of {@link checkConvergence}. */
export interface ConvergenceResult {
  readonly valid: boolean;
  /** Up to `maxAnomalies` anomalies of kind `divergence`, in key order. */
  readonly anomalies: readonly Anomaly[];
  readonly truncated: boolean;
  readonly stats: { readonly keys: number; readonly divergentKeys: number; readonly underReplicatedKeys: number };
}

const DEFAULT_MAX_ANOMALIES = 100;

function fingerprint(copy: ReplicaCopy, nowMs: number | undefined): string {
  const expired = nowMs !== undefined && copy.expiresAt != null && copy.expiresAt <= nowMs;
  const body = copy.tombstone || expired ? 'tombstone' : JSON.stringify(valueToken(copy.value ?? ''));
  return `v${copy.version}${copy.writerId !== undefined ? ` by ${copy.writerId}` : ''} ${body}`;
}

/**
 * Reports each key whose replicas disagree (different version, writer, value, or tombstone
 * against value) or that has fewer than N copies (fewer than N replicas listed, or a listed
 * replica holding nothing). A key that no replica holds anything for is converged: absent
 * everywhere. The message lists what every replica holds.
 */
export function checkConvergence(replicaStates: ReplicaStates, options: ConvergenceOptions): ConvergenceResult {
  const { n, nowMs } = options;
  const maxAnomalies = options.maxAnomalies ?? DEFAULT_MAX_ANOMALIES;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${String(n)}`);
  let divergentKeys = 0;
  let underReplicatedKeys = 0;
  let problemKeys = 0;
  const anomalies: Anomaly[] = [];
  const keys = [...replicaStates.keys()].sort();
  for (const key of keys) {
    const replicas = [...replicaStates.get(key)!.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const held = replicas.map(([replica, copy]) => [replica, copy ? fingerprint(copy, nowMs) : null] as const);
    const distinct = new Set(held.flatMap(([, print]) => (print === null ? [] : [print])));
    if (distinct.size === 0) continue;
    const copies = held.filter(([, print]) => print !== null).length;
    const disagree = distinct.size > 1;
    const short = copies < n;
    if (!disagree && !short) continue;
    problemKeys += 1;
    if (disagree) divergentKeys += 1;
    if (short) underReplicatedKeys += 1;
    const listing = held.map(([replica, print]) => `${replica}: ${print ?? 'nothing'}`).join('; ');
    const problems = [
      disagree ? `its replicas disagree (${distinct.size} different records)` : '',
      short ? `it has ${copies} of N = ${n} copies` : '',
    ]
      .filter(Boolean)
      .join(' and ');
    if (anomalies.length < maxAnomalies) {
      anomalies.push({ kind: 'divergence', key, message: `divergence: key ${JSON.stringify(key)}: ${problems} (${listing})`, ops: [] });
    }
  }
  return {
    valid: problemKeys === 0,
    anomalies,
    truncated: problemKeys > anomalies.length,
    stats: { keys: keys.length, divergentKeys, underReplicatedKeys },
  };
}
