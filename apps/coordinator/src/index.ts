/**
 * `@dkv/coordinator`: the public HTTP API of dkv (API.md) in front of the coordination core.
 * `startCoordinator` runs one in-process, `runCoordinator` / `coordinatorMain` hold one in the
 * foreground of a process, and `COORDINATOR_SETTINGS` lists the configuration. The API itself
 * (`registerPublicApi` over any `PublicApiService`) lives in `@dkv/public-api`, shared with the
 * storage nodes that coordinate; it is re-exported here for importers of this package.
 */
export { COORDINATOR_SETTINGS, type CoordinatorAppConfig, parseCoordinatorConfig } from './config.js';
export { buildCoordinatorApp, type CoordinatorAppDeps } from './coordinator-app.js';
export { type CoordinatorAppMetrics, createCoordinatorMetrics } from './coordinator-metrics.js';
export { coordinatorContainer, type RunningCoordinator, startCoordinator } from './coordinator.composition.js';
export {
  DEFAULT_JOIN_BACKOFF,
  fetchMembership,
  joinCluster,
  type JoinOptions,
  MEMBERSHIP_PATH,
  MembershipRefresher,
} from './membership-client.js';
export { coordinatorMain, EXIT_BAD_CONFIG, runCoordinator } from './run-coordinator.js';
export { COORDINATOR_TOKENS } from './tokens.js';
export {
  accessHook,
  ADMIN_ROUTE_CONFIG,
  ADMIN_ROUTES,
  AUTH_REALM,
  buildPublicApp,
  clusterAdminApi,
  type ClusterAdminApi,
  type ClusterNodeChange,
  clusterOperationsApi,
  type ClusterOperationsApi,
  type ClusterOverview,
  type CoordinatorMetricsSource,
  counterFrom,
  createProcessRegistry,
  createPublicApiMetrics,
  DASHBOARD_PATH,
  type DashboardOptions,
  type DashboardRecorder,
  DEFAULT_DASHBOARD_OPTIONS,
  ENDPOINTS_PREFIX,
  gaugeFrom,
  KV_PREFIX,
  type KvOperation,
  type MembershipEvent,
  MembershipEventLog,
  type ObserveKvRequest,
  type OperationSummary,
  OVERVIEW_PATH,
  type OverviewNode,
  PUBLIC_API_MAX_PARAM_LENGTH,
  type PublicApiMetrics,
  type PublicApiOptions,
  publicApiPlugin,
  type PublicApiService,
  type PublicAppDeps,
  publicServerOptions,
  registerDashboard,
  registerPortBoundMetrics,
  registerPublicApi,
  registerPublicApiMetrics,
  type RequestSummary,
  RequestWindow,
  requires,
  type RingArc,
  ringArcs,
  type RouteAccess,
  SCAN_DEFAULT_COUNT,
  SCAN_MAX_COUNT,
} from '@dkv/public-api';
