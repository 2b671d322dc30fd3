import {
  failSoon,
  NodeUnavailableError,
  sendTo,
  type Node,
  type NodeClient,
  type ReplyTo,
  type RequestOptions,
  type ResponseFor,
  type StorageRequest,
} from '@dkv/core';
import { describeError, matchResponse, type MaybeAsyncStorageRequestHandler } from './handler.js';

/**
 * A {@link NodeClient} for a storage node that also coordinates (Dynamo's "any node can
 * coordinate"): requests addressed to the node itself (`target.id === selfId`) are answered by
 * calling its own replica handler in-process, with no socket and no encoding; every other target
 * goes to `remote` (the wire stack: TCP, retries, circuit breaker). So a quorum read reads the
 * own replica in-process and one or two remote ones, and a write applies locally at memory speed.
 *
 * It keeps the port's promises for the local target as the wire would: the answer arrives through
 * a promise (or, through `sendTo`, a microtask: never before the send returns), a handler that throws is a `remote` failure (the same kind a TCP error frame gives,
 * so quorum and replication treat a refusing local replica like any other), an answer of the
 * wrong type is refused, and after {@link close} sends fail `closed`. The handler answers
 * synchronously, so the deadline cannot pass, except a PUT of a durable node, which waits for its
 * fsync (see `PersistingRequestHandler`): bounded by the disk, not by a timer. The replica keeps
 * a PUT's value, and must neither see a caller's buffer change nor pin the (possibly pooled)
 * buffer an HTTP body or a Redis command arrived in: a handler with `handleBorrowed` gets the
 * value as it is and copies it itself (the compact engine into its slab, as it does a TCP
 * frame's view), any other gets a copy of its own and exact size, as the wire codecs make. GETs
 * go through `handle`, never `handleBorrowed`: their answers are read after this turn. Answers
 * are not copied: the values of GET answers are the replica's own bytes, which the coordination
 * core only reads.
 */
export class LocalFirstNodeClient implements NodeClient {
  private closed = false;

  constructor(
    private readonly selfId: string,
    private readonly local: MaybeAsyncStorageRequestHandler,
    private readonly remote: NodeClient,
  ) {}

  send<R extends StorageRequest>(target: Node, request: R, options: RequestOptions): Promise<ResponseFor<R>> {
    // The remote client is closed with this one, so it refuses on its own after close().
    if (target.id !== this.selfId) return this.remote.send(target, request, options);
    try {
      const answer = this.answerLocally(target, request);
      return answer instanceof Promise ? answer : Promise.resolve(answer);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** As {@link send}, the outcome handed to `reply`: the local replica's answer in a microtask of its own, no promise. */
  sendTo<R extends StorageRequest>(target: Node, request: R, options: RequestOptions, reply: ReplyTo<ResponseFor<R>>): void {
    if (target.id !== this.selfId) return sendTo(this.remote, target, request, options, reply);
    let answer: ResponseFor<R> | Promise<ResponseFor<R>>;
    try {
      answer = this.answerLocally(target, request);
    } catch (error) {
      return failSoon(reply, error);
    }
    if (answer instanceof Promise) {
      answer.then(
        (settled) => reply.answered(settled),
        (error: unknown) => reply.failed(error),
      );
    } else {
      queueMicrotask(() => reply.answered(answer));
    }
  }

  /**
   * The own replica's answer to `request` (a promise only for a durable PUT, which waits for its
   * fsync). Throws, or rejects, the `NodeUnavailableError` the wire would give: `closed` after
   * {@link close}, `remote` for a handler that failed or answered a request of another type.
   */
  private answerLocally<R extends StorageRequest>(target: Node, request: R): ResponseFor<R> | Promise<ResponseFor<R>> {
    if (this.closed) throw new NodeUnavailableError(target.id, 'closed', 'the client is closed');
    let response;
    try {
      // A PUT goes to a handler that copies what it keeps as it is (`handleBorrowed`): one copy of the value, not two.
      response =
        request.type === 'PUT' && this.local.handleBorrowed !== undefined
          ? this.local.handleBorrowed(request)
          : this.local.handle(ownValue(request));
    } catch (error) {
      throw new NodeUnavailableError(target.id, 'remote', `the local replica failed: ${describeError(error)}`);
    }
    if (response instanceof Promise) {
      return response.then(
        (answer) => matchResponse(target.id, request, answer),
        (error: unknown) =>
          Promise.reject(new NodeUnavailableError(target.id, 'remote', `the local replica failed: ${describeError(error)}`)),
      );
    }
    return matchResponse(target.id, request, response);
  }

  /** Makes later sends fail with kind `closed` and closes the remote client. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.remote.close();
  }
}

/** The request with a PUT's value in an exact-size buffer of its own. */
function ownValue<R extends StorageRequest>(request: R): R {
  if (request.type !== 'PUT') return request;
  return { ...request, record: { ...request.record, value: new Uint8Array(request.record.value) } };
}
