/**
 * The framing of the binary internode protocol (see `tcp-codec.ts` for what a frame carries).
 *
 * A frame is `[u32 length][u32 requestId][u8 kind][payload]`, integers little-endian, where
 * `length` counts the bytes after itself (9 + payload - 4, so at least 5). The request id lets
 * many requests share one connection and be answered in any order; the kind says what the
 * payload is. {@link FrameWriter} appends frames to big slabs so that all the frames of one
 * event-loop turn leave in one `socket.write`; {@link FrameReader} cuts a byte stream, split or
 * merged any way TCP likes, back into frames without copying the ones that arrive whole.
 */
import { FrameError } from './codec.js';

/** Bytes of the length prefix. */
export const FRAME_LENGTH_BYTES = 4;
/** Bytes of the whole header: length, request id and kind. */
export const FRAME_HEADER_BYTES = 9;

/** The kinds of frame. A response's kind is its request's kind with the high bit set. */
export const FrameKind = {
  GET: 0x01,
  HEAD: 0x02,
  PUT: 0x03,
  PING: 0x04,
  /** The cluster-secret handshake (`internode-auth.ts`): the client's nonce. */
  HELLO: 0x10,
  /** The handshake: the client's proof of the secret. */
  AUTH: 0x11,
  /** Any other request, as a MessagePack frame of the HTTP codec (see `tcp-codec.ts`). */
  MSGPACK: 0x0f,
  GET_RESPONSE: 0x81,
  HEAD_RESPONSE: 0x82,
  PUT_RESPONSE: 0x83,
  PING_RESPONSE: 0x84,
  MSGPACK_RESPONSE: 0x8f,
  /** The handshake: the server's nonce and its proof of the secret. */
  CHALLENGE: 0x90,
  /** The handshake: the server accepted the client's proof; requests may follow. */
  AUTH_OK: 0x91,
  /** The request failed on the server; the payload is a UTF-8 reason. Id 0: the connection failed. */
  ERROR: 0xff,
} as const;

/** The bit a response kind adds to its request kind. */
export const RESPONSE_KIND_BIT = 0x80;

/**
 * The memory first set aside for a frame that arrives in pieces; it grows as bytes arrive. Small
 * enough that thousands of connections announcing huge frames cost little, large enough that most
 * frames need no growing.
 */
export const PARTIAL_FRAME_INITIAL_BYTES = 16 * 1024;

/** The default size of a {@link FrameWriter} slab: frames of one turn usually fit in one. */
export const DEFAULT_SLAB_BYTES = 64 * 1024;

const NEVER_RELEASED = (): boolean => false;

/**
 * Appends frames to slabs of memory for one connection. A codec calls {@link ensure} with an upper
 * bound of the frame's size, writes at `buffer[pos...]` and advances `pos`; {@link take} hands
 * the bytes written since the last take to the socket. A slab is never written again where it
 * was taken while the socket may still hold those bytes: only once `released` says the socket
 * has written everything it was given (its `writableLength` is 0) does the next frame start at
 * the slab's beginning again. So a connection that keeps up fills one slab over and over, where
 * it used to take a new 64 KiB ArrayBuffer each time one filled: on a storage node answering 2 KB
 * values that was megabytes of new external memory a second, and V8 answers external memory
 * with full collections (a mark-compact every 2-3 s on each node of a loaded cluster).
 */
export class FrameWriter {
  /** The slab being filled. */
  buffer: Buffer;
  /** Where the next byte goes in {@link buffer}. */
  pos = 0;
  private start = 0;
  private full: Buffer[] = [];
  private fullBytes = 0;

  /**
   * @param released whether the socket holds none of the bytes taken so far (it wrote them all);
   * by default never, and every slab is filled once.
   */
  constructor(
    private readonly slabBytes: number = DEFAULT_SLAB_BYTES,
    private readonly released: () => boolean = NEVER_RELEASED,
  ) {
    this.buffer = Buffer.allocUnsafeSlow(slabBytes);
  }

