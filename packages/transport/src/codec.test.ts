// Goal: frames round-trip every request and response exactly (bytes included), and a bad frame
// is refused with a FrameError that names the field and the rule, never a crash or a silent
// coercion. Method: round-trip tables, then hand-made bad frames (raw MessagePack and shapes).
import { MAX_VERSION, type StorageRequest, type StorageResponse, type VersionedValue } from '@dkv/core';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, FrameError } from './codec.js';

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

function frameError(decode: () => unknown): string {
  try {
    decode();
  } catch (error) {
    expect(error).toBeInstanceOf(FrameError);
    return (error as FrameError).message;
  }
  throw new Error('expected a FrameError');
}

describe('codec round trips', () => {
  const requests: StorageRequest[] = [
    { type: 'GET', key: 'k' },
    { type: 'HEAD', key: 'é'.repeat(256) },
    { type: 'PUT', key: 'k', record },
    { type: 'PUT', key: 'k', record: { ...record, value: new Uint8Array(0), tombstone: true, expiresAt: null } },
    { type: 'PING' },
  ];
  it.each(requests.map((request) => [request.type, request] as const))('request %s', (_type, request) => {
    expect(decodeRequest(encodeRequest(request))).toEqual(request);
  });

  const responses: StorageResponse[] = [
    { type: 'GET', record },
    { type: 'GET', record: null },
    { type: 'HEAD', meta },
    { type: 'HEAD', meta: null },
    { type: 'PUT', applied: false, version: 7, previous: 7 },
    { type: 'PUT', applied: true, version: 7, previous: 0, previousUnknown: true },
    { type: 'PING', nodeId: 'n1', ready: true, keys: 0, bytes: 2 ** 40 },
  ];
  it.each(responses.map((response) => [response.type, response] as const))('response %s', (_type, response) => {
    expect(decodeResponse(encodeResponse(response))).toEqual(response);
  });

  it('keeps a 1 MiB value byte for byte, and gives request values their own memory', () => {
    const value = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 7) & 0xff);
    const frame = encodeRequest({ type: 'PUT', key: 'big', record: { ...record, value } });
    const decoded = decodeRequest(frame);
    if (decoded.type !== 'PUT') throw new Error('expected a PUT');
    expect(Buffer.compare(decoded.record.value, value)).toBe(0);
    expect(decoded.record.value.buffer).not.toBe(frame.buffer);
    expect(decoded.record.value.byteLength).toBe(decoded.record.value.buffer.byteLength);
    expect(decoded.record.value.constructor).toBe(Uint8Array);
  });
});

describe('codec rejects bad frames', () => {
  it.each([
    ['an empty frame', Buffer.alloc(0), /it is empty/],
    ['a truncated frame', Buffer.from([0x92, 0x01]), /not a single MessagePack value/],
    ['bytes after the value', Buffer.from([0x01, 0x02]), /not a single MessagePack value/],
    ['a reserved byte', Buffer.from([0xc1]), /invalid request frame/],
    ['a number instead of a map', pack(5), /invalid request frame: request: Invalid input/],
  ])('%s', (_name, frame, message) => {
    expect(frameError(() => decodeRequest(frame))).toMatch(message);
  });

  const put = (overrides: Record<string, unknown>, recordOverrides: Record<string, unknown> = {}) =>
    pack({ type: 'PUT', key: 'k', record: { ...record, ...recordOverrides }, ...overrides });

  it.each([
    ['an unknown type', pack({ type: 'DROP', key: 'k' }), "type: Invalid discriminator value. Expected 'GET' | 'HEAD' | 'PUT' | 'PING'"],
    ['an empty key', pack({ type: 'GET', key: '' }), 'key: key must be 1 to 512 bytes of UTF-8'],
    ['a 513-byte key', pack({ type: 'GET', key: 'k'.repeat(513) }), 'key: key must be 1 to 512 bytes of UTF-8'],
    ['a key that is a number', pack({ type: 'HEAD', key: 12 }), 'key: Invalid input: expected string, received number'],
    ['version 0', put({}, { version: 0 }), 'record.version: Too small'],
    ['a fractional version', put({}, { version: 1.5 }), 'record.version: Invalid input: expected int'],
    ['a version beyond 2^53', put({}, { version: 2 ** 53 }), 'record.version: Too big'],
    ['a value sent as text', put({}, { value: 'abc' }), 'record.value: Invalid input: expected Uint8Array, received string'],
    ['a missing tombstone flag', put({}, { tombstone: undefined }), 'record.tombstone: Invalid input: expected boolean'],
    ['a missing record', pack({ type: 'PUT', key: 'k' }), 'record: Invalid input: expected object'],
  ])('%s', (_name, frame, message) => {
    expect(frameError(() => decodeRequest(frame))).toContain(message);
  });

  it('reads a 64-bit integer as a number when it is safe, and refuses it when it is not', () => {
    // 0xcf is uint64; some encoders use it for any integer.
    const uint64 = (value: bigint) => {
      const bytes = Buffer.alloc(9);
      bytes[0] = 0xcf;
      bytes.writeBigUInt64BE(value, 1);
      return bytes;
    };
    // A fixed map of 4 entries, written by hand: {type: 'PUT', applied: true, version: <uint64>, previous: 0}.
    const frame = (version: Buffer) =>
      Buffer.concat([
        Buffer.from([0x84, 0xa4]),
        Buffer.from('type'),
        Buffer.from([0xa3]),
        Buffer.from('PUT'),
        Buffer.from([0xa7]),
        Buffer.from('applied'),
        Buffer.from([0xc3, 0xa7]),
        Buffer.from('version'),
        version,
        Buffer.from([0xa8]),
        Buffer.from('previous'),
        Buffer.from([0x00]),
      ]);
    expect(decodeResponse(frame(uint64(5n)))).toEqual({ type: 'PUT', applied: true, version: 5, previous: 0 });
    expect(frameError(() => decodeResponse(frame(uint64(2n ** 60n))))).toContain('version: Too big');
  });

  it('refuses a response of the wrong shape with its path', () => {
    expect(frameError(() => decodeResponse(pack({ type: 'PING', nodeId: 'n', ready: 'yes', keys: -1, bytes: 0 })))).toMatch(
      /ready: .*boolean.*; keys: Too small/,
    );
  });
});
