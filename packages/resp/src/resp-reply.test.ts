// Goal: replies are encoded byte for byte as Redis writes them, in RESP3 and with Redis's RESP2
// fallbacks for the types RESP2 lacks; binary values pass through unchanged. Method: a table of
// replies and their expected bytes in both protocols, and a round trip through the test decoder.
import { describe, expect, it } from 'vitest';
import { encodeReply, reply, ReplyWriter, type RespReply } from './resp-reply.js';
import { decodeReply } from './test-support.js';

describe('encodeReply', () => {
  it.each<[string, RespReply, string, string]>([
    ['simple string', reply.ok, '+OK\r\n', '+OK\r\n'],
    ['error', reply.error('ERR bad\r\nthing'), '-ERR bad  thing\r\n', '-ERR bad  thing\r\n'],
    ['integer', reply.integer(-2), ':-2\r\n', ':-2\r\n'],
    ['bulk text', reply.bulk('héllo'), '$6\r\nhéllo\r\n', '$6\r\nhéllo\r\n'],
    ['empty bulk', reply.bulk(''), '$0\r\n\r\n', '$0\r\n\r\n'],
    ['null', reply.null, '$-1\r\n', '_\r\n'],
    ['null array', { type: 'nullArray' }, '*-1\r\n', '_\r\n'],
    [
      'array',
      reply.array([reply.integer(1), reply.bulk('a'), reply.null]),
      '*3\r\n:1\r\n$1\r\na\r\n$-1\r\n',
      '*3\r\n:1\r\n$1\r\na\r\n_\r\n',
    ],
    ['map', reply.map([[reply.bulk('proto'), reply.integer(3)]]), '*2\r\n$5\r\nproto\r\n:3\r\n', '%1\r\n$5\r\nproto\r\n:3\r\n'],
    ['set', reply.set([reply.simple('fast')]), '*1\r\n+fast\r\n', '~1\r\n+fast\r\n'],
    ['double', reply.double(1.5), '$3\r\n1.5\r\n', ',1.5\r\n'],
    ['infinite double', reply.double(-Infinity), '$4\r\n-inf\r\n', ',-inf\r\n'],
    ['verbatim', reply.verbatim('a:1\r\n'), '$5\r\na:1\r\n\r\n', '=9\r\ntxt:a:1\r\n\r\n'],
  ])('%s', (_name, value, resp2, resp3) => {
    expect(encodeReply(value, 2).toString('utf8')).toBe(resp2);
    expect(encodeReply(value, 3).toString('utf8')).toBe(resp3);
  });

  it('passes a binary value through without copying it', () => {
    const value = Buffer.from([0, 13, 10, 255]);
    const writer = new ReplyWriter();
    writer.write(reply.array([reply.bulk(value), reply.ok]), 2);
    const parts = writer.take();
    expect(parts).toContain(value);
    expect(Buffer.concat(parts)).toEqual(Buffer.concat([Buffer.from('*2\r\n$4\r\n'), value, Buffer.from('\r\n+OK\r\n')]));
  });

  it('round-trips through a decoder in both protocols', () => {
    const value = reply.map([[reply.bulk('k'), reply.array([reply.bulk('v'), reply.integer(7), reply.null])]]);
    expect(decodeReply(encodeReply(value, 3))?.value).toEqual({ map: [['k', ['v', 7, null]]] });
    expect(decodeReply(encodeReply(value, 2))?.value).toEqual(['k', ['v', 7, null]]);
  });
});
