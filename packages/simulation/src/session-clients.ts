import type { KVStore } from '@dkv/core';
import { performSessionOperation, SessionWorkload, type ReplicaCopy, type SeededRng } from '@dkv/testkit';
import type { SimCluster } from './sim-cluster.js';

/** The shape of one simulated client's run. */
export interface SessionClientRun {
  /** Operations the client issues, one at a time. */
  readonly ops: number;
  /** Keys `session:0` .. `session:<keys - 1>`, picked at random. */
  readonly keys: number;
}

/**
 * One client of the history simulations: `ops` operations of the shared session workload
 * (`SessionWorkload` of `@dkv/testkit`, its default mix: 50% GET, 38% PUT of which a fifth with a
 * one-hour TTL, 12% DELETE) through `store`, each awaited (failures included: the recorder keeps
 * them) and followed by a random pause of up to 15 virtual ms.
 */
export async function runSessionClient(
  sim: SimCluster,
  store: KVStore,
  rng: SeededRng,
  index: number,
  run: SessionClientRun,
): Promise<void> {
  const sleep = (ms: number) => new Promise<void>((resolve) => sim.scheduler.after(ms, resolve));
  const workload = new SessionWorkload({ keys: run.keys });
  for (let op = 0; op < run.ops; op += 1) {
    await performSessionOperation(store, workload.next(rng, index, op)).catch(() => undefined);
    await sleep(rng.int(15));
  }
}

/** What each of its N owners holds of `session:0` .. `session:<keys - 1>`, for `checkConvergence`. */
export function sessionReplicas(sim: SimCluster, keys: number): Map<string, Map<string, ReplicaCopy | null>> {
  const replicas = new Map<string, Map<string, ReplicaCopy | null>>();
  for (const key of new SessionWorkload({ keys }).keys()) {
    replicas.set(key, new Map(sim.preferenceList(key).map((id) => [id, sim.storageNode(id).engine.get(key)])));
  }
  return replicas;
}
