// Goal: the request parser reads what Redis clients send (multibulk, inline as redis-cli types
// it) exactly as Redis does, however the input is cut into chunks, and refuses every breach of
// the protocol or of a bound with Redis's error text before allocating for it; no input makes it
// crash or hang. Method: tables of inputs and expected commands or errors; every split point of
// a pipelined input; fast-check properties over random, truncated and oversized inputs (the seed
// is printed by fast-check on failure and replays with its `seed` option).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RespParser, RespProtocolError, splitInlineArgs, type RespParserLimits } from './resp-parser.js';

const LIMITS: RespParserLimits = {
  maxArgs: 1024 * 1024,
  maxBulkBytes: 1024 * 1024,
  maxInlineBytes: 64 * 1024,
  maxCommandBytes: 16 * 1024 * 1024,
};

/** Every command in `input` fed in `chunks`, as text; or the protocol error's message. */
function parseAll(chunks: readonly (string | Buffer)[], limits: RespParserLimits = LIMITS): { commands: string[][]; error: string | null } {
  const parser = new RespParser(limits);
  const commands: string[][] = [];
  try {
    for (const chunk of chunks) {
      parser.feed(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
      for (let command = parser.next(); command !== null; command = parser.next())
        commands.push(command.map((arg) => arg.toString('latin1')));
    }
    return { commands, error: null };
  } catch (error) {
    if (!(error instanceof RespProtocolError)) throw error;
    return { commands, error: error.message };
  }
}

function multibulk(...args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg, 'latin1')}\r\n${arg}\r\n`).join('')}`;
}

describe('RespParser: what clients send', () => {
  it.each([
    ['multibulk', multibulk('SET', 'k', 'v'), [['SET', 'k', 'v']]],
    ['empty bulk string', multibulk('SET', 'k', ''), [['SET', 'k', '']]],
    ['binary bytes with CR LF inside a bulk', multibulk('SET', 'k', 'a\r\nb\0c'), [['SET', 'k', 'a\r\nb\0c']]],
    [
      'pipelined commands',
      multibulk('GET', 'a') + multibulk('GET', 'b'),
      [
        ['GET', 'a'],
        ['GET', 'b'],
      ],
    ],
    ['empty multibulk is skipped', '*0\r\n*-1\r\n' + multibulk('PING'), [['PING']]],
    ['inline', 'SET k v\r\n', [['SET', 'k', 'v']]],
    ['inline with LF only', 'PING\n', [['PING']]],
    ['inline blank lines are skipped', '\r\n\n  \r\nPING\r\n', [['PING']]],
    ['inline double quotes with escapes', 'SET "a b" "x\\n\\x41\\"y"\r\n', [['SET', 'a b', 'x\nA"y']]],
    ['inline single quotes', "SET 'a b' 'it\\'s'\r\n", [['SET', 'a b', "it's"]]],
    ['inline quote within a word', 'SET k"ey x" v\r\n', [['SET', 'key x', 'v']]],
    ['inline then multibulk', 'PING\r\n' + multibulk('ECHO', 'hi'), [['PING'], ['ECHO', 'hi']]],
  ])('%s', (_name, input, expected) => {
    expect(parseAll([input])).toEqual({ commands: expected, error: null });
  });

  it('returns views of the input chunk, not copies (zero-copy)', () => {
    const parser = new RespParser(LIMITS);
    const chunk = Buffer.from(multibulk('SET', 'key', 'value'));
    parser.feed(chunk);
    const command = parser.next() as Buffer[];
    expect(command[2]?.buffer).toBe(chunk.buffer);
  });

  it('gives each command its name as sent, whether shared (GET, get, SET, set) or a view (Get, GETX)', () => {
    const names = ['GET', 'get', 'Get', 'SET', 'set', 'sET', 'GETX', 'GE'];
    const { commands, error } = parseAll([names.map((name) => multibulk(name, 'k')).join('')]);
    expect(error).toBeNull();
    expect(commands).toEqual(names.map((name) => [name, 'k']));
  });

  it('reads a header line longer than a short one, and refuses a long bad count', () => {
    // A count with leading blanks or many digits is longer than the lines searched byte by byte.
    expect(parseAll([`*2\r\n$3\r\nGET\r\n$30\r\n${'k'.repeat(30)}\r\n`]).commands).toEqual([['GET', 'k'.repeat(30)]]);
    expect(parseAll([`*${'9'.repeat(30)}\r\n`]).error).toBe('Protocol error: invalid multibulk length');
    expect(parseAll([`*1\r\n$${'1'.repeat(25)}`, '\r\n']).error).toBe('Protocol error: invalid bulk length');
  });

  it('parses a pipeline identically whatever byte it is split at', () => {
    const input = Buffer.from(
      multibulk('SET', 'k', 'x'.repeat(40)) + 'PING\r\n' + multibulk('MGET', 'a', 'b', '') + 'SET "q x" y\r\n',
      'latin1',
    );
    const whole = parseAll([input]);
    expect(whole.commands).toHaveLength(4);
    for (let cut = 0; cut <= input.length; cut += 1) {
      expect(parseAll([input.subarray(0, cut), input.subarray(cut)])).toEqual(whole);
    }
    // And byte by byte.
    expect(parseAll([...input].map((byte) => Buffer.from([byte])))).toEqual(whole);
  });

  it('joins a long bulk string arriving in many chunks once', () => {
    const value = 'v'.repeat(200_000);
    const input = Buffer.from(multibulk('SET', 'k', value));
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; i += 1000) chunks.push(input.subarray(i, i + 1000));
    expect(parseAll(chunks).commands[0]?.[2]).toBe(value);
  });
});

