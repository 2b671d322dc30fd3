/**
 * The floor servers of benchmarks/resp/floor.ts, one process each, none of dkv's code: what a
 * Node.js process can do at best with dkv's architecture, to judge dkv's figures against.
 *
 * - `map1`: a RESP server over a Map (GET and SET only; the ceiling of one process).
 * - `peer`: a replica over a Map of (version, value), answering the internode frames of
 *   floor/frames.ts; each batch it reads is answered in one write.
 * - `nodes3 <peerPort> <peerPort>`: a coordinating node (dkv's nodes topology): a RESP server
 *   holding one replica itself; GET reads its own copy and sends a digest read to both peers,
 *   replying once one peer answered (R=2 counting itself); SET stores locally with a new version,
 *   sends key, value and version to both peers and replies once one acked (W=2).
 * - `coord3 <peerPort> <peerPort> <peerPort>`: a coordinator without storage (what `npm start`
 *   runs): GET sends one value read and two digest reads (the value read rotating over the
 *   peers) and replies after two answers, one of them the value; SET sends to all three and
 *   replies after two acks.
 *
 * Every request really reaches the peers and waits for them; only the wait for the last answers
 * is not on a reply's path, as in dkv. Requests of one event-loop turn to one peer go out in one
 * write (frames queued, flushed on setImmediate); the replies one batch of answers completes go
 * out in one write per client connection. Pending requests are plain objects in a Map by id,
 * completed by callbacks (no promise per request). Answers that disagree on the version are
 * counted (`mismatches`, `INFO`), not repaired: they cannot happen here, since each peer applies
 * its connection's frames in order.
 *
 * Prints `port <n>` once it listens on 127.0.0.1; answers `INFO` with its counters (requests,
 * frames sent to peers, answers back, mismatches), which floor.ts reads to check that every
 * request went to the peers. Usage: node --import tsx benchmarks/resp/floor/server.ts <mode> [peer ports]
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { FrameReader, FrameWriter, ANSWER_HEAD_BYTES, OP_DIGEST, OP_GET, OP_SET, REQUEST_HEAD_BYTES } from './frames.js';
import { bulkReply, commandName, EMPTY_ARRAY_REPLY, Flusher, newCommand, NIL_REPLY, OK_REPLY, RespClient, type Command } from './resp.js';

/** What a server counts, for INFO. */
interface Counters {
  gets: number;
  sets: number;
  peerRequests: number;
  peerAnswers: number;
  mismatches: number;
}

function newCounters(): Counters {
  return { gets: 0, sets: 0, peerRequests: 0, peerAnswers: 0, mismatches: 0 };
}

function infoReply(counters: Counters): Buffer {
  const text = Object.entries(counters)
    .map(([name, value]) => `${name}:${value}`)
    .join('\r\n');
  return bulkReply(Buffer.from(text));
}

/** A copy of `buf[start..end)` (stored values must not hold a connection's chunk alive). */
function copyOf(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  buf.copy(out, 0, start, end);
  return out;
}

