/**
 * Who may call which route of the public API when authentication is on (API.md, "Security").
 * Each route declares the least role it needs in its options (`config: { access }`); one
 * `onRequest` hook checks `Authorization: Basic` against an {@link Authenticator} before any body
 * is read. A route that declares nothing needs `admin`: a route added later without thought is
 * closed, not open.
 */
import { parseBasicAuthorization, roleAllows, type Authenticator, type Role } from '@dkv/auth';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';

/** The least role a route needs, or `open` for a route anyone may call (`/livez`, `/readyz`). */
export type RouteAccess = Role | 'open';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role this route needs when authentication is on (see {@link accessHook}); absent: `admin`. */
    access?: RouteAccess;
  }
}

/** The realm the `WWW-Authenticate` challenge names. */
export const AUTH_REALM = 'dkv';

/** Route options that declare `role` as the least role a route needs: `app.get(path, requires('read'), handler)`. */
export function requires(role: RouteAccess): { config: { access: RouteAccess } } {
  return { config: { access: role } };
}

/**
 * An `onRequest` hook that enforces each route's declared access against `auth`: without valid
 * credentials `401 UNAUTHENTICATED` with `WWW-Authenticate: Basic realm="dkv"`, with too small a
 * role `403 FORBIDDEN`. A request that matches no route needs any valid user (so the 404 it gets
 * tells nothing to a stranger). Add it to a scope (all its routes) or to one route's `onRequest`.
 */
export function accessHook(auth: Authenticator): onRequestHookHandler {
  return (request, reply, done) => {
    const matched = request.routeOptions.url !== undefined;
    const declared = request.routeOptions.config?.access;
    if (matched && declared === 'open') return done();
    const needed: Role = !matched ? 'read' : declared === undefined || declared === 'open' ? 'admin' : declared;
    const credentials = parseBasicAuthorization(request.headers.authorization);
    if (credentials === null) {
      deny(
        reply,
        401,
        'UNAUTHENTICATED',
        'authentication required: send "Authorization: Basic <base64 user:password>" with a user of the auth file',
      );
      return;
    }
    const principal = auth.authenticate(credentials.username, credentials.password);
    if (principal === null) {
      deny(reply, 401, 'UNAUTHENTICATED', 'invalid username-password pair');
      return;
    }
    if (!roleAllows(principal.role, needed)) {
      deny(
        reply,
        403,
        'FORBIDDEN',
        `user "${principal.name}" has role ${principal.role}; ${request.method} ${routeName(request)} needs ${needed}`,
      );
      return;
    }
    done();
  };
}

function deny(reply: FastifyReply, status: 401 | 403, code: 'UNAUTHENTICATED' | 'FORBIDDEN', message: string): void {
  if (status === 401) void reply.header('www-authenticate', `Basic realm="${AUTH_REALM}"`);
  void reply.code(status).send({ error: { code, message } });
}

/** The route's pattern (`/v1/kv/*`), not the URL: a key in a path is data, kept out of messages. */
function routeName(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'this path';
}
