// Goal: the binary frames round-trip every request and response exactly (bytes included) however
// TCP cuts or merges them, and a bad frame is refused with a FrameError naming the field, never a
// crash or a silent coercion. Method: round-trip tables and fast-check properties through
// FrameWriter and FrameReader (fed whole, byte by byte, and split at random points), then
// hand-made bad frames, one broken field each.
import { MAX_VERSION, type StorageRequest, type StorageResponse, type VersionedValue } from '@dkv/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRequest, FrameError } from './codec.js';
import { readErrorReason, readRequest, readResponse, writeErrorFrame, writeRequestFrame, writeResponseFrame } from './tcp-codec.js';
import { FRAME_HEADER_BYTES, FrameKind, FrameReader, FrameWriter, writeU32 } from './tcp-frame.js';

const record: VersionedValue = {
  value: Uint8Array.from([0, 255, 128, 10]),
  version: MAX_VERSION,
  writerId: 'c1',
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_001,
  expiresAt: 1_700_000_360_000,
  tombstone: false,
};
const { value: _value, updatedAt: _updatedAt, ...meta } = record;

const MAX_FRAME = 2 * 1024 * 1024;

/** The bytes of the frames written by `write`, as one buffer. */
function framesOf(write: (writer: FrameWriter) => void): Buffer {
  const writer = new FrameWriter(256);
  write(writer);
  return Buffer.concat(writer.take());
}

/** Feeds `bytes` to a reader in chunks of `chunkBytes` and reads every frame with `read`. */
function readAll<T>(bytes: Buffer, read: (reader: FrameReader) => T, chunkBytes = bytes.length): T[] {
  const reader = new FrameReader(MAX_FRAME);
  const out: T[] = [];
  for (let at = 0; at < bytes.length; at += chunkBytes) {
    reader.push(bytes.subarray(at, Math.min(bytes.length, at + chunkBytes)));
    while (reader.next()) out.push(read(reader));
  }
  expect(reader.bufferedBytes).toBe(0);
  return out;
}

function frameError(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(FrameError);
    return (error as FrameError).message;
  }
  throw new Error('expected a FrameError');
}

const requests: StorageRequest[] = [
  { type: 'GET', key: 'k' },
  { type: 'HEAD', key: 'é'.repeat(256) },
  // Short ASCII strings are written byte by byte: the longest such, one over, and one that turns non-ASCII at its end.
  { type: 'GET', key: 'a'.repeat(64) },
  { type: 'GET', key: 'b'.repeat(65) },
  { type: 'PUT', key: `${'c'.repeat(63)}é`, record: { ...record, writerId: `${'w'.repeat(10)}\u{1F511}` } },
  { type: 'PUT', key: 'ключ/🔑', record },
  { type: 'PUT', key: 'k', record: { ...record, value: new Uint8Array(0), tombstone: true, expiresAt: null, createdAt: -5 } },
  { type: 'PING' },
];
const responses: StorageResponse[] = [
  { type: 'GET', record },
  { type: 'GET', record: null },
  { type: 'HEAD', meta },
  { type: 'HEAD', meta: null },
  { type: 'PUT', applied: false, version: 7, previous: 7 },
  { type: 'PUT', applied: true, version: MAX_VERSION, previous: 0 },
  { type: 'PUT', applied: true, version: 9, previous: 0, previousUnknown: true },
  { type: 'PUT', applied: false, version: 9, previous: 9, previousUnknown: true },
  { type: 'PING', nodeId: 'n1', ready: true, keys: 0, bytes: 2 ** 40 },
];

