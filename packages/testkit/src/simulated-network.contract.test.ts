// Goal: the SimulatedNetwork's clients keep the NodeClient contract that every adapter keeps.
// Method: the shared suite, against three MapStorageHandler nodes on a seeded simulated network.
//
// The suite awaits real promises and never drives virtual time itself, so this harness's client
// wraps `network.clientFor('client')` and hands each send to `scheduler.settle`, which runs
// simulated events until that send settles. Concurrent sends are fine: settle calls are
// serialized, and the first one drives the events of all of them. The slow node answers after
// 5 s of virtual time, so its 300 ms timeout fires after 300 virtual ms and little real time.
import type { NodeClient } from '@dkv/core';
import { contractNode, describeNodeClientContract, MapStorageHandler, type NodeClientHarness } from './node-client.contract.js';
import { seedFromEnv } from './seed.js';
import { SeededRng } from './seeded-rng.js';
import { SimulatedNetwork } from './simulated-network.js';
import { SimulatedScheduler } from './simulated-scheduler.js';

const SLOW_NODE_LATENCY_MS = { min: 5_000, max: 5_000 };

async function simulatedHarness(): Promise<NodeClientHarness> {
  // The contract's cases do not depend on which delays are drawn, so any seed will do; DKV_SEED
  // still pins it for a replay.
  const seed = seedFromEnv();
  const scheduler = new SimulatedScheduler({ seed });
  const network = new SimulatedNetwork({ scheduler, rng: new SeededRng(seed).fork('network'), latencyMs: { min: 1, max: 20 } });
  const nodes = ['n1', 'n2', 'n3'].map((id) => contractNode(id, `${id}.sim:7000`));
  for (const node of nodes) network.register(node.id, new MapStorageHandler(node.id));
  const slowNode = contractNode('slow', 'slow.sim:7000');
  network.register(slowNode.id, new MapStorageHandler(slowNode.id));
  network.setLatency(slowNode.id, SLOW_NODE_LATENCY_MS);

  const inner = network.clientFor('client');
  const client: NodeClient = {
    send: (target, request, options) => scheduler.settle(inner.send(target, request, options)),
    close: () => inner.close(),
  };
  return {
    client,
    nodes,
    deadNode: contractNode('dead', 'dead.sim:7000'),
    slowNode,
    teardown: () => client.close(),
  };
}

describeNodeClientContract('SimulatedNetwork', simulatedHarness);
