/**
 * The request side of RESP: a streaming parser of the commands a Redis client sends, as Redis's
 * own `processMultibulkBuffer` and `processInlineBuffer` (src/networking.c) parse them.
 *
 * - Multibulk (`*<n>\r\n` then n times `$<len>\r\n<bytes>\r\n`), what every client library sends,
 *   and inline commands (`GET k\r\n`, space-separated with Redis's quoting), what redis-cli sends
 *   when typed into by hand or fed by `nc`.
 * - Streaming: input arrives in chunks cut anywhere; a command is returned once complete, and
 *   the state in between (arguments read so far, the bulk length awaited) is kept, so no byte is
 *   parsed twice. While a long bulk string arrives, chunks are collected and joined once.
 * - Zero-copy: arguments are `subarray` views of the input chunk that holds them (a chunk joined
 *   from several is the one copy). They live as long as the command that holds them. A name
 *   spelled `GET`, `get`, `SET` or `set` is a buffer shared by all commands instead (the same
 *   bytes, no view made): arguments are read, never written to.
 * - Bounds checked before anything is allocated for them: the argument count, each bulk length,
 *   a line without its end (inline command or length header), and the bytes of one command.
 *   A breach is a {@link RespProtocolError} with Redis's text; the server answers it and closes.
 */

/** The limits on what one command may announce or contain. */
export interface RespParserLimits {
  /** Most arguments of one multibulk command (Redis took 1024*1024 before 7.0). */
  readonly maxArgs: number;
  /** Longest bulk string (one argument), in bytes. */
  readonly maxBulkBytes: number;
  /** Longest inline command, and longest `*`/`$` header line, in bytes (Redis: 64 KiB). */
  readonly maxInlineBytes: number;
  /** Most bytes of one command: its arguments' bytes plus {@link ARG_OVERHEAD_BYTES} each. */
  readonly maxCommandBytes: number;
}

/** What an argument costs beyond its bytes (the view object, the array slot), counted against `maxCommandBytes`. */
export const ARG_OVERHEAD_BYTES = 64;

/** Redis's inline and header limit (PROTO_INLINE_MAX_SIZE). */
export const DEFAULT_MAX_INLINE_BYTES = 64 * 1024;
/** Redis's multibulk count limit before 7.0 (1024*1024). */
export const DEFAULT_MAX_ARGS = 1024 * 1024;
/** Most arguments of one command from a connection that has not authenticated yet (Redis: 10). */
export const UNAUTHENTICATED_MAX_ARGS = 10;
/** Longest bulk string from a connection that has not authenticated yet (Redis: 16384 bytes). */
export const UNAUTHENTICATED_MAX_BULK_BYTES = 16 * 1024;

/**
 * A request that breaks the protocol or a bound. `message` is Redis's reply text without the
 * `ERR ` prefix (`Protocol error: invalid bulk length`); the connection is closed after it.
 */
export class RespProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespProtocolError';
  }
}

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;
const EMPTY = Buffer.alloc(0);
/** Commands of up to this many arguments get their array sized from the header. */
const PRESIZED_ARGS = 16;
/** Redis reads lengths into a signed 32-bit int for counts. */
const INT_MAX = 2 ** 31 - 1;

/**
 * One connection's parser. {@link feed} appends a chunk; {@link next} returns the next complete
 * command (its arguments) or null when more input is needed, and throws a
 * {@link RespProtocolError} when the input is bad (every later call throws it again).
 * The caller decides how many commands it takes out, which is how it applies back-pressure: what
 * it leaves is kept, unparsed, until it asks again.
 */
