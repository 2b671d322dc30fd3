import { crc32 } from 'node:zlib';
import { DkvError, type VersionedValue } from '@dkv/core';

/**
 * The binary layout of one record of the durable engine's log (see `DurableStorageEngine`).
 *
 * ```
 * header (12 bytes, little endian)
 *   u32 magic       0x314b5644 ("DVK1"): where a record starts, found again after damage
 *   u32 bodyBytes   length of the body that follows
 *   u32 crc32       CRC-32 of the 4 bytes of bodyBytes and of the body
 * body
 *   u8  format      LOG_FORMAT_VERSION; a reader refuses a version it does not know
 *   u8  kind        1 = a record (apply-if-newer), 2 = a removal (`remove(key)`)
 *   u8  flags       bit 0 tombstone
 *   u8  reserved    0
 *   u16 keyBytes, u16 writerBytes, u32 valueBytes
 *   f64 version, createdAt, updatedAt, expiresAt (NaN: none)
 *   key (UTF-8), writer id (UTF-8), value
 * ```
 *
 * The checksum covers the length, so a bit flipped in the length is caught like one flipped in
 * the value. A later format adds its fields after the fixed ones of version 1 and bumps the format
 * byte (a "time of death" for tombstone purge, say); a reader of that format reads both.
 */
export const LOG_FORMAT_VERSION = 1;
/** The 4 bytes that open every record: "DVK1" read as a little-endian u32. */
export const LOG_RECORD_MAGIC = 0x314b5644;
/** Bytes before the body: magic, body length, checksum. */
export const LOG_HEADER_BYTES = 12;
/** Bytes of a version 1 body before the key: what a record costs on disk beyond its key, writer and value, with the header. */
const FIXED_BODY_BYTES = 44;
/** Header and fixed body: the bytes a record takes beyond its key, writer id and value. */
export const LOG_RECORD_OVERHEAD_BYTES = LOG_HEADER_BYTES + FIXED_BODY_BYTES;

const KIND_RECORD = 1;
const KIND_REMOVE = 2;
const FLAG_TOMBSTONE = 1;

/** One decoded log entry: a record to apply, or the removal of a key. */
export type LogEntry =
  { readonly kind: 'record'; readonly key: string; readonly record: VersionedValue } | { readonly kind: 'remove'; readonly key: string };

/** Why the bytes at an offset are not a record. */
export type LogDamage = 'truncated' | 'bad-magic' | 'bad-length' | 'bad-checksum' | 'bad-format';

/** What {@link decodeLogEntry} found at an offset: an entry and its size, or damage. */
export type DecodeResult = { readonly entry: LogEntry; readonly bytes: number } | { readonly damage: LogDamage };

/** The encoded bytes of `record` for `key`, ready to append. */
export function encodeRecordEntry(key: string, record: VersionedValue): Buffer {
  const out = Buffer.allocUnsafe(maxEntryBytes(key, record));
  return out.subarray(0, encodeEntryInto(out, 0, key, record));
}

/** The encoded removal of `key` (see `RangeScanStorageEngine.remove`). */
export function encodeRemoveEntry(key: string): Buffer {
  const out = Buffer.allocUnsafe(maxEntryBytes(key, null));
  return out.subarray(0, encodeEntryInto(out, 0, key, null));
}

/**
 * Room enough for the entry of `record` (null: a removal) for `key`: exact for the value and the
 * fixed fields, 3 bytes per UTF-16 unit of the key and writer id (their longest UTF-8), so that
 * it costs no UTF-8 scan of its own.
 */
export function maxEntryBytes(key: string, record: VersionedValue | null): number {
  return LOG_RECORD_OVERHEAD_BYTES + 3 * key.length + (record === null ? 0 : 3 * record.writerId.length + record.value.byteLength);
}

/**
 * Encodes the entry of `record` (null: the removal of `key`) into `out` at `offset`, where
 * {@link maxEntryBytes} must fit, and returns its size: the log's appends are encoded straight
 * into the buffer that is written, with no buffer of their own.
 * @throws DkvError INVALID_REQUEST when the key or writer id takes more than 65,535 bytes.
 */
