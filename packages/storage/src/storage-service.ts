import { type StorageEngine, type StorageRequest, type StorageRequestHandler, type StorageResponse } from '@dkv/core';

/** What a {@link StorageService} needs. */
export interface StorageServiceOptions {
  /** This storage node's id, reported in PING answers so a coordinator can tell who answered. */
  readonly nodeId: string;
  /** The replica's store. */
  readonly engine: StorageEngine;
  /**
   * Whether this node may serve quorum requests (for instance: not while it is still catching up
   * after a restart). Reported in PING; requests are served either way. Default: always ready.
   */
  readonly isReady?: () => boolean;
}

/**
 * The replica side of the internode protocol: turns each {@link StorageRequest} into a call on
 * the storage engine and its answer. It is synchronous and does no I/O, so every transport (a
 * direct call, the simulated network, HTTP, binary frames) wraps the same handler, and the
 * simulation runs the real replica logic. Requests arrive already validated at the transport's edge.
 */
export class StorageService implements StorageRequestHandler {
  private readonly nodeId: string;
  private readonly engine: StorageEngine;
  private readonly isReady: () => boolean;

  constructor(options: StorageServiceOptions) {
    this.nodeId = options.nodeId;
    this.engine = options.engine;
    this.isReady = options.isReady ?? (() => true);
  }

  /** Answers one request: GET the record, HEAD its metadata, PUT apply-if-newer, PING counts. */
  handle(request: StorageRequest): StorageResponse {
    switch (request.type) {
      case 'GET':
        return { type: 'GET', record: this.engine.get(request.key) };
      case 'HEAD':
        return { type: 'HEAD', meta: this.engine.head(request.key) };
      case 'PUT': {
        const { applied, version } = this.engine.apply(request.key, request.record);
        return { type: 'PUT', applied, version };
      }
      case 'PING': {
        const { keys, bytes } = this.engine.stats();
        return { type: 'PING', nodeId: this.nodeId, ready: this.isReady(), keys, bytes };
      }
    }
  }
}
