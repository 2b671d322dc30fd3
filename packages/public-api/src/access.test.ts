// Goal: with authentication on, every route of the public API answers each role as API.md's
// "Security" says: 401 UNAUTHENTICATED with a Basic challenge without valid credentials, 403
// FORBIDDEN for too small a role, the route's own answer otherwise; /livez and /readyz open; a
// route without a declared role needs admin. Method: fastify.inject against buildPublicApp (the
// coordinator's app) and publicApiPlugin (a node's) over a small in-memory service, one table
// row per route and role.
import { UserTable, type Role } from '@dkv/auth';
import type { ClusterInfo } from '@dkv/coordination';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { accessHook, requires } from './access.js';
import { publicApiPlugin, type ClusterAdminApi, type PublicApiService } from './public-api.js';
import { buildPublicApp, publicServerOptions } from './public-app.js';

const users = new UserTable({
  users: [
    { name: 'reader', password: 'read-pw', role: 'read' },
    { name: 'writer', password: 'write-pw', role: 'readwrite' },
    { name: 'root', password: 'admin-pw', role: 'admin' },
  ],
});
const PASSWORDS: Record<Role, [string, string]> = {
  read: ['reader', 'read-pw'],
  readwrite: ['writer', 'write-pw'],
  admin: ['root', 'admin-pw'],
};

