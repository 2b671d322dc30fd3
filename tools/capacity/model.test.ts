// Goal: the capacity model's arithmetic is the one docs/capacity.md states, and each flag moves
// the figures it names (and only those), for the coordinator topology and, when the HTTP result
// has it, for the coordinating-node topology beside it.
// Method: hand-made HTTP and memory results with round figures (results.test-support.ts); every
// expected number below is worked out by hand from the model's formulas, written beside it, not
// copied from the tool's output. Options come through the same argument parser as the command's.
import { describe, expect, it } from 'vitest';
import { parseCapacityArgs } from './cli.js';
import { capacityModel, DEFAULT_CAPACITY_OPTIONS, type CapacityModel } from './model.js';
import { parseHttpRun, parseMemoryRun } from './results.js';
import { coordinatorOnlyHttpResult, httpResult, legacyMemoryResult, memoryResult } from './results.test-support.js';

const GIB = 2 ** 30;

/** Equal up to floating-point rounding (relative 1e-9). */
function expectNear(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(Math.abs(expected) * 1e-9);
}

/** The model of the fixtures under the options of `flags` (as typed after the two file names). */
function model(flags: readonly string[] = [], memory: unknown = memoryResult(), http: unknown = httpResult()): CapacityModel {
  const { options } = parseCapacityArgs(['http.json', 'memory.json', ...flags]);
  return capacityModel(parseHttpRun(http, 'http.json'), parseMemoryRun(memory, 'memory.json'), options);
}

/** The coordinating-node plan of `m`, which the fixture's result has. */
function nodesOf(m: CapacityModel): NonNullable<CapacityModel['coordinatingNodes']> {
  if (!m.coordinatingNodes) throw new Error('expected a plan for coordinating nodes');
  return m.coordinatingNodes;
}

describe('capacity model at the default target (1M reads/s, 200k writes/s, 50M sessions, 50% CPU, 70% memory, 16-core 64 GiB machines)', () => {
  const m = model();

  it('takes the options the command documents as defaults', () => {
    expect(m.options).toEqual({
      readsPerSecond: 1_000_000,
      writesPerSecond: 200_000,
      sessions: 50_000_000,
      utilisation: 0.5,
      machineCores: 16,
      machineMemoryGiB: 64,
      memoryFill: 0.7,
    });
    expect(m.options).toEqual(DEFAULT_CAPACITY_OPTIONS);
  });

  it("divides each process group's closed-loop cores by the requests it answered", () => {
    expectNear(m.cpu.get.coordinatorSeconds, 100.2e-6); // 0.1002 cores / 1000 req/s
    expectNear(m.cpu.get.nodesSeconds, 50.1e-6); // 0.0501 / 1000
    expectNear(m.cpu.get.totalSeconds, 150.3e-6); // 0.1503 / 1000
    expectNear(m.cpu.put.coordinatorSeconds, 120e-6); // 0.06 / 500
    expectNear(m.cpu.put.nodesSeconds, 40e-6); // 0.02 / 500
    expectNear(m.cpu.put.totalSeconds, 160e-6); // 0.08 / 500
    expectNear(m.cpu.baselineGet.totalSeconds, 20.05e-6); // 0.0401 / 2000
    expectNear(m.cpu.baselinePut.totalSeconds, 30e-6); // 0.03 / 1000
  });

  it('plans cores at 50% utilisation and one process per core, never fewer storage nodes than replicas', () => {
    expectNear(m.cores.coordinators, 248.4); // (1e6 x 100.2 µs + 2e5 x 120 µs) / 0.5 = (100.2 + 24) / 0.5
    expectNear(m.cores.nodes, 116.2); // (1e6 x 50.1 µs + 2e5 x 40 µs) / 0.5 = (50.1 + 8) / 0.5
    expectNear(m.cores.baseline, 52.1); // (1e6 x 20.05 µs + 2e5 x 30 µs) / 0.5 = (20.05 + 6) / 0.5
    expect(m.processes).toEqual({ coordinators: 249, nodes: 117, total: 366 });
  });

  it('plans memory for the default (compact) engine at the larger of its in-process and real-node bytes per key', () => {
    expect(m.memory.engine.engine).toBe('compact');
    expect(m.memory.node?.engine).toBe('compact');
    expectNear(m.memory.engineBytesPerKey, 2400); // 2,400,000 rss bytes / 1000 keys
    expect(m.memory.bytesPerReplica).toBe(2500); // max(2400, the node's 2500)
    expectNear(m.memory.payloadBytesPerKey, 2062); // 2,062,000 / 1000
    expectNear(m.memory.clusterBytes, 375e9 / 0.7); // 50M sessions x 3 replicas x 2500 B / 0.7 fill
    expect(m.memory.clusterBytes / GIB).toBeCloseTo(498.92, 2); // 535,714,285,714 B / 1,073,741,824 B
    expectNear(m.memory.atTargetBytes, 355.695e9 / 0.7); // 50M x 3 x 2062 B x 1.15 / 0.7
  });

  it("splits loopback bytes into the client share (the baseline's) and internode (the rest), in bits per second", () => {
    expect(m.bytes).toEqual({ clientGet: 2500, clientPut: 2600, internodeGet: 6500, internodePut: 6900 });
    expectNear(m.network.clientBitsPerSecond, 24.16e9); // (1e6 x 2500 + 2e5 x 2600) x 8
    expectNear(m.network.internodeBitsPerSecond, 63.04e9); // (1e6 x 6500 + 2e5 x 6900) x 8
  });

  it('needs the most machines of CPU, memory and the three replicas', () => {
    // CPU: 366 processes / 16 cores = 22.9; memory: 498.9 GiB / 64 GiB = 7.8.
    expect(m.machines).toEqual({ forCpu: 23, forMemory: 8, total: 23 });
  });

  it('reads the open-loop latency of dkv, not of the baseline or the other topology', () => {
    expect(m.openLoop?.get.latency.p99Ms).toBe(12.34);
    expect(m.openLoop?.get.targetRate).toBe(500);
    expect(m.openLoop?.put.targetRate).toBe(250);
    expect(m.foreignCoresMax).toBeCloseTo(0.1, 12);
  });
});

