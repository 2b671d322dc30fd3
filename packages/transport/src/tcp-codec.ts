/**
 * The payloads of the binary internode protocol, in a hand-written layout: measured against
 * MessagePack with zod validation (benchmarks/node-clients/codec-bench.ts), it encodes and
 * validates a 2 KiB PUT and its answer several times faster, and it writes straight into the
 * connection's slab (see `tcp-frame.ts`) instead of allocating a buffer per frame.
 *
 * Integers are little-endian; numbers of the data model (versions, epoch ms, counts) travel as
 * f64, which holds every integer below 2^53 exactly; strings are `u16 byte length + UTF-8`.
 *
 * ```text
 * meta     = u8 flags (bit 0 tombstone, bit 1 expiresAt present, others 0)
 *            f64 version, f64 createdAt, f64 expiresAt (0 when absent), str writerId
 * record   = meta, f64 updatedAt, u32 value length, value bytes
 * GET, HEAD request  = str key            GET response  = u8 present (0|1), record if present
 * PUT request        = str key, record    HEAD response = u8 present (0|1), meta if present
 * PING request       = (empty)            PUT response  = u8 flags (bit 0 applied, bit 1 previous
 *                                                         unknown, others 0), f64 version, f64 previous
 *                                         PING response = u8 ready (0|1), f64 keys, f64 bytes, str nodeId
 * MSGPACK request    = a MessagePack frame of `codec.ts` (any other request type), and its response
 * ERROR              = str reason
 * ```
 *
 * A frame is untrusted input, and it is validated by hand as strictly as the zod schemas of the
 * MessagePack codec: every field's range, UTF-8 that is well formed, flags with no unknown bit,
 * and no byte left over. Reading never throws anything but a {@link FrameError} whose message
 * names the field, e.g. `invalid request frame: record.version: must be a whole number from 1
 * to 9007199254740991, got 0`.
 */
import { isUtf8 } from 'node:buffer';
import { MAX_KEY_BYTES, MAX_VERSION, type StorageRequest, type StorageResponse, type VersionedValue, type VersionMeta } from '@dkv/core';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, FrameError } from './codec.js';
import { FRAME_HEADER_BYTES, FrameKind, readU32, writeU32, type FrameReader, type FrameWriter } from './tcp-frame.js';

/** The most UTF-16 code units a writer id may have (as the MessagePack codec's schema says). */
const WRITER_ID_LENGTH_MAX = 256;
/** Bytes a string field may take at most: its length is a u16. */
const STRING_BYTES_MAX = 0xffff;
/** Bytes of a meta without its writer id's bytes. */
const META_FIXED_BYTES = 1 + 8 + 8 + 8 + 2;
/** Bytes of a record without its writer id's and value's bytes. */
const RECORD_FIXED_BYTES = META_FIXED_BYTES + 8 + 4;
/** The longest reason an error frame carries, in UTF-16 code units. */
const ERROR_REASON_LENGTH_MAX = 1024;

const FLAG_TOMBSTONE = 1;
const FLAG_EXPIRES = 2;
/** PUT answer flags: the record was applied; the replica cannot say what it held before (it is catching up). */
const PUT_APPLIED = 1;
const PUT_PREVIOUS_UNKNOWN = 2;

/**
 * The frame kind that carries a request of `type`. The four requests of the data path have a
 * layout of their own; any other (the rarer cluster-management requests) travels as a MessagePack
 * frame of the HTTP codec (`codec.ts`), validated by its zod schemas, so that every request the
 * protocol knows crosses either transport.
 */
export function requestKindOf(type: StorageRequest['type']): number {
  switch (type) {
    case 'GET':
      return FrameKind.GET;
    case 'HEAD':
      return FrameKind.HEAD;
    case 'PUT':
      return FrameKind.PUT;
    case 'PING':
      return FrameKind.PING;
    default:
      return FrameKind.MSGPACK;
  }
}

/**
 * Appends the frame of `request` to `writer` and returns its size in bytes; the frame is the last
 * thing in `writer.buffer`, so `writer.pos -= size` takes it back. The input is trusted (our code
 * built it); a string too long for its u16 length is still refused with a {@link FrameError},
 * and nothing is written.
 */
