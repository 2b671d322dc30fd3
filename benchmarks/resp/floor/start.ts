/**
 * Starting the floor's servers (server.ts), shared by the floor's throughput benchmark
 * (floor.ts), the latency benchmark (latency.ts), which runs the same floor targets at the
 * same paced rates as dkv, and the HTTP benchmark (benchmarks/http/bench.ts `--floor`), whose
 * floor targets put an HTTP front (benchmarks/http/floor-server.ts) before the same peers: a
 * figure of dkv's is only judged against what the least a Node.js implementation of the same
 * architecture does on the same machine in the same run.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PidGroup } from '../../lib/measure.js';
import { pinnedCommand, type ProcessRegistry, type Started } from '../../lib/processes.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SERVER = join(ROOT, 'benchmarks/resp/floor/server.ts');
/** The protocol clients speak to a floor target's front, and the script that serves it. */
export type FloorFace = 'resp' | 'http';
const FRONT_SERVER: Record<FloorFace, string> = { resp: SERVER, http: join(ROOT, 'benchmarks/http/floor-server.ts') };
/** How long a floor server may take to print its port. */
const START_MS = 20_000;

/** The floor's server topologies: a RESP server over a Map, a node and 2 peers, a coordinator and 3 nodes. */
export const FLOOR_TOPOLOGIES = ['map1', 'nodes3', 'coord3'] as const;
export type FloorTopology = (typeof FLOOR_TOPOLOGIES)[number];

/** A running floor target: the port its clients use, its processes grouped for CPU accounting. */
export interface RunningFloor {
  readonly port: number;
  readonly groups: PidGroup[];
  /** In the order to stop them: the front first (a peer stopped first makes the front exit on its own). */
  readonly procs: Started[];
}

/** Starts `<script> <mode> <args>` pinned to `cpus` and waits for its `port <n>` line. */
async function startFloorServer(
  registry: ProcessRegistry,
  cpus: string | null,
  name: string,
  mode: string,
  args: readonly string[],
  log: (line: string) => void,
  script = SERVER,
): Promise<{ port: number; proc: Started }> {
  const [command, argv] = pinnedCommand(cpus, process.execPath, ['--import', 'tsx', script, mode, ...args]);
  let proc: Started | undefined;
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} printed no port within ${START_MS / 1000} s`)), START_MS);
    proc = registry.start(name, command, argv, { cwd: ROOT, detached: true }, (stream, line) => {
      const match = /^port (\d+)$/.exec(line);
      if (stream === 'out' && match?.[1]) {
        clearTimeout(timer);
        resolvePort(Number(match[1]));
      } else log(`${name}: ${line}`);
    });
    void proc.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited during start-up`));
    });
  });
  return { port, proc: proc as Started };
}

/**
 * Starts one floor topology, its servers pinned to `cpus` (null: not pinned), its front speaking
 * `face` (`http`: nodes3 and coord3 only; the HTTP map1 is the HTTP benchmark's baseline).
 */
export async function startFloor(
  registry: ProcessRegistry,
  topology: FloorTopology,
  cpus: string | null,
  log: (line: string) => void,
  face: FloorFace = 'resp',
): Promise<RunningFloor> {
  if (face === 'http' && topology === 'map1') throw new Error('the HTTP floor has no map1: the HTTP baseline is that');
  if (topology === 'map1') {
    const { port, proc } = await startFloorServer(registry, cpus, 'map1', 'map1', [], log);
    return { port, groups: [{ name: 'server', pids: [proc.pid] }], procs: [proc] };
  }
  const peerCount = topology === 'nodes3' ? 2 : 3;
  const peers = await Promise.all(
    Array.from({ length: peerCount }, (_, i) => startFloorServer(registry, cpus, `${topology} peer ${i + 1}`, 'peer', [], log)),
  );
  const front = await startFloorServer(
    registry,
    cpus,
    topology,
    topology,
    peers.map((p) => String(p.port)),
    log,
    FRONT_SERVER[face],
  );
  return {
    port: front.port,
    groups: [
      { name: topology === 'nodes3' ? 'node' : 'coordinator', pids: [front.proc.pid] },
      { name: topology === 'nodes3' ? 'peers' : 'nodes', pids: peers.map((p) => p.proc.pid) },
    ],
    procs: [front.proc, ...peers.map((p) => p.proc)],
  };
}
