// Goal: the capacity model's Redis-door section scales the measured CPU per GET and SET (by process
// role) to the target load exactly as stated, compares it with the 50-core goal, and refuses a
// result that lacks the figures it needs with a message saying what to run.
// Method: hand-made result objects with round numbers, so every expected figure is computed here.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPACITY_OPTIONS } from './model.js';
import { parseRespFloorRun, parseRespRun, renderRespCapacity, renderRespFloor, respCapacity } from './resp.js';

function result(get: Record<string, number>, set: Record<string, number>) {
  return {
    rows: [
      { target: 'redis', test: 'GET', pipeline: 1, cpuUsPerRequest: { 'redis-server': 10 } },
      { target: 'redis', test: 'SET', pipeline: 1, cpuUsPerRequest: { 'redis-server': 15 } },
      { target: 'dkv N=3 W=2 R=2', test: 'GET', pipeline: 1, cpuUsPerRequest: get },
      { target: 'dkv N=3 W=2 R=2', test: 'SET', pipeline: 1, cpuUsPerRequest: set },
      { target: 'dkv N=3 W=2 R=2', test: 'GET', pipeline: 16, cpuUsPerRequest: { coordinator: 1, nodes: 1 } },
    ],
  };
}

describe('respCapacity', () => {
  it('scales CPU per request to 1M GETs + 200k SETs per second at 50% utilisation', () => {
    const run = parseRespRun(result({ coordinator: 50, nodes: 30 }, { coordinator: 60, nodes: 40 }), 'r.json');
    const plan = respCapacity(run, DEFAULT_CAPACITY_OPTIONS);
    // (1e6 x 50 µs + 2e5 x 60 µs) / 0.5 = 124 cores; (1e6 x 30 + 2e5 x 40) / 0.5 = 76.
    expect(plan.coordinatorCores).toBeCloseTo(124, 9);
    expect(plan.nodeCores).toBeCloseTo(76, 9);
    expect(plan.totalCores).toBeCloseTo(200, 9);
    expect(plan.machines).toBe(Math.ceil(200 / DEFAULT_CAPACITY_OPTIONS.machineCores));
    expect(plan.redisCores).toBeCloseTo((1e6 * 10 + 2e5 * 15) / 1e6 / 0.5, 9);
    const text = renderRespCapacity(run, plan, DEFAULT_CAPACITY_OPTIONS);
    expect(text).toContain('**200.0 cores in all**');
    expect(text).toContain('4.0x the goal of at most 50 cores');
  });

  it('plans the deployment topology (every node coordinates) beside it when the result measured it', () => {
    const json = result({ coordinator: 50, nodes: 30 }, { coordinator: 60, nodes: 40 });
    json.rows.push(
      { target: 'dkv N=3 W=2 R=2 every node coordinates', test: 'GET', pipeline: 1, cpuUsPerRequest: { nodes: 20 } },
      { target: 'dkv N=3 W=2 R=2 every node coordinates', test: 'SET', pipeline: 1, cpuUsPerRequest: { nodes: 50 } },
    );
    const run = parseRespRun(json, 'r.json');
    expect(run.coordinatingNodes).toEqual({ getUs: 20, setUs: 50 });
    const plan = respCapacity(run, DEFAULT_CAPACITY_OPTIONS);
    // (1e6 x 20 µs + 2e5 x 50 µs) / 0.5 = 60 cores.
    expect(plan.coordinatingNodes?.totalCores).toBeCloseTo(60, 9);
    const text = renderRespCapacity(run, plan, DEFAULT_CAPACITY_OPTIONS);
    expect(text).toContain('**60.0 cores in all**');
    expect(text).toContain('1.2x the goal of at most 50 cores');
    // Without those rows the section says nothing of that topology.
    const without = parseRespRun(result({ coordinator: 50, nodes: 30 }, { coordinator: 60, nodes: 40 }), 'r.json');
    expect(without.coordinatingNodes).toBeNull();
    expect(renderRespCapacity(without, respCapacity(without, DEFAULT_CAPACITY_OPTIONS), DEFAULT_CAPACITY_OPTIONS)).not.toContain(
      'every storage node coordinating',
    );
  });

  it('says when the goal is met', () => {
    const run = parseRespRun(result({ coordinator: 10, nodes: 5 }, { coordinator: 10, nodes: 10 }), 'r.json');
    const plan = respCapacity(run, DEFAULT_CAPACITY_OPTIONS);
    expect(plan.totalCores).toBeCloseTo(38, 9);
    expect(renderRespCapacity(run, plan, DEFAULT_CAPACITY_OPTIONS)).toContain('within the goal of at most 50 cores');
  });

  it('refuses a result without per-role CPU figures, saying what to run', () => {
    expect(() => parseRespRun({ rows: [{ target: 'dkv N=3 W=2 R=2', test: 'GET', pipeline: 1 }] }, 'old.json')).toThrow(
      /old\.json: no CPU per request .* GET -P 1 .*benchmarks\/resp\/bench\.ts/,
    );
    expect(() => parseRespRun({}, 'x.json')).toThrow(/not a Redis benchmark result/);
  });
});

