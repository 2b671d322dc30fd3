import { DkvError } from '@dkv/core';
import { readWholeFile, type LogDirectory } from './log-files.js';

/** The file, in a node's data directory, that says whose data it is and in which format. */
export const IDENTITY_FILE = 'IDENTITY';
/** The on-disk format this build writes and reads (the identity file, segment names, `LOG_FORMAT_VERSION` records). */
export const DATA_FORMAT_VERSION = 1;
const FORMAT_NAME = 'dkv-node-data';

/** Whose data a directory holds. */
export interface DataIdentity {
  readonly nodeId: string;
  /** The cluster's id, when the cluster has one; null otherwise (dkv clusters have no id yet). */
  readonly clusterId: string | null;
}

/**
 * Checks that `directory` holds data of `expected` in a format this build reads, or makes it
 * so when the directory is new (no identity file and no segment). Anything else stops the start
 * with a message naming the problem: a directory of another node or cluster would serve another
 * node's keys as this node's, and an unknown format would be read as garbage.
 * @throws DkvError INVALID_REQUEST naming the directory and what does not match.
 */
export function checkDataIdentity(directory: LogDirectory, expected: DataIdentity, hasSegments: boolean): void {
  const where = directory.location;
  if (!directory.list().includes(IDENTITY_FILE)) {
    if (hasSegments)
      throw new DkvError(
        'INVALID_REQUEST',
        `data directory ${where} holds log segments but no ${IDENTITY_FILE} file: it was not written by this format of dkv; refusing to start`,
      );
    writeIdentity(directory, expected);
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readWholeFile(directory, IDENTITY_FILE).toString('utf8'));
  } catch {
    throw new DkvError('INVALID_REQUEST', `data directory ${where}: ${IDENTITY_FILE} is not readable JSON; refusing to start`);
  }
  const stored = parsed as { format?: unknown; formatVersion?: unknown; nodeId?: unknown; clusterId?: unknown };
  if (stored.format !== FORMAT_NAME)
    throw new DkvError(
      'INVALID_REQUEST',
      `data directory ${where}: ${IDENTITY_FILE} is not a dkv node data identity (format ${JSON.stringify(stored.format)}); refusing to start`,
    );
  if (stored.formatVersion !== DATA_FORMAT_VERSION) {
    throw new DkvError(
      'INVALID_REQUEST',
      `data directory ${where} has data format version ${JSON.stringify(stored.formatVersion)}; this build reads version ${DATA_FORMAT_VERSION} only; refusing to start`,
    );
  }
  if (stored.nodeId !== expected.nodeId) {
    throw new DkvError(
      'INVALID_REQUEST',
      `data directory ${where} belongs to node ${JSON.stringify(stored.nodeId)}, not to node ${JSON.stringify(expected.nodeId)}; refusing to start`,
    );
  }
  const storedCluster = typeof stored.clusterId === 'string' ? stored.clusterId : null;
  if (storedCluster !== null && expected.clusterId !== null && storedCluster !== expected.clusterId) {
    throw new DkvError(
      'INVALID_REQUEST',
      `data directory ${where} belongs to cluster ${JSON.stringify(storedCluster)}, not to cluster ${JSON.stringify(expected.clusterId)}; refusing to start`,
    );
  }
}

/** Writes the identity file atomically: a temporary file, synced, renamed over the name. */
function writeIdentity(directory: LogDirectory, identity: DataIdentity): void {
  const temporary = `${IDENTITY_FILE}.tmp`;
  const file = directory.open(temporary);
  try {
    file.truncate(0);
    file.append(
      Buffer.from(
        `${JSON.stringify({ format: FORMAT_NAME, formatVersion: DATA_FORMAT_VERSION, nodeId: identity.nodeId, clusterId: identity.clusterId })}\n`,
      ),
    );
    file.syncNow();
  } finally {
    file.close();
  }
  directory.rename(temporary, IDENTITY_FILE);
  directory.syncDirectory();
}