describe('binary frames round-trip', () => {
  it.each(requests.map((request) => [request.type, request] as const))('request %s', (_type, request) => {
    const [decoded] = readAll(
      framesOf((w) => writeRequestFrame(w, 7, request)),
      (r) => ({ id: r.id, request: readRequest(r) }),
    );
    expect(decoded).toEqual({ id: 7, request });
  });

  it.each(responses.map((response) => [response.type, response] as const))('response %s', (_type, response) => {
    const [decoded] = readAll(
      framesOf((w) => writeResponseFrame(w, 0xffffffff, response)),
      (r) => ({ id: r.id, response: readResponse(r) }),
    );
    expect(decoded).toEqual({ id: 0xffffffff, response });
  });

  it('carries an error reason, cut to a bounded length', () => {
    const bytes = framesOf((w) => {
      writeErrorFrame(w, 3, 'no such thing ✓');
      writeErrorFrame(w, 4, 'x'.repeat(5000));
    });
    const [short, long] = readAll(bytes, (r) => ({ kind: r.kind, id: r.id, reason: readErrorReason(r) }));
    expect(short).toEqual({ kind: FrameKind.ERROR, id: 3, reason: 'no such thing ✓' });
    expect(long?.reason.length).toBeLessThan(1100);
  });

  it('gives a PUT value its own exact-size memory on the server, and a GET value a view on the client', () => {
    const value = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 7) & 0xff);
    const put = framesOf((w) => writeRequestFrame(w, 1, { type: 'PUT', key: 'big', record: { ...record, value } }));
    const [request] = readAll(put, readRequest, 64 * 1024);
    if (request?.type !== 'PUT') throw new Error('expected a PUT');
    expect(Buffer.compare(request.record.value, value)).toBe(0);
    expect(request.record.value.byteLength).toBe(request.record.value.buffer.byteLength);
    expect(request.record.value.constructor).toBe(Uint8Array);

    const get = framesOf((w) => writeResponseFrame(w, 1, { type: 'GET', record: { ...record, value: Uint8Array.from([1, 2, 3]) } }));
    const [response] = readAll(get, readResponse);
    if (response?.type !== 'GET' || response.record === null) throw new Error('expected a GET with a record');
    expect(response.record.value).toEqual(Uint8Array.from([1, 2, 3]));
    expect(response.record.value.buffer).toBe(get.buffer);
  });

  it('leaves a PUT value a view of its frame when asked not to copy it (for a handler that copies what it keeps)', () => {
    const value = Uint8Array.from([4, 5, 6]);
    const put = framesOf((w) => writeRequestFrame(w, 1, { type: 'PUT', key: 'k', record: { ...record, value } }));
    const [request] = readAll(put, (r) => readRequest(r, false));
    if (request?.type !== 'PUT') throw new Error('expected a PUT');
    expect(request.record).toEqual({ ...record, value });
    expect(request.record.value.buffer).toBe(put.buffer);
  });

  it('carries any other request type as a MessagePack frame of the HTTP codec', () => {
    const payload = encodeRequest({ type: 'GET', key: 'via-msgpack' });
    const frame = Buffer.alloc(FRAME_HEADER_BYTES + payload.length);
    writeU32(frame, 0, frame.length - 4);
    writeU32(frame, 4, 9);
    frame[8] = FrameKind.MSGPACK;
    payload.copy(frame, FRAME_HEADER_BYTES);
    expect(readAll(frame, readRequest)).toEqual([{ type: 'GET', key: 'via-msgpack' }]);
  });
});

const bytesArb = fc.uint8Array({ maxLength: 300 });
const keyArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((key) => Buffer.byteLength(key) <= 512);
const epochArb = fc.integer({ min: -(2 ** 45), max: 2 ** 45 });
const metaArb = fc.record({
  version: fc.integer({ min: 1, max: MAX_VERSION }),
  writerId: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((id) => id.length <= 256),
  createdAt: epochArb,
  expiresAt: fc.option(epochArb, { nil: null }),
  tombstone: fc.boolean(),
});
const recordArb = fc.tuple(metaArb, bytesArb, epochArb).map(([m, value, updatedAt]): VersionedValue => ({
  value,
  version: m.version,
  writerId: m.writerId,
  createdAt: m.createdAt,
  updatedAt,
  expiresAt: m.expiresAt,
  tombstone: m.tombstone,
}));
const requestArb: fc.Arbitrary<StorageRequest> = fc.oneof(
  keyArb.map((key): StorageRequest => ({ type: 'GET', key })),
  keyArb.map((key): StorageRequest => ({ type: 'HEAD', key })),
  fc.tuple(keyArb, recordArb).map(([key, r]): StorageRequest => ({ type: 'PUT', key, record: r })),
  fc.constant<StorageRequest>({ type: 'PING' }),
);
const responseArb: fc.Arbitrary<StorageResponse> = fc.oneof(
  fc.option(recordArb, { nil: null }).map((r): StorageResponse => ({ type: 'GET', record: r })),
  fc.option(metaArb, { nil: null }).map((m): StorageResponse => ({ type: 'HEAD', meta: m })),
  fc
    .tuple(fc.boolean(), fc.integer({ min: 1, max: MAX_VERSION }), fc.integer({ min: 0, max: MAX_VERSION }), fc.boolean())
    .map(([applied, version, previous, unknown]): StorageResponse =>
      unknown ? { type: 'PUT', applied, version, previous, previousUnknown: true } : { type: 'PUT', applied, version, previous },
    ),
  fc
    .tuple(fc.string({ minLength: 1, maxLength: 64 }), fc.boolean(), fc.nat(), fc.nat())
    .map(([nodeId, ready, keys, bytes]): StorageResponse => ({ type: 'PING', nodeId, ready, keys, bytes })),
);

