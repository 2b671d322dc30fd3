/**
 * `@dkv/transport`: the adapters of the `NodeClient` port and the replica side of the internode
 * protocols. `InMemoryNodeClient` runs a cluster in one process; `TcpNodeClient` and
 * `TcpStorageServer` carry binary frames over `node:net` (the fast path between processes);
 * `HttpNodeClient` and `registerInternalRoutes` carry MessagePack frames over HTTP; and
 * `RetryingNodeClient` adds bounded retries to any of them; `LocalFirstNodeClient` answers a
 * storage node's requests to itself in-process and hands the rest to another. Every adapter passes
 * `describeNodeClientContract` (testkit).
 */
export * from './codec.js';
export * from './handler.js';
export * from './in-memory-node-client.js';
export * from './internal-routes.js';
export * from './http-node-client.js';
export * from './retrying-node-client.js';
export * from './tcp-frame.js';
export * from './tcp-codec.js';
export * from './tcp-storage-server.js';
export * from './tcp-node-client.js';
export * from './multiplexed-port.js';
export * from './circuit-breaking-node-client.js';
export * from './local-first-node-client.js';
export * from './port-bounds.js';
export * from './internode-auth.js';
export * from './tcp-handshake.js';
export * from './http-port-bounds.js';
export { CONTROL_CLIENT_BOUNDS, CONTROL_FRAME_BYTES, FRAME_OVERHEAD_BYTES, TCP_CONNECTIONS_PER_NODE_MAX } from './wire-limits.js';
export { createControlClient, createWireClient, createWireStack, type WireStackPorts, type WireStackSettings, type WireTransport } from './wire-stack.js';
