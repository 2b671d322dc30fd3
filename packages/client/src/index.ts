/**
 * `@dkv/client`: the TypeScript SDK of dkv's public HTTP API (API.md, "Client SDK").
 */
export {
  type ClusterInfo,
  type ClusterNodeInfo,
  type DistributionEntry,
  KVStoreClient,
  KVStoreClientError,
  type KVStoreClientOptions,
  type KVStoreClientTlsOptions,
  type RetryOptions,
  type ScanOptions,
  type ScanPage,
} from './kv-store-client.js';