describe('binary frames, property-based', () => {
  it('round-trip any sequence of requests, whatever the chunk size', () => {
    fc.assert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 700 }), (batch, chunkBytes) => {
        const bytes = framesOf((w) => batch.forEach((request, i) => writeRequestFrame(w, i + 1, request)));
        const decoded = readAll(bytes, (r) => ({ id: r.id, request: readRequest(r) }), chunkBytes);
        expect(decoded).toEqual(batch.map((request, i) => ({ id: i + 1, request })));
      }),
      { numRuns: 150 },
    );
  });

  it('round-trip any sequence of responses, fed byte by byte', () => {
    fc.assert(
      fc.property(fc.array(responseArb, { minLength: 1, maxLength: 4 }), (batch) => {
        const bytes = framesOf((w) => batch.forEach((response, i) => writeResponseFrame(w, i, response)));
        expect(readAll(bytes, readResponse, 1)).toEqual(batch);
      }),
      { numRuns: 60 },
    );
  });
});

describe('FrameReader framing', () => {
  it('reads merged frames from one chunk and a frame split at every byte', () => {
    const bytes = framesOf((w) => {
      writeRequestFrame(w, 1, { type: 'GET', key: 'a' });
      writeRequestFrame(w, 2, { type: 'PING' });
      writeRequestFrame(w, 3, { type: 'PUT', key: 'b', record });
    });
    const ids = (chunkBytes: number): number[] => readAll(bytes, (r) => r.id, chunkBytes);
    expect(ids(bytes.length)).toEqual([1, 2, 3]);
    expect(ids(1)).toEqual([1, 2, 3]);
    expect(ids(3)).toEqual([1, 2, 3]);
  });

  it('refuses a length below the header and above the limit', () => {
    const reader = new FrameReader(64);
    reader.push(Buffer.from([4, 0, 0, 0, 1, 2, 3, 4]));
    expect(frameError(() => reader.next())).toMatch(/length 4 is below the 5 bytes of id and kind/);
    const small = new FrameReader(64);
    small.push(Buffer.from([61, 0, 0]));
    expect(small.next()).toBe(false);
    small.push(Buffer.from([0]));
    expect(frameError(() => small.next())).toMatch(/65 bytes is over the limit of 64 bytes/);
  });

  it('refuses a limit that cannot hold a header', () => {
    expect(() => new FrameReader(8)).toThrow(RangeError);
  });
});

