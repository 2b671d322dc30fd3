// Goal: `--auth-file` (DKV_AUTH_FILE) of a coordinator and of a storage node loads the file at
// start: a valid one gives its users and clusterSecret in the configuration (what the doors and
// the internode transport are fed from), a missing or invalid one is a ConfigError naming the
// setting, the file and the field, without quoting any secret. Method: both apps' config parsers
// over files in a temporary directory.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@dkv/app-config';
import { parseNodeConfig } from '@dkv/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from './config.js';

let dir = '';
const SECRET = 'cluster-secret-for-tests';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dkv-auth-config-'));
  writeFileSync(
    join(dir, 'good.json'),
    JSON.stringify({ users: [{ name: 'root', password: 'root-pw', role: 'admin' }], clusterSecret: SECRET }),
  );
  writeFileSync(
    join(dir, 'bad.json'),
    JSON.stringify({ users: [{ name: 'root', password: 'root-pw', role: 'owner' }], clusterSecret: SECRET }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const parsers = {
  coordinator: (flags: Record<string, string>, env: Record<string, string>) =>
    parseCoordinatorConfig({ join: '127.0.0.1:7071', ...flags }, env),
  node: (flags: Record<string, string>, env: Record<string, string>) => parseNodeConfig({ id: 'n1', ...flags }, env),
};

describe.each(Object.entries(parsers))('%s --auth-file', (_app, parse) => {
  it('loads a valid file from the flag or DKV_AUTH_FILE', () => {
    const path = join(dir, 'good.json');
    expect(parse({ authFile: path }, {}).auth).toEqual({
      path,
      users: [{ name: 'root', password: 'root-pw', role: 'admin' }],
      clusterSecret: SECRET,
    });
    expect(parse({}, { DKV_AUTH_FILE: path }).auth?.clusterSecret).toBe(SECRET);
    expect(parse({}, {}).auth).toBeNull();
  });

  it.each([
    ['bad.json', /--auth-file \(DKV_AUTH_FILE\) .*bad\.json: users\[0\]\.role must be one of read, readwrite, admin/],
    ['missing.json', /--auth-file \(DKV_AUTH_FILE\) .*missing\.json: cannot be read/],
  ])('refuses %s with a message naming the setting and the field', (file, message) => {
    let error: unknown;
    try {
      parse({ authFile: join(dir, file) }, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('root-pw');
    expect((error as Error).message).not.toContain(SECRET);
  });
});