export function writeRequestFrame(writer: FrameWriter, id: number, request: StorageRequest): number {
  switch (request.type) {
    case 'GET':
    case 'HEAD': {
      writer.ensure(FRAME_HEADER_BYTES + 2 + request.key.length * 3);
      const start = beginFrame(writer, id, requestKindOf(request.type));
      writer.pos = putString(writer.buffer, writer.pos, request.key, 'key', start, writer);
      return endFrame(writer, start);
    }
    case 'PUT': {
      const { key, record } = request;
      writer.ensure(FRAME_HEADER_BYTES + 2 + key.length * 3 + recordBytesMax(record));
      const start = beginFrame(writer, id, FrameKind.PUT);
      const at = putString(writer.buffer, writer.pos, key, 'key', start, writer);
      writer.pos = putRecord(writer.buffer, at, record, start, writer);
      return endFrame(writer, start);
    }
    case 'PING': {
      writer.ensure(FRAME_HEADER_BYTES);
      return endFrame(writer, beginFrame(writer, id, FrameKind.PING));
    }
    default:
      return writeMessagePackFrame(writer, id, FrameKind.MSGPACK, encodeRequest(request));
  }
}

/** Appends the frame of `response`, the answer to request `id`, to `writer`; returns its size as {@link writeRequestFrame} does. */
export function writeResponseFrame(writer: FrameWriter, id: number, response: StorageResponse): number {
  switch (response.type) {
    case 'GET': {
      const { record } = response;
      writer.ensure(FRAME_HEADER_BYTES + 1 + (record === null ? 0 : recordBytesMax(record)));
      const start = beginFrame(writer, id, FrameKind.GET_RESPONSE);
      const buffer = writer.buffer;
      buffer[writer.pos] = record === null ? 0 : 1;
      writer.pos = record === null ? writer.pos + 1 : putRecord(buffer, writer.pos + 1, record, start, writer);
      return endFrame(writer, start);
    }
    case 'HEAD': {
      const { meta } = response;
      writer.ensure(FRAME_HEADER_BYTES + 1 + (meta === null ? 0 : META_FIXED_BYTES + meta.writerId.length * 3));
      const start = beginFrame(writer, id, FrameKind.HEAD_RESPONSE);
      const buffer = writer.buffer;
      buffer[writer.pos] = meta === null ? 0 : 1;
      writer.pos = meta === null ? writer.pos + 1 : putMeta(buffer, writer.pos + 1, meta, start, writer);
      return endFrame(writer, start);
    }
    case 'PUT': {
      writer.ensure(FRAME_HEADER_BYTES + 17);
      const start = beginFrame(writer, id, FrameKind.PUT_RESPONSE);
      const buffer = writer.buffer;
      // Bit 1 is set only by a replica catching up, so every other answer is the byte that
      // replicas sent before the flag existed (0 or 1), and a coordinator from before the flag
      // refuses the answer of a catching-up replica (a failed replica) rather than counting it.
      buffer[writer.pos] = (response.applied ? PUT_APPLIED : 0) | (response.previousUnknown === true ? PUT_PREVIOUS_UNKNOWN : 0);
      buffer.writeDoubleLE(response.version, writer.pos + 1);
      buffer.writeDoubleLE(response.previous, writer.pos + 9);
      writer.pos += 17;
      return endFrame(writer, start);
    }
    case 'PING': {
      writer.ensure(FRAME_HEADER_BYTES + 17 + 2 + response.nodeId.length * 3);
      const start = beginFrame(writer, id, FrameKind.PING_RESPONSE);
      const buffer = writer.buffer;
      let at = writer.pos;
      buffer[at] = response.ready ? 1 : 0;
      at = buffer.writeDoubleLE(response.keys, at + 1);
      at = buffer.writeDoubleLE(response.bytes, at);
      writer.pos = putString(buffer, at, response.nodeId, 'nodeId', start, writer);
      return endFrame(writer, start);
    }
    default:
      return writeMessagePackFrame(writer, id, FrameKind.MSGPACK_RESPONSE, encodeResponse(response));
  }
}

/** Appends an error frame: request `id` failed for `reason` (id 0: the connection failed). */
export function writeErrorFrame(writer: FrameWriter, id: number, reason: string): number {
  const text = reason.length > ERROR_REASON_LENGTH_MAX ? `${reason.slice(0, ERROR_REASON_LENGTH_MAX)}...` : reason;
  writer.ensure(FRAME_HEADER_BYTES + 2 + text.length * 3 + 9);
  const start = beginFrame(writer, id, FrameKind.ERROR);
  writer.pos = putString(writer.buffer, writer.pos, text, 'reason', start, writer);
  return endFrame(writer, start);
}

