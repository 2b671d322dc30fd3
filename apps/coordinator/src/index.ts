/**
 * `@dkv/coordinator`: the public HTTP API of dkv (API.md) in front of the coordination core.
 * `startCoordinator` runs one in-process, `runCoordinator` / `coordinatorMain` hold one in the
 * foreground of a process, and `COORDINATOR_SETTINGS` lists the configuration. The API itself
 * (`registerPublicApi` over any `PublicApiService`) lives in `@dkv/public-api`, shared with the
 * storage nodes that coordinate; it is re-exported here for importers of this package.
 */
export * from './config.js';
export * from './coordinator-app.js';
export * from './coordinator-metrics.js';
export * from './coordinator.composition.js';
export * from './membership-client.js';
export * from './run-coordinator.js';
export * from './tokens.js';
export * from '@dkv/public-api';
