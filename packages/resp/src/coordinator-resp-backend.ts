import { DkvError } from '@dkv/core';
import type { RespBackend, RespScanPage, RespStoredValue } from './resp-backend.js';

/**
 * What {@link CoordinatorRespBackend} needs of a coordinator: the shape of `CoordinatorService`
 * (@dkv/coordination), written out so that this adapter depends on no more of it than it uses.
 * `scanKeys` is the cluster-wide key scan; without it SCAN and KEYS answer an error.
 */
export interface RespCoordinator {
  get(key: string): Promise<{ readonly value: Uint8Array; readonly version: number; readonly expiresAt: number | null } | null>;
  put(key: string, value: Uint8Array, ttlSeconds?: number, options?: { readonly expiresAt?: number }): Promise<unknown>;
  delete(key: string): Promise<unknown>;
  /** Each storage node's key count (replicas included): DBSIZE's estimate without a scan. */
  distribution(): Promise<readonly { readonly keys: number }[]>;
  scanKeys?(cursor: string | null, options: { match?: string; count: number }): Promise<{ keys: string[]; cursor: string | null }>;
  /** The live key estimate from the nodes' heartbeats (no request); without it DBSIZE asks {@link distribution}. */
  liveKeyCount?(): number;
}

/** The options of a write without expiry, shared: the coordinator only reads them. */
const NO_EXPIRY: { readonly expiresAt?: number } = Object.freeze({});

/**
 * The real {@link RespBackend}: the coordinator's quorum operations with the cluster's default
 * quorums (API.md: every Redis command runs with W and R of the cluster). Expiry passes as an
 * absolute time to the millisecond. DBSIZE is the coordinator's live key estimate, or else the sum
 * of the nodes' key counts divided by N (each key is on N replicas), an estimate as API.md allows.
 */
export class CoordinatorRespBackend implements RespBackend {
  /**
   * @param coordinator the coordinator, asked anew for each command (a coordinating node composes
   *   its coordinator after its ports are open)
   * @param n the replication factor, to turn replica key counts into a key count
   */
  constructor(
    private readonly coordinator: () => RespCoordinator,
    private readonly n: number,
  ) {}

  /**
   * The coordinator's answer as it is: it has every field of a stored value (and the key besides),
   * and passing it on costs no promise or object per GET.
   */
  get(key: string): Promise<RespStoredValue | null> {
    return this.coordinator().get(key);
  }

  /**
   * The coordinator's write as it is, without an async frame of its own (a promise and a
   * microtask hop per SET saved): the promise resolves to the coordinator's write result, which
   * a caller of `Promise<void>` does not read. No expiry passes one shared empty options object.
   */
  put(key: string, value: Uint8Array, expiresAt: number | null): Promise<void> {
    return this.coordinator().put(key, value, undefined, expiresAt === null ? NO_EXPIRY : { expiresAt }) as Promise<void>;
  }

  /** The coordinator's delete as it is (its result unread, as for {@link put}). */
  delete(key: string): Promise<void> {
    return this.coordinator().delete(key) as Promise<void>;
  }

  async scanKeys(cursor: string | null, options: { readonly match?: string; readonly count: number }): Promise<RespScanPage> {
    const coordinator = this.coordinator();
    if (coordinator.scanKeys === undefined)
      throw new DkvError('NOT_IMPLEMENTED', 'SCAN and KEYS need the cluster-wide key scan, which this build of dkv does not have yet');
    return coordinator.scanKeys(cursor, { ...(options.match !== undefined ? { match: options.match } : {}), count: options.count });
  }

  async liveKeyCount(): Promise<number> {
    const coordinator = this.coordinator();
    if (coordinator.liveKeyCount !== undefined) return coordinator.liveKeyCount();
    const nodes = await coordinator.distribution();
    const replicas = nodes.reduce((sum, node) => sum + node.keys, 0);
    return Math.round(replicas / Math.max(1, Math.min(this.n, nodes.length)));
  }
}
