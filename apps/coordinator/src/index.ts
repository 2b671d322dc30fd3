/**
 * `@dkv/coordinator`: the public HTTP API of dkv (API.md) in front of the coordination core.
 * `startCoordinator` runs one in-process, `runCoordinator` / `coordinatorMain` hold one in the
 * foreground of a process, `registerPublicApi` is the API alone over any `PublicApiService`, and
 * `COORDINATOR_SETTINGS` lists the configuration.
 */
export * from './config.js';
export * from './coordinator-app.js';
export * from './coordinator-metrics.js';
export * from './coordinator.composition.js';
export * from './membership-client.js';
export * from './public-api.js';
export * from './run-coordinator.js';
export * from './tokens.js';