  /**
   * Makes room for `bytes` contiguous bytes at `pos`: from the slab's start again when everything
   * was taken and the socket released it, else after what was written, else in a new slab.
   */
  ensure(bytes: number): void {
    if (this.pos === this.start && this.pos !== 0 && this.full.length === 0 && this.released()) {
      this.start = 0;
      this.pos = 0;
    }
    if (this.buffer.length - this.pos >= bytes) return;
    if (this.pos > this.start) {
      this.full.push(this.buffer.subarray(this.start, this.pos));
      this.fullBytes += this.pos - this.start;
    }
    this.buffer = Buffer.allocUnsafeSlow(Math.max(bytes, this.slabBytes));
    this.start = 0;
    this.pos = 0;
  }

  /** Bytes written and not yet taken. */
  get pendingBytes(): number {
    return this.fullBytes + this.pos - this.start;
  }

  /** The bytes written since the last take, in order (usually one buffer); empty when none. */
  take(): Buffer[] {
    const chunks = this.full;
    if (this.pos > this.start) chunks.push(this.buffer.subarray(this.start, this.pos));
    this.start = this.pos;
    this.full = [];
    this.fullBytes = 0;
    // A nearly full slab is left to the next `ensure`: it starts the slab again if the socket has
    // released it by then, and takes a new one only if not.
    return chunks;
  }

  /** Drops the bytes written and not yet taken (the connection they were for is gone). */
  discard(): void {
    this.full = [];
    this.fullBytes = 0;
    this.pos = this.start;
  }
}

/**
 * Cuts a byte stream into frames. Feed it each chunk with {@link push}, then call {@link next}
 * until it returns false; after a true, the fields describe the current frame and `pos` is a
 * cursor over its payload for the codec. A frame that arrives whole is read where it lies in the
 * chunk; one split across chunks is gathered into memory of its own, grown as its bytes arrive
 * (never allocated at its announced length up front). Neither is ever reused, so a
 * view of a frame stays valid (it pins the chunk, which is why a replica copies what it keeps).
 *
 * A length below the header or above `maxFrameBytes` throws a {@link FrameError}; the stream has
 * lost its framing then, and the connection must be closed.
 */
export class FrameReader {
  /** The memory of the current frame. */
  buffer: Buffer = Buffer.alloc(0);
  /** The current frame's request id. */
  id = 0;
  /** The current frame's kind (see {@link FrameKind}). */
  kind = 0;
  /** The cursor over the current frame's payload; starts at the payload's first byte. */
  pos = 0;
  /** One past the current frame's last byte in {@link buffer}. */
  end = 0;

  private chunk: Buffer = Buffer.alloc(0);
  private offset = 0;
  private readonly lengthBytes = Buffer.alloc(FRAME_LENGTH_BYTES);
  private lengthFilled = 0;
  private partial: Buffer | null = null;
  private partialFilled = 0;
  /** The length of the frame being gathered, length prefix included. */
  private partialLength = 0;

