/**
 * What a storage node spends on one internode request, minus the socket: the replica handler
 * built as `apps/node/src/node.composition.ts` builds it (the compact in-memory engine, the
 * `StorageService`, its refusal counter and per-request metrics of `createNodeMetrics`), fed
 * through the TCP codec as `TcpStorageServer` feeds it: frames arrive in batches of
 * `--batch` (a socket read), each is decoded, handled through `handleBorrowed`, and its answer
 * encoded into the connection's `FrameWriter`, whose bytes are taken once per batch.
 *
 * It preloads `--keys` keys with `--value-bytes` values, runs `--warmup` requests of the kind
 * (so the JIT has settled), then `--ops` more: GET and HEAD of preloaded keys, or PUT of a newer
 * version of one (as a coordinator sends it: the coordinator's writer id, a version from the
 * version clock). `--path local` skips the codec and calls `handle` as a coordinating node's
 * in-process client does for its own replica.
 *
 * The figure to read is instructions per request, which a shared machine does not distort: run
 * the driver under callgrind with `--ops K` and with `--ops 0`, and divide the difference of the
 * totals by K:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/np-get-0.out \
 *     node --conditions=development --import tsx benchmarks/storage/node-path.ts --kind get --ops 0
 *
 * Without valgrind it also prints the process CPU µs per request of the measured loop (noisy).
 *
 * Run: npx tsx --conditions=development benchmarks/storage/node-path.ts --kind put --ops 200000
 */
import { LOGICAL_BITS, VERSION_EPOCH_MS, type StorageRequest, type VersionedValue } from '@dkv/core';
import { SystemClock } from '@dkv/runtime';
import { readRequest, writeRequestFrame, writeResponseFrame } from '../../packages/transport/src/tcp-codec.js';
import { FrameReader, FrameWriter } from '../../packages/transport/src/tcp-frame.js';
import { parseFlags } from '../lib/args.js';
import { benchmarkKey, replicaHandler } from '../lib/replica.js';

const USAGE = 'usage: node-path.ts --kind get|head|put [--ops K] [--warmup W] [--keys N] [--value-bytes B] [--batch F] [--path tcp|local]';
const flags = parseFlags(
  process.argv.slice(2),
  { kind: 'string', ops: 'number', warmup: 'number', keys: 'number', 'value-bytes': 'number', batch: 'number', path: 'string' },
  USAGE,
);
const kind = String(flags.kind ?? 'get').toUpperCase();
if (kind !== 'GET' && kind !== 'HEAD' && kind !== 'PUT') throw new Error(`--kind must be get, head or put\n${USAGE}`);
const path = String(flags.path ?? 'tcp');
if (path !== 'tcp' && path !== 'local') throw new Error(`--path must be tcp or local\n${USAGE}`);
const ops = Number(flags.ops ?? 100_000);
const warmup = Number(flags.warmup ?? 5000);
const keyCount = Number(flags.keys ?? 10_000);
const valueBytes = Number(flags['value-bytes'] ?? 2048);
const batch = Math.max(1, Number(flags.batch ?? 20));

const NODE_ID = 'node-1';
const WRITER_ID = 'node-2';
const clock = new SystemClock();
// The handler of `nodeContainer` (T.handler), with the hooks of a member that is complete.
const { engine, handler } = replicaHandler(clock, NODE_ID);

const keys = Array.from({ length: keyCount }, (_, i) => benchmarkKey(i));
const value = new Uint8Array(valueBytes).fill(0x78);
const startMs = clock.now();
// Versions as the coordinators' hybrid logical clocks issue them: now, then one more per write.
let nextVersion = (startMs - VERSION_EPOCH_MS) * 2 ** LOGICAL_BITS;
const recordOf = (version: number): VersionedValue => ({
  value,
  version,
  writerId: WRITER_ID,
  createdAt: startMs,
  updatedAt: startMs,
  expiresAt: null,
  tombstone: false,
});
for (const key of keys) handler.handle({ type: 'PUT', key, record: recordOf((nextVersion += 1)) });

// The requests, encoded once as a coordinator's client encodes them, `batch` frames to a chunk.
// A PUT's version is rewritten in place before each round, so every PUT is newer than the last.
const chunks: Buffer[] = [];
const versionOffsets: number[][] = [];
for (let first = 0; first < keyCount; first += batch) {
  const writer = new FrameWriter();
  const offsets: number[] = [];
  for (let i = first; i < Math.min(first + batch, keyCount); i += 1) {
    const key = keys[i] as string;
    const request: StorageRequest = kind === 'PUT' ? { type: 'PUT', key, record: recordOf(1) } : { type: kind, key };
    const start = writer.pos;
    writeRequestFrame(writer, i + 1, request);
    // frame header (9), key (u16 + bytes), flags (1), then the version (f64).
    offsets.push(start + 9 + 2 + Buffer.byteLength(key) + 1);
  }
  chunks.push(Buffer.concat(writer.take()));
  versionOffsets.push(offsets);
}
const requestsOf = (chunk: number): StorageRequest[] => {
  const reader = new FrameReader(1 << 20);
  reader.push(chunks[chunk] as Buffer);
  const requests: StorageRequest[] = [];
  while (reader.next()) requests.push(readRequest(reader));
  return requests;
};
const localRequests = path === 'local' ? chunks.map((_, i) => requestsOf(i)) : [];

const reader = new FrameReader(1 << 20);
const writer = new FrameWriter();
let answerBytes = 0;
let refused = 0;

/** Serves `count` requests, chunk after chunk (a partial last chunk is served whole: count is rounded up to a batch). */
function serve(count: number, firstChunk: number): number {
  let chunk = firstChunk;
  for (let served = 0; served < count; chunk = (chunk + 1) % chunks.length) {
    if (path === 'local') {
      for (const request of localRequests[chunk] as StorageRequest[]) {
        const local = request.type === 'PUT' ? { ...request, record: { ...request.record, version: (nextVersion += 1) } } : request;
        const response = handler.handle(local);
        if (response.type === 'PUT' && !response.applied) refused += 1;
        served += 1;
      }
      continue;
    }
    const bytes = chunks[chunk] as Buffer;
    if (kind === 'PUT') for (const offset of versionOffsets[chunk] as number[]) bytes.writeDoubleLE((nextVersion += 1), offset);
    reader.push(bytes);
    while (reader.next()) {
      // As `ServerConnection.serve`: decode, handle (borrowing a GET's bytes), encode at once.
      const id = reader.id;
      const request = readRequest(reader, handler.handleBorrowed === undefined);
      const response = handler.handleBorrowed ? handler.handleBorrowed(request) : handler.handle(request);
      writeResponseFrame(writer, id, response);
      if (response.type === 'PUT' && !response.applied) refused += 1;
      served += 1;
    }
    for (const taken of writer.take()) answerBytes += taken.length;
  }
  return chunk;
}

const next = serve(warmup, 0);
const before = process.cpuUsage();
serve(ops, next);
const spent = process.cpuUsage(before);
const cpuUs = spent.user + spent.system;
process.stdout.write(
  `${kind} path=${path} ops=${ops} warmup=${warmup} keys=${keyCount} value=${valueBytes}B batch=${batch}: ` +
    `${ops === 0 ? '-' : (cpuUs / ops).toFixed(2)} µs/request (process CPU), ${answerBytes} answer bytes, ${engine.stats().keys} keys\n`,
);
if (refused > 0) throw new Error(`${refused} PUTs were not applied: the driver's versions are wrong`);
process.exit(0);
