/**
 * The internode wire format: MessagePack frames of {@link StorageRequest} and
 * {@link StorageResponse}, validated with zod when they arrive.
 *
 * MessagePack carries the value's bytes as a `bin` field, so a 1 MiB session costs 1 MiB on the
 * wire (JSON would need base64) and decoding hands back a view of the frame instead of a copy.
 * Records (msgpackr's structure extension) are turned off: every frame stands alone, which any
 * MessagePack decoder can read and which a lost or reordered frame cannot corrupt.
 *
 * A frame is untrusted input. Decoding never throws anything but a {@link FrameError} whose
 * message names the field and what was wrong, so the edges can answer 400 instead of crashing.
 */
import {
  digestRequestProblem,
  MAX_DIGEST_PARTS,
  MAX_DIGEST_SEGMENTS,
  MAX_KEY_BYTES,
  MAX_VERSION,
  NODE_ID_PATTERN,
  ZONE_PATTERN,
  type StorageRequest,
  type StorageResponse,
} from '@dkv/core';
import { Packr } from 'msgpackr';
import { z } from 'zod';

/** A frame that is not valid MessagePack or does not have the shape of the protocol. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** The MIME type internode frames travel under. */
export const FRAME_CONTENT_TYPE = 'application/msgpack';

// `int64AsType: 'number'` reads a small integer that another encoder chose to write as a 64-bit int
// as a number; beyond 2^53 it stays a bigint, which the schemas reject as "expected number".
const packr = new Packr({ useRecords: false, int64AsType: 'number' });
// Requests carry values a replica keeps for a long time. A view would pin the whole frame (for a
// small value, Node's shared 8 KiB buffer pool slab), so request values are copied to their own
// exact-size memory; response values are read once by a coordinator, so views are fine there.
const requestPackr = new Packr({ useRecords: false, int64AsType: 'number', copyBuffers: true });

const keySchema = z.string().refine((key) => {
  const bytes = Buffer.byteLength(key, 'utf8');
  return bytes >= 1 && bytes <= MAX_KEY_BYTES && key.isWellFormed();
}, `key must be 1 to ${MAX_KEY_BYTES} bytes of UTF-8`);
const versionSchema = z.int().min(1).max(MAX_VERSION);
const epochMsSchema = z.int();
const writerIdSchema = z.string().min(1).max(256);
// msgpackr hands back Node `Buffer`s; callers get plain `Uint8Array` views of the same memory, the
// type every adapter returns, so `toEqual` in tests and `slice` (a copy, not a view) mean the same.
const bytesSchema = z
  .instanceof(Uint8Array)
  .transform((bytes) => (bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)));

const versionMetaSchema = z.object({
  version: versionSchema,
  writerId: writerIdSchema,
  createdAt: epochMsSchema,
  expiresAt: epochMsSchema.nullable(),
  tombstone: z.boolean(),
});

const versionedValueSchema = versionMetaSchema.extend({
  value: bytesSchema,
  updatedAt: epochMsSchema,
});

// Membership gossip and range scans (the elastic cluster). Every list has a bound, so a frame's
// size is bounded whatever its sender claims.
const MAX_GOSSIP_ENTRIES = 4096;
const MAX_SCAN_RANGES = 1 << 20;
const MAX_SCAN_RECORDS = 100_000;
const nodeIdSchema = z.string().regex(NODE_ID_PATTERN);
const hashSchema = z
  .int()
  .min(0)
  .max(2 ** 32 - 1);
const memberEntrySchema = z.object({
  id: nodeIdSchema,
  address: z.string().min(1).max(300),
  role: z.enum(['storage', 'coordinator']),
  vnodes: z.int().min(0).max(65_536),
  readVnodes: z.int().min(0).max(65_536),
  status: z.enum(['joining', 'up', 'leaving', 'removed']),
  version: versionSchema,
  syncedRing: z.string().max(128).nullable(),
  forced: z.boolean(),
  rejoining: z.boolean(),
  metadata: z.record(z.string().max(256), z.string().max(1024)).refine((m) => Object.keys(m).length <= 64, 'at most 64 metadata keys'),
  zone: z.string().regex(ZONE_PATTERN).optional(),
  readZone: z.string().regex(ZONE_PATTERN).optional(),
});
const syncProgressSchema = z.object({
  targetRing: z.string().max(128),
  rangesPlanned: z.int().min(0),
  rangesDone: z.int().min(0),
  keys: z.int().min(0),
  bytes: z.int().min(0),
});
const heartbeatSchema = z.object({
  id: nodeIdSchema,
  generation: z.int(),
  counter: z.int().min(0),
  progress: syncProgressSchema.nullable(),
  routes: z.string().max(128).nullable(),
  reads: z.string().max(128).nullable().optional(),
});
// Optional, and only ever added to: a process older than a setting leaves it out.
const clusterSettingsSchema = z.object({ n: z.int().min(1).max(1024).optional(), tombstoneGraceMs: z.int().min(0).optional() });
const gossipStateSchema = z.object({
  entries: z.array(memberEntrySchema).max(MAX_GOSSIP_ENTRIES),
  heartbeats: z.array(heartbeatSchema).max(MAX_GOSSIP_ENTRIES),
  settings: clusterSettingsSchema.optional(),
});
const hashRangeSchema = z.tuple([hashSchema, hashSchema]).refine(([start, end]) => start <= end, 'a range starts at or before its end');
const scanCursorSchema = z.object({ bucket: z.int().min(0).max(65_535), afterKey: keySchema });

const requestSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('GET'), key: keySchema }),
  z.object({ type: z.literal('HEAD'), key: keySchema }),
  z.object({ type: z.literal('PUT'), key: keySchema, record: versionedValueSchema }),
  z.object({ type: z.literal('PING') }),
  z.object({ type: z.literal('TIME') }),
  z.object({ type: z.literal('GOSSIP'), state: gossipStateSchema }),
  z.object({
    type: z.literal('SCAN'),
    ranges: z.array(hashRangeSchema).max(MAX_SCAN_RANGES),
    cursor: scanCursorSchema.nullable(),
    limit: z.int().min(1).max(MAX_SCAN_RECORDS),
    maxBytes: z
      .int()
      .min(1)
      .max(1024 * 1024 * 1024),
  }),
  z.object({ type: z.literal('HINT'), key: keySchema, record: versionedValueSchema, target: nodeIdSchema }),
  z
    .object({
      type: z.literal('DIGEST'),
      ranges: z.array(hashRangeSchema).max(MAX_DIGEST_PARTS),
      segments: z.int().min(1).max(MAX_DIGEST_SEGMENTS),
    })
    .superRefine((request, context) => {
      const problem = digestRequestProblem(request.ranges, request.segments);
      if (problem !== null) context.addIssue({ code: 'custom', message: problem });
    }),
]);

const countSchema = z.int().min(0);

const responseSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('GET'), record: versionedValueSchema.nullable() }),
  z.object({ type: z.literal('HEAD'), meta: versionMetaSchema.nullable() }),
  // `previousUnknown` is sent only when true (a replica catching up), so other answers are the
  // frames replicas sent before it existed.
  z.object({
    type: z.literal('PUT'),
    applied: z.boolean(),
    version: versionSchema,
    previous: z.int().min(0).max(MAX_VERSION),
    previousUnknown: z.boolean().optional(),
  }),
  z.object({ type: z.literal('PING'), nodeId: z.string().min(1), ready: z.boolean(), keys: countSchema, bytes: countSchema }),
  z.object({ type: z.literal('TIME'), nowMs: epochMsSchema }),
  z.object({ type: z.literal('GOSSIP'), state: gossipStateSchema }),
  z.object({
    type: z.literal('SCAN'),
    records: z.array(z.object({ key: keySchema, record: versionedValueSchema })).max(MAX_SCAN_RECORDS),
    cursor: scanCursorSchema.nullable(),
  }),
  z.object({ type: z.literal('HINT'), accepted: z.boolean() }),
  z.object({
    type: z.literal('DIGEST'),
    digests: z.array(z.object({ hash: z.int().min(0).max(Number.MAX_SAFE_INTEGER), count: countSchema })).max(MAX_DIGEST_PARTS),
  }),
]);

/** Encodes a request as one MessagePack frame. The input is trusted: it was built by our code. */
export function encodeRequest(request: StorageRequest): Buffer {
  return packr.pack(request);
}

/** Encodes a response as one MessagePack frame. */
export function encodeResponse(response: StorageResponse): Buffer {
  return packr.pack(response);
}

/**
 * Decodes and validates a request frame. Values are copies that own their memory, so a replica
 * can keep them without pinning the frame.
 * @throws FrameError when the frame is not a valid request.
 */
export function decodeRequest(frame: Uint8Array): StorageRequest {
  return validate(requestSchema, unpack(requestPackr, frame), 'request');
}

/**
 * Decodes and validates a response frame. Values are views of `frame` (no copy), so the caller
 * must not reuse `frame`'s memory while the response lives.
 * @throws FrameError when the frame is not a valid response.
 */
export function decodeResponse(frame: Uint8Array): StorageResponse {
  return validate(responseSchema, unpack(packr, frame), 'response');
}

function unpack(decoder: Packr, frame: Uint8Array): unknown {
  if (frame.byteLength === 0) throw new FrameError('invalid frame: it is empty');
  try {
    return decoder.unpack(frame);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new FrameError(`invalid frame: not a single MessagePack value (${reason})`);
  }
}

function validate<T>(schema: z.ZodType<T>, decoded: unknown, what: string): T {
  const result = schema.safeParse(decoded);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.length === 0 ? what : issue.path.map(String).join('.');
    return `${path}: ${issue.message}`;
  });
  throw new FrameError(`invalid ${what} frame: ${issues.join('; ')}`);
}