describe('RespParser: bounds and protocol errors, as Redis words them', () => {
  it.each([
    ['huge multibulk count', '*99999999999\r\n', 'Protocol error: invalid multibulk length'],
    ['multibulk count over the limit', '*1048577\r\n', 'Protocol error: invalid multibulk length'],
    ['multibulk count not a number', '*abc\r\n', 'Protocol error: invalid multibulk length'],
    ['multibulk count with leading zero', '*01\r\n', 'Protocol error: invalid multibulk length'],
    ['huge bulk length', '*1\r\n$9999999999\r\n', 'Protocol error: invalid bulk length'],
    ['negative bulk length', '*1\r\n$-5\r\n', 'Protocol error: invalid bulk length'],
    ['bulk length over the limit', `*1\r\n$${1024 * 1024 + 1}\r\n`, 'Protocol error: invalid bulk length'],
    ['no $ before a bulk', '*1\r\n:5\r\n', "Protocol error: expected '$', got ':'"],
    ['bulk string without its CRLF', '*1\r\n$1\r\nabc\r\n', 'Protocol error: expected CRLF after a bulk string'],
    ['unbalanced quotes inline', 'SET "k v\r\n', 'Protocol error: unbalanced quotes in request'],
    ['closing quote followed by a letter', 'SET "k"v x\r\n', 'Protocol error: unbalanced quotes in request'],
  ])('%s', (_name, input, error) => {
    expect(parseAll([input]).error).toBe(error);
  });

  it('refuses an inline request or header line longer than 64 KiB without its end', () => {
    expect(parseAll(['x'.repeat(64 * 1024 + 1)]).error).toBe('Protocol error: too big inline request');
    expect(parseAll(['*' + '1'.repeat(64 * 1024 + 1)]).error).toBe('Protocol error: too big mbulk count string');
    expect(parseAll(['*1\r\n$' + '1'.repeat(64 * 1024 + 1)]).error).toBe('Protocol error: too big bulk count string');
  });

  it('refuses a command whose arguments add up to more than maxCommandBytes', () => {
    const limits = { ...LIMITS, maxCommandBytes: 1000 };
    expect(parseAll([multibulk('MSET', 'a', 'x'.repeat(400), 'b', 'x'.repeat(400))], limits).error).toMatch(
      /^Protocol error: command larger than 1000 bytes/,
    );
  });

  it('keeps failing after an error and never returns the commands after it', () => {
    const parser = new RespParser(LIMITS);
    parser.feed(Buffer.from('*x\r\n' + multibulk('PING')));
    expect(() => parser.next()).toThrow(RespProtocolError);
    expect(() => parser.next()).toThrow(RespProtocolError);
  });

  it('holds no more than the inline limit while a line has no end, whatever is sent', () => {
    const parser = new RespParser(LIMITS);
    for (let i = 0; i < 64; i += 1) {
      parser.feed(Buffer.alloc(1024, 0x61));
      expect(parser.next()).toBeNull();
    }
    parser.feed(Buffer.alloc(1024, 0x61));
    expect(() => parser.next()).toThrow('Protocol error: too big inline request');
    expect(parser.bufferedBytes).toBe(0);
  });
});