  /**
   * @param maxFrameBytes the largest frame accepted, length prefix included. A server may lower it
   * while a peer has not proved the cluster secret and raise it after; it applies from the next frame.
   */
  constructor(public maxFrameBytes: number) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < FRAME_HEADER_BYTES) {
      throw new RangeError(`maxFrameBytes must be a whole number of at least ${FRAME_HEADER_BYTES}, got ${String(maxFrameBytes)}`);
    }
  }

  /**
   * Bytes of memory held for the frame being gathered. It grows as the frame's bytes arrive
   * (doubling, capped at the frame's length), so a peer that announces a large frame and sends
   * little costs little: at most twice what it sent, or {@link PARTIAL_FRAME_INITIAL_BYTES}.
   */
  get reservedBytes(): number {
    return this.partial?.length ?? 0;
  }

  /** Bytes received and not yet handed out as frames. */
  get bufferedBytes(): number {
    return this.chunk.length - this.offset + this.lengthFilled + this.partialFilled;
  }

  /** True while a frame has begun to arrive and is not complete (its length prefix included). */
  get midFrame(): boolean {
    return this.partial !== null || this.lengthFilled > 0 || this.chunk.length > this.offset;
  }

  /**
   * Adds the next chunk of the stream. Call it once {@link next} has returned false; before that,
   * the bytes not yet read are kept (with a copy) rather than lost.
   */
  push(chunk: Buffer): void {
    this.chunk = this.offset < this.chunk.length ? Buffer.concat([this.chunk.subarray(this.offset), chunk]) : chunk;
    this.offset = 0;
  }

  /**
   * Moves to the next whole frame: true when there is one, false when more bytes are needed.
   * @throws FrameError when the next frame's length is out of bounds.
   */
  next(): boolean {
    for (;;) {
      const available = this.chunk.length - this.offset;
      if (this.partial !== null) {
        const take = Math.min(available, this.partialLength - this.partialFilled);
        this.reserve(this.partialFilled + take);
        this.chunk.copy(this.partial, this.partialFilled, this.offset, this.offset + take);
        this.offset += take;
        this.partialFilled += take;
        if (this.partialFilled < this.partialLength) return false;
        const frame = this.partial;
        this.partial = null;
        this.partialFilled = 0;
        this.enter(frame, 0, frame.length);
        return true;
      }
      if (this.lengthFilled > 0 || available < FRAME_LENGTH_BYTES) {
        // The length prefix itself is split across chunks: gather its four bytes first.
        const take = Math.min(available, FRAME_LENGTH_BYTES - this.lengthFilled);
        if (take === 0) return false;
        this.chunk.copy(this.lengthBytes, this.lengthFilled, this.offset, this.offset + take);
        this.offset += take;
        this.lengthFilled += take;
        if (this.lengthFilled < FRAME_LENGTH_BYTES) return false;
        this.lengthFilled = 0;
        this.startPartial(this.checkedLength(readU32(this.lengthBytes, 0)) + FRAME_LENGTH_BYTES, FRAME_LENGTH_BYTES);
        (this.partial as unknown as Buffer).set(this.lengthBytes, 0);
        this.partialFilled = FRAME_LENGTH_BYTES;
        continue;
      }
      const frameBytes = this.checkedLength(readU32(this.chunk, this.offset)) + FRAME_LENGTH_BYTES;
      if (available >= frameBytes) {
        const start = this.offset;
        this.offset += frameBytes;
        this.enter(this.chunk, start, start + frameBytes);
        return true;
      }
      this.startPartial(frameBytes, available);
    }
  }

  /** Begins gathering a frame of `frameBytes`, with room for the `arrivedBytes` already here. */
  private startPartial(frameBytes: number, arrivedBytes: number): void {
    this.partialLength = frameBytes;
    this.partialFilled = 0;
    this.partial = Buffer.allocUnsafe(Math.min(frameBytes, Math.max(PARTIAL_FRAME_INITIAL_BYTES, arrivedBytes)));
  }

  /** Grows the partial frame's memory to hold `bytes`, doubling, never beyond the frame's length. */
  private reserve(bytes: number): void {
    const partial = this.partial as Buffer;
    if (bytes <= partial.length) return;
    const grown = Buffer.allocUnsafe(Math.min(this.partialLength, Math.max(bytes, 2 * partial.length)));
    partial.copy(grown, 0, 0, this.partialFilled);
    this.partial = grown;
  }

  private checkedLength(length: number): number {
    if (length < FRAME_HEADER_BYTES - FRAME_LENGTH_BYTES) {
      throw new FrameError(`invalid frame: length ${length} is below the ${FRAME_HEADER_BYTES - FRAME_LENGTH_BYTES} bytes of id and kind`);
    }
    if (length + FRAME_LENGTH_BYTES > this.maxFrameBytes) {
      throw new FrameError(`invalid frame: ${length + FRAME_LENGTH_BYTES} bytes is over the limit of ${this.maxFrameBytes} bytes`);
    }
    return length;
  }

  private enter(buffer: Buffer, start: number, end: number): void {
    this.buffer = buffer;
    this.id = readU32(buffer, start + FRAME_LENGTH_BYTES);
    this.kind = buffer[start + 8] as number;
    this.pos = start + FRAME_HEADER_BYTES;
    this.end = end;
  }
}