export class RespParser {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Chunks received while a bulk string is incomplete, joined once `need` bytes are there. */
  private waiting: Buffer[] = [];
  private waitingBytes = 0;
  /** Bytes needed in `buf` from `pos` before parsing can go on (0: any new byte may help). */
  private need = 0;
  /**
   * Waiting for the end of a line (an inline command or a header): a chunk without CR or LF
   * cannot complete it, so it is only collected, and the line is not searched again per byte.
   */
  private awaitingLineEnd = false;
  /** The multibulk command being read: its arguments so far, how many are left, the bulk length awaited (-1: a header). */
  private args: Buffer[] | null = null;
  /** Arguments of it read so far (its next argument's index). */
  private argsRead = 0;
  private argsLeft = 0;
  private bulkLength = -1;
  private commandBytes = 0;
  private failure: RespProtocolError | null = null;
  /**
   * While true (a connection that must authenticate and has not), commands are held to Redis's
   * pre-auth limits: at most {@link UNAUTHENTICATED_MAX_ARGS} arguments of at most
   * {@link UNAUTHENTICATED_MAX_BULK_BYTES} bytes; beyond, `unauthenticated multibulk length` /
   * `unauthenticated bulk length`. The server sets it before each command it takes out, so an
   * `AUTH` lifts the limits from the next command of the same pipeline, as in Redis.
   */
  unauthenticated = false;

  constructor(private readonly limits: RespParserLimits) {}

  /** Appends a chunk of input. The parser keeps views of it until the commands in it are taken. */
  feed(chunk: Buffer): void {
    if (chunk.length === 0 || this.failure !== null) return;
    if (this.pos >= this.buf.length && this.waitingBytes === 0) {
      this.buf = chunk;
      this.pos = 0;
      return;
    }
    this.waiting.push(chunk);
    this.waitingBytes += chunk.length;
    if (this.awaitingLineEnd && (chunk.includes(LF) || chunk.includes(CR))) this.awaitingLineEnd = false;
  }

  /** Bytes received and not yet returned as commands (what the connection holds for this parser). */
  get bufferedBytes(): number {
    return this.buf.length - this.pos + this.waitingBytes;
  }

  /** The next complete command, or null when more input is needed. Throws {@link RespProtocolError}. */
  next(): Buffer[] | null {
    if (this.failure !== null) throw this.failure;
    if (this.waitingBytes > 0) {
      const held = this.buf.length - this.pos + this.waitingBytes;
      if (this.awaitingLineEnd ? held <= this.limits.maxInlineBytes : held < this.need) return null;
      this.join();
    }
    this.need = 0;
    this.awaitingLineEnd = false;
    try {
      const command = this.parse();
      if (command === null) this.compact();
      return command;
    } catch (error) {
      if (error instanceof RespProtocolError) {
        this.failure = error;
        this.buf = EMPTY;
        this.pos = 0;
        this.args = null;
      }
      throw error;
    }
  }

  private parse(): Buffer[] | null {
    for (;;) {
      if (this.args === null) {
        if (this.pos >= this.buf.length) return null;
        if (this.buf[this.pos] !== STAR) {
          const inline = this.parseInline();
          if (inline === null) return null;
          if (inline.length === 0) continue;
          return inline;
        }
        const count = this.readHeader('too big mbulk count string');
        if (count === null) return null;
        if (count === undefined || count > INT_MAX || count > this.limits.maxArgs)
          throw new RespProtocolError('Protocol error: invalid multibulk length');
        if (this.unauthenticated && count > UNAUTHENTICATED_MAX_ARGS)
          throw new RespProtocolError('Protocol error: unauthenticated multibulk length');
        if (count <= 0) continue;
        // Sized at once when small (a `[]` grown by one push holds room for 17); a large count
        // grows with the arguments that arrive, so that no memory is taken on a header's word.
        this.args = count <= PRESIZED_ARGS ? new Array<Buffer>(count) : [];
        this.argsRead = 0;
        this.argsLeft = count;
        this.bulkLength = -1;
        this.commandBytes = 0;
      }
      if (!this.parseArguments()) return null;
      const command = this.args;
      this.args = null;
      return command;
    }
  }