describe('capacity model options', () => {
  it('--sessions scales memory alone', () => {
    const m = model(['--sessions', '1000000']);
    expectNear(m.memory.clusterBytes, 7.5e9 / 0.7); // 1M x 3 x 2500 B / 0.7 = 10.7 GB, under one 64 GiB machine
    expect(m.machines).toEqual({ forCpu: 23, forMemory: 1, total: 23 });
    expect(m.processes.total).toBe(366);
  });

  it('--machine-cores changes the machines needed for CPU', () => {
    expect(model(['--machine-cores', '32']).machines).toEqual({ forCpu: 12, forMemory: 8, total: 12 }); // 366 / 32 = 11.4
    expect(model(['--machine-cores=8']).machines).toEqual({ forCpu: 46, forMemory: 8, total: 46 }); // 366 / 8 = 45.75
  });

  it('--machine-memory-gib changes the machines needed for memory, and can make memory the bound', () => {
    // 535,714,285,714 B / (8 x 1,073,741,824 B) = 62.4
    expect(model(['--machine-memory-gib', '8']).machines).toEqual({ forCpu: 23, forMemory: 63, total: 63 });
  });

  it('--memory-fill changes the headroom left in each node', () => {
    const m = model(['--memory-fill', '1']);
    expectNear(m.memory.clusterBytes, 375e9); // 50M x 3 x 2500 B, no headroom
    expect(m.machines.forMemory).toBe(6); // 375e9 / 68,719,476,736 = 5.46
  });

  it('--utilisation changes the cores planned (half the utilisation, twice the cores)', () => {
    const m = model(['--utilisation', '0.25']);
    expectNear(m.cores.coordinators, 496.8); // 124.2 / 0.25
    expectNear(m.cores.nodes, 232.4); // 58.1 / 0.25
    expect(m.processes).toEqual({ coordinators: 497, nodes: 233, total: 730 });
    expect(m.machines.forCpu).toBe(46); // 730 / 16 = 45.6
  });

  it('--reads and --writes set the load; a tiny one still gets 3 storage nodes on 3 machines', () => {
    const m = model(['--reads', '1000', '--writes', '0', '--sessions', '1000']);
    expectNear(m.cores.coordinators, 0.2004); // 1000 x 100.2 µs / 0.5
    expectNear(m.network.clientBitsPerSecond, 20e6); // 1000 x 2500 B x 8
    expect(m.processes).toEqual({ coordinators: 1, nodes: 3, total: 4 });
    expect(m.machines).toEqual({ forCpu: 1, forMemory: 1, total: 3 });
  });

  it('with --writes only, CPU and bytes come from PUTs alone', () => {
    const m = model(['--reads', '0', '--writes', '10000']);
    expectNear(m.cores.coordinators, 2.4); // 10,000 x 120 µs / 0.5
    expectNear(m.cores.nodes, 0.8); // 10,000 x 40 µs / 0.5
    expectNear(m.network.internodeBitsPerSecond, 552e6); // 10,000 x 6900 B x 8
  });
});

