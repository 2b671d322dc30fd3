import { pino, type Logger } from 'pino';

/**
 * What a dkv process's logs may never hold: request values (bodies), passwords, tokens and the
 * cluster secret, wherever a log call puts them (at the top of a line's object, or one or two
 * levels down, as in `{ req: { headers: { authorization } } }`). pino replaces them with
 * {@link REDACTED} before the line is written. Requests are not logged one by one in the first
 * place (the public API disables Fastify's request logging); this is the net under every other
 * log call.
 */
export const LOG_REDACT_PATHS: readonly string[] = [
  'authorization',
  'password',
  'token',
  'clusterSecret',
  'secret',
  'body',
  'value',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.body',
  'request.headers.authorization',
  'request.body',
  '*.authorization',
  '*.password',
  '*.token',
  '*.clusterSecret',
  '*.secret',
  '*.body',
  '*.value',
];

/** What a redacted field shows instead of its content. */
export const REDACTED = '[redacted]';

/**
 * The pino options of every dkv process: JSON lines at `level`, each with `base` (the process's
 * id: `{node}` or `{coordinator}`), time and message, with {@link LOG_REDACT_PATHS} redacted.
 */
export function processLoggerOptions(
  level: string,
  base: Readonly<Record<string, string>>,
): { level: string; base: Record<string, string>; redact: { paths: string[]; censor: string } } {
  return { level, base: { ...base }, redact: { paths: [...LOG_REDACT_PATHS], censor: REDACTED } };
}

/**
 * The logger of a dkv process: {@link processLoggerOptions}' JSON lines written to standard error
 * (API.md), synchronously, so that the last lines before an exit (a port taken, bad
 * configuration, a signal's stop) are written before the process ends. Every line a process
 * writes outside `--help` goes through one of these, from the first (a bad flag, known before any
 * server is built) to the last; a supervisor collecting standard error can parse every line.
 * `destination` replaces standard error (the CLI passes its own writer, so tests can read it).
 */
export function processLogger(
  level: string,
  base: Readonly<Record<string, string | null>>,
  destination?: { write(line: string): void },
): Logger {
  return pino({ ...processLoggerOptions(level, {}), base: { ...base } }, destination ?? pino.destination({ fd: 2, sync: true }));
}
