import { DEFAULT_MAX_VALUE_BYTES, DkvError, errorBody, HTTP_STATUS_BY_CODE } from '@dkv/core';
import type { FastifyError, FastifyInstance } from 'fastify';
import { decodeRequest, encodeResponse, FRAME_CONTENT_TYPE, FrameError } from './codec.js';
import type { MaybeAsyncStorageRequestHandler } from './handler.js';
import { FRAME_OVERHEAD_BYTES } from './wire-limits.js';

/** The route that carries internode storage requests: one MessagePack frame each way. */
export const INTERNAL_STORAGE_PATH = '/internal/v1/storage';

/**
 * The default limit of one internode frame: the default value limit (1 MiB) plus room for the
 * key and metadata, so any value the public API accepts also crosses between nodes.
 */
export const DEFAULT_FRAME_LIMIT_BYTES = DEFAULT_MAX_VALUE_BYTES + FRAME_OVERHEAD_BYTES;

/** Options of {@link registerInternalRoutes}. */
export interface InternalRoutesOptions {
  /** The largest request frame accepted; larger ones answer 413. Default {@link DEFAULT_FRAME_LIMIT_BYTES}. */
  readonly bodyLimitBytes?: number;
}

/**
 * Adds `POST /internal/v1/storage` to `app`: the body is an encoded `StorageRequest`
 * (content type `application/msgpack`), the answer an encoded `StorageResponse` from `handler`.
 *
 * The route lives in its own encapsulated plugin, so its MessagePack parser and error handler
 * leave the rest of the app (the public JSON API) untouched. Every failure answers with the JSON
 * body of API.md and no stack: a bad frame is 400 `INVALID_REQUEST` with the reason, another
 * content type 415, a frame over the limit 413, and a handler that throws 500 (or the status of
 * its `DkvError` code). Call it before `app.listen()` or `app.ready()`, like any plugin.
 */
export function registerInternalRoutes(
  app: FastifyInstance,
  handler: MaybeAsyncStorageRequestHandler,
  options: InternalRoutesOptions = {},
): void {
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_FRAME_LIMIT_BYTES;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1) {
    throw new RangeError(`bodyLimitBytes must be a positive whole number of bytes, got ${String(bodyLimit)}`);
  }
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(FRAME_CONTENT_TYPE, { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
      done(null, body);
    });
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) {
        const code = status === 413 ? 'VALUE_TOO_LARGE' : 'INVALID_REQUEST';
        return reply.code(status).send({ error: { code, message: error.message } });
      }
      request.log.error({ err: error }, 'internal storage handler failed');
      const httpStatus = error instanceof DkvError ? HTTP_STATUS_BY_CODE[error.code] : 500;
      return reply.code(httpStatus).send(errorBody(error));
    });
    scope.post(INTERNAL_STORAGE_PATH, { bodyLimit }, async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      let storageRequest;
      try {
        storageRequest = decodeRequest(body);
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        return reply.code(400).send({ error: { code: 'INVALID_REQUEST', message: error.message } });
      }
      const response = await handler.handle(storageRequest);
      return reply.code(200).header('content-type', FRAME_CONTENT_TYPE).send(encodeResponse(response));
    });
  });
}
