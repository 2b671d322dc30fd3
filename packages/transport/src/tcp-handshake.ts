/**
 * The frames of the cluster-secret handshake on the binary internode port (see `internode-auth.ts`
 * for the proofs). With a secret set, before any request:
 *
 *   client -> server  HELLO     client nonce (32 bytes)
 *   server -> client  CHALLENGE server nonce (32 bytes), server proof (32 bytes)
 *   client -> server  AUTH      client proof (32 bytes)      (only once the server's proof checked)
 *   server -> client  AUTH_OK   empty
 *
 * All with request id 0. The client speaks first so that a multiplexed port, which tells binary
 * from HTTP by a connection's first bytes, can route it. A server with a secret closes a connection
 * whose first frame is not a HELLO, or whose proof is wrong, after an error frame with id 0 naming
 * why; nothing before AUTH_OK reaches the handler.
 */
import { FrameError } from './codec.js';
import { FRAME_HEADER_BYTES, FRAME_LENGTH_BYTES, type FrameReader, type FrameWriter, writeU32 } from './tcp-frame.js';

/** The largest handshake frame, length prefix included: a peer that has not proved the secret may announce no more. */
export const HANDSHAKE_MAX_FRAME_BYTES = FRAME_HEADER_BYTES + 64;

/** Appends a handshake frame of `kind` carrying `payload`, with request id 0. */
export function writeHandshakeFrame(writer: FrameWriter, kind: number, payload: Buffer): void {
  const bytes = FRAME_HEADER_BYTES + payload.length;
  writer.ensure(bytes);
  const buffer = writer.buffer;
  const at = writer.pos;
  writeU32(buffer, at, bytes - FRAME_LENGTH_BYTES);
  writeU32(buffer, at + FRAME_LENGTH_BYTES, 0);
  buffer[at + 8] = kind;
  payload.copy(buffer, at + FRAME_HEADER_BYTES);
  writer.pos += bytes;
}

/**
 * The current frame's payload as a copy, checked to be a handshake frame of `kind` with exactly
 * `bytes` of payload. @throws FrameError naming what differs.
 */
export function readHandshakePayload(reader: FrameReader, kind: number, bytes: number): Buffer {
  if (reader.kind !== kind || reader.id !== 0) {
    throw new FrameError(
      `expected handshake frame kind 0x${kind.toString(16)} with id 0, got kind 0x${reader.kind.toString(16)} with id ${reader.id}`,
    );
  }
  if (reader.end - reader.pos !== bytes) {
    throw new FrameError(`handshake frame kind 0x${kind.toString(16)} must carry ${bytes} bytes, got ${reader.end - reader.pos}`);
  }
  return Buffer.from(reader.buffer.subarray(reader.pos, reader.end));
}
