import {
  NodeUnavailableError,
  type Node,
  type NodeClient,
  type RequestOptions,
  type ResponseFor,
  type StorageRequest,
  type StorageResponse,
} from '@dkv/core';
import { describeError, matchResponse, type MaybeAsyncStorageRequestHandler } from './handler.js';

/**
 * A {@link NodeClient} that calls registered handlers directly, so a whole cluster can run in one
 * process without sockets (memberlist's MockTransport beside its NetTransport).
 *
 * It keeps the port's promises as a network would: answers always arrive asynchronously, an
 * unknown node is `unreachable`, a handler that throws is `remote`, and a handler that answers
 * through a promise later than `timeoutMs` is a `timeout`. Value bytes are copied both ways, as a
 * wire would, so a caller that reuses a buffer after sending cannot change what a replica holds.
 * Timers are real (`setTimeout`); deterministic virtual time is what `SimulatedNetwork` is for.
 */
export class InMemoryNodeClient implements NodeClient {
  private readonly handlers = new Map<string, MaybeAsyncStorageRequestHandler>();
  private closed = false;

  /** Makes `nodeId` reachable, answered by `handler`; registering again replaces the handler. */
  register(nodeId: string, handler: MaybeAsyncStorageRequestHandler): void {
    this.handlers.set(nodeId, handler);
  }

  /** Makes `nodeId` unreachable, as if its process had stopped. Requests already running finish. */
  unregister(nodeId: string): void {
    this.handlers.delete(nodeId);
  }

  /** Looks the handler up by `target.id` (addresses play no part in memory). */
  send<R extends StorageRequest>(target: Node, request: R, options: RequestOptions): Promise<ResponseFor<R>> {
    if (this.closed) return Promise.reject(new NodeUnavailableError(target.id, 'closed', 'the client is closed'));
    const handler = this.handlers.get(target.id);
    if (handler === undefined) {
      return Promise.reject(new NodeUnavailableError(target.id, 'unreachable', 'no handler is registered for this node'));
    }
    return new Promise<ResponseFor<R>>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          reject(new NodeUnavailableError(target.id, 'timeout', `no answer within ${options.timeoutMs} ms`));
        },
        Math.max(0, options.timeoutMs),
      );
      // The handler runs on a later microtask, never inside send(), so callers see the same
      // ordering as over a network and a throwing handler cannot throw out of send().
      Promise.resolve()
        .then(() => handler.handle(copyRequest(request)))
        .then(
          (response) => {
            clearTimeout(timer);
            try {
              resolve(matchResponse(target.id, request, copyResponse(response)));
            } catch (error) {
              reject(error);
            }
          },
          (error: unknown) => {
            clearTimeout(timer);
            reject(new NodeUnavailableError(target.id, 'remote', `the handler failed: ${describeError(error)}`));
          },
        );
    });
  }

  /** Makes later sends fail with kind `closed`; there are no connections to release. Idempotent. */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function copyRequest<R extends StorageRequest>(request: R): R {
  if (request.type !== 'PUT') return request;
  return { ...request, record: { ...request.record, value: new Uint8Array(request.record.value) } };
}

function copyResponse(response: StorageResponse): StorageResponse {
  if (response.type !== 'GET' || response.record === null) return response;
  return { ...response, record: { ...response.record, value: new Uint8Array(response.record.value) } };
}