/** Reads a little-endian u32 without `readUInt32LE`'s argument checks; the caller checked the bounds. */
export function readU32(buffer: Buffer, at: number): number {
  return (
    ((buffer[at] as number) | ((buffer[at + 1] as number) << 8) | ((buffer[at + 2] as number) << 16)) +
    (buffer[at + 3] as number) * 0x1000000
  );
}

/** Writes a little-endian u32 without `writeUInt32LE`'s argument checks. */
export function writeU32(buffer: Buffer, at: number, value: number): void {
  buffer[at] = value;
  buffer[at + 1] = value >>> 8;
  buffer[at + 2] = value >>> 16;
  buffer[at + 3] = value >>> 24;
}

/** The size of a {@link ReadSlabs} slab. */
export const READ_SLAB_BYTES = 128 * 1024;
/** A read gets at least this much room; a slab with less left is retired (it stays alive while views of it do). */
export const READ_MIN_BYTES = 32 * 1024;

/**
 * Memory that sockets read into through the `onread` option of `net.connect`, so that a read
 * costs no Buffer of its own from Node (an ArrayBuffer per read, with its external-memory
 * accounting, and the Readable stream's push and 'data' event). Each read gets the unused tail of
 * a slab, and the bytes it filled are never handed out again: frames read from them may be
 * kept as views (see {@link FrameReader}), as with Node's own buffers. A slab with less than
 * {@link READ_MIN_BYTES} left is replaced by a fresh one. One instance serves one socket at a
 * time: a socket holds the memory it was given until its next read, so two sockets would read
 * into the same bytes. The first slab is allocated by the first {@link next}.
 */
export class ReadSlabs {
  private slab: Buffer = Buffer.alloc(0);
  private used = 0;

  /**
   * @param slabBytes the size of a slab (default {@link READ_SLAB_BYTES}); a socket holds up to
   * one slab while it is open, so a server with many connections gives each a smaller one.
   * @param minBytes the least room a read gets (default {@link READ_MIN_BYTES}), below `slabBytes`.
   */
  constructor(
    private readonly slabBytes: number = READ_SLAB_BYTES,
    private readonly minBytes: number = READ_MIN_BYTES,
  ) {
    if (!(minBytes > 0 && minBytes <= slabBytes)) throw new RangeError(`ReadSlabs: minBytes must be from 1 to slabBytes, got ${minBytes}`);
  }

  /** The memory for the next read (the `onread.buffer` function). */
  readonly next = (): Buffer => {
    if (this.slab.length - this.used < this.minBytes) {
      this.slab = Buffer.allocUnsafeSlow(this.slabBytes);
      this.used = 0;
    }
    return this.slab.subarray(this.used);
  };

  /**
   * The `bytes` a read put at the start of `into` (memory {@link next} gave), as a Buffer that
   * stays valid: they are marked used, and never given to a read again.
   */
  take(into: Uint8Array, bytes: number): Buffer {
    const buffer = into as Buffer;
    if (buffer.buffer === this.slab.buffer && buffer.byteOffset === this.slab.byteOffset + this.used) this.used += bytes;
    return buffer.subarray(0, bytes);
  }
}

/**
 * Collects the connections that queued frames during this event-loop turn and flushes each once,
 * from `setImmediate` (after the turn's I/O callbacks), so the frames of many requests leave in
 * one write per connection. Client and server share it.
 */
export class TurnFlusher<C extends { flush(): void }> {
  private dirty: C[] = [];
  private scheduled = false;

  /** Queues `connection` to be flushed at the end of this turn (the caller queues it once per turn). */
  schedule(connection: C): void {
    this.dirty.push(connection);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushAll);
  }

  private readonly flushAll = (): void => {
    this.scheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const connection of dirty) connection.flush();
  };
}
