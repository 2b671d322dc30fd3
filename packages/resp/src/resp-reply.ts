/**
 * The reply side of RESP: reply values as commands build them, and their encoding in RESP2 or
 * RESP3 (the protocol a connection chose with HELLO). Types RESP2 lacks fall back as Redis does:
 * a map is a flat array of key and value, a set an array, a double a bulk string, a verbatim
 * string a bulk string, null a null bulk string (`$-1`) or, for a null array, `*-1`.
 */

/** A reply a command returns, before it is encoded for the connection's protocol. */
export type RespReply =
  | { readonly type: 'simple'; readonly text: string }
  | { readonly type: 'error'; readonly text: string }
  | { readonly type: 'integer'; readonly value: number }
  | { readonly type: 'bulk'; readonly value: Uint8Array | string }
  | { readonly type: 'null' }
  | { readonly type: 'nullArray' }
  | { readonly type: 'array'; readonly items: readonly RespReply[] }
  | { readonly type: 'map'; readonly entries: readonly (readonly [RespReply, RespReply])[] }
  | { readonly type: 'set'; readonly items: readonly RespReply[] }
  | { readonly type: 'double'; readonly value: number }
  | { readonly type: 'verbatim'; readonly format: string; readonly text: string };

/** The protocol versions HELLO can choose. */
export type RespProtocol = 2 | 3;

/** Reply builders, so commands read as what they answer. */
export const reply = {
  ok: { type: 'simple', text: 'OK' } as RespReply,
  null: { type: 'null' } as RespReply,
  simple: (text: string): RespReply => ({ type: 'simple', text }),
  /** An error; `text` starts with its code (`ERR ...`, `QUORUM_NOT_MET ...`). CR and LF become spaces, as Redis does. */
  error: (text: string): RespReply => ({ type: 'error', text: text.replace(/[\r\n]/g, ' ') }),
  integer: (value: number): RespReply => ({ type: 'integer', value }),
  bulk: (value: Uint8Array | string): RespReply => ({ type: 'bulk', value }),
  array: (items: readonly RespReply[]): RespReply => ({ type: 'array', items }),
  map: (entries: readonly (readonly [RespReply, RespReply])[]): RespReply => ({ type: 'map', entries }),
  set: (items: readonly RespReply[]): RespReply => ({ type: 'set', items }),
  double: (value: number): RespReply => ({ type: 'double', value }),
  verbatim: (text: string, format = 'txt'): RespReply => ({ type: 'verbatim', format, text }),
} as const;

/** Encodings written so often that they are made once: OK alone, and the end of a bulk string. */
const OK_BYTES = Buffer.from('+OK\r\n');
const CRLF_TEXT = '\r\n';
const CRLF_BYTES = Buffer.from(CRLF_TEXT);
const OK_TEXT = '+OK\r\n';
const NO_PARTS: readonly Buffer[] = Object.freeze([]);

/**
 * Collects encoded replies as a list of buffers: text pieces are gathered in a string and turned
 * into one buffer when a binary value (a stored value, never copied) comes or the writer is taken,
 * so a pipeline of small replies leaves as a few buffers.
 */
export class ReplyWriter {
  private readonly parts: Buffer[] = [];
  private text = '';
  private bytes = 0;
  /** The header of the last bulk string of a stored value, kept for the next one of the same length (values of one size are the common load). */
  private bulkHeader: Buffer = CRLF_BYTES;
  private bulkHeaderLength = -1;

  /** Bytes written so far. */
  get byteLength(): number {
    return this.bytes + Buffer.byteLength(this.text);
  }

  /** Appends `reply` encoded in `protocol`. */
  write(value: RespReply, protocol: RespProtocol): void {
    switch (value.type) {
      case 'simple':
        this.text += `+${value.text}\r\n`;
        return;
      case 'error':
        this.text += `-${value.text}\r\n`;
        return;
      case 'integer':
        this.text += `:${value.value}\r\n`;
        return;
      case 'bulk':
        this.bulk(value.value);
        return;
      case 'null':
        this.text += protocol === 3 ? '_\r\n' : '$-1\r\n';
        return;
      case 'nullArray':
        this.text += protocol === 3 ? '_\r\n' : '*-1\r\n';
        return;
      case 'array':
        this.text += `*${value.items.length}\r\n`;
        for (const item of value.items) this.write(item, protocol);
        return;
      case 'set':
        this.text += `${protocol === 3 ? '~' : '*'}${value.items.length}\r\n`;
        for (const item of value.items) this.write(item, protocol);
        return;
      case 'map':
        this.text += protocol === 3 ? `%${value.entries.length}\r\n` : `*${value.entries.length * 2}\r\n`;
        for (const [k, v] of value.entries) {
          this.write(k, protocol);
          this.write(v, protocol);
        }
        return;
      case 'double':
        if (protocol === 3) this.text += `,${formatDouble(value.value)}\r\n`;
        else this.bulk(formatDouble(value.value));
        return;
      case 'verbatim':
        if (protocol === 3) this.text += `=${Buffer.byteLength(value.text) + 4}\r\n${value.format}:${value.text}\r\n`;
        else this.bulk(value.text);
        return;
    }
  }

  /** The buffers written, in order; the writer is empty afterwards. The buffers may be shared constants: they must not be changed. */
  take(): readonly Buffer[] {
    this.flushText();
    if (this.parts.length === 0) return NO_PARTS;
    const parts = this.parts.splice(0);
    this.bytes = 0;
    return parts;
  }

  private bulk(value: Uint8Array | string): void {
    if (typeof value === 'string') {
      this.text += `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
      return;
    }
    if (this.text.length > 0) {
      this.text += `$${value.byteLength}\r\n`;
      this.flushText();
    } else {
      if (this.bulkHeaderLength !== value.byteLength) {
        this.bulkHeader = Buffer.from(`$${value.byteLength}\r\n`);
        this.bulkHeaderLength = value.byteLength;
      }
      this.parts.push(this.bulkHeader);
      this.bytes += this.bulkHeader.length;
    }
    const buffer = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    this.parts.push(buffer);
    this.bytes += buffer.length;
    this.text = CRLF_TEXT;
  }

  private flushText(): void {
    if (this.text.length === 0) return;
    const buffer = this.text === CRLF_TEXT ? CRLF_BYTES : this.text === OK_TEXT ? OK_BYTES : Buffer.from(this.text, 'utf8');
    this.parts.push(buffer);
    this.bytes += buffer.length;
    this.text = '';
  }
}

/** A double as RESP3 writes it: `inf`, `-inf`, `nan`, else the shortest decimal. */
function formatDouble(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  return String(value);
}

/** `reply` encoded in `protocol` as one buffer (tests and small replies). */
export function encodeReply(value: RespReply, protocol: RespProtocol): Buffer {
  const writer = new ReplyWriter();
  writer.write(value, protocol);
  return Buffer.concat(writer.take());
}
