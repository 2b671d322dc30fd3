import type { StorageRequest, StorageRequestHandler, StorageResponse } from '@dkv/core';

/** What {@link PersistingRequestHandler} waits on: the durable engine's `persisted`. */
export interface Persistence {
  /** Null when the writes applied so far may be acknowledged; otherwise settles once they are durable (see `DurableStorageEngine.persisted`). */
  persisted(): Promise<void> | null;
}

/**
 * A replica handler whose PUT answers wait until the write may be acknowledged under the fsync
 * policy: once the log's one write of the turn holds it (every policy: a crash of the process
 * then loses nothing acknowledged) and, under `always`, once the group commit's fsync covers it,
 * so the node never acknowledges a write it could lose to a power cut. Every other answer is
 * given at once, as the wrapped handler gives it. A PUT that did not apply (an equal or older
 * record) waits too: it may be a retry of a write still pending. A failed write or fsync turns
 * the answer into an error, which the coordinator counts as a failed replica.
 *
 * It answers through a promise, so it serves the transports that accept one (the TCP server, the
 * internal HTTP route, the in-process client of a coordinating node); the synchronous port
 * `StorageRequestHandler` stays as it is for the in-memory engines.
 */
export class PersistingRequestHandler {
  constructor(
    private readonly inner: StorageRequestHandler,
    private readonly persistence: Persistence,
  ) {}

  /** The wrapped handler's answer; for a PUT, once the write is durable. */
  handle(request: StorageRequest): StorageResponse | Promise<StorageResponse> {
    return this.afterPersisted(request, this.inner.handle(request));
  }

  /** As {@link handle}, through the wrapped handler's borrowing path (a GET's bytes may be lent: see `StorageRequestHandler.handleBorrowed`). */
  handleBorrowed(request: StorageRequest): StorageResponse | Promise<StorageResponse> {
    const response = this.inner.handleBorrowed ? this.inner.handleBorrowed(request) : this.inner.handle(request);
    return this.afterPersisted(request, response);
  }

  private afterPersisted(request: StorageRequest, response: StorageResponse): StorageResponse | Promise<StorageResponse> {
    if (request.type !== 'PUT') return response;
    const waiting = this.persistence.persisted();
    return waiting === null ? response : waiting.then(() => response);
  }
}