function floorResult(nodes3: [number, number, number, number], coord3: [number, number, number, number]) {
  const [nodeGet, peersGet, nodeSet, peersSet] = nodes3;
  const [coordGet, nodesGet, coordSet, nodesSet] = coord3;
  return {
    rows: [
      { target: 'redis', test: 'GET', pipeline: 1, cpuUsPerRequest: { server: 10 } },
      { target: 'redis', test: 'SET', pipeline: 1, cpuUsPerRequest: { server: 15 } },
      { target: 'nodes3', test: 'GET', pipeline: 1, cpuUsPerRequest: { node: nodeGet, peers: peersGet } },
      { target: 'nodes3', test: 'SET', pipeline: 1, cpuUsPerRequest: { node: nodeSet, peers: peersSet } },
      { target: 'coord3', test: 'GET', pipeline: 1, cpuUsPerRequest: { coordinator: coordGet, nodes: nodesGet } },
      { target: 'coord3', test: 'SET', pipeline: 1, cpuUsPerRequest: { coordinator: coordSet, nodes: nodesSet } },
      { target: 'nodes3', test: 'GET', pipeline: 16, cpuUsPerRequest: { node: 1, peers: 1 } },
    ],
  };
}

describe('renderRespFloor', () => {
  it("plans the load with the floor's CPU per request (every process of a target) and says the goal is out of reach when even the floor misses it", () => {
    const floor = parseRespFloorRun(floorResult([20, 10, 30, 20], [25, 15, 30, 30]), 'f.json');
    expect(floor.nodes3).toEqual({ getUs: 30, setUs: 50 });
    expect(floor.coord3).toEqual({ getUs: 40, setUs: 60 });
    expect(floor.redis).toEqual({ getUs: 10, setUs: 15 });
    const text = renderRespFloor(floor, DEFAULT_CAPACITY_OPTIONS);
    // (1e6 x 30 µs + 2e5 x 50 µs) / 0.5 = 80 cores; (1e6 x 40 + 2e5 x 60) / 0.5 = 104; Redis (1e6 x 10 + 2e5 x 15) / 0.5 = 26.
    expect(text).toContain('| a coordinating node and 2 peers | 30.0 µs | 50.0 µs | 80.0 |');
    expect(text).toContain('| a coordinator and 3 nodes | 40.0 µs | 60.0 µs | 104.0 |');
    expect(text).toContain('| redis-server, one replica (scale) | 10.0 µs | 15.0 µs | 26.0 |');
    expect(text).toContain('Even the floor needs 1.6x the goal of at most 50 cores');
  });

  it('says the goal is reachable when the floor fits it', () => {
    const floor = parseRespFloorRun(floorResult([5, 5, 10, 10], [10, 10, 20, 20]), 'f.json');
    // (1e6 x 10 + 2e5 x 20) / 0.5 = 28 cores.
    expect(renderRespFloor(floor, DEFAULT_CAPACITY_OPTIONS)).toContain('The floor fits within the goal of at most 50 cores');
  });

  it('refuses a result without the floor targets, saying what to run', () => {
    expect(() => parseRespFloorRun({ rows: [] }, 'f.json')).toThrow(
      /no CPU per request of the floor's "nodes3" GET and SET at -P 1 \(run npm run bench:resp-floor/,
    );
    expect(() => parseRespFloorRun({}, 'f.json')).toThrow(/not a floor benchmark result/);
  });
});