describe('capacity model memory inputs', () => {
  it('does not plan with a real node of another engine than the one planned for', () => {
    const memory = memoryResult();
    memory.nodes = memory.nodes.filter((n) => n.engine !== 'compact'); // only the map node was run
    const m = model([], memory);
    expect(m.memory.engine.engine).toBe('compact');
    expect(m.memory.node).toBeNull();
    expectNear(m.memory.bytesPerReplica, 2400); // the compact engine's own bytes, not the map node's 3100
  });

  it('reads older results: unnamed engines (the first with own values) and their single node', () => {
    const m = model([], legacyMemoryResult());
    expect(m.memory.engine.alloc).toBe('own');
    expectNear(m.memory.engineBytesPerKey, 2800);
    expect(m.memory.node?.bytesPerKey).toBe(2900);
    expect(m.memory.bytesPerReplica).toBe(2900); // max(2800, 2900)
  });
});

describe('capacity model of coordinating nodes (target dkv-nodes), beside the coordinator topology', () => {
  const m = model();
  const nodes = nodesOf(m);

  it('plans them only when the HTTP result has the target, and leaves the coordinator topology as it was', () => {
    const without = model([], memoryResult(), coordinatorOnlyHttpResult());
    expect(without.coordinatingNodes).toBeNull();
    const { coordinatingNodes: _plan, ...coordinatorTopology } = m;
    const { coordinatingNodes: _none, ...coordinatorTopologyAlone } = without;
    expect(coordinatorTopology).toEqual(coordinatorTopologyAlone);
  });

  it('takes CPU per request from the nodes, with the idle cluster-up parent in the total only, and no coordinator', () => {
    expect(nodes.cpu.get.coordinatorSeconds).toBe(0);
    expectNear(nodes.cpu.get.nodesSeconds, 80e-6); // 0.16 cores / 2000 req/s
    expectNear(nodes.cpu.get.totalSeconds, 81e-6); // (0.16 + 0.002) / 2000
    expect(nodes.cpu.put.coordinatorSeconds).toBe(0);
    expectNear(nodes.cpu.put.nodesSeconds, 150e-6); // 0.15 / 1000
    expectNear(nodes.cpu.put.totalSeconds, 151e-6); // (0.15 + 0.001) / 1000
  });

  it('plans cores at 50% utilisation, one process kind, one process per core', () => {
    expectNear(nodes.cores, 220); // (1e6 x 80 µs + 2e5 x 150 µs) / 0.5 = (80 + 30) / 0.5
    expect(nodes.processes).toBe(220);
  });

  it('spreads the same N copies of the sessions over all its processes', () => {
    expectNear(nodes.bytesPerProcess, 375e9 / 0.7 / 220); // 50M x 3 x 2500 B / 0.7 fill, over 220 processes
    expect(nodes.bytesPerProcess / GIB).toBeCloseTo(2.268, 3); // 498.92 GiB / 220
  });

  it("counts the client bytes (the baseline's) and the internode bytes measured, with no coordinator hop", () => {
    expect(nodes.bytes).toEqual({ internodeGet: 4300, internodePut: 4400 }); // 6800 - 2500, 7000 - 2600
    expectNear(nodes.network.clientBitsPerSecond, 24.16e9); // (1e6 x 2500 + 2e5 x 2600) x 8, as for coordinators
    expectNear(nodes.network.internodeBitsPerSecond, 41.44e9); // (1e6 x 4300 + 2e5 x 4400) x 8
  });

  it('needs the most machines of CPU, memory and the three replicas: fewer than the coordinator topology here', () => {
    // CPU: 220 processes / 16 cores = 13.75; memory: 498.9 GiB / 64 GiB = 7.8, as for coordinators.
    expect(nodes.machines).toEqual({ forCpu: 14, forMemory: 8, total: 14 });
    expect(m.machines.total).toBe(23);
  });

  it('reads its own open-loop latency', () => {
    expect(nodes.openLoop.get.latency.p99Ms).toBe(30);
    expect(nodes.openLoop.put.latency.p99Ms).toBe(15);
    expect(nodes.openLoop.get.targetRate).toBe(1000); // half of its 2000 req/s peak
  });

  it('follows the flags as the coordinator topology does', () => {
    const slow = nodesOf(model(['--utilisation', '0.25']));
    expectNear(slow.cores, 440); // 110 / 0.25
    expect(slow.machines).toEqual({ forCpu: 28, forMemory: 8, total: 28 }); // 440 / 16 = 27.5

    const small = nodesOf(model(['--machine-memory-gib', '8']));
    expect(small.machines).toEqual({ forCpu: 14, forMemory: 63, total: 63 }); // memory bound, as for coordinators

    const tiny = nodesOf(model(['--reads', '1000', '--writes', '0', '--sessions', '1000']));
    expectNear(tiny.cores, 0.16); // 1000 x 80 µs / 0.5
    expect(tiny.processes).toBe(3); // never fewer than the replicas
    expectNear(tiny.bytesPerProcess, (1000 * 3 * 2500) / 0.7 / 3);
    expect(tiny.machines).toEqual({ forCpu: 1, forMemory: 1, total: 3 });
  });
});
