// Goal: a dkv process's logger (processLoggerOptions from @dkv/app-config, what the coordinator
// and the node compose pino with) writes JSON lines with level, time, msg and the process id, and
// never a value, a password, a token or an Authorization header, wherever a log call puts them.
// Method: pino with those options writing into memory; each line is parsed and searched for the
// secrets planted in the log calls.
import { Writable } from 'node:stream';
import { processLoggerOptions, REDACTED } from '@dkv/app-config';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

const SECRET = 'hunter2-d41d8cd9';
const BASIC = `Basic ${Buffer.from(`admin:${SECRET}`).toString('base64')}`;

function capture(level = 'debug'): { logger: pino.Logger; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  const logger = pino(processLoggerOptions(level, { coordinator: 'c7' }), sink);
  return {
    logger,
    raw: () => text,
    lines: () =>
      text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('processLoggerOptions', () => {
  it('writes JSON lines with level, time, msg and the process id', () => {
    const { logger, lines } = capture();
    logger.info({ epoch: 3 }, 'membership changed');
    logger.debug('details');
    expect(lines()).toEqual([
      expect.objectContaining({ level: 30, time: expect.any(Number), msg: 'membership changed', coordinator: 'c7', epoch: 3 }),
      expect.objectContaining({ level: 20, msg: 'details', coordinator: 'c7' }),
    ]);
  });

  it.each([
    {
      name: 'an Authorization header of a request',
      fields: { req: { method: 'PUT', url: '/v1/kv/a', headers: { authorization: BASIC } } },
    },
    { name: 'a bare headers object', fields: { headers: { authorization: BASIC, cookie: `sid=${SECRET}` } } },
    { name: 'a request body', fields: { request: { body: SECRET } } },
    { name: 'a value at the top', fields: { value: SECRET } },
    { name: 'a value one level down', fields: { write: { key: 'k', value: SECRET } } },
    { name: 'a password', fields: { user: { name: 'admin', password: SECRET } } },
    { name: 'a token and the cluster secret', fields: { token: SECRET, config: { clusterSecret: SECRET } } },
  ])('redacts $name', ({ fields }) => {
    const { logger, raw } = capture();
    logger.warn(fields, 'something happened');
    expect(raw()).not.toContain(SECRET);
    expect(raw()).not.toContain(BASIC.slice(6));
    expect(raw()).toContain(REDACTED);
  });

  it('keeps the level it was given: debug lines are dropped at info', () => {
    const { logger, raw } = capture('info');
    logger.debug('hidden');
    expect(raw()).toBe('');
  });
});
