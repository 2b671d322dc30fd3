import { buildPublicApp, type PublicAppDeps } from '@dkv/public-api';
import type { FastifyInstance } from 'fastify';

/** What the coordinator's HTTP app serves. */
export type CoordinatorAppDeps = PublicAppDeps;

/**
 * The coordinator's HTTP app: the public API of API.md and `/metrics` (`@dkv/public-api`, which
 * storage nodes that coordinate serve too). Requests are not logged one by one; every failure,
 * a malformed URL included, is answered with the API's error body.
 */
export function buildCoordinatorApp(deps: CoordinatorAppDeps): FastifyInstance {
  return buildPublicApp(deps);
}