  /** Reads arguments of the current multibulk command; true when all have arrived. */
  private parseArguments(): boolean {
    const args = this.args as Buffer[];
    while (this.argsLeft > 0) {
      if (this.bulkLength < 0) {
        if (this.pos >= this.buf.length) return false;
        const first = this.buf[this.pos] as number;
        const length = this.readHeader('too big bulk count string');
        if (length === null) return false;
        if (first !== DOLLAR) throw new RespProtocolError(`Protocol error: expected '$', got '${String.fromCharCode(first)}'`);
        if (length === undefined || length < 0 || length > this.limits.maxBulkBytes)
          throw new RespProtocolError('Protocol error: invalid bulk length');
        if (this.unauthenticated && length > UNAUTHENTICATED_MAX_BULK_BYTES)
          throw new RespProtocolError('Protocol error: unauthenticated bulk length');
        this.commandBytes += length + ARG_OVERHEAD_BYTES;
        if (this.commandBytes > this.limits.maxCommandBytes)
          throw new RespProtocolError(`Protocol error: command larger than ${this.limits.maxCommandBytes} bytes`);
        this.bulkLength = length;
      }
      const end = this.pos + this.bulkLength;
      if (end + 2 > this.buf.length) {
        this.need = this.bulkLength + 2;
        return false;
      }
      if (this.buf[end] !== CR || this.buf[end + 1] !== LF)
        throw new RespProtocolError('Protocol error: expected CRLF after a bulk string');
      args[this.argsRead] =
        (this.argsRead === 0 && this.bulkLength === 3 && commonName(this.buf, this.pos)) || this.buf.subarray(this.pos, end);
      this.argsRead += 1;
      this.pos = end + 2;
      this.bulkLength = -1;
      this.argsLeft -= 1;
    }
    return true;
  }

  /**
   * Reads a `*<n>` or `$<n>` header line at `pos`: null when its end has not arrived (a protocol
   * error, named `tooBig`, once more than the inline limit is waiting without it), undefined when
   * the number is not a decimal integer, else the number; `pos` then points past the line.
   */
  private readHeader(tooBig: string): number | null | undefined {
    const cr = indexOfCr(this.buf, this.pos);
    if (cr < 0 || cr - this.pos > this.limits.maxInlineBytes) {
      if (this.buf.length - this.pos > this.limits.maxInlineBytes) throw new RespProtocolError(`Protocol error: ${tooBig}`);
      this.awaitingLineEnd = true;
      return null;
    }
    if (cr + 1 >= this.buf.length) return null;
    const value = parseDecimal(this.buf, this.pos + 1, cr);
    this.pos = cr + 2;
    return value;
  }

  /** An inline command (`SET k v\r\n`): null when its line has not arrived, [] for a blank line. */
  private parseInline(): Buffer[] | null {
    const lf = this.buf.indexOf(LF, this.pos);
    const limit = this.limits.maxInlineBytes;
    if (lf < 0 || lf - this.pos > limit) {
      if (this.buf.length - this.pos > limit) throw new RespProtocolError('Protocol error: too big inline request');
      this.awaitingLineEnd = true;
      return null;
    }
    const end = lf > this.pos && this.buf[lf - 1] === CR ? lf - 1 : lf;
    const line = this.buf.subarray(this.pos, end);
    this.pos = lf + 1;
    const args = splitInlineArgs(line);
    if (args === null) throw new RespProtocolError('Protocol error: unbalanced quotes in request');
    if (args.length > this.limits.maxArgs) throw new RespProtocolError('Protocol error: invalid multibulk length');
    return args;
  }

  /** Drops what was consumed, so a kept remainder does not pin the consumed part of its chunk longer than needed. */
  private compact(): void {
    if (this.pos === 0) return;
    this.buf = this.pos >= this.buf.length ? EMPTY : this.buf.subarray(this.pos);
    this.pos = 0;
  }

  private join(): void {
    const rest = this.buf.subarray(this.pos);
    this.buf = Buffer.concat([rest, ...this.waiting], rest.length + this.waitingBytes);
    this.pos = 0;
    this.waiting = [];
    this.waitingBytes = 0;
  }
}

/** Header lines up to this long are searched for their CR in JS; past it, by `indexOf`. */
const SHORT_LINE_BYTES = 24;

/**
 * The index of the first CR in `buf` from `start`, or -1. A header line (`*3`, `$2048`) is a few
 * bytes: looking at them here costs less than a call into `indexOf`'s binding, which takes over
 * for a longer line.
 */
function indexOfCr(buf: Buffer, start: number): number {
  const end = Math.min(buf.length, start + SHORT_LINE_BYTES);
  for (let i = start; i < end; i += 1) if (buf[i] === CR) return i;
  return end === buf.length ? -1 : buf.indexOf(CR, end);
}

/** The names nearly every command has, as clients spell them: shared by every command so named instead of a view made each time. */
const GET_UPPER = Buffer.from('GET');
const GET_LOWER = Buffer.from('get');
const SET_UPPER = Buffer.from('SET');
const SET_LOWER = Buffer.from('set');

