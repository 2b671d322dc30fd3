/**
 * `@dkv/client`: the TypeScript SDK of dkv's public HTTP API (API.md, "Client SDK").
 */
export * from './kv-store-client.js';
