/**
 * The coordinating side of the floor servers, whatever protocol their clients speak: the fan-out
 * of each GET and SET to the peers over floor/frames.ts, the quorum wait, and the completion of a
 * client request once enough answers are in. server.ts puts a Redis-protocol face on it
 * (`nodes3`, `coord3`), benchmarks/http/floor-server.ts an HTTP one (the public key routes on
 * Fastify), so that the two floors differ only in what happens before a request reaches
 * {@link Replication} and after it completes.
 *
 * - With a local replica (nodes3, dkv's coordinating node): GET reads its own copy and sends a
 *   digest read to every peer, completing once one peer answered (R=2 counting itself); SET stores
 *   locally with a new version, sends key, value and version to every peer and completes once one
 *   acked (W=2).
 * - Without one (coord3, a coordinator without storage): GET sends one value read (rotating over
 *   the peers) and digest reads to the others and completes after two answers, one of them the
 *   value; SET sends to every peer and completes after two acks.
 *
 * Requests of one event-loop turn to one peer go out in one write (frames queued, flushed on
 * setImmediate). Pending requests are plain objects in a Map by id, completed by a callback (no
 * promise per request). Answers that disagree on the version are counted, not repaired.
 */
import { connect, type Socket } from 'node:net';
import { FrameReader, FrameWriter, ANSWER_HEAD_BYTES, OP_DIGEST, OP_GET } from './frames.js';

/** What a floor server counts, for its INFO (RESP) or counters route (HTTP). */
export interface Counters {
  gets: number;
  sets: number;
  peerRequests: number;
  peerAnswers: number;
  mismatches: number;
}

export function newCounters(): Counters {
  return { gets: 0, sets: 0, peerRequests: 0, peerAnswers: 0, mismatches: 0 };
}

/** A stored replica of a key. */
export interface Stored {
  readonly version: number;
  readonly value: Buffer;
}

/** A copy of `buf[start..end)` (stored values must not hold a connection's chunk alive). */
export function copyOf(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  buf.copy(out, 0, start, end);
  return out;
}

/**
 * A client request waiting for its peers' answers. `client` and `tag` are the face's: the RESP
 * face's connection and the command's sequence number, the HTTP face's reply and whatever number
 * it needs back at completion (its PUT's expiry), so that no object of the face's is made per request.
 */
export class Pending<C> {
  /** Answers received so far. */
  answers = 0;
  /** Whether the client has its reply. */
  done = false;
  /** The version the answers are compared with: the local copy's, or the first answer's (-1: none yet); a SET's new version. */
  version = -1;
  /** The value to reply with (GET), once known; null when missing. */
  value: Buffer | null = null;
  /** Whether the value is known (with a local replica: at once; without: when the value read answered). */
  hasValue: boolean;