function basic(name: string, password: string): string {
  return `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;
}

/** A store in a Map and a fixed cluster: enough for each route to give its success answer. */
function service(): PublicApiService {
  const data = new Map<string, Uint8Array>();
  const cluster: ClusterInfo = {
    epoch: 1,
    replication: { n: 1, w: 1, r: 1 },
    nodes: [{ id: 'n1', address: '127.0.0.1:7001', status: 'up', vnodes: 8 }],
  };
  return {
    get: async (key) => (data.has(key) ? { key, value: data.get(key) as Uint8Array, version: 1, expiresAt: null } : null),
    put: async (key, value) => {
      data.set(key, value);
      return { key, version: 1, expiresAt: null };
    },
    delete: async (key) => {
      data.delete(key);
      return { key, version: 2 };
    },
    scanKeys: async () => ({ keys: [...data.keys()], cursor: null }),
    cluster: () => cluster,
    distribution: async () => [{ id: 'n1', ringShare: 1, keys: data.size, bytes: 0 }],
    isReady: () => true,
  };
}

const change = { id: 'n2', address: '127.0.0.1:7002', status: 'joining', vnodes: 8, zone: 'default' };
const admin: ClusterAdminApi = { addNode: () => change, removeNode: () => change, setVnodes: () => change, setZone: () => change };

/** Each route, the least role it needs, and its success status. */
const ROUTES: Array<{
  method: 'GET' | 'HEAD' | 'PUT' | 'DELETE' | 'POST' | 'PATCH';
  url: string;
  body?: string;
  needs: Role | 'open';
  ok: number;
}> = [
  { method: 'HEAD', url: '/v1/cluster', needs: 'read', ok: 200 },
  { method: 'GET', url: '/livez', needs: 'open', ok: 200 },
  { method: 'GET', url: '/readyz', needs: 'open', ok: 200 },
  { method: 'GET', url: '/v1/kv/k', needs: 'read', ok: 404 },
  { method: 'GET', url: '/v1/kv', needs: 'read', ok: 200 },
  { method: 'GET', url: '/v1/cluster', needs: 'read', ok: 200 },
  { method: 'GET', url: '/v1/cluster/distribution', needs: 'read', ok: 200 },
  { method: 'GET', url: '/metrics', needs: 'read', ok: 200 },
  { method: 'PUT', url: '/v1/kv/k', body: 'v', needs: 'readwrite', ok: 200 },
  { method: 'DELETE', url: '/v1/kv/k', needs: 'readwrite', ok: 204 },
  { method: 'POST', url: '/v1/cluster/nodes', body: JSON.stringify({ id: 'n2', address: '127.0.0.1:7002' }), needs: 'admin', ok: 202 },
  { method: 'DELETE', url: '/v1/cluster/nodes/n2', needs: 'admin', ok: 202 },
  { method: 'PATCH', url: '/v1/cluster/nodes/n2', body: JSON.stringify({ vnodes: 16 }), needs: 'admin', ok: 202 },
];

const ORDER: Array<Role> = ['read', 'readwrite', 'admin'];

describe('the public API with authentication on', () => {
  let app: FastifyInstance | null = null;
  afterEach(async () => {
    await app?.close();
    app = null;
  });

  const coordinatorApp = (): FastifyInstance => buildPublicApp({ service: service(), n: 1, maxValueBytes: 1024, admin, auth: users });

  for (const route of ROUTES) {
    it(`${route.method} ${route.url} needs ${route.needs}`, async () => {
      app = coordinatorApp();
      const send = (authorization?: string) =>
        app!.inject({
          method: route.method,
          url: route.url,
          ...(route.body === undefined ? {} : { payload: route.body }),
          headers: authorization === undefined ? {} : { authorization },
        });

      const anonymous = await send();
      const wrong = await send(basic('root', 'not-the-password'));
      const unknown = await send(basic('nobody', 'admin-pw'));
      if (route.needs === 'open') {
        expect([anonymous.statusCode, wrong.statusCode]).toEqual([route.ok, route.ok]);
        return;
      }
      for (const denied of [anonymous, wrong, unknown]) {
        expect(denied.statusCode).toBe(401);
        expect(denied.headers['www-authenticate']).toBe('Basic realm="dkv"');
        if (route.method !== 'HEAD') expect(denied.json().error.code).toBe('UNAUTHENTICATED');
      }
      for (const role of ORDER) {
        const [name, password] = PASSWORDS[role];
        const answer = await send(basic(name, password));
        if (ORDER.indexOf(role) >= ORDER.indexOf(route.needs)) {
          expect(answer.statusCode, `${role} on ${route.method} ${route.url}`).toBe(route.ok);
        } else {
          expect(answer.statusCode, `${role} on ${route.method} ${route.url}`).toBe(403);
          if (route.method !== 'HEAD')
            expect(answer.json().error).toEqual({
              code: 'FORBIDDEN',
              message: expect.stringMatching(new RegExp(`user "${name}" has role ${role}; .* needs ${route.needs}`)),
            });
        }
      }
    });
  }

  it('refuses a PUT without credentials before reading its body (a value over the limit still gets 401)', async () => {
    app = coordinatorApp();
    const answer = await app.inject({ method: 'PUT', url: '/v1/kv/k', payload: 'x'.repeat(4096) });
    expect(answer.statusCode).toBe(401);
  });

  it('answers an unknown route 401 to a stranger and 404 to any user', async () => {
    app = coordinatorApp();
    expect((await app.inject({ method: 'GET', url: '/nope' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/nope', headers: { authorization: basic('reader', 'read-pw') } })).statusCode).toBe(
      404,
    );
  });

  it('serves every route without credentials when authentication is off', async () => {
    app = buildPublicApp({ service: service(), n: 1, maxValueBytes: 1024, admin });
    expect((await app.inject({ method: 'PUT', url: '/v1/kv/k', payload: 'v' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: '/v1/cluster/nodes/n2' })).statusCode).toBe(202);
  });

  it("guards the plugin's routes on a node and leaves the node's own routes to their own hooks; an undeclared route needs admin", async () => {
    app = Fastify(publicServerOptions());
    await app.register(publicApiPlugin(service(), { n: 1, maxValueBytes: 1024, admin, auth: users }));
    app.get('/internal/ping', async () => 'pong');
    app.get('/node-metrics', { ...requires('read'), onRequest: accessHook(users) }, async () => 'metrics');
    await app.register(async (scope) => {
      scope.addHook('onRequest', accessHook(users));
      scope.get('/undeclared', async () => 'admin only');
    });
    expect((await app.inject({ method: 'GET', url: '/v1/cluster' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/internal/ping' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/node-metrics' })).statusCode).toBe(401);
    expect(
      (await app.inject({ method: 'GET', url: '/node-metrics', headers: { authorization: basic('reader', 'read-pw') } })).statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: '/undeclared', headers: { authorization: basic('writer', 'write-pw') } })).statusCode,
    ).toBe(403);
    expect(
      (await app.inject({ method: 'GET', url: '/undeclared', headers: { authorization: basic('root', 'admin-pw') } })).statusCode,
    ).toBe(200);
  });
});
