/**
 * `@dkv/session-store`: sessions of express-session and @fastify/session kept in dkv, over a
 * KVStoreClient that fails over between the cluster's coordinating nodes.
 */
export {
  DkvSessionStore,
  escapeGlob,
  type DkvSessionStoreOptions,
  type SessionCallback,
  type SessionSerializer,
  type VersionedSession,
} from './dkv-session-store.js';