function listen(server: Server): void {
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`port ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
  });
}

/** A RESP server whose commands go to `onCommand`; replies are flushed at the end of each chunk handled. */
function respServer(flusher: Flusher, onCommand: (client: RespClient, cmd: Command, seq: number) => void): Server {
  const cmd = newCommand();
  return createServer({ noDelay: true }, (socket) => {
    const client = new RespClient(socket, flusher);
    socket.on('data', (chunk: Buffer) => {
      try {
        client.feed(chunk, cmd, onCommand);
      } catch (error) {
        process.stderr.write(`floor: ${error instanceof Error ? error.message : String(error)}; closing the connection\n`);
        socket.destroy();
      }
      flusher.flush();
    });
    socket.on('error', () => undefined);
  });
}

function map1(): void {
  const map = new Map<string, Buffer>();
  const counters = newCounters();
  const flusher = new Flusher();
  listen(
    respServer(flusher, (client, cmd, seq) => {
      const name = commandName(cmd);
      const { buf, starts, ends } = cmd;
      if (name === 'get' && cmd.argc === 2) {
        counters.gets += 1;
        const value = map.get(buf.toString('latin1', starts[1], ends[1]));
        client.reply(seq, value === undefined ? NIL_REPLY : bulkReply(value));
      } else if (name === 'set' && cmd.argc === 3) {
        counters.sets += 1;
        map.set(buf.toString('latin1', starts[1], ends[1]), copyOf(buf, starts[2] as number, ends[2] as number));
        client.reply(seq, OK_REPLY);
      } else client.reply(seq, name === 'info' ? infoReply(counters) : EMPTY_ARRAY_REPLY);
    }),
  );
}

/** A stored replica of a key. */
interface Stored {
  readonly version: number;
  readonly value: Buffer;
}

function peer(): void {
  const map = new Map<string, Stored>();
  const server = createServer({ noDelay: true }, (socket) => {
    const reader = new FrameReader();
    const writer = new FrameWriter();
    const onFrame = (buf: Buffer, start: number, end: number): void => {
      const id = buf.readUInt32LE(start);
      const op = buf[start + 4];
      const keyStart = start + REQUEST_HEAD_BYTES;
      const keyEnd = keyStart + buf.readUInt16LE(start + 5);
      const key = buf.toString('latin1', keyStart, keyEnd);
      if (op === OP_SET) {
        const version = buf.readUInt32LE(keyEnd);
        const old = map.get(key);
        if (old === undefined || old.version <= version) map.set(key, { version, value: copyOf(buf, keyEnd + 4, end) });
        writer.answer(id, 1, version, null);
        return;
      }
      const stored = map.get(key);
      if (stored === undefined) writer.answer(id, 0, 0, null);
      else writer.answer(id, 1, stored.version, op === OP_GET ? stored.value : null);
    };
    socket.on('data', (chunk: Buffer) => {
      reader.feed(chunk, onFrame);
      if (writer.length > 0) socket.write(writer.take());
    });
    socket.on('error', () => undefined);
  });
  listen(server);
}

/** A client request waiting for its peers' answers. */
class Pending {
  /** Answers received so far. */
  answers = 0;
  /** Whether the client has its reply. */
  done = false;
  /** The version the answers are compared with: the local copy's, or the first answer's (-1: none yet). */
  version = -1;
  /** The value to reply with (GET), once known; null when missing. */
  value: Buffer | null = null;
  /** Whether the value is known (nodes3: at once; coord3: when the value read answered). */
  hasValue: boolean;

  constructor(
    readonly client: RespClient,
    readonly seq: number,
    readonly isGet: boolean,
    /** Answers needed before the reply. */
    readonly need: number,
    /** coord3 GET: the peer asked for the value (-1: none). */
    readonly valueFrom: number,
  ) {
    this.hasValue = valueFrom < 0;
  }
}

/** The peers of a coordinating process: one connection each, frames queued per event-loop turn. */
class Peers {
  readonly writers: FrameWriter[];
  private readonly sockets: Socket[];
  private scheduled = false;
  private readonly flushAll = (): void => {
    this.scheduled = false;
    for (let i = 0; i < this.sockets.length; i += 1) {
      const writer = this.writers[i] as FrameWriter;
      if (writer.length > 0) (this.sockets[i] as Socket).write(writer.take());
    }
  };

  constructor(sockets: Socket[]) {
    this.sockets = sockets;
    this.writers = sockets.map(() => new FrameWriter());
  }

  /** Sends what was queued at the end of this event-loop turn, one write per peer. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushAll);
  }
}

async function connectPeers(ports: readonly number[]): Promise<Socket[]> {
  return Promise.all(
    ports.map(
      (port) =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
}

/**
 * nodes3 and coord3: a RESP server fanning each GET and SET out to `ports`. `local` is the
 * coordinating node's own replica (nodes3), or null for a coordinator without storage (coord3).
 */
async function coordinating(ports: readonly number[], local: Map<string, Stored> | null): Promise<void> {
  const sockets = await connectPeers(ports);
  const peers = new Peers(sockets);
  const writers = peers.writers;
  const counters = newCounters();
  const flusher = new Flusher();
  const pending = new Map<number, Pending>();
  const answersPerRequest = ports.length;
  /** Quorum of 2: counting the local replica, one peer answer; without one, two. */
  const need = local === null ? 2 : 1;
  let nextId = 0;
  let clock = 0;
  let valueRotation = 0;

  const complete = (p: Pending): void => {
    p.done = true;
    if (!p.isGet) p.client.reply(p.seq, OK_REPLY);
    else p.client.reply(p.seq, p.value === null ? NIL_REPLY : bulkReply(p.value));
  };

  sockets.forEach((socket, index) => {
    const reader = new FrameReader();
    const onAnswer = (buf: Buffer, start: number, end: number): void => {
      counters.peerAnswers += 1;
      const id = buf.readUInt32LE(start);
      const p = pending.get(id);
      if (p === undefined) throw new Error(`an answer to no request (${id})`);
      const version = buf.readUInt32LE(start + 5);
      p.answers += 1;
      if (p.isGet) {
        if (p.version === -1) p.version = version;
        else if (version !== p.version) counters.mismatches += 1;
        if (index === p.valueFrom) {
          p.hasValue = true;
          if (buf[start + 4] === 1) p.value = buf.subarray(start + ANSWER_HEAD_BYTES, end);
        }
      }
      if (!p.done && p.hasValue && p.answers >= p.need) complete(p);
      if (p.answers === answersPerRequest) pending.delete(id);
    };
    socket.on('data', (chunk: Buffer) => {
      reader.feed(chunk, onAnswer);
      flusher.flush();
    });
    socket.on('error', (error) => {
      process.stderr.write(`floor: peer connection failed: ${error.message}\n`);
      process.exit(1);
    });
    socket.on('close', () => process.exit(1));
  });

  const onCommand = (client: RespClient, cmd: Command, seq: number): void => {
    const name = commandName(cmd);
    const { buf, starts, ends } = cmd;
    const keyStart = starts[1] as number;
    const keyEnd = ends[1] as number;
    if (name === 'get' && cmd.argc === 2) {
      counters.gets += 1;
      const id = nextId;
      nextId = (nextId + 1) >>> 0;
      let p: Pending;
      if (local !== null) {
        p = new Pending(client, seq, true, need, -1);
        const stored = local.get(buf.toString('latin1', keyStart, keyEnd));
        p.version = stored === undefined ? 0 : stored.version;
        p.value = stored === undefined ? null : stored.value;
        for (const writer of writers) writer.request(id, OP_DIGEST, buf, keyStart, keyEnd);
      } else {
        const valueFrom = valueRotation;
        valueRotation = (valueRotation + 1) % writers.length;
        p = new Pending(client, seq, true, need, valueFrom);
        for (let i = 0; i < writers.length; i += 1)
          (writers[i] as FrameWriter).request(id, i === valueFrom ? OP_GET : OP_DIGEST, buf, keyStart, keyEnd);
      }
      counters.peerRequests += writers.length;
      pending.set(id, p);
      peers.schedule();
    } else if (name === 'set' && cmd.argc === 3) {
      counters.sets += 1;
      const id = nextId;
      nextId = (nextId + 1) >>> 0;
      clock = (clock + 1) >>> 0;
      const valueStart = starts[2] as number;
      const valueEnd = ends[2] as number;
      if (local !== null) local.set(buf.toString('latin1', keyStart, keyEnd), { version: clock, value: copyOf(buf, valueStart, valueEnd) });
      for (const writer of writers) writer.set(id, buf, keyStart, keyEnd, clock, buf, valueStart, valueEnd);
      counters.peerRequests += writers.length;
      pending.set(id, new Pending(client, seq, false, need, -1));
      peers.schedule();
    } else client.reply(seq, name === 'info' ? infoReply(counters) : EMPTY_ARRAY_REPLY);
  };
  listen(respServer(flusher, onCommand));
}

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

const [mode, ...rest] = process.argv.slice(2);
const ports = rest.map(Number);
if (mode === 'map1') map1();
else if (mode === 'peer') peer();
else if (mode === 'nodes3' && ports.length === 2) void coordinating(ports, new Map());
else if (mode === 'coord3' && ports.length === 3) void coordinating(ports, null);
else {
  process.stderr.write('usage: server.ts map1 | peer | nodes3 <port> <port> | coord3 <port> <port> <port>\n');
  process.exit(2);
}
