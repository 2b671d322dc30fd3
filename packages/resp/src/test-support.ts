/**
 * Test support for the Redis door: a raw client that sends exact bytes and decodes replies of
 * RESP2 and RESP3, so tests can check what a server answers byte for byte and in which order.
 * Not exported from the package; tests of other projects use real Redis clients.
 */
import { connect, type Socket } from 'node:net';

/** A decoded reply: strings for simple and bulk strings, `{ err }` for errors, numbers for integers, arrays, and tagged RESP3 types. */
export type Decoded =
  | string
  | number
  | null
  | { err: string }
  | { map: [Decoded, Decoded][] }
  | { set: Decoded[] }
  | { double: number }
  | { verbatim: string }
  | Decoded[];

/** Decodes one reply from `buf` at `pos`: the value and where the next one starts, or null when incomplete. */
export function decodeReply(buf: Buffer, pos = 0): { value: Decoded; next: number } | null {
  const lineEnd = buf.indexOf('\r\n', pos);
  if (lineEnd < 0) return null;
  const type = String.fromCharCode(buf[pos] as number);
  const line = buf.toString('latin1', pos + 1, lineEnd);
  let at = lineEnd + 2;
  const many = (count: number): { items: Decoded[]; next: number } | null => {
    const items: Decoded[] = [];
    for (let i = 0; i < count; i += 1) {
      const item = decodeReply(buf, at);
      if (item === null) return null;
      items.push(item.value);
      at = item.next;
    }
    return { items, next: at };
  };
  switch (type) {
    case '+':
      return { value: line, next: at };
    case '-':
      return { value: { err: line }, next: at };
    case ':':
      return { value: Number(line), next: at };
    case '_':
      return { value: null, next: at };
    case ',':
      return { value: { double: Number(line) }, next: at };
    case '$':
    case '=': {
      const length = Number(line);
      if (length < 0) return { value: null, next: at };
      if (buf.length < at + length + 2) return null;
      const text = buf.toString('latin1', at, at + length);
      return { value: type === '=' ? { verbatim: text.slice(4) } : text, next: at + length + 2 };
    }
    case '*':
    case '~': {
      const count = Number(line);
      if (count < 0) return { value: null, next: at };
      const got = many(count);
      if (got === null) return null;
      return { value: type === '~' ? { set: got.items } : got.items, next: got.next };
    }
    case '%': {
      const got = many(Number(line) * 2);
      if (got === null) return null;
      const map: [Decoded, Decoded][] = [];
      for (let i = 0; i < got.items.length; i += 2) map.push([got.items[i] as Decoded, got.items[i + 1] as Decoded]);
      return { value: { map }, next: got.next };
    }
    default:
      throw new Error(`not a RESP reply type: ${JSON.stringify(type)} in ${JSON.stringify(buf.toString('latin1', pos, pos + 40))}`);
  }
}

/** A client over one socket: `send` raw bytes or commands, `read` the next replies. */
export class RawRespClient {
  private received = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<RawRespClient> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawRespClient(socket);
  }

  /** Writes raw bytes (text as latin1). */
  sendRaw(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Writes commands as multibulk, in one write (a pipeline). */
  send(...commands: (string | Buffer)[][]): void {
    this.sendRaw(Buffer.concat(commands.map(encodeCommand)));
  }

  /** The next `count` replies; fails if the connection closes first or `timeoutMs` passes. */
  async read(count = 1, timeoutMs = 5000): Promise<Decoded[]> {
    const values: Decoded[] = [];
    const deadline = Date.now() + timeoutMs;
    while (values.length < count) {
      const decoded = decodeReply(this.received);
      if (decoded !== null) {
        values.push(decoded.value);
        this.received = this.received.subarray(decoded.next);
        continue;
      }
      if (this.closed) throw new Error(`connection closed after ${values.length} of ${count} replies: ${JSON.stringify(values)}`);
      if (Date.now() > deadline) throw new Error(`no reply within ${timeoutMs} ms after ${values.length} of ${count}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
    return values;
  }

  /** Sends one command and reads its reply. */
  async call(...args: (string | Buffer)[]): Promise<Decoded> {
    this.send(args);
    return (await this.read(1))[0] as Decoded;
  }

  /** Resolves once the server has closed the connection (fails after `timeoutMs`). */
  async closedByServer(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the server did not close the connection');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
  }

  /** Bytes received and not read as replies yet. */
  get pendingBytes(): number {
    return this.received.length;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A command as multibulk bytes. */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}
