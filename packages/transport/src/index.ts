/**
 * `@dkv/transport`: the adapters of the `NodeClient` port and the replica side of the internode
 * protocols. `InMemoryNodeClient` runs a cluster in one process; `TcpNodeClient` and
 * `TcpStorageServer` carry binary frames over `node:net` (the fast path between processes);
 * `HttpNodeClient` and `registerInternalRoutes` carry MessagePack frames over HTTP; and
 * `RetryingNodeClient` adds bounded retries to any of them; `LocalFirstNodeClient` answers a
 * storage node's requests to itself in-process and hands the rest to another. Every adapter passes
 * `describeNodeClientContract` (testkit).
 *
 * The frame layouts, the TCP codec and handshake and the proof helpers are internals: users within
 * the package import their files; `encodeRequest` and `FRAME_CONTENT_TYPE` stay public because a
 * test of the node's internal HTTP route builds its bodies with them.
 */
export { encodeRequest, FRAME_CONTENT_TYPE } from './codec.js';
export { type MaybeAsyncStorageRequestHandler } from './handler.js';
export { InMemoryNodeClient } from './in-memory-node-client.js';
export { DEFAULT_FRAME_LIMIT_BYTES, INTERNAL_STORAGE_PATH, type InternalRoutesOptions, registerInternalRoutes } from './internal-routes.js';
export { DEFAULT_HTTP_NODE_CLIENT_OPTIONS, HttpNodeClient, type HttpNodeClientOptions } from './http-node-client.js';
export { backoffDelayMs, MAX_RETRY_ATTEMPTS, RetryingNodeClient, type RetryOptions } from './retrying-node-client.js';
export {
  DEFAULT_TCP_STORAGE_SERVER_OPTIONS,
  TcpStorageServer,
  type TcpStorageServerOptions,
  type TcpStorageServerStats,
} from './tcp-storage-server.js';
export { DEFAULT_TCP_NODE_CLIENT_OPTIONS, TcpNodeClient, type TcpNodeClientOptions } from './tcp-node-client.js';
export {
  bindMultiplexed,
  type BoundMultiplexedPort,
  listenMultiplexed,
  type MultiplexedPort,
  type MultiplexedPortOptions,
  type MultiplexedPortTls,
  type MultiplexedTargets,
} from './multiplexed-port.js';
export { type CircuitBreakerOptions, CircuitBreakingNodeClient } from './circuit-breaking-node-client.js';
export { LocalFirstNodeClient } from './local-first-node-client.js';
export {
  checkPortBounds,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_PORT_BOUNDS,
  PORT_BOUND_EVENTS,
  PortBoundCounters,
  type PortBoundEvent,
  type PortBounds,
} from './port-bounds.js';
export { DEFAULT_HTTP_AUTH_SKEW_MS, INTERNODE_AUTH_HEADER, signInternalRequest, verifyInternalRequest } from './internode-auth.js';
export {
  applyHttpPortBounds,
  httpServerBoundsOptions,
  type InternodeAuthHookOptions,
  requireInternodeAuth,
  requireInternodeCertificate,
} from './http-port-bounds.js';
export { CONTROL_CLIENT_BOUNDS, CONTROL_FRAME_BYTES, FRAME_OVERHEAD_BYTES, TCP_CONNECTIONS_PER_NODE_MAX } from './wire-limits.js';
export {
  createControlClient,
  createWireClient,
  createWireStack,
  type WireStackPorts,
  type WireStackSettings,
  type WireTransport,
} from './wire-stack.js';
export { hasVerifiedPeerCertificate, internodeConnectOptions, type InternodeTls } from './internode-tls.js';
