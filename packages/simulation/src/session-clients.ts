import type { KVStore } from '@dkv/core';
import { type ReplicaCopy, type SeededRng } from '@dkv/testkit';
import type { SimCluster } from './sim-cluster.js';

/** The shape of one simulated client's run. */
export interface SessionClientRun {
  /** Operations the client issues, one at a time. */
  readonly ops: number;
  /** Keys `session:0` .. `session:<keys - 1>`, picked at random. */
  readonly keys: number;
}

/**
 * One client of the history simulations: `ops` operations on random session keys through `store`
 * (50% GET, 38% PUT of which a fifth with a one-hour TTL, 12% DELETE), each awaited (failures
 * included: the recorder keeps them) and followed by a random pause of up to 15 virtual ms.
 */
export async function runSessionClient(
  sim: SimCluster,
  store: KVStore,
  rng: SeededRng,
  index: number,
  run: SessionClientRun,
): Promise<void> {
  const sleep = (ms: number) => new Promise<void>((resolve) => sim.scheduler.after(ms, resolve));
  for (let op = 0; op < run.ops; op += 1) {
    const key = `session:${rng.int(run.keys)}`;
    const roll = rng.next();
    const call =
      roll < 0.5
        ? store.get(key)
        : roll < 0.88
          ? store.put(key, Buffer.from(`c${index}-${op}`), rng.chance(0.2) ? 3600 : undefined)
          : store.delete(key);
    await call.catch(() => undefined);
    await sleep(rng.int(15));
  }
}

/** What each of its N owners holds of `session:0` .. `session:<keys - 1>`, for `checkConvergence`. */
export function sessionReplicas(sim: SimCluster, keys: number): Map<string, Map<string, ReplicaCopy | null>> {
  const replicas = new Map<string, Map<string, ReplicaCopy | null>>();
  for (let k = 0; k < keys; k += 1) {
    const key = `session:${k}`;
    replicas.set(key, new Map(sim.preferenceList(key).map((id) => [id, sim.storageNode(id).engine.get(key)])));
  }
  return replicas;
}
