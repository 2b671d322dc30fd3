/**
 * `@dkv/node`: a dkv storage node. `startNode` runs one in-process (tests, the CLI); `runNode` and
 * `nodeMain` hold one in the foreground of a process; `NODE_SETTINGS` lists its configuration.
 */
export * from './config.js';
export * from './node-app.js';
export * from './node-metrics.js';
export * from './node.composition.js';
export * from './run-node.js';
export * from './tokens.js';
