/**
 * The client side of the floor servers (benchmarks/resp/floor.ts): a RESP connection that parses
 * multibulk commands straight off the socket's chunks (no strings or arrays per argument: offsets
 * into the chunk) and writes its replies in request order, all the replies a connection has ready
 * in one write per flush. Shared by every floor target so that they differ only in what happens
 * between a command and its reply.
 */
import type { Socket } from 'node:net';

/** The most arguments a command may have; redis-benchmark's GET, SET and CONFIG GET need 3. */
const MAX_ARGS = 16;
/** The most bytes a connection may hold unparsed (a command larger than this closes it). */
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

/** A command parsed off a connection: argument i is `buf[starts[i]..ends[i])`, valid only during the callback. */
export interface Command {
  buf: Buffer;
  argc: number;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
}

/** What a command is, from its name's bytes (no string made for it). */
export type CommandName = 'get' | 'set' | 'info' | 'other';

/** The name of `cmd`'s first argument, case-insensitively, as far as the floor servers care. */
export function commandName(cmd: Command): CommandName {
  const s = cmd.starts[0] ?? 0;
  const length = (cmd.ends[0] ?? 0) - s;
  const b = cmd.buf;
  if (length === 3 && ((b[s + 1] ?? 0) | 0x20) === 0x65 && ((b[s + 2] ?? 0) | 0x20) === 0x74) {
    const first = (b[s] ?? 0) | 0x20;
    if (first === 0x67) return 'get';
    if (first === 0x73) return 'set';
  }
  if (length === 4 && b.toString('latin1', s, s + 4).toUpperCase() === 'INFO') return 'info';
  return 'other';
}

/** The reply `+OK`, shared (a reply buffer is never written to after it is queued). */
export const OK_REPLY = Buffer.from('+OK\r\n');
/** The null bulk reply (a missing key). */
export const NIL_REPLY = Buffer.from('$-1\r\n');
/** The empty array, the answer to anything else (redis-benchmark's CONFIG GET at start-up). */
export const EMPTY_ARRAY_REPLY = Buffer.from('*0\r\n');

/** A bulk string reply `$<n>\r\n<value>\r\n` in one buffer. */
export function bulkReply(value: Buffer): Buffer {
  const header = `$${value.length}\r\n`;
  const out = Buffer.allocUnsafe(header.length + value.length + 2);
  const at = out.write(header, 0, 'latin1');
  value.copy(out, at);
  out[at + value.length] = 13;
  out[at + value.length + 1] = 10;
  return out;
}

/**
 * One client connection. Each command gets a sequence number; {@link reply} puts replies in
 * sequence order (a reply that comes early is parked until those before it are queued), and
 * {@link Flusher.flush} writes what is queued in one write.
 */
export class RespClient {
  private rest: Buffer | null = null;
  private nextSeq = 0;
  private nextReply = 0;
  private readonly parked = new Map<number, Buffer>();
  private out: Buffer[] = [];
  private outBytes = 0;
  /** Whether it is in the flusher's list already. */
  dirty = false;

  constructor(
    readonly socket: Socket,
    private readonly flusher: Flusher,
  ) {}

  /** Parses the complete commands of `chunk` (and of what an earlier chunk left), calling `onCommand` with each and its sequence number. */
  feed(chunk: Buffer, cmd: Command, onCommand: (client: RespClient, cmd: Command, seq: number) => void): void {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    const end = buf.length;
    const starts = cmd.starts;
    const ends = cmd.ends;
    cmd.buf = buf;
    let pos = 0;
    for (;;) {
      if (pos >= end) break;
      if (buf[pos] !== 0x2a) throw new Error('the floor servers take multibulk commands only');
      let p = pos + 1;
      let argc = 0;
      while (p < end && buf[p] !== 13) argc = argc * 10 + (buf[p++] as number) - 48;
      if (p + 1 >= end) break;
      p += 2;
      if (argc < 1 || argc > MAX_ARGS) throw new Error(`a command of ${argc} arguments`);
      let complete = true;
      for (let i = 0; i < argc; i += 1) {
        if (p >= end) {
          complete = false;
          break;
        }
        if (buf[p] !== 0x24) throw new Error('a multibulk argument that is not a bulk string');
        let length = 0;
        p += 1;
        while (p < end && buf[p] !== 13) length = length * 10 + (buf[p++] as number) - 48;
        if (p + 1 >= end || p + 2 + length + 2 > end) {
          complete = false;
          break;
        }
        p += 2;
        starts[i] = p;
        ends[i] = p + length;
        p += length + 2;
      }
      if (!complete) break;
      cmd.argc = argc;
      onCommand(this, cmd, this.nextSeq++);
      pos = p;
    }
    this.rest = pos >= end ? null : buf.subarray(pos);
    if (this.rest !== null && this.rest.length > MAX_PENDING_BYTES) throw new Error('a command larger than the floor servers take');
  }

  /** Queues the reply to command `seq`, in order. */
  reply(seq: number, data: Buffer): void {
    if (seq !== this.nextReply) {
      this.parked.set(seq, data);
      return;
    }
    this.queue(data);
    while (this.parked.size > 0) {
      const next = this.parked.get(this.nextReply);
      if (next === undefined) break;
      this.parked.delete(this.nextReply);
      this.queue(next);
    }
  }

  private queue(data: Buffer): void {
    this.nextReply += 1;
    this.out.push(data);
    this.outBytes += data.length;
    if (!this.dirty) {
      this.dirty = true;
      this.flusher.dirty.push(this);
    }
  }

  /** Writes what is queued in one write. */
  write(): void {
    this.dirty = false;
    const out = this.out;
    if (out.length === 0) return;
    const data = out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    if (!this.socket.destroyed) this.socket.write(data);
  }
}

/** The connections with replies queued since the last flush; a server flushes at the end of each batch it handled. */
export class Flusher {
  dirty: RespClient[] = [];

  /** Writes every connection's queued replies, one write each. */
  flush(): void {
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    this.dirty = [];
    for (const client of dirty) client.write();
  }
}

/** A reusable {@link Command} (argument offsets only). */
export function newCommand(): Command {
  return { buf: Buffer.alloc(0), argc: 0, starts: new Int32Array(MAX_ARGS), ends: new Int32Array(MAX_ARGS) };
}
