// Goal: `adminRequest`, the one function the admin commands send through, answers the JSON of a
// 2xx, turns an error answer into a `refused` failure carrying the API's code and message (exit 1),
// a closed port into `unreachable` (exit 3), and an answer that is not JSON into a clear refusal.
// Method: a small node:http server on a free 127.0.0.1 port, answering per path; a second free
// port with nothing listening.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, AdminHttpError, EXIT_FAILED, EXIT_UNREACHABLE } from './admin-http.js';
import { freePort } from './e2e-support.js';

let server: Server;
let url = '';
const seen: Array<{ method: string; url: string; body: string; type: string | undefined }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body, type: req.headers['content-type'] });
      if (req.url === '/ok') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"a":1}');
      if (req.url === '/empty') return void res.writeHead(202).end();
      if (req.url === '/text') return void res.writeHead(200).end('<html>');
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":"NOT_FOUND","message":"node n9 is not in the cluster"}}');
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${port}/`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function failure(promise: Promise<unknown>): Promise<AdminHttpError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AdminHttpError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

describe('adminRequest', () => {
  it('answers the JSON of a success and sends a JSON body with its content type', async () => {
    expect(await adminRequest({ url, method: 'POST', path: '/ok', body: { node: 'n2' } })).toEqual({ a: 1 });
    expect(seen.at(-1)).toEqual({ method: 'POST', url: '/ok', body: '{"node":"n2"}', type: 'application/json' });
    expect(await adminRequest({ url, method: 'DELETE', path: '/empty' })).toBeNull();
  });

  it("turns an error answer into a refusal with the server's code and message (exit 1)", async () => {
    const error = await failure(adminRequest({ url, method: 'DELETE', path: '/v1/cluster/nodes/n9' }));
    expect(error.kind).toBe('refused');
    expect(error.exitCode).toBe(EXIT_FAILED);
    expect(error.status).toBe(404);
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe('DELETE /v1/cluster/nodes/n9 refused (404 NOT_FOUND): node n9 is not in the cluster');
  });

  it('says an answer that is not JSON does not come from a dkv coordinator', async () => {
    expect((await failure(adminRequest({ url, method: 'GET', path: '/text' }))).message).toContain('is not JSON (is');
  });

  it('reports a port nobody listens on, and a URL that is not one, as unreachable (exit 3)', async () => {
    const closed = await failure(adminRequest({ url: `http://127.0.0.1:${await freePort()}`, method: 'GET', path: '/v1/cluster' }));
    expect(closed.kind).toBe('unreachable');
    expect(closed.exitCode).toBe(EXIT_UNREACHABLE);
    expect(closed.message).toMatch(/^cannot reach the coordinator: .*ECONNREFUSED/);
    expect((await failure(adminRequest({ url: 'not a url', method: 'GET', path: '/v1/cluster' }))).message).toContain('is not a URL');
  });
});
