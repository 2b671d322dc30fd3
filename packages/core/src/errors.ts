/**
 * The error codes of the public contract (API.md), plus the internal ones that never reach a
 * client as such. Errors are values with codes; the edges map them to HTTP statuses.
 */
export type ErrorCode =
  | 'INVALID_KEY'
  | 'INVALID_TTL'
  | 'INVALID_CONSISTENCY'
  | 'INVALID_REQUEST'
  | 'NOT_FOUND'
  | 'VALUE_TOO_LARGE'
  | 'QUORUM_NOT_MET'
  | 'NOT_IMPLEMENTED'
  | 'UNAVAILABLE'
  | 'VERSION_TOO_FAR_AHEAD'
  | 'CLOCK_OFFSET_TOO_LARGE'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'INTERNAL';

/** The HTTP status each code answers with at the public API. */
export const HTTP_STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  INVALID_KEY: 400,
  INVALID_TTL: 400,
  INVALID_CONSISTENCY: 400,
  INVALID_REQUEST: 400,
  NOT_FOUND: 404,
  VALUE_TOO_LARGE: 413,
  QUORUM_NOT_MET: 503,
  NOT_IMPLEMENTED: 501,
  UNAVAILABLE: 503,
  VERSION_TOO_FAR_AHEAD: 503,
  CLOCK_OFFSET_TOO_LARGE: 503,
  /** With authentication on: no credentials, or a bad name and password pair. */
  UNAUTHENTICATED: 401,
  /** With authentication on: the user's role is too small for the request. */
  FORBIDDEN: 403,
  INTERNAL: 500,
};

/** An error a caller can act on: a code from {@link ErrorCode} and a message for a person. */
export class DkvError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'DkvError';
  }
}

/** The quorum phases a request goes through; a `read-first` or sloppy write starts with a read of the current version. */
export type QuorumOperation = 'read' | 'write' | 'version read';

/** Fewer replicas answered than the consistency level needs; a failed write is never reported as success. */
export class QuorumNotMetError extends DkvError {
  /**
   * @param refusal why a replica refused, when one said so (a replica with no room for a new key):
   * appended to the message, so that a client sees why the quorum failed, not only that it did.
   */
  constructor(
    readonly operation: QuorumOperation,
    readonly needed: number,
    readonly received: number,
    readonly contacted: number,
    readonly refusal: string | null = null,
  ) {
    super(
      'QUORUM_NOT_MET',
      `${operation} quorum not met: needed ${needed} replica answers, received ${received} of ${contacted} contacted${refusal === null ? '' : `; ${refusal}`}`,
      { needed, received, contacted, operation },
    );
    this.name = 'QuorumNotMetError';
  }
}

/**
 * The start of a replica's refusal of a write of a new key when it has no room for another (a
 * storage node's `--max-keys`): coordinators read it (remote errors travel as text) and say it
 * when their quorum is not met.
 */
export const REPLICA_FULL_PREFIX = 'REPLICA_FULL: ';

/** Whether `error` is a replica's refusal of a new key for want of room ({@link REPLICA_FULL_PREFIX}): an answer from a live replica. */
export function isReplicaFullRefusal(error: unknown): boolean {
  return error instanceof Error && error.message.includes(REPLICA_FULL_PREFIX);
}

/** Why a request to a node failed, as far as the transport can tell. */
export type NodeFailureKind = 'timeout' | 'unreachable' | 'remote' | 'overloaded' | 'closed';

/** What a transport can add to a {@link NodeUnavailableError}. */
export interface NodeFailureEvidence {
  /**
   * The node's address refused a connection or reset one (ECONNREFUSED, ECONNRESET): nothing
   * listens there now. Unlike a timeout, that is evidence that the process is gone (or
   * restarting), so failure detection may mark the node down at once instead of after its
   * heartbeat threshold. Default false.
   */
  readonly refused?: boolean;
}

/**
 * A request to one node failed. `kind` tells whether the node may still have applied it
 * (`timeout`, `remote`) or surely did not (`unreachable`, `overloaded`, `closed`); `refused`
 * whether the connection was refused or reset (see {@link NodeFailureEvidence}).
 */
export class NodeUnavailableError extends DkvError {
  readonly refused: boolean;

  constructor(
    readonly nodeId: string,
    readonly kind: NodeFailureKind,
    detail: string,
    evidence: NodeFailureEvidence = {},
  ) {
    super('UNAVAILABLE', `node ${nodeId} ${kind}: ${detail}`, { nodeId, kind });
    this.name = 'NodeUnavailableError';
    this.refused = evidence.refused ?? false;
  }
}

/** The `{"error": {"code", "message"}}` body of API.md for any thrown value; no stack trace leaks. */
export function errorBody(error: unknown): { error: { code: ErrorCode; message: string } } {
  if (error instanceof DkvError) return { error: { code: error.code, message: error.message } };
  return { error: { code: 'INTERNAL', message: 'internal error' } };
}