/**
 * Reads and validates the request in the current frame of `frame`. A PUT's value is copied to
 * memory of its own, exactly its size: a replica keeps it, and must neither pin the chunk it came
 * in nor see it change. With `copyValue` false it is a view of the frame instead, for a handler
 * that copies what it keeps (`handleBorrowed`, see `TcpStorageServer`): frames are never reused,
 * so the view never changes, and copying a 2 KiB value into an ArrayBuffer of its own was the
 * largest cost of decoding a PUT, paid only for the replica's store to copy the bytes again.
 * @throws FrameError when the frame is not a valid request.
 */
export function readRequest(frame: FrameReader, copyValue = true): StorageRequest {
  try {
    let request: StorageRequest;
    switch (frame.kind) {
      case FrameKind.GET:
        request = { type: 'GET', key: readKey(frame) };
        break;
      case FrameKind.HEAD:
        request = { type: 'HEAD', key: readKey(frame) };
        break;
      case FrameKind.PUT: {
        const key = readKey(frame);
        request = { type: 'PUT', key, record: readRecord(frame, copyValue) };
        break;
      }
      case FrameKind.PING:
        request = { type: 'PING' };
        break;
      case FrameKind.MSGPACK:
        request = decodeRequest(frame.buffer.subarray(frame.pos, frame.end));
        frame.pos = frame.end;
        break;
      default:
        throw new FrameError(`kind: 0x${frame.kind.toString(16)} is not a request kind`);
    }
    expectEnd(frame);
    return request;
  } catch (error) {
    throw framed(error, 'request');
  }
}

/**
 * Reads and validates the response in the current frame of `frame`. A GET's value is a view of
 * the frame (no copy): frames are never reused (see `FrameReader`), and a coordinator only reads it.
 * @throws FrameError when the frame is not a valid response.
 */
export function readResponse(frame: FrameReader): StorageResponse {
  try {
    let response: StorageResponse;
    switch (frame.kind) {
      case FrameKind.GET_RESPONSE:
        response = { type: 'GET', record: readPresence(frame, 'present') ? readRecord(frame, false) : null };
        break;
      case FrameKind.HEAD_RESPONSE:
        response = { type: 'HEAD', meta: readPresence(frame, 'present') ? readMeta(frame, HEAD_META_FIELDS) : null };
        break;
      case FrameKind.PUT_RESPONSE: {
        const flags = readU8(frame, 'flags');
        if ((flags & ~(PUT_APPLIED | PUT_PREVIOUS_UNKNOWN)) !== 0) throw new FrameError(`flags: unknown bits in 0x${flags.toString(16)}`);
        const applied = (flags & PUT_APPLIED) !== 0;
        const version = readVersion(frame, 'version');
        const previous = readCount(frame, 'previous');
        response =
          (flags & PUT_PREVIOUS_UNKNOWN) === 0
            ? { type: 'PUT', applied, version, previous }
            : { type: 'PUT', applied, version, previous, previousUnknown: true };
        break;
      }
      case FrameKind.PING_RESPONSE: {
        const ready = readPresence(frame, 'ready');
        const keys = readCount(frame, 'keys');
        const bytes = readCount(frame, 'bytes');
        const nodeId = readString(frame, 'nodeId');
        if (nodeId.length === 0) throw new FrameError('nodeId: must not be empty');
        response = { type: 'PING', nodeId, ready, keys, bytes };
        break;
      }
      case FrameKind.MSGPACK_RESPONSE:
        response = decodeResponse(frame.buffer.subarray(frame.pos, frame.end));
        frame.pos = frame.end;
        break;
      default:
        throw new FrameError(`kind: 0x${frame.kind.toString(16)} is not a response kind`);
    }
    expectEnd(frame);
    return response;
  } catch (error) {
    throw framed(error, 'response');
  }
}

/** Reads the reason of the error frame that is the current frame of `frame`. */
export function readErrorReason(frame: FrameReader): string {
  try {
    const reason = readString(frame, 'reason');
    expectEnd(frame);
    return reason;
  } catch (error) {
    throw framed(error, 'error');
  }
}

function recordBytesMax(record: VersionedValue): number {
  return RECORD_FIXED_BYTES + record.writerId.length * 3 + record.value.byteLength;
}

function writeMessagePackFrame(writer: FrameWriter, id: number, kind: number, payload: Buffer): number {
  writer.ensure(FRAME_HEADER_BYTES + payload.length);
  const start = beginFrame(writer, id, kind);
  writer.buffer.set(payload, writer.pos);
  writer.pos += payload.length;
  return endFrame(writer, start);
}

