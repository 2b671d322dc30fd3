import { decodeLogEntry, LOG_RECORD_MAGIC, type LogEntry } from './log-record.js';

/** A stretch of a segment that holds no readable record. */
export interface DamagedRegion {
  /** Where it starts in the segment. */
  readonly offset: number;
  readonly bytes: number;
}

/** What {@link replaySegment} found in one segment. */
export interface SegmentReplay {
  /** Entries decoded and handed to the visitor. */
  readonly entries: number;
  /** Damaged stretches followed by readable records: skipped, never served. */
  readonly corrupt: readonly DamagedRegion[];
  /** A damaged stretch that runs to the end (a record torn by a crash): the segment is to be cut at its offset. Null when none. */
  readonly tail: DamagedRegion | null;
}

const MAGIC_BYTES = (() => {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(LOG_RECORD_MAGIC, 0);
  return out;
})();

/**
 * Reads the entries of one segment's bytes in order and hands each to `visit`. Where the bytes
 * at a record's place are not a whole record with a good checksum, it looks for the next place
 * that is (the next magic number whose record checks out) and goes on from there: the stretch in
 * between is reported as corrupt. When no good record follows, the stretch is the segment's tail
 * (a write the process did not finish). A record is handed on only when its checksum holds, so
 * a damaged value is never served; a damaged record is lost, and the replicas have it.
 */
export function replaySegment(bytes: Buffer, maxBodyBytes: number, visit: (entry: LogEntry) => void): SegmentReplay {
  const corrupt: DamagedRegion[] = [];
  let entries = 0;
  let at = 0;
  while (at < bytes.length) {
    const result = decodeLogEntry(bytes, at, bytes.length, maxBodyBytes);
    if ('entry' in result) {
      visit(result.entry);
      entries += 1;
      at += result.bytes;
      continue;
    }
    const next = nextRecordStart(bytes, at + 1, maxBodyBytes);
    if (next < 0) return { entries, corrupt, tail: { offset: at, bytes: bytes.length - at } };
    corrupt.push({ offset: at, bytes: next - at });
    at = next;
  }
  return { entries, corrupt, tail: null };
}

/** The offset of the first whole, checksummed record at or after `from`, or -1. */
function nextRecordStart(bytes: Buffer, from: number, maxBodyBytes: number): number {
  for (let at = bytes.indexOf(MAGIC_BYTES, from); at >= 0; at = bytes.indexOf(MAGIC_BYTES, at + 1)) {
    if ('entry' in decodeLogEntry(bytes, at, bytes.length, maxBodyBytes)) return at;
  }
  return -1;
}
