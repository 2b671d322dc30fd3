import { readWholeFile, type LogDirectory } from './log-files.js';
import { decodeLogEntry, LOG_HEADER_BYTES, LOG_RECORD_MAGIC, type LogEntry } from './log-record.js';

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
export function replaySegment(bytes: Buffer, maxBodyBytes: number, visit: (entry: LogEntry) => void, from = 0): SegmentReplay {
  const corrupt: DamagedRegion[] = [];
  let entries = 0;
  let at = from;
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

/** The bytes {@link replaySegmentFile} reads at a time: 1 MiB, which stays in the CPU's cache while its records are checked and copied. */
export const REPLAY_CHUNK_BYTES = 1024 * 1024;

/**
 * Replays the segment `name` of `directory` as {@link replaySegment} does, reading it in chunks
 * into `buffer` (grown when a record is larger): a segment read whole into one 64 MiB buffer
 * cost twice the CPU, the copy out of the page cache and the checksum running from main memory
 * instead of the cache. At the first damage it reads the whole segment and goes on from there
 * with {@link replaySegment}, whose search for the next good record needs all of it (damage is
 * rare). Returns what it found, the segment's size, and the buffer to reuse.
 */
export function replaySegmentFile(
  directory: LogDirectory,
  name: string,
  maxBodyBytes: number,
  buffer: Buffer,
  visit: (entry: LogEntry) => void,
): { readonly replay: SegmentReplay; readonly size: number; readonly buffer: Buffer } {
  const size = directory.size(name);
  let base = 0;
  let filled = 0;
  let at = 0;
  let entries = 0;
  while (base + at < size) {
    const result = decodeLogEntry(buffer, at, filled, maxBodyBytes);
    if ('entry' in result) {
      visit(result.entry);
      entries += 1;
      at += result.bytes;
      continue;
    }
    if (result.damage !== 'truncated' || base + filled >= size) break;
    // The record runs past what was read: keep its start, read on (into a larger buffer if it needs one).
    const needed = filled - at >= 8 ? LOG_HEADER_BYTES + buffer.readUInt32LE(at + 4) : LOG_HEADER_BYTES;
    const kept = buffer.subarray(at, filled);
    if (needed > buffer.length) buffer = Buffer.concat([kept], Math.max(needed, REPLAY_CHUNK_BYTES));
    else buffer.copyWithin(0, at, filled);
    base += at;
    filled -= at;
    at = 0;
    const read = directory.read(name, base + filled, buffer.subarray(filled));
    if (read === 0) break;
    filled += read;
  }
  if (base + at >= size) return { replay: { entries, corrupt: [], tail: null }, size, buffer };
  const rest = replaySegment(readWholeFile(directory, name), maxBodyBytes, visit, base + at);
  return { replay: { ...rest, entries: entries + rest.entries }, size, buffer };
}

/** The offset of the first whole, checksummed record at or after `from`, or -1. */
function nextRecordStart(bytes: Buffer, from: number, maxBodyBytes: number): number {
  for (let at = bytes.indexOf(MAGIC_BYTES, from); at >= 0; at = bytes.indexOf(MAGIC_BYTES, at + 1)) {
    if ('entry' in decodeLogEntry(bytes, at, bytes.length, maxBodyBytes)) return at;
  }
  return -1;
}