  constructor(
    readonly client: C,
    readonly tag: number,
    readonly isGet: boolean,
    /** Answers needed before the reply. */
    readonly need: number,
    /** Without a local replica, GET: the peer asked for the value (-1: none). */
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

/** Connects to the peers on 127.0.0.1 at `ports`, one connection each. */
export async function connectPeers(ports: readonly number[]): Promise<Socket[]> {
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

/** How a face learns of its requests' completion. */
export interface ReplicationFace<C> {
  /** A request has its quorum: reply to `p.client` (GET: `p.value`, null when missing, at `p.version`; SET: stored at `p.version`). */
  complete(p: Pending<C>): void;
  /** Called after each chunk of answers from a peer (the RESP face writes the replies it queued). */
  afterAnswers(): void;
}

/**
 * The fan-out of a coordinating process to its peers. `local` is its own replica (nodes3), or
 * null for a coordinator without storage (coord3). Keys are given either as bytes of a buffer
 * (the RESP face) or as a string (the HTTP face), encoded straight into the peers' frames.
 */
export class Replication<C> {
  readonly counters = newCounters();
  private readonly peers: Peers;
  private readonly writers: FrameWriter[];
  private readonly pending = new Map<number, Pending<C>>();
  /** Quorum of 2: counting the local replica, one peer answer; without one, two. */
  private readonly need: number;
  private nextId = 0;
  private clock = 0;
  private valueRotation = 0;

  constructor(
    sockets: Socket[],
    readonly local: Map<string, Stored> | null,
    private readonly face: ReplicationFace<C>,
  ) {
    this.peers = new Peers(sockets);
    this.writers = this.peers.writers;
    this.need = local === null ? 2 : 1;
    const answersPerRequest = sockets.length;
    sockets.forEach((socket, index) => {
      const reader = new FrameReader();
      const onAnswer = (buf: Buffer, start: number, end: number): void => {
        this.counters.peerAnswers += 1;
        const id = buf.readUInt32LE(start);
        const p = this.pending.get(id);
        if (p === undefined) throw new Error(`an answer to no request (${id})`);
        const version = buf.readUInt32LE(start + 5);
        p.answers += 1;
        if (p.isGet) {
          if (p.version === -1) p.version = version;
          else if (version !== p.version) this.counters.mismatches += 1;
          if (index === p.valueFrom) {
            p.hasValue = true;
            if (buf[start + 4] === 1) p.value = buf.subarray(start + ANSWER_HEAD_BYTES, end);
          }
        }
        if (!p.done && p.hasValue && p.answers >= p.need) {
          p.done = true;
          face.complete(p);
        }
        if (p.answers === answersPerRequest) this.pending.delete(id);
      };
      socket.on('data', (chunk: Buffer) => {
        reader.feed(chunk, onAnswer);
        face.afterAnswers();
      });
      socket.on('error', (error) => {
        process.stderr.write(`floor: peer connection failed: ${error.message}\n`);
        process.exit(1);
      });
      socket.on('close', () => process.exit(1));
    });
  }

  private newId(): number {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    return id;
  }

  /** Starts a GET of the key `keyBuf[keyStart..keyEnd)`, or of `key` when `keyBuf` is null (then keyStart and keyEnd are not used). */
  get(client: C, tag: number, key: string | null, keyBuf: Buffer | null, keyStart: number, keyEnd: number): void {
    this.counters.gets += 1;
    const id = this.newId();
    const writers = this.writers;
    let p: Pending<C>;
    if (this.local !== null) {
      p = new Pending(client, tag, true, this.need, -1);
      const stored = this.local.get(key ?? (keyBuf as Buffer).toString('latin1', keyStart, keyEnd));
      p.version = stored === undefined ? 0 : stored.version;
      p.value = stored === undefined ? null : stored.value;
      for (const writer of writers) {
        if (keyBuf === null) writer.requestKey(id, OP_DIGEST, key as string);
        else writer.request(id, OP_DIGEST, keyBuf, keyStart, keyEnd);
      }
    } else {
      const valueFrom = this.valueRotation;
      this.valueRotation = (this.valueRotation + 1) % writers.length;
      p = new Pending(client, tag, true, this.need, valueFrom);
      for (let i = 0; i < writers.length; i += 1) {
        const writer = writers[i] as FrameWriter;
        const op = i === valueFrom ? OP_GET : OP_DIGEST;
        if (keyBuf === null) writer.requestKey(id, op, key as string);
        else writer.request(id, op, keyBuf, keyStart, keyEnd);
      }
    }
    this.counters.peerRequests += writers.length;
    this.pending.set(id, p);
    this.peers.schedule();
  }

  /**
   * Starts a SET of `valueBuf[valueStart..valueEnd)` to the key `keyBuf[keyStart..keyEnd)`, or to
   * `key` when `keyBuf` is null. The local replica keeps a copy, or `valueBuf` itself when
   * `owned` (a buffer of the face's own, already a copy of what the client sent).
   */
  set(
    client: C,
    tag: number,
    key: string | null,
    keyBuf: Buffer | null,
    keyStart: number,
    keyEnd: number,
    valueBuf: Buffer,
    valueStart: number,
    valueEnd: number,
    owned: boolean,
  ): void {
    this.counters.sets += 1;
    const id = this.newId();
    this.clock = (this.clock + 1) >>> 0;
    const version = this.clock;
    if (this.local !== null) {
      const value = owned ? valueBuf : copyOf(valueBuf, valueStart, valueEnd);
      this.local.set(key ?? (keyBuf as Buffer).toString('latin1', keyStart, keyEnd), { version, value });
    }
    for (const writer of this.writers) {
      if (keyBuf === null) writer.setKey(id, key as string, version, valueBuf, valueStart, valueEnd);
      else writer.set(id, keyBuf, keyStart, keyEnd, version, valueBuf, valueStart, valueEnd);
    }
    this.counters.peerRequests += this.writers.length;
    const p = new Pending(client, tag, false, this.need, -1);
    p.version = version;
    this.pending.set(id, p);
    this.peers.schedule();
  }
}
