/**
 * Microbenchmark of the coordination core alone: CPU per GET and per PUT spent in
 * CoordinatorService + QuorumManager + ReplicationManager + the replicas' StorageService, with a
 * direct in-process NodeClient (no wire, no timers), so that what remains is dkv's own logic.
 * The baseline in the same run is a Map get/set behind an async function (what a bare server's
 * handler does with its store).
 *
 * Run: [DKV_ENGINE=map|compact] [DKV_READ_FANOUT=all|quorum] npx tsx --conditions=development benchmarks/coordinator/core.ts
 */
import type { Node, NodeClient, ResponseFor, StorageRequest } from '@dkv/core';
import { createCoordinator, DEFAULT_COORDINATOR_CONFIG } from '@dkv/coordination';
import { StaticMembershipView } from '@dkv/membership';
import { SystemClock, SystemRng, TimerScheduler } from '@dkv/runtime';
import { CompactStorageEngine, InMemoryStorageEngine, StorageService } from '@dkv/storage';

const KEYS = 10_000;
const VALUE = Buffer.alloc(2048, 7);
const ROUNDS = Number(process.env.BENCH_OPS ?? 200_000);
const CONCURRENCY = 64;

class DirectNodeClient implements NodeClient {
  constructor(private readonly services: Map<string, StorageService>) {}
  send<R extends StorageRequest>(target: Node, request: R): Promise<ResponseFor<R>> {
    try {
      return Promise.resolve(this.services.get(target.id)!.handle(request) as ResponseFor<R>);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  async close(): Promise<void> {}
}

async function main(): Promise<void> {
  const clock = new SystemClock();
  const nodes: Node[] = ['n1', 'n2', 'n3'].map((id) => ({
    id,
    address: `${id}:1`,
    role: 'storage',
    status: 'up',
    vnodes: 1024,
    metadata: {},
  }));
  const engine = () =>
    process.env.DKV_ENGINE === 'map'
      ? new InMemoryStorageEngine({ clock, tombstoneGraceMs: 60_000 })
      : new CompactStorageEngine({ clock, tombstoneGraceMs: 60_000 });
  const services = new Map(nodes.map((n) => [n.id, new StorageService({ nodeId: n.id, engine: engine(), clock })]));
  const readFanout = (process.env.DKV_READ_FANOUT ?? 'all') as 'all' | 'quorum';
  const coordinator = createCoordinator({
    config: { ...DEFAULT_COORDINATOR_CONFIG, readFanout, ...(process.env.PREFER ? { localReplicaId: 'n1' } : {}) },
    membership: new StaticMembershipView({ epoch: 1, nodes }),
    nodeClient: new DirectNodeClient(services),
    clock,
    scheduler: new TimerScheduler(),
    rng: new SystemRng(),
  });
  const service = coordinator.service;
  for (let i = 0; i < KEYS; i += 1) await service.put(`session:${i}`, VALUE);
  const baseline = new Map<string, Uint8Array>();
  for (let i = 0; i < KEYS; i += 1) baseline.set(`session:${i}`, VALUE);

  const run = async (name: string, op: (i: number) => Promise<unknown>): Promise<number> => {
    let next = 0;
    const worker = async () => {
      while (next < ROUNDS) {
        const i = next++;
        await op(i);
      }
    };
    const started = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const cpu = process.cpuUsage(started);
    const usPerOp = (cpu.user + cpu.system) / ROUNDS;
    console.log(`${name.padEnd(12)} ${usPerOp.toFixed(2)} µs CPU/op, ${(ROUNDS / ((performance.now() - t0) / 1000)).toFixed(0)} ops/s`);
    return usPerOp;
  };
  for (let pass = 0; pass < 2; pass += 1) {
    await run('map get', async (i) => baseline.get(`session:${i % KEYS}`));
    await run('map set', async (i) => baseline.set(`session:${i % KEYS}`, VALUE));
    await run('dkv get', (i) => service.get(`session:${i % KEYS}`));
    await run('dkv put', (i) => service.put(`session:${i % KEYS}`, VALUE, 3600));
  }
  coordinator.stop();
}

void main();