/**
 * The shared buffer holding the 3 bytes at `buf[start]` when they are `GET`, `get`, `SET` or
 * `set`, else null. The bytes are the same as a view's: only the allocation differs.
 */
function commonName(buf: Buffer, start: number): Buffer | null {
  const a = buf[start] as number;
  const b = buf[start + 1] as number;
  const c = buf[start + 2] as number;
  if (a === 71 && b === 69 && c === 84) return GET_UPPER;
  if (a === 103 && b === 101 && c === 116) return GET_LOWER;
  if (a === 83 && b === 69 && c === 84) return SET_UPPER;
  if (a === 115 && b === 101 && c === 116) return SET_LOWER;
  return null;
}

/** A decimal integer (optional `-`) in `buf[start, end)`, or undefined when it is not one (as Redis's string2ll). */
function parseDecimal(buf: Buffer, start: number, end: number): number | undefined {
  if (start >= end || end - start > 20) return undefined;
  let i = start;
  let negative = false;
  if (buf[i] === 45) {
    negative = true;
    i += 1;
    if (i >= end) return undefined;
  }
  if (buf[i] === 48 && end - i > 1) return undefined;
  let value = 0;
  for (; i < end; i += 1) {
    const digit = (buf[i] as number) - 48;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  if (!Number.isSafeInteger(value)) return Number.MAX_SAFE_INTEGER;
  return negative ? -value : value;
}

const SPACE = new Set([32, 9, 10, 13, 11, 12]);

/**
 * Splits an inline command line as Redis's `sdssplitargs` does: arguments separated by blanks;
 * "double quotes" with `\n \r \t \b \a \\ \" \xHH` escapes; 'single quotes' with `\'`; a closing
 * quote must be followed by a blank or the end. Null for unbalanced quotes.
 */
export function splitInlineArgs(line: Buffer): Buffer[] | null {
  const args: Buffer[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    while (i < n && SPACE.has(line[i] as number)) i += 1;
    if (i >= n) return args;
    const quote = line[i];
    if (quote !== 34 && quote !== 39) {
      const start = i;
      while (i < n && !SPACE.has(line[i] as number) && line[i] !== 34 && line[i] !== 39) i += 1;
      if (i < n && (line[i] === 34 || line[i] === 39)) {
        // A quote inside a word starts a quoted part that continues the same argument.
        const rest = readQuoted(line, i);
        if (rest === null) return null;
        args.push(Buffer.concat([line.subarray(start, i), rest.bytes]));
        i = rest.end;
      } else {
        args.push(line.subarray(start, i));
      }
      continue;
    }
    const quoted = readQuoted(line, i);
    if (quoted === null) return null;
    args.push(quoted.bytes);
    i = quoted.end;
  }
}

/** A quoted part starting at `line[start]` (the quote): its bytes and the index after it, or null when unbalanced. */
function readQuoted(line: Buffer, start: number): { bytes: Buffer; end: number } | null {
  const quote = line[start];
  const out: number[] = [];
  let i = start + 1;
  const n = line.length;
  for (;;) {
    if (i >= n) return null;
    const c = line[i] as number;
    if (quote === 34 && c === 92 && i + 3 < n && line[i + 1] === 120 && isHex(line[i + 2] as number) && isHex(line[i + 3] as number)) {
      out.push(Number.parseInt(String.fromCharCode(line[i + 2] as number, line[i + 3] as number), 16));
      i += 4;
    } else if (quote === 34 && c === 92 && i + 1 < n) {
      const e = line[i + 1] as number;
      out.push(e === 110 ? 10 : e === 114 ? 13 : e === 116 ? 9 : e === 98 ? 8 : e === 97 ? 7 : e);
      i += 2;
    } else if (quote === 39 && c === 92 && i + 1 < n && line[i + 1] === 39) {
      out.push(39);
      i += 2;
    } else if (c === quote) {
      // The closing quote must be followed by a blank or the end of the line.
      if (i + 1 < n && !SPACE.has(line[i + 1] as number)) return null;
      return { bytes: Buffer.from(out), end: i + 1 };
    } else {
      out.push(c);
      i += 1;
    }
  }
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}
