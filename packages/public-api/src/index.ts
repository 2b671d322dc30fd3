/**
 * `@dkv/public-api`: the public HTTP API of API.md, served by the stateless coordinator and by any
 * storage node that coordinates. `registerPublicApi` adds it to a Fastify app of its own,
 * `publicApiPlugin` to an app that serves other routes too, `buildPublicApp` is a whole app with
 * `/metrics`, `registerPublicApiMetrics` / `createPublicApiMetrics` its Prometheus metrics, and
 * `clusterAdminApi` its membership changes over a `ClusterAdmin`. With authentication on,
 * `accessHook` checks each route's declared role (`requires`). `registerDashboard` (also added by
 * the `dashboard` option) serves the web dashboard at `/ui`.
 */
export { accessHook, AUTH_REALM, requires, type RouteAccess } from './access.js';
export { clusterAdminApi, clusterOperationsApi } from './cluster-admin-api.js';
export {
  ADMIN_ROUTE_CONFIG,
  ADMIN_ROUTES,
  type ClusterAdminApi,
  type ClusterNodeChange,
  type ClusterOperationsApi,
  ENDPOINTS_PREFIX,
  KV_PREFIX,
  type KvOperation,
  type PublicApiOptions,
  publicApiPlugin,
  type PublicApiService,
  registerPublicApi,
  SCAN_DEFAULT_COUNT,
  SCAN_MAX_COUNT,
} from './public-api.js';
export {
  type CoordinatorMetricsSource,
  createPublicApiMetrics,
  type ObserveKvRequest,
  type PublicApiMetrics,
  registerPortBoundMetrics,
  registerPublicApiMetrics,
  counterFrom,
  createProcessRegistry,
  gaugeFrom,
} from './public-api-metrics.js';
export { buildPublicApp, PUBLIC_API_MAX_PARAM_LENGTH, type PublicAppDeps, publicServerOptions } from './public-app.js';
export {
  DASHBOARD_PATH,
  DEFAULT_DASHBOARD_OPTIONS,
  OVERVIEW_PATH,
  registerDashboard,
  ringArcs,
  type ClusterOverview,
  type DashboardOptions,
  type DashboardRecorder,
  type OverviewNode,
  type RingArc,
} from './dashboard.js';
export { MembershipEventLog, type MembershipEvent } from './membership-events.js';
export { RequestWindow, type OperationSummary, type RequestSummary } from './request-window.js';