function beginFrame(writer: FrameWriter, id: number, kind: number): number {
  const start = writer.pos;
  writeU32(writer.buffer, start + 4, id);
  writer.buffer[start + 8] = kind;
  writer.pos = start + FRAME_HEADER_BYTES;
  return start;
}

function endFrame(writer: FrameWriter, start: number): number {
  const bytes = writer.pos - start;
  writeU32(writer.buffer, start, bytes - 4);
  return bytes;
}

/** Strings up to this many UTF-16 code units are first tried as ASCII, byte by byte (see {@link putString}). */
const SHORT_STRING_MAX = 64;

/**
 * Writes `u16 length + UTF-8`. On a string too long, rewinds `writer` to `start` and throws.
 * A short ASCII string (keys and writer ids, nearly always) is written by a loop here: the
 * native `buffer.write` costs more to call than a few dozen bytes cost to copy, and it was a
 * tenth of what a replica spent encoding a HEAD answer.
 */
function putString(buffer: Buffer, at: number, text: string, field: string, start: number, writer: FrameWriter): number {
  const length = text.length;
  if (length <= SHORT_STRING_MAX) {
    let i = 0;
    for (; i < length; i += 1) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) break;
      buffer[at + 2 + i] = code;
    }
    if (i === length) {
      buffer[at] = length;
      buffer[at + 1] = 0;
      return at + 2 + length;
    }
  }
  const bytes = buffer.write(text, at + 2, 'utf8');
  if (bytes > STRING_BYTES_MAX) {
    writer.pos = start;
    throw new FrameError(`${field}: ${bytes} bytes is over the ${STRING_BYTES_MAX} bytes a string field holds`);
  }
  buffer[at] = bytes;
  buffer[at + 1] = bytes >>> 8;
  return at + 2 + bytes;
}

function putMeta(buffer: Buffer, at: number, meta: VersionMeta, start: number, writer: FrameWriter): number {
  const expires = meta.expiresAt !== null;
  buffer[at] = (meta.tombstone ? FLAG_TOMBSTONE : 0) | (expires ? FLAG_EXPIRES : 0);
  let next = buffer.writeDoubleLE(meta.version, at + 1);
  next = buffer.writeDoubleLE(meta.createdAt, next);
  next = buffer.writeDoubleLE(meta.expiresAt ?? 0, next);
  return putString(buffer, next, meta.writerId, 'writerId', start, writer);
}

function putRecord(buffer: Buffer, at: number, record: VersionedValue, start: number, writer: FrameWriter): number {
  let next = putMeta(buffer, at, record, start, writer);
  next = buffer.writeDoubleLE(record.updatedAt, next);
  const value = record.value;
  writeU32(buffer, next, value.byteLength);
  buffer.set(value, next + 4);
  return next + 4 + value.byteLength;
}

function framed(error: unknown, what: string): FrameError {
  if (!(error instanceof FrameError)) return new FrameError(`invalid ${what} frame: ${String(error)}`);
  // The MessagePack codec's errors already say which frame they are about.
  return error.message.startsWith('invalid ') ? error : new FrameError(`invalid ${what} frame: ${error.message}`);
}

function need(frame: FrameReader, bytes: number, field: string): void {
  if (frame.pos + bytes > frame.end) {
    throw new FrameError(`${field}: the frame ends ${frame.pos + bytes - frame.end} bytes early`);
  }
}

function expectEnd(frame: FrameReader): void {
  if (frame.pos !== frame.end) throw new FrameError(`${frame.end - frame.pos} unexpected bytes after the payload`);
}

function readU8(frame: FrameReader, field: string): number {
  need(frame, 1, field);
  const value = frame.buffer[frame.pos] as number;
  frame.pos += 1;
  return value;
}

function readPresence(frame: FrameReader, field: string): boolean {
  const value = readU8(frame, field);
  if (value > 1) throw new FrameError(`${field}: must be 0 or 1, got ${value}`);
  return value === 1;
}

function readF64(frame: FrameReader, field: string): number {
  need(frame, 8, field);
  const value = frame.buffer.readDoubleLE(frame.pos);
  frame.pos += 8;
  return value;
}

function readVersion(frame: FrameReader, field: string): number {
  const value = readF64(frame, field);
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_VERSION) {
    throw new FrameError(`${field}: must be a whole number from 1 to ${MAX_VERSION}, got ${value}`);
  }
  return value;
}

