import { DEFAULT_MAX_ARGS, DEFAULT_MAX_INLINE_BYTES, type RespParserLimits } from './resp-parser.js';

/** Room for a bulk string beyond the value limit, so that a value just over it is refused as VALUE_TOO_LARGE, not as a protocol error. */
const BULK_MARGIN_BYTES = 64 * 1024;
/** The least a command may hold, whatever the value limit: an MSET of a few hundred sessions. */
const MIN_COMMAND_BYTES = 16 * 1024 * 1024;

/** The bounds of a Redis door that apps do not expose as settings (each justified where it is used). */
export const DEFAULT_RESP_SERVER_LIMITS = {
  /** Redis's multibulk count limit before 7.0. */
  maxArgs: DEFAULT_MAX_ARGS,
  /** Redis's inline and header limit. */
  maxInlineBytes: DEFAULT_MAX_INLINE_BYTES,
  /** KEYS answers at most this many keys; SCAN pages through any number. */
  maxKeysReply: 10_000,
} as const;

/**
 * The parser's bounds for a store whose values are at most `maxValueBytes`: a bulk string may be
 * that plus a margin (a larger value is refused by the store with VALUE_TOO_LARGE and the
 * connection stays usable; a far larger one is a protocol error and closes it), and one command
 * at most four such values or {@link MIN_COMMAND_BYTES}, whichever is more.
 */
export function respServerLimits(maxValueBytes: number): RespParserLimits {
  const maxBulkBytes = maxValueBytes + BULK_MARGIN_BYTES;
  return {
    maxArgs: DEFAULT_RESP_SERVER_LIMITS.maxArgs,
    maxInlineBytes: DEFAULT_RESP_SERVER_LIMITS.maxInlineBytes,
    maxBulkBytes,
    maxCommandBytes: Math.max(MIN_COMMAND_BYTES, 4 * maxBulkBytes),
  };
}