/** A frame of `kind` and id 1 around `payload`. */
function rawFrame(kind: number, payload: Buffer): Buffer {
  const frame = Buffer.alloc(FRAME_HEADER_BYTES + payload.length);
  writeU32(frame, 0, frame.length - 4);
  writeU32(frame, 4, 1);
  frame[8] = kind;
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** The payload of a valid PUT of `record` with key `key`, to break one field of. */
function putPayload(overrides: Partial<VersionedValue> = {}, key = 'k'): Buffer {
  return framesOf((w) => writeRequestFrame(w, 1, { type: 'PUT', key, record: { ...record, ...overrides } })).subarray(FRAME_HEADER_BYTES);
}

/** Offsets in a PUT payload with key "k": u16 + 1 key byte, then the meta. */
const FLAGS_AT = 3;
const VERSION_AT = 4;
const CREATED_AT = 12;
const EXPIRES_AT = 20;
const WRITER_LENGTH_AT = 28;

function patched(payload: Buffer, patch: (bytes: Buffer) => void): Buffer {
  const copy = Buffer.from(payload);
  patch(copy);
  return copy;
}

describe('binary frames refuse bad payloads', () => {
  const put = putPayload();
  it.each([
    ['an unknown request kind', rawFrame(0x42, Buffer.alloc(0)), /kind: 0x42 is not a request kind/],
    ['a response kind sent as a request', rawFrame(FrameKind.GET_RESPONSE, Buffer.from([0])), /not a request kind/],
    ['an empty key', rawFrame(FrameKind.GET, Buffer.from([0, 0])), /key: must be 1 to 512 bytes of UTF-8, got 0/],
    [
      'a key of 513 bytes',
      rawFrame(FrameKind.GET, Buffer.concat([Buffer.from([1, 2]), Buffer.alloc(513, 97)])),
      /key: must be 1 to 512 bytes/,
    ],
    ['a key that is not UTF-8', rawFrame(FrameKind.HEAD, Buffer.from([2, 0, 0xc3, 0x28])), /key: is not well-formed UTF-8/],
    ['a key cut short', rawFrame(FrameKind.GET, Buffer.from([5, 0, 97])), /key: the frame ends 4 bytes early/],
    ['bytes after the payload', rawFrame(FrameKind.PING, Buffer.from([0])), /1 unexpected bytes after the payload/],
    [
      'unknown flag bits',
      rawFrame(
        FrameKind.PUT,
        patched(put, (b) => (b[FLAGS_AT] = 0x06)),
      ),
      /record.flags: unknown bits in 0x6/,
    ],
    [
      'version 0',
      rawFrame(
        FrameKind.PUT,
        patched(put, (b) => b.writeDoubleLE(0, VERSION_AT)),
      ),
      /record.version: must be a whole number from 1 to 9007199254740991, got 0/,
    ],
    [
      'a fractional version',
      rawFrame(
        FrameKind.PUT,
        patched(put, (b) => b.writeDoubleLE(1.5, VERSION_AT)),
      ),
      /record.version: .* got 1.5/,
    ],
    [
      'a version of 2^53',
      rawFrame(
        FrameKind.PUT,
        patched(put, (b) => b.writeDoubleLE(2 ** 53, VERSION_AT)),
      ),
      /record.version/,
    ],
    [
      'createdAt NaN',
      rawFrame(
        FrameKind.PUT,
        patched(put, (b) => b.writeDoubleLE(Number.NaN, CREATED_AT)),
      ),
      /record.createdAt: must be a whole number of epoch ms, got NaN/,
    ],
    [
      'expiresAt set without its flag',
      rawFrame(
        FrameKind.PUT,
        patched(put, (b) => (b[FLAGS_AT] = 0)),
      ),
      /record.expiresAt: must be 0 when absent/,
    ],
    [
      'expiresAt infinite',
      rawFrame(
        FrameKind.PUT,
        patched(put, (b) => b.writeDoubleLE(Infinity, EXPIRES_AT)),
      ),
      /record.expiresAt: .*Infinity/,
    ],
    ['a writer id cut short', rawFrame(FrameKind.PUT, putPayload().subarray(0, WRITER_LENGTH_AT)), /record.writerId: the frame ends/],
    ['an empty writer id', rawFrame(FrameKind.PUT, putPayload({ writerId: '' })), /record.writerId: must be 1 to 256 characters, got 0/],
    [
      'a writer id of 257 characters',
      rawFrame(FrameKind.PUT, putPayload({ writerId: 'w'.repeat(257) })),
      /record.writerId: must be 1 to 256 characters, got 257/,
    ],
    [
      'a value longer than the frame',
      rawFrame(FrameKind.PUT, put.subarray(0, put.length - 1)),
      /record.value: the frame ends 1 bytes early/,
    ],
    ['a bad MessagePack payload', rawFrame(FrameKind.MSGPACK, Buffer.from([0xc1])), /invalid request frame/],
  ])('%s', (_name, frame, message) => {
    const error = frameError(() => readAll(frame, readRequest));
    expect(error).toMatch(/^invalid request frame: /);
    expect(error).toMatch(message);
  });

  it.each([
    ['a presence byte of 2', rawFrame(FrameKind.GET_RESPONSE, Buffer.from([2])), /present: must be 0 or 1, got 2/],
    [
      'a negative key count',
      rawFrame(FrameKind.PING_RESPONSE, Buffer.concat([Buffer.from([1]), f64(-1), f64(0), Buffer.from([1, 0, 110])])),
      /keys: must be a whole number of at least 0/,
    ],
    [
      'an empty node id',
      rawFrame(FrameKind.PING_RESPONSE, Buffer.concat([Buffer.from([1]), f64(0), f64(0), Buffer.from([0, 0])])),
      /nodeId: must not be empty/,
    ],
    ['a request kind sent as a response', rawFrame(FrameKind.GET, Buffer.from([1, 0, 97])), /kind: 0x1 is not a response kind/],
    [
      'unknown PUT answer flag bits',
      rawFrame(FrameKind.PUT_RESPONSE, Buffer.concat([Buffer.from([4]), f64(1), f64(0)])),
      /flags: unknown bits in 0x4/,
    ],
    ['a PUT answer cut short', rawFrame(FrameKind.PUT_RESPONSE, Buffer.from([1, 0, 0])), /version: the frame ends 6 bytes early/],
  ])('response with %s', (_name, frame, message) => {
    const error = frameError(() => readAll(frame, readResponse));
    expect(error).toMatch(/^invalid response frame: /);
    expect(error).toMatch(message);
  });

  it('refuses to encode a string too long for its length field, and writes nothing', () => {
    const writer = new FrameWriter();
    writeRequestFrame(writer, 1, { type: 'PING' });
    expect(() => writeRequestFrame(writer, 2, { type: 'GET', key: 'k'.repeat(70_000) })).toThrow(
      /key: 70000 bytes is over the 65535 bytes/,
    );
    expect(writer.pendingBytes).toBe(FRAME_HEADER_BYTES);
  });
});

function f64(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(value);
  return bytes;
}
