// Goal: the processes' loggers censor credentials: an Authorization header as Fastify and undici
// log requests, and any password or clusterSecret field, so a log line never carries a secret
// even when a request or the auth file's content is logged by mistake. Method: a pino logger
// configured as the compositions configure theirs (processLoggerOptions), writing to a string.
import { processLoggerOptions, REDACTED } from '@dkv/app-config';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

describe('log redaction', () => {
  it('censors Authorization headers, passwords and the cluster secret', () => {
    const lines: string[] = [];
    const logger = pino(processLoggerOptions('info', { coordinator: 'c1' }), { write: (line: string) => void lines.push(line) });
    logger.info({ req: { method: 'GET', url: '/v1/kv/k', headers: { authorization: 'Basic cm9vdDpzM2NyZXQ=' } } }, 'request');
    logger.info({ headers: { authorization: 'Basic cm9vdDpzM2NyZXQ=' } }, 'outgoing');
    logger.info({ user: { name: 'root', password: 's3cret-pw' }, clusterSecret: 'the-cluster-secret' }, 'auth');
    logger.info({ password: 's3cret-pw', file: { clusterSecret: 'the-cluster-secret' } }, 'flat');
    const text = lines.join('');
    for (const secret of ['cm9vdDpzM2NyZXQ=', 's3cret-pw', 'the-cluster-secret']) expect(text).not.toContain(secret);
    expect(text).toContain(REDACTED);
    expect(text).toContain('"url":"/v1/kv/k"');
  });
});
