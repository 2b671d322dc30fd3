// Goal: TcpNodeClient keeps the NodeClient port's promises like every other adapter. Method: run
// testkit's shared contract suite against TcpNodeClient and TcpStorageServers on 127.0.0.1 port 0
// (backed by testkit's map handler, and once by the real StorageService), and once wrapped in
// RetryingNodeClient; a fresh cluster per test, closed after it. The same suite runs through
// `sendTo` (the callback form the quorum uses) of TcpNodeClient and of the whole wire stack
// (circuit breaker, retries with a clock, TCP): its answers, failures, timeouts and close, with
// every reply called once and never before `sendTo` returned.
import { describeNodeClientContract } from '@dkv/testkit';
import { SystemClock, SystemRng, TimerScheduler } from '@dkv/runtime';
import { RetryingNodeClient } from './retrying-node-client.js';
import { TcpNodeClient } from './tcp-node-client.js';
import { contractHarness, startTcpCluster, storageServiceHandler, throughSendTo } from './test-support.js';
import { createWireStack } from './wire-stack.js';

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

describeNodeClientContract('TcpNodeClient through sendTo', async () =>
  contractHarness(await startTcpCluster(), throughSendTo(new TcpNodeClient())),
);

describeNodeClientContract('the wire stack over TcpNodeClient through sendTo', async () =>
  contractHarness(
    await startTcpCluster(),
    throughSendTo(
      createWireStack(
        new TcpNodeClient(),
        { nodeRetry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 50 }, circuitBreaker: { failureThreshold: 1000, openMs: 1000 } },
        { clock: new SystemClock(), scheduler: new TimerScheduler(), rng: new SystemRng() },
      ),
    ),
  ),
);
