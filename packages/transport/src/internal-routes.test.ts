// Goal: the internal route answers frames with frames, and every bad input with the JSON error
// body of API.md and the right status, never a crash or a stack; the rest of the app is left
// alone. Method: Fastify's inject (no socket) against a map-backed handler and failing handlers.
import { DkvError, type StorageRequest } from '@dkv/core';
import { MapStorageHandler } from '@dkv/testkit';
import Fastify from 'fastify';
import { pack } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeResponse, encodeRequest, FRAME_CONTENT_TYPE } from './codec.js';
import type { MaybeAsyncStorageRequestHandler } from './handler.js';
import { INTERNAL_STORAGE_PATH, registerInternalRoutes } from './internal-routes.js';

const apps: Array<ReturnType<typeof Fastify>> = [];

async function appWith(handler: MaybeAsyncStorageRequestHandler, bodyLimitBytes?: number) {
  const app = Fastify({ logger: false });
  apps.push(app);
  registerInternalRoutes(app, handler, bodyLimitBytes === undefined ? {} : { bodyLimitBytes });
  app.post('/public/json', async (request) => ({ echoed: request.body }));
  await app.ready();
  return app;
}

function post(app: Awaited<ReturnType<typeof appWith>>, payload: Buffer | string, contentType = FRAME_CONTENT_TYPE) {
  return app.inject({ method: 'POST', url: INTERNAL_STORAGE_PATH, headers: { 'content-type': contentType }, payload });
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('registerInternalRoutes', () => {
  it('answers a request frame with a response frame', async () => {
    const app = await appWith(new MapStorageHandler('n1'));
    const reply = await post(app, encodeRequest({ type: 'PING' }));
    expect(reply.statusCode).toBe(200);
    expect(reply.headers['content-type']).toBe(FRAME_CONTENT_TYPE);
    expect(decodeResponse(reply.rawPayload)).toEqual({ type: 'PING', nodeId: 'n1', ready: true, keys: 0, bytes: 0 });
  });

  it.each([
    ['garbage', Buffer.from([0xc1, 0x00]), /invalid (request )?frame/],
    ['an empty body', Buffer.alloc(0), /it is empty/],
    ['a bad key', pack({ type: 'GET', key: '' }), /key: key must be 1 to 512 bytes of UTF-8/],
  ])('answers %s with 400 INVALID_REQUEST and the reason', async (_name, payload, message) => {
    const app = await appWith(new MapStorageHandler('n1'));
    const reply = await post(app, payload);
    expect(reply.statusCode).toBe(400);
    const body = reply.json<{ error: { code: string; message: string } }>();
    expect(body.error.code).toBe('INVALID_REQUEST');
    expect(body.error.message).toMatch(message);
  });

  it('answers another content type with 415 and a frame over the limit with 413', async () => {
    const app = await appWith(new MapStorageHandler('n1'), 1024);
    const json = await post(app, '{"type":"PING"}', 'application/json');
    expect(json.statusCode).toBe(415);
    expect(json.json()).toMatchObject({ error: { code: 'INVALID_REQUEST' } });
    const big: StorageRequest = {
      type: 'PUT',
      key: 'k',
      record: { value: new Uint8Array(2048), version: 1, writerId: 'c', createdAt: 0, updatedAt: 0, expiresAt: null, tombstone: false },
    };
    const tooLarge = await post(app, encodeRequest(big));
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json()).toMatchObject({ error: { code: 'VALUE_TOO_LARGE' } });
  });

  it('answers a failing handler with 500 INTERNAL and no stack, or the status of its DkvError', async () => {
    const crashing = await appWith({
      handle: () => {
        throw new Error('disk on fire at /secret/path');
      },
    });
    const crash = await post(crashing, encodeRequest({ type: 'PING' }));
    expect(crash.statusCode).toBe(500);
    expect(crash.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    const refusing = await appWith({ handle: async () => Promise.reject(new DkvError('INVALID_KEY', 'no such keys here')) });
    const refused = await post(refusing, encodeRequest({ type: 'GET', key: 'k' }));
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({ error: { code: 'INVALID_KEY', message: 'no such keys here' } });
  });

  it('leaves the JSON parsing of the rest of the app alone', async () => {
    const app = await appWith(new MapStorageHandler('n1'));
    const reply = await app.inject({ method: 'POST', url: '/public/json', payload: { a: 1 } });
    expect(reply.statusCode).toBe(200);
    expect(reply.json()).toEqual({ echoed: { a: 1 } });
  });

  it('refuses a nonsense body limit at registration', () => {
    expect(() => registerInternalRoutes(Fastify(), new MapStorageHandler('n1'), { bodyLimitBytes: 0 })).toThrow(/bodyLimitBytes/);
  });
});
