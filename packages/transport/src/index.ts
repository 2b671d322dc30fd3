/**
 * `@dkv/transport`: the adapters of the `NodeClient` port and the replica side of the internode
 * HTTP protocol. `InMemoryNodeClient` runs a cluster in one process, `HttpNodeClient` and
 * `registerInternalRoutes` carry MessagePack frames between processes, and `RetryingNodeClient`
 * adds bounded retries to either. Every adapter passes `describeNodeClientContract` (testkit).
 */
export * from './codec.js';
export * from './handler.js';
export * from './in-memory-node-client.js';
export * from './internal-routes.js';
export * from './http-node-client.js';
export * from './retrying-node-client.js';
