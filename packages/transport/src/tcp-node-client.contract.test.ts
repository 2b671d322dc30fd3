// Goal: TcpNodeClient keeps the NodeClient port's promises like every other adapter. Method: run
// testkit's shared contract suite against TcpNodeClient and TcpStorageServers on 127.0.0.1 port 0
// (backed by testkit's map handler, and once by the real StorageService), and once wrapped in
// RetryingNodeClient; a fresh cluster per test, closed after it.
import { describeNodeClientContract } from '@dkv/testkit';
import { SystemRng, TimerScheduler } from '@dkv/runtime';
import { RetryingNodeClient } from './retrying-node-client.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { contractHarness, startTcpCluster, storageServiceHandler } from './test-support.js';

describeNodeClientContract('TcpNodeClient', async () => contractHarness(await startTcpCluster(), new TcpNodeClient()));

describeNodeClientContract('TcpNodeClient to StorageService replicas', async () =>
  contractHarness(await startTcpCluster(3, storageServiceHandler), new TcpNodeClient({ connectionsPerNode: 1 })),
);

describeNodeClientContract('RetryingNodeClient over TcpNodeClient', async () =>
  contractHarness(
    await startTcpCluster(),
    new RetryingNodeClient(new TcpNodeClient(), { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 50 }, new TimerScheduler(), new SystemRng()),
  ),
);
