import { NodeUnavailableError, type ResponseFor, type StorageRequest, type StorageResponse } from '@dkv/core';

/**
 * A {@link StorageRequestHandler} that may also answer later, through a promise. Every core
 * handler is one; the transport accepts the wider type so that a test harness can stand up a slow
 * or stalled node (a handler that waits) behind a real adapter without touching the port.
 */
export interface MaybeAsyncStorageRequestHandler {
  handle(request: StorageRequest): StorageResponse | Promise<StorageResponse>;
  /**
   * See `StorageRequestHandler.handleBorrowed`: a caller encodes a synchronous answer at once, and
   * a written value it passes may be a view of its frame, which the handler copies if it keeps
   * it. A handler may still answer some requests through a promise (a PUT that waits for its
   * fsync); only a synchronous answer may borrow the engine's bytes.
   */
  handleBorrowed?(request: StorageRequest): StorageResponse | Promise<StorageResponse>;
}

/**
 * Checks that a node answered the request it was asked: a response of another type means a
 * broken peer, and the port's `ResponseFor<R>` promise would otherwise be a lie the caller trusts.
 */
export function matchResponse<R extends StorageRequest>(nodeId: string, request: R, response: StorageResponse): ResponseFor<R> {
  if (response.type !== request.type) {
    throw new NodeUnavailableError(nodeId, 'remote', `answered a ${request.type} request with a ${response.type} response`);
  }
  return response as ResponseFor<R>;
}

/** A short, stack-free description of any thrown value, for error details that cross the wire. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
