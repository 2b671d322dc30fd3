// Goal: settings come from a flag, else the DKV_* variable, else the default; every bad value is
// reported at once, naming the flag and the variable and what is allowed. Method: table cases.
import { describe, expect, it } from 'vitest';
import { booleanSchema, ConfigError, enumSchema, formatHelp, intSchema, isValidAddress, parseFlags, parseSettings } from './settings.js';

const table = {
  port: { flag: 'port', env: 'DKV_PORT', description: 'port', defaultValue: '7070', schema: intSchema(0, 65535) },
  level: {
    flag: 'log-level',
    env: 'DKV_LOG_LEVEL',
    description: 'level',
    defaultValue: 'info',
    schema: enumSchema(['info', 'warn'] as const),
  },
  join: { flag: 'join', env: 'DKV_JOIN', description: 'a node to join', required: true, schema: intSchema(1, 9) },
};

describe('parseSettings', () => {
  it('prefers the flag, then the variable, then the default', () => {
    expect(parseSettings(table, { port: '1', join: '2' }, { DKV_PORT: '3', DKV_LOG_LEVEL: 'warn' })).toEqual({
      port: 1,
      level: 'warn',
      join: 2,
    });
    expect(parseSettings(table, {}, { DKV_PORT: '', DKV_JOIN: '4' })).toEqual({ port: 7070, level: 'info', join: 4 });
  });

  it('reports every problem, naming the setting', () => {
    let error: unknown;
    try {
      parseSettings(table, { port: 'abc', level: 'loud' }, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^--port \(DKV_PORT\) .*0 to 65535.*"abc"$/);
    expect(problems[1]).toMatch(/^--log-level \(DKV_LOG_LEVEL\) .*"loud"$/);
    expect(problems[2]).toBe('--join (DKV_JOIN) is required: a node to join');
  });
});

describe('flags and addresses', () => {
  it('parses --flag value pairs and --help', () => {
    expect(parseFlags(table, ['--port', '9', '--log-level=warn'])).toEqual({ flags: { port: '9', level: 'warn' }, help: false });
    expect(parseFlags(table, ['--help']).help).toBe(true);
    expect(formatHelp('usage: x', table)).toContain('--port');
  });

  it('reads a switch as true when given alone, and its variable as true or false', () => {
    const switches = {
      coordinate: {
        flag: 'coordinate',
        env: 'DKV_COORDINATE',
        description: 'serve the public API',
        defaultValue: 'false',
        switch: true,
        schema: booleanSchema(),
      },
    };
    expect(parseFlags(switches, ['--coordinate'])).toEqual({ flags: { coordinate: 'true' }, help: false });
    expect(() => parseFlags(switches, ['--coordinate=yes'])).toThrow(ConfigError);
    expect(parseSettings(switches, parseFlags(switches, []).flags, {})).toEqual({ coordinate: false });
    expect(parseSettings(switches, {}, { DKV_COORDINATE: 'TRUE' })).toEqual({ coordinate: true });
    expect(parseSettings(switches, {}, { DKV_COORDINATE: '0' })).toEqual({ coordinate: false });
    expect(() => parseSettings(switches, {}, { DKV_COORDINATE: 'maybe' })).toThrow(/--coordinate \(DKV_COORDINATE\) must be true or false/);
    expect(formatHelp('x', switches)).toContain('  --coordinate  DKV_COORDINATE');
  });

  it.each([
    ['127.0.0.1:7070', true],
    ['db-1.local:1', true],
    ['[::1]:7070', true],
    ['127.0.0.1', false],
    ['host:0', false],
    ['host:99999', false],
  ])('address %s valid: %s', (address, valid) => expect(isValidAddress(address)).toBe(valid));
});
