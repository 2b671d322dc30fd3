// Goal: TcpNodeClient keeps the NodeClient port's promises like every other adapter. Method: run
// testkit's shared contract suite against TcpNodeClient and TcpStorageServers on 127.0.0.1 port 0
// (backed by testkit's map handler, and once by the real StorageService), and once wrapped in
// RetryingNodeClient; a fresh cluster per test, closed after it.
import { describeNodeClientContract } from '@dkv/testkit';
import { SystemClock, SystemRng, TimerScheduler } from '@dkv/runtime';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { RetryingNodeClient } from './retrying-node-client.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { startTcpCluster } from './test-support.js';

describeNodeClientContract('TcpNodeClient', async () => {
  const cluster = await startTcpCluster();
  const client = new TcpNodeClient();
  return {
    client,
    nodes: cluster.nodes,
    slowNode: cluster.slowNode,
    deadNode: cluster.deadNode,
    teardown: async () => {
      cluster.gate.release();
      await client.close();
      await cluster.close();
    },
  };
});

describeNodeClientContract('TcpNodeClient to StorageService replicas', async () => {
  const cluster = await startTcpCluster(3, (nodeId) => {
    const engine = new InMemoryStorageEngine({ clock: new SystemClock(), tombstoneGraceMs: 3_600_000 });
    return new StorageService({ nodeId, engine });
  });
  const client = new TcpNodeClient({ connectionsPerNode: 1 });
  return {
    client,
    nodes: cluster.nodes,
    slowNode: cluster.slowNode,
    deadNode: cluster.deadNode,
    teardown: async () => {
      await client.close();
      await cluster.close();
    },
  };
});

describeNodeClientContract('RetryingNodeClient over TcpNodeClient', async () => {
  const cluster = await startTcpCluster();
  const client = new RetryingNodeClient(
    new TcpNodeClient(),
    { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 50 },
    new TimerScheduler(),
    new SystemRng(),
  );
  return {
    client,
    nodes: cluster.nodes,
    slowNode: cluster.slowNode,
    deadNode: cluster.deadNode,
    teardown: async () => {
      cluster.gate.release();
      await client.close();
      await cluster.close();
    },
  };
});
