/**
 * Goal: the auth file is validated field by field without quoting secrets, credentials are
 * checked by their bytes whatever their lengths, roles nest, Basic headers parse as RFC 7617
 * says, and a reload keeps the old users when the new file is bad.
 * Method: tables of inputs and expected outcomes; reloads against a file in a temporary directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AuthFileError,
  basicAuthorization,
  constantTimeEqual,
  parseAuthFile,
  parseBasicAuthorization,
  ReloadableAuth,
  roleAllows,
  UserTable,
  type AuthFile,
} from './index.js';

const SECRET = 'cluster-secret-0123456789';
const GOOD: AuthFile = {
  users: [
    { name: 'reader', password: 'r-pass', role: 'read' },
    { name: 'writer', password: 'w-pass', role: 'readwrite' },
    { name: 'root', password: 'a-pass', role: 'admin' },
  ],
  clusterSecret: SECRET,
};

function problemsOf(text: string): string[] {
  try {
    parseAuthFile(text, 'auth.json');
  } catch (error) {
    if (error instanceof AuthFileError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('parseAuthFile', () => {
  it('accepts a valid file', () => {
    expect(parseAuthFile(JSON.stringify(GOOD), 'auth.json')).toEqual(GOOD);
  });

  it.each([
    ['not JSON', '{"users": [', /the file|is not valid JSON/],
    ['no users', JSON.stringify({ users: [], clusterSecret: SECRET }), /^users must list at least one user/],
    [
      'a bad role',
      JSON.stringify({ users: [{ name: 'a', password: 'p', role: 'root' }], clusterSecret: SECRET }),
      /^users\[0\]\.role must be one of read, readwrite, admin/,
    ],
    [
      'a name with a colon',
      JSON.stringify({ users: [{ name: 'a:b', password: 'p', role: 'read' }], clusterSecret: SECRET }),
      /^users\[0\]\.name must be 1 to 64 printable ASCII characters without spaces or ":"/,
    ],
    [
      'an empty password',
      JSON.stringify({ users: [{ name: 'a', password: '', role: 'read' }], clusterSecret: SECRET }),
      /^users\[0\]\.password must be 1 to 1024 characters/,
    ],
    ['a short secret', JSON.stringify({ users: GOOD.users, clusterSecret: 'short' }), /^clusterSecret must be 16 to 1024 characters/],
    ['no secret', JSON.stringify({ users: GOOD.users }), /^clusterSecret must be a string/],
    [
      'a user twice',
      JSON.stringify({ users: [GOOD.users[0], GOOD.users[0]], clusterSecret: SECRET }),
      /^users\[1\]\.name "reader" is listed twice/,
    ],
    ['an unknown field', JSON.stringify({ ...GOOD, admins: [] }), /unknown field\(s\) admins/],
    [
      'an unknown user field',
      JSON.stringify({ users: [{ ...GOOD.users[0], pass: 'x' }], clusterSecret: SECRET }),
      /^users\[0\] unknown field\(s\) pass/,
    ],
    ['an array', '[]', /^the file must be a JSON object/],
  ])('refuses %s, naming the field', (_what, text, expected) => {
    const problems = problemsOf(text);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toMatch(expected);
  });

  it('never quotes a password or the secret in its messages', () => {
    // An unquoted password: JSON.parse's own message would quote the text around it.
    const text = `{"users": [{"name": "a", "password": hunter2-password, "role": "boss"}], "clusterSecret": "${SECRET}"}`;
    const broken = problemsOf(text).join('\n');
    const invalid = problemsOf(
      JSON.stringify({ users: [{ name: 'a', password: 'hunter2-password', role: 'boss' }], clusterSecret: 'too-short-pw' }),
    ).join('\n');
    for (const message of [broken, invalid]) {
      expect(message).not.toContain('hunter2');
      expect(message).not.toContain(SECRET);
      expect(message).not.toContain('too-short-pw');
    }
  });
});

describe('constantTimeEqual', () => {
  it.each([
    ['equal strings', 'secret', 'secret', true],
    ['equal bytes', Buffer.from('secret'), 'secret', true],
    ['one byte different', 'secret', 'secreT', false],
    ['a prefix (different lengths)', 'secret', 'secret-and-more', false],
    ['empty and non-empty', '', 'x', false],
    ['both empty', '', '', true],
  ])('%s', (_what, a, b, expected) => {
    expect(constantTimeEqual(a, b)).toBe(expected);
    expect(constantTimeEqual(b, a)).toBe(expected);
  });
});

describe('UserTable', () => {
  const table = new UserTable(GOOD);

  it.each([
    ['reader', 'r-pass', 'read'],
    ['writer', 'w-pass', 'readwrite'],
    ['root', 'a-pass', 'admin'],
    ['root', 'r-pass', null],
    ['root', 'a-pass-longer', null],
    ['nobody', 'a-pass', null],
    ['', '', null],
  ])('%s / %s → %s', (name, password, role) => {
    expect(table.authenticate(name, password)?.role ?? null).toBe(role);
  });

  it('nests the roles', () => {
    expect([
      roleAllows('read', 'read'),
      roleAllows('read', 'readwrite'),
      roleAllows('readwrite', 'read'),
      roleAllows('readwrite', 'admin'),
      roleAllows('admin', 'readwrite'),
    ]).toEqual([true, false, true, false, true]);
  });
});

describe('Basic authorization', () => {
  it('round-trips a name and a password with a colon in it', () => {
    const header = basicAuthorization({ username: 'root', password: 'a:b:c' });
    expect(parseBasicAuthorization(header)).toEqual({ username: 'root', password: 'a:b:c' });
  });

  it.each([
    undefined,
    'Bearer abc',
    'Basic',
    'Basic !!!',
    `Basic ${Buffer.from('no-colon').toString('base64')}`,
    `Basic ${'A'.repeat(5000)}`,
  ])('reads %s as no credentials', (header) => {
    expect(parseBasicAuthorization(header)).toBeNull();
  });
});

describe('ReloadableAuth', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('takes a good new file and keeps the old users when the new file is bad', () => {
    dir = mkdtempSync(join(tmpdir(), 'dkv-auth-'));
    const path = join(dir, 'auth.json');
    writeFileSync(path, JSON.stringify(GOOD));
    const lines: string[] = [];
    const auth = ReloadableAuth.load(path, (level, message, fields) => lines.push(`${level} ${message} ${JSON.stringify(fields)}`));
    expect(auth.authenticate('reader', 'r-pass')?.role).toBe('read');

    writeFileSync(path, JSON.stringify({ users: [{ name: 'reader', password: 'new-pass', role: 'admin' }], clusterSecret: SECRET }));
    expect(auth.reload()).toEqual({ ok: true, users: 1 });
    expect(auth.authenticate('reader', 'r-pass')).toBeNull();
    expect(auth.authenticate('reader', 'new-pass')?.role).toBe('admin');
    expect(auth.roleOf('writer')).toBeNull();

    writeFileSync(path, JSON.stringify({ users: [{ name: 'reader', password: 'other-pass', role: 'owner' }], clusterSecret: SECRET }));
    const bad = auth.reload();
    expect(bad.ok).toBe(false);
    expect(auth.authenticate('reader', 'new-pass')?.role).toBe('admin');
    expect(lines.at(-1)).toMatch(/^error auth file not reloaded.*users\[0\]\.role/);

    writeFileSync(path, JSON.stringify({ ...GOOD, clusterSecret: 'another-cluster-secret' }));
    expect(auth.reload().ok).toBe(true);
    expect(auth.clusterSecret).toBe(SECRET);
    expect(lines.at(-1)).toMatch(/^warn clusterSecret changed/);
    expect(lines.join('\n')).not.toMatch(/r-pass|new-pass|other-pass|cluster-secret-0123456789|another-cluster-secret/);
  });

  it('reports a missing file with its path', () => {
    expect(() => ReloadableAuth.load('/nonexistent/dkv-auth.json')).toThrow(/\/nonexistent\/dkv-auth\.json: cannot be read/);
  });
});
