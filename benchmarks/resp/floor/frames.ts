/**
 * The floor's internode protocol (benchmarks/resp/floor.ts): length-prefixed binary frames on
 * one persistent TCP connection per peer, the least a replicated request can carry.
 *
 * Request: u32 body length, u32 id, u8 op, u16 key length, key, and for {@link OP_SET} a u32
 * version and the value (the rest of the body). Answer: u32 body length, u32 id, u8 status (1:
 * found or stored, 0: missing), u32 version, and for {@link OP_GET} the value (the rest). A
 * digest read ({@link OP_DIGEST}) answers the version only, as dkv's digest reads do.
 *
 * Frames are encoded into one staging buffer per connection and taken out as one buffer per
 * batch (one write), and read back from a connection's chunks without copying.
 */

/** Read a key's version only. */
export const OP_DIGEST = 1;
/** Read a key's version and value. */
export const OP_GET = 2;
/** Store a key's value with a version. */
export const OP_SET = 3;

/** Bytes of an answer's body before its value: id, status, version. */
export const ANSWER_HEAD_BYTES = 9;
/** Bytes of a request's body before its key: id, op, key length. */
export const REQUEST_HEAD_BYTES = 7;

/** A staging buffer that a batch of frames is encoded into, taken out as one buffer per write. */
export class FrameWriter {
  private buf = Buffer.allocUnsafe(256 * 1024);
  /** Bytes encoded since the last {@link take}. */
  length = 0;

  private room(bytes: number): Buffer {
    if (this.length + bytes > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + bytes));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    return this.buf;
  }

  /** A read (OP_DIGEST or OP_GET) of the key `keyBuf[keyStart..keyEnd)`. */
  request(id: number, op: number, keyBuf: Buffer, keyStart: number, keyEnd: number): void {
    const keyLength = keyEnd - keyStart;
    const buf = this.room(4 + REQUEST_HEAD_BYTES + keyLength);
    let at = this.length;
    buf.writeUInt32LE(REQUEST_HEAD_BYTES + keyLength, at);
    buf.writeUInt32LE(id, at + 4);
    buf[at + 8] = op;
    buf.writeUInt16LE(keyLength, at + 9);
    at += 11;
    keyBuf.copy(buf, at, keyStart, keyEnd);
    this.length = at + keyLength;
  }

  /** A read (OP_DIGEST or OP_GET) of `key`, encoded as UTF-8 straight into the frame (the HTTP face's keys are strings). */
  requestKey(id: number, op: number, key: string): void {
    const buf = this.room(4 + REQUEST_HEAD_BYTES + key.length * 3);
    const at = this.length;
    const keyLength = buf.write(key, at + 11, 'utf8');
    buf.writeUInt32LE(REQUEST_HEAD_BYTES + keyLength, at);
    buf.writeUInt32LE(id, at + 4);
    buf[at + 8] = op;
    buf.writeUInt16LE(keyLength, at + 9);
    this.length = at + 11 + keyLength;
  }

  /** A write of `valueBuf[valueStart..valueEnd)` at `version` to `key`, encoded as UTF-8 straight into the frame. */
  setKey(id: number, key: string, version: number, valueBuf: Buffer, valueStart: number, valueEnd: number): void {
    const valueLength = valueEnd - valueStart;
    const buf = this.room(4 + REQUEST_HEAD_BYTES + key.length * 3 + 4 + valueLength);
    const start = this.length;
    const keyLength = buf.write(key, start + 11, 'utf8');
    buf.writeUInt32LE(REQUEST_HEAD_BYTES + keyLength + 4 + valueLength, start);
    buf.writeUInt32LE(id, start + 4);
    buf[start + 8] = OP_SET;
    buf.writeUInt16LE(keyLength, start + 9);
    let at = start + 11 + keyLength;
    buf.writeUInt32LE(version, at);
    at += 4;
    valueBuf.copy(buf, at, valueStart, valueEnd);
    this.length = at + valueLength;
  }

  /** A write of `valueBuf[valueStart..valueEnd)` at `version` to the key `keyBuf[keyStart..keyEnd)`. */
  set(
    id: number,
    keyBuf: Buffer,
    keyStart: number,
    keyEnd: number,
    version: number,
    valueBuf: Buffer,
    valueStart: number,
    valueEnd: number,
  ): void {
    const keyLength = keyEnd - keyStart;
    const valueLength = valueEnd - valueStart;
    const buf = this.room(4 + REQUEST_HEAD_BYTES + keyLength + 4 + valueLength);
    let at = this.length;
    buf.writeUInt32LE(REQUEST_HEAD_BYTES + keyLength + 4 + valueLength, at);
    buf.writeUInt32LE(id, at + 4);
    buf[at + 8] = OP_SET;
    buf.writeUInt16LE(keyLength, at + 9);
    at += 11;
    keyBuf.copy(buf, at, keyStart, keyEnd);
    at += keyLength;
    buf.writeUInt32LE(version, at);
    at += 4;
    valueBuf.copy(buf, at, valueStart, valueEnd);
    this.length = at + valueLength;
  }

  /** An answer to request `id`, with `value` for an OP_GET that found the key. */
  answer(id: number, status: number, version: number, value: Buffer | null): void {
    const valueLength = value === null ? 0 : value.length;
    const buf = this.room(4 + ANSWER_HEAD_BYTES + valueLength);
    const at = this.length;
    buf.writeUInt32LE(ANSWER_HEAD_BYTES + valueLength, at);
    buf.writeUInt32LE(id, at + 4);
    buf[at + 8] = status;
    buf.writeUInt32LE(version, at + 9);
    if (value !== null) value.copy(buf, at + 13);
    this.length = at + 13 + valueLength;
  }

  /**
   * What was encoded since the last take, as a buffer of its own: the staging buffer is reused at
   * once, and a socket may still hold a buffer it was given after write() returned.
   */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.length);
    this.buf.copy(out, 0, 0, this.length);
    this.length = 0;
    return out;
  }
}

/** Splits a connection's chunks into frames; a frame cut across chunks waits for the rest. */
export class FrameReader {
  private rest: Buffer | null = null;

  /** Calls `onFrame(buf, bodyStart, bodyEnd)` for each complete frame of `chunk` (and of what an earlier chunk left). */
  feed(chunk: Buffer, onFrame: (buf: Buffer, start: number, end: number) => void): void {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    const end = buf.length;
    let pos = 0;
    while (pos + 4 <= end) {
      const length = buf.readUInt32LE(pos);
      if (pos + 4 + length > end) break;
      onFrame(buf, pos + 4, pos + 4 + length);
      pos += 4 + length;
    }
    this.rest = pos >= end ? null : buf.subarray(pos);
  }
}
