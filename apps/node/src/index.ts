/**
 * `@dkv/node`: a dkv storage node. `startNode` runs one in-process (tests, the CLI); `runNode` and
 * `nodeMain` hold one in the foreground of a process; `NODE_SETTINGS` lists its configuration.
 */
export { MAX_JOIN_ADDRESSES, type MemberSpec, NODE_SETTINGS, type NodeConfig, parseNodeConfig, staticMembership } from './config.js';
export { buildNodeApp, MEMBERSHIP_PATH, type NodeAppDeps } from './node-app.js';
export { createNodeMetrics, type NodeMetrics } from './node-metrics.js';
export { nodeContainer, type RunningNode, startNode } from './node.composition.js';
export { EXIT_BAD_CONFIG, nodeMain, runNode } from './run-node.js';
export { NODE_TOKENS, type NodeLifecycle } from './tokens.js';
