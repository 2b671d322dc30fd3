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
 * The fan-out and quorum wait of nodes3 and coord3 are replicas.ts's, shared with the HTTP floor
 * (benchmarks/http/floor-server.ts), which puts dkv's HTTP key routes before the same peers.
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
import { createServer, type Server } from 'node:net';
import { FrameReader, FrameWriter, OP_GET, OP_SET, REQUEST_HEAD_BYTES } from './frames.js';
import { connectPeers, copyOf, newCounters, Replication, type Counters, type Pending, type Stored } from './replicas.js';
import { bulkReply, commandName, EMPTY_ARRAY_REPLY, Flusher, newCommand, NIL_REPLY, OK_REPLY, RespClient, type Command } from './resp.js';

function infoReply(counters: Counters): Buffer {
  const text = Object.entries(counters)
    .map(([name, value]) => `${name}:${value}`)
    .join('\r\n');
  return bulkReply(Buffer.from(text));
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

/**
 * nodes3 and coord3: a RESP server fanning each GET and SET out to `ports` (replicas.ts). `local`
 * is the coordinating node's own replica (nodes3), or null for a coordinator without storage (coord3).
 */
async function coordinating(ports: readonly number[], local: Map<string, Stored> | null): Promise<void> {
  const sockets = await connectPeers(ports);
  const flusher = new Flusher();
  const replication = new Replication<RespClient>(sockets, local, {
    complete: (p: Pending<RespClient>): void => {
      if (!p.isGet) p.client.reply(p.tag, OK_REPLY);
      else p.client.reply(p.tag, p.value === null ? NIL_REPLY : bulkReply(p.value));
    },
    afterAnswers: () => flusher.flush(),
  });

  const onCommand = (client: RespClient, cmd: Command, seq: number): void => {
    const name = commandName(cmd);
    const { buf, starts, ends } = cmd;
    const keyStart = starts[1] as number;
    const keyEnd = ends[1] as number;
    if (name === 'get' && cmd.argc === 2) replication.get(client, seq, null, buf, keyStart, keyEnd);
    else if (name === 'set' && cmd.argc === 3)
      replication.set(client, seq, null, buf, keyStart, keyEnd, buf, starts[2] as number, ends[2] as number, false);
    else client.reply(seq, name === 'info' ? infoReply(replication.counters) : EMPTY_ARRAY_REPLY);
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