export function encodeEntryInto(out: Buffer, offset: number, key: string, record: VersionedValue | null): number {
  const bodyStart = offset + LOG_HEADER_BYTES;
  let at = bodyStart + FIXED_BODY_BYTES;
  const keyBytes = out.write(key, at, 'utf8');
  at += keyBytes;
  const writerBytes = record === null ? 0 : out.write(record.writerId, at, 'utf8');
  at += writerBytes;
  if (keyBytes > 0xffff || writerBytes > 0xffff)
    throw new DkvError(
      'INVALID_REQUEST',
      `a log record's key and writer id must be at most 65,535 bytes, got ${keyBytes} and ${writerBytes}`,
    );
  const valueBytes = record === null ? 0 : record.value.byteLength;
  if (record !== null) out.set(record.value, at);
  const bodyBytes = FIXED_BODY_BYTES + keyBytes + writerBytes + valueBytes;
  out.writeUInt32LE(LOG_RECORD_MAGIC, offset);
  out.writeUInt32LE(bodyBytes, offset + 4);
  out[bodyStart] = LOG_FORMAT_VERSION;
  out[bodyStart + 1] = record === null ? KIND_REMOVE : KIND_RECORD;
  out[bodyStart + 2] = record?.tombstone ? FLAG_TOMBSTONE : 0;
  out[bodyStart + 3] = 0;
  out.writeUInt16LE(keyBytes, bodyStart + 4);
  out.writeUInt16LE(writerBytes, bodyStart + 6);
  out.writeUInt32LE(valueBytes, bodyStart + 8);
  out.writeDoubleLE(record?.version ?? 0, bodyStart + 12);
  out.writeDoubleLE(record?.createdAt ?? 0, bodyStart + 20);
  out.writeDoubleLE(record?.updatedAt ?? 0, bodyStart + 28);
  out.writeDoubleLE(record?.expiresAt ?? Number.NaN, bodyStart + 36);
  out.writeUInt32LE(crc32(out.subarray(bodyStart, bodyStart + bodyBytes), lengthCrc(bodyBytes)), offset + 8);
  return LOG_HEADER_BYTES + bodyBytes;
}

/** The last body length whose CRC {@link lengthCrc} computed, and that CRC. */
let lastLength = -1;
let lastLengthCrc = 0;
const LENGTH_BYTES = Buffer.alloc(4);

/**
 * The CRC-32 of a body length's 4 little-endian bytes: the seed of the record's checksum.
 * Sessions of one size follow each other in the log, so the last answer is kept: replay then
 * makes one checksum call per record instead of two.
 */
function lengthCrc(bodyBytes: number): number {
  if (bodyBytes !== lastLength) {
    LENGTH_BYTES.writeUInt32LE(bodyBytes, 0);
    lastLengthCrc = crc32(LENGTH_BYTES);
    lastLength = bodyBytes;
  }
  return lastLengthCrc;
}

/**
 * Decodes the entry at `offset` of `bytes` (which end at `end`): the entry and its size, or
 * what is wrong. The value of a decoded record is a view of `bytes`. A body longer than
 * `maxBodyBytes` is damage (`bad-length`): the length field itself may be what was damaged.
 */
export function decodeLogEntry(bytes: Buffer, offset: number, end: number, maxBodyBytes: number): DecodeResult {
  if (end - offset < LOG_HEADER_BYTES) return { damage: 'truncated' };
  if (bytes.readUInt32LE(offset) !== LOG_RECORD_MAGIC) return { damage: 'bad-magic' };
  const bodyBytes = bytes.readUInt32LE(offset + 4);
  if (bodyBytes < FIXED_BODY_BYTES || bodyBytes > maxBodyBytes) return { damage: 'bad-length' };
  const bodyStart = offset + LOG_HEADER_BYTES;
  const bodyEnd = bodyStart + bodyBytes;
  if (bodyEnd > end) return { damage: 'truncated' };
  const crc = crc32(bytes.subarray(bodyStart, bodyEnd), lengthCrc(bodyBytes));
  if (crc !== bytes.readUInt32LE(offset + 8)) return { damage: 'bad-checksum' };
  // Past the checksum, a field out of place means a writer of another format, not a flipped bit.
  const kind = bytes[bodyStart + 1];
  const keyBytes = bytes.readUInt16LE(bodyStart + 4);
  const writerBytes = bytes.readUInt16LE(bodyStart + 6);
  const valueBytes = bytes.readUInt32LE(bodyStart + 8);
  if (
    bytes[bodyStart] !== LOG_FORMAT_VERSION ||
    (kind !== KIND_RECORD && kind !== KIND_REMOVE) ||
    FIXED_BODY_BYTES + keyBytes + writerBytes + valueBytes !== bodyBytes
  ) {
    return { damage: 'bad-format' };
  }
  let at = bodyStart + FIXED_BODY_BYTES;
  const key = bytes.toString('utf8', at, at + keyBytes);
  at += keyBytes;
  const size = LOG_HEADER_BYTES + bodyBytes;
  if (kind === KIND_REMOVE) return { entry: { kind: 'remove', key }, bytes: size };
  const writerId = bytes.toString('utf8', at, at + writerBytes);
  at += writerBytes;
  const expiresAt = bytes.readDoubleLE(bodyStart + 36);
  const record: VersionedValue = {
    value: bytes.subarray(at, at + valueBytes),
    version: bytes.readDoubleLE(bodyStart + 12),
    writerId,
    createdAt: bytes.readDoubleLE(bodyStart + 20),
    updatedAt: bytes.readDoubleLE(bodyStart + 28),
    expiresAt: Number.isNaN(expiresAt) ? null : expiresAt,
    tombstone: ((bytes[bodyStart + 2] as number) & FLAG_TOMBSTONE) !== 0,
  };
  return { entry: { kind: 'record', key, record }, bytes: size };
}