describe('splitInlineArgs', () => {
  it('splits like sdssplitargs', () => {
    const split = (text: string) => splitInlineArgs(Buffer.from(text, 'latin1'))?.map((b) => b.toString('latin1')) ?? null;
    expect(split('  a  b\tc ')).toEqual(['a', 'b', 'c']);
    expect(split('"\\t\\r\\a\\b\\\\"')).toEqual(['\t\r\x07\b\\']);
    expect(split('"\\xzz"')).toEqual(['xzz']);
    expect(split("'a\\nb'")).toEqual(['a\\nb']);
    expect(split('"abc')).toBeNull();
    expect(split('')).toEqual([]);
  });
});

describe('RespParser: fuzz', () => {
  const small: RespParserLimits = { maxArgs: 64, maxBulkBytes: 256, maxInlineBytes: 512, maxCommandBytes: 4096 };

  it('random bytes in random chunks: commands or a protocol error, never a crash, and bounded memory', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const parser = new RespParser(small);
        try {
          for (const chunk of chunks) {
            parser.feed(Buffer.from(chunk));
            while (parser.next() !== null);
            // What waits unparsed is at most a line or a bulk string in progress plus one chunk.
            expect(parser.bufferedBytes).toBeLessThanOrEqual(small.maxBulkBytes + small.maxInlineBytes + 2 + 300);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(RespProtocolError);
          expect((error as Error).message).toMatch(/^Protocol error: /);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('valid pipelines, truncated anywhere and cut into random chunks, parse to a prefix of the commands', () => {
    const arg = fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes).toString('latin1'));
    const command = fc.array(arg, { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(
        fc.array(command, { minLength: 1, maxLength: 8 }),
        fc.nat(),
        fc.array(fc.nat({ max: 64 }), { maxLength: 30 }),
        (commands, truncateSeed, cuts) => {
          const input = Buffer.from(commands.map((c) => multibulk(...c)).join(''), 'latin1');
          const truncated = input.subarray(0, truncateSeed % (input.length + 1));
          const chunks: Buffer[] = [];
          let at = 0;
          for (const cut of cuts) {
            if (at >= truncated.length) break;
            chunks.push(truncated.subarray(at, at + cut + 1));
            at += cut + 1;
          }
          if (at < truncated.length) chunks.push(truncated.subarray(at));
          const { commands: parsed, error } = parseAll(chunks);
          expect(error).toBeNull();
          expect(parsed).toEqual(commands.slice(0, parsed.length));
          if (truncated.length === input.length) expect(parsed).toEqual(commands);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('oversized announcements are refused before the bytes they announce arrive', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: small.maxArgs + 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: small.maxBulkBytes + 1, max: Number.MAX_SAFE_INTEGER }),
        (count, length) => {
          expect(parseAll([`*${count}\r\n`], small).error).toBe('Protocol error: invalid multibulk length');
          expect(parseAll([`*1\r\n$${length}\r\n`], small).error).toBe('Protocol error: invalid bulk length');
        },
      ),
    );
  });
});
