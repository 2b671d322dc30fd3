/**
 * Test support for the fault-injection tests with real processes: concurrent SDK clients recorded
 * by the testkit's HistoryRecorder while a fault runs, the history judged by checkHistory, and the
 * one `faults: <name>: ...` line each scenario prints. Not part of the CLI's build.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KVStore } from '@dkv/core';
import {
  checkHistory,
  HistoryRecorder,
  performSessionOperation,
  recordingStore,
  SeededRng,
  SessionWorkload,
  type HistoryCheckResult,
  type HistoryOperation,
  type SessionMix,
} from '@dkv/testkit';

/** Keys each scenario's clients share: few, so that operations on one key overlap often. */
const KEYS = 20;
/** Reads 50%, writes 40% (none with a TTL: expiry is not what these faults test), deletes 10%. */
const SCENARIO_MIX: SessionMix = { get: 0.5, put: 0.4, ttlShare: 0 };
/** The most operations one scenario records (a 2-core machine does a few thousand a second). */
const MAX_OPERATIONS = 200_000;

/** How a scenario runs beyond its fault. */
export interface ScenarioOptions {
  /** How long the clients run at least, from the start; longer if the fault takes longer. Default 6000. */
  readonly durationMs?: number;
  /** How far the clocks that decide expiry may be from the recorder's (see CheckHistoryOptions). */
  readonly expiryToleranceMs: number;
  /**
   * When given, after the clients stop: wait until the cluster has healed, then read every key
   * once with R = `n` (every replica answers) and once with the default R, both recorded into the
   * history, so the checker judges the final state too.
   */
  readonly finalReads?: FinalReads;
}

/** What the final reads need to know to wait for a healed cluster. */
export interface FinalReads {
  /** The replication factor N: the R of the reads that must reach every replica. */
  readonly n: number;
  /** The coordinator's base URL, and how many storage nodes it must report up (and not rebalancing). */
  readonly url: string;
  readonly nodes: number;
  /** The test's poll with a deadline (`CliProcesses.waitFor` of e2e-support.ts). */
  readonly waitFor: <T>(what: string, probe: () => Promise<T | undefined>) => Promise<T>;
}

/** What a scenario found. */
export interface ScenarioResult {
  readonly verdict: HistoryCheckResult;
  readonly history: readonly HistoryOperation[];
  /** Operations that failed or whose outcome is unknown. */
  readonly failed: number;
  /** Keys whose final reads failed or disagreed (R = N against the default R), as `key: why`. */
  readonly disagreements: readonly string[];
}

/**
 * Runs one client per store, each a loop of the shared session workload (`SessionWorkload` of
 * `@dkv/testkit`: reads 50%, writes 40%, deletes 10%) over `<name>:0..19`, for `durationMs` while `fault` runs; then the final reads, if asked; judges the
 * history and prints `faults: <name>: <ops> ops, availability <x>%, anomalies <k>`.
 */
export async function runScenario(
  name: string,
  stores: readonly KVStore[],
  fault: () => Promise<void>,
  options: ScenarioOptions,
): Promise<ScenarioResult> {
  const recorder = new HistoryRecorder({ maxOperations: MAX_OPERATIONS });
  const startedAt = performance.now();
  const now = () => performance.now() - startedAt;
  let running = true;
  const workload = new SessionWorkload({ keys: KEYS, keyPrefix: name, mix: SCENARIO_MIX });
  const clients = stores.map(async (store, index) => {
    const recorded = recordingStore(store, recorder, `c${index}`, now);
    // A fixed seed per client: the same sequence of operations on every run.
    const rng = new SeededRng(index + 1);
    for (let op = 0; running; op += 1) {
      await performSessionOperation(recorded, workload.next(rng, index, op)).catch(() => undefined);
    }
  });
  try {
    await fault();
    const left = (options.durationMs ?? 6000) - now();
    if (left > 0) await sleep(left);
  } finally {
    running = false;
    await Promise.all(clients);
  }
  const disagreements = options.finalReads
    ? await finalReads(name, stores[0]!, recordingStore(stores[0]!, recorder, 'final', now), options.finalReads)
    : [];
  const history = recorder.history(now());
  const verdict = checkHistory(history, { expiryToleranceMs: options.expiryToleranceMs });
  const failed = history.filter((o) => o.outcome !== 'ok').length;
  console.log(
    `faults: ${name}: ${history.length} ops, availability ${((1 - failed / history.length) * 100).toFixed(2)}% (${failed} failed or indeterminate), anomalies ${verdict.anomalies.length}`,
  );
  return { verdict, history, failed, disagreements };
}

/**
 * Waits for the healed cluster, then reads every key with R = N and then with the default R
 * (recorded); returns the keys where either failed or the two differ.
 *
 * Two waits, because the coordinator has two opinions of a node: `/v1/cluster` reports gossip's
 * failure detector, while its requests skip the nodes its own heartbeats (PING) hold down. After
 * a heal the first can say "up" a heartbeat round before the second does (measured: about 100 to
 * 200 ms), and an R = N read in between fails at once with QUORUM_NOT_MET. So the second wait is
 * for every key to answer an R = N read (unrecorded: reads change no state the checker follows).
 */
async function finalReads(name: string, store: KVStore, recorded: KVStore, { n, url, nodes, waitFor }: FinalReads): Promise<string[]> {
  await waitFor(`${nodes} storage nodes up and the cluster not rebalancing`, () => allUp(url, nodes));
  await waitFor(`every key to answer a read with R = ${n}`, async () => {
    for (let i = 0; i < KEYS; i += 1) await store.get(`${name}:${i}`, { r: n });
    return true;
  });
  const disagreements: string[] = [];
  for (let i = 0; i < KEYS; i += 1) {
    const key = `${name}:${i}`;
    try {
      const all = await recorded.get(key, { r: n });
      const quorum = await recorded.get(key);
      const show = (read: typeof all) => (read === null ? 'not found' : `v${read.version} ${Buffer.from(read.value).toString('utf8')}`);
      if (show(all) !== show(quorum)) disagreements.push(`${key}: R=${n} read ${show(all)}, default R read ${show(quorum)}`);
    } catch (error) {
      disagreements.push(`${key}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return disagreements;
}

/** The cluster at `baseUrl` lists `count` storage nodes, all up, and is not rebalancing; else undefined (for waitFor). */
export async function allUp(baseUrl: string, count: number): Promise<true | undefined> {
  const res = await fetch(`${baseUrl}/v1/cluster`, { signal: AbortSignal.timeout(2000) });
  const view = (await res.json()) as { nodes: Array<{ status: string }>; rebalancing?: boolean };
  return view.nodes.length === count && view.nodes.every((n) => n.status === 'up') && !view.rebalancing ? true : undefined;
}
