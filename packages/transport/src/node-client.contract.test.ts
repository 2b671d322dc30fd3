// Goal: every NodeClient adapter of this package keeps the port's promises. Method: run testkit's
// shared contract suite against InMemoryNodeClient, HttpNodeClient over real Fastify servers on
// 127.0.0.1 port 0 (backed by testkit's map handler, and once by the real StorageService), and
// RetryingNodeClient wrapping HttpNodeClient; a fresh harness per test.
import { contractNode, describeNodeClientContract, MapStorageHandler } from '@dkv/testkit';
import { SystemRng, TimerScheduler } from '@dkv/runtime';
import { HttpNodeClient } from './http-node-client.js';
import { InMemoryNodeClient } from './in-memory-node-client.js';
import { RetryingNodeClient } from './retrying-node-client.js';
import { contractHarness, Gate, startHttpCluster, storageServiceHandler } from './test-support.js';

describeNodeClientContract('InMemoryNodeClient', async () => {
  const client = new InMemoryNodeClient();
  const nodes = ['node-1', 'node-2', 'node-3'].map((id) => contractNode(id, `${id}.memory:1`));
  for (const node of nodes) client.register(node.id, new MapStorageHandler(node.id));
  const gate = new Gate();
  const slowNode = contractNode('slow', 'slow.memory:1');
  client.register(slowNode.id, gate.handlerFor(new MapStorageHandler(slowNode.id)));
  return {
    client,
    nodes,
    slowNode,
    deadNode: contractNode('dead', 'dead.memory:1'),
    teardown: async () => {
      gate.release();
      await client.close();
    },
  };
});

describeNodeClientContract('HttpNodeClient', async () => contractHarness(await startHttpCluster(), new HttpNodeClient()));

describeNodeClientContract('HttpNodeClient to StorageService replicas', async () =>
  contractHarness(await startHttpCluster(3, storageServiceHandler), new HttpNodeClient()),
);

describeNodeClientContract('RetryingNodeClient over HttpNodeClient', async () =>
  contractHarness(
    await startHttpCluster(),
    new RetryingNodeClient(new HttpNodeClient(), { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 50 }, new TimerScheduler(), new SystemRng()),
  ),
);
