/**
 * Moving an accepted socket's reads past the Readable stream, into memory of the caller's
 * (`onread`): the storage server's connections and the Redis door's (@dkv/resp) share it.
 */
import { Socket } from 'node:net';
import type { ReadSlabs } from './tcp-frame.js';

/**
 * A socket over the connection of `accepted` that reads into `slabs` (the `onread` option, which
 * Node takes only when a socket is created) and hands each read to `receive`, or null when
 * `accepted` cannot be re-created so (TLS, whose bytes come decrypted as 'data' events; a handle
 * that is not a TCP stream; bytes already buffered in its stream). The new socket reads at once
 * (nothing arrives before the caller returns to the event loop).
 *
 * Why: a read through the Readable stream costs a Buffer of Node's own (an ArrayBuffer with its
 * external-memory accounting), the stream's push and a 'data' event; measured with
 * `benchmarks/transport/wire-path.ts`, that was a large part of what a replica spent per request.
 * A listener cannot give `onread` to the sockets it accepts, so the accepted socket's handle
 * (`_handle`, the private field `net.Server` itself fills through the `handle` option) moves
 * to a socket made with it. The accepted socket stays open on paper until the new one closes:
 * its listener counts it among its connections (its `maxConnections`) until it is destroyed.
 */
export function readingInto(accepted: Socket, slabs: ReadSlabs, receive: (chunk: Buffer) => void): Socket | null {
  const shell = accepted as unknown as { _handle?: { useUserBuffer?: unknown } | null; encrypted?: boolean };
  const handle = shell._handle;
  if (shell.encrypted === true || handle == null || typeof handle.useUserBuffer !== 'function') return null;
  if (accepted.destroyed || accepted.readableLength > 0) return null;
  // `handle` is not among the typed options (it is how Node's own listener builds its sockets).
  // Not `pauseOnCreate`: with `onread`, `Socket.read` starts the handle reading whenever the
  // stream is not yet marked as reading, whatever its flowing state, and the stream's first
  // `resume()` calls it a tick later. A `pause()` in between (a bound hit while `head` is served)
  // was undone then, and the connection read without bound while paused, its unread bytes copied
  // again at every read. Created reading, the socket's stream reads once now, and only `pause()`
  // and `resume()` move the handle afterwards.
  const options = {
    handle,
    onread: {
      buffer: slabs.next,
      callback: (bytes: number, into: Uint8Array): boolean => {
        receive(slabs.take(into, bytes));
        return true;
      },
    },
  };
  const socket = new Socket(options as unknown as ConstructorParameters<typeof Socket>[0]);
  shell._handle = null;
  socket.once('close', () => accepted.destroy());
  return socket;
}