function readEpochMs(frame: FrameReader, field: string): number {
  const value = readF64(frame, field);
  if (!Number.isSafeInteger(value)) throw new FrameError(`${field}: must be a whole number of epoch ms, got ${value}`);
  return value;
}

function readCount(frame: FrameReader, field: string): number {
  const value = readF64(frame, field);
  if (!Number.isSafeInteger(value) || value < 0) throw new FrameError(`${field}: must be a whole number of at least 0, got ${value}`);
  return value;
}

/** Reads `u16 length + UTF-8`, refusing bytes that are not well-formed UTF-8. */
function readString(frame: FrameReader, field: string): string {
  need(frame, 2, field);
  const buffer = frame.buffer;
  const bytes = (buffer[frame.pos] as number) | ((buffer[frame.pos + 1] as number) << 8);
  frame.pos += 2;
  need(frame, bytes, field);
  const start = frame.pos;
  const text = buffer.toString('utf8', start, start + bytes);
  // Decoding replaces every ill-formed sequence with U+FFFD, so a string without one was valid;
  // only one with a U+FFFD (rare, and possibly genuine) needs the full check.
  if (text.includes('\uFFFD') && !isUtf8(buffer.subarray(start, start + bytes))) {
    throw new FrameError(`${field}: is not well-formed UTF-8`);
  }
  frame.pos += bytes;
  return text;
}

function readKey(frame: FrameReader): string {
  const start = frame.pos;
  const key = readString(frame, 'key');
  const bytes = frame.pos - start - 2;
  if (bytes < 1 || bytes > MAX_KEY_BYTES) throw new FrameError(`key: must be 1 to ${MAX_KEY_BYTES} bytes of UTF-8, got ${bytes}`);
  return key;
}

/** The field names a version's errors give, made once per place it is read rather than per read. */
interface MetaFieldNames {
  readonly flags: string;
  readonly version: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly writerId: string;
}

function metaFieldNames(path: string): MetaFieldNames {
  return {
    flags: `${path}.flags`,
    version: `${path}.version`,
    createdAt: `${path}.createdAt`,
    expiresAt: `${path}.expiresAt`,
    writerId: `${path}.writerId`,
  };
}

const HEAD_META_FIELDS = metaFieldNames('meta');
const RECORD_META_FIELDS = metaFieldNames('record');

/** Reads and checks a version's fields; `names` names them in errors. */
function readMeta(frame: FrameReader, names: MetaFieldNames): VersionMeta {
  const flags = readU8(frame, names.flags);
  if ((flags & ~(FLAG_TOMBSTONE | FLAG_EXPIRES)) !== 0) throw new FrameError(`${names.flags}: unknown bits in 0x${flags.toString(16)}`);
  const version = readVersion(frame, names.version);
  const createdAt = readEpochMs(frame, names.createdAt);
  const expiresRaw = readEpochMs(frame, names.expiresAt);
  if ((flags & FLAG_EXPIRES) === 0 && expiresRaw !== 0)
    throw new FrameError(`${names.expiresAt}: must be 0 when absent, got ${expiresRaw}`);
  const writerId = readString(frame, names.writerId);
  if (writerId.length < 1 || writerId.length > WRITER_ID_LENGTH_MAX) {
    throw new FrameError(`${names.writerId}: must be 1 to ${WRITER_ID_LENGTH_MAX} characters, got ${writerId.length}`);
  }
  return {
    version,
    writerId,
    createdAt,
    expiresAt: (flags & FLAG_EXPIRES) === 0 ? null : expiresRaw,
    tombstone: (flags & FLAG_TOMBSTONE) !== 0,
  };
}

function readRecord(frame: FrameReader, copy: boolean): VersionedValue {
  const meta = readMeta(frame, RECORD_META_FIELDS);
  const updatedAt = readEpochMs(frame, 'record.updatedAt');
  need(frame, 4, 'record.value');
  const buffer = frame.buffer;
  const bytes = readU32(buffer, frame.pos);
  frame.pos += 4;
  need(frame, bytes, 'record.value');
  const offset = buffer.byteOffset + frame.pos;
  const value = copy ? new Uint8Array(buffer.buffer.slice(offset, offset + bytes)) : new Uint8Array(buffer.buffer, offset, bytes);
  frame.pos += bytes;
  return {
    value,
    version: meta.version,
    writerId: meta.writerId,
    createdAt: meta.createdAt,
    updatedAt,
    expiresAt: meta.expiresAt,
    tombstone: meta.tombstone,
  };
}
