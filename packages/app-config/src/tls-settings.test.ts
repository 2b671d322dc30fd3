// Goal: bad TLS files stop a process at start with a message naming the setting, the file and
// what is wrong (unreadable, not PEM, key of another certificate, certificate of another CA, a
// half-given pair), and a SIGHUP reload keeps the certificate in force when the new files are bad.
// Method: certificates made by openssl in a temporary directory.
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTlsMaterial, reloadTlsOnSighup, tlsConfigFrom, TlsFilesError } from './tls-settings.js';

let dir = '';
const file = (name: string): string => join(dir, name);

/** A CA, and a certificate `name` for 127.0.0.1 signed by it. */
function makeCa(ca: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      file(`${ca}-key.pem`),
      '-out',
      file(`${ca}.pem`),
      '-days',
      '2',
      '-subj',
      `/CN=${ca}`,
    ],
    { stdio: 'ignore' },
  );
}
function makeLeaf(name: string, ca: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      file(`${name}-key.pem`),
      '-out',
      file(`${name}.csr`),
      '-subj',
      `/CN=${name}`,
    ],
    { stdio: 'ignore' },
  );
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file(`${ca}.pem`),
      '-CAkey',
      file(`${ca}-key.pem`),
      '-CAcreateserial',
      '-out',
      file(`${name}.pem`),
      '-days',
      '2',
    ],
    { stdio: 'ignore' },
  );
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dkv-tls-settings-'));
  makeCa('ca');
  makeCa('other-ca');
  makeLeaf('server', 'ca');
  makeLeaf('stranger', 'other-ca');
  writeFileSync(file('garbage.pem'), 'not a certificate\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Given = Partial<Parameters<typeof tlsConfigFrom>[0]>;
/** The parsed values, the settings not given undefined. */
function values(given: Given): Parameters<typeof tlsConfigFrom>[0] {
  return { tlsCert: undefined, tlsKey: undefined, tlsCa: undefined, ...given };
}

function problemsOf(given: Given): string[] {
  const problems: string[] = [];
  tlsConfigFrom(values(given), problems);
  return problems;
}

describe('tlsConfigFrom', () => {
  it('is off without settings and reads a matching pair signed by the CA', () => {
    expect(tlsConfigFrom(values({}), [])).toBeNull();
    const problems: string[] = [];
    const config = tlsConfigFrom(values({ tlsCert: file('server.pem'), tlsKey: file('server-key.pem'), tlsCa: file('ca.pem') }), problems);
    expect(problems).toEqual([]);
    expect(config?.files).toEqual({ certPath: file('server.pem'), keyPath: file('server-key.pem'), caPath: file('ca.pem') });
    expect(config?.cert.toString()).toContain('BEGIN CERTIFICATE');
  });

  it('refuses a half-given pair and a CA without a certificate', () => {
    expect(problemsOf({ tlsCert: file('server.pem') })).toEqual([
      expect.stringMatching(/^--tls-cert \(DKV_TLS_CERT\) and --tls-key \(DKV_TLS_KEY\) go together/),
    ]);
    expect(problemsOf({ tlsKey: file('server-key.pem') })).toEqual([expect.stringMatching(/go together/)]);
    expect(problemsOf({ tlsCa: file('ca.pem') })).toEqual([expect.stringMatching(/^--tls-ca \(DKV_TLS_CA\) needs --tls-cert/)]);
  });

  it('names an unreadable file and the reason', () => {
    expect(problemsOf({ tlsCert: file('missing.pem'), tlsKey: file('server-key.pem') })).toEqual([
      `--tls-cert (DKV_TLS_CERT) cannot read ${file('missing.pem')} (ENOENT): it must be a file this process can read`,
    ]);
  });

  it('names a file that is not PEM of the right kind', () => {
    expect(problemsOf({ tlsCert: file('garbage.pem'), tlsKey: file('server-key.pem') })[0]).toMatch(
      /--tls-cert .*garbage\.pem is not a PEM certificate/,
    );
    expect(problemsOf({ tlsCert: file('server.pem'), tlsKey: file('garbage.pem') })[0]).toMatch(
      /--tls-key .*garbage\.pem is not an unencrypted PEM private key/,
    );
    expect(problemsOf({ tlsCert: file('server.pem'), tlsKey: file('server-key.pem'), tlsCa: file('garbage.pem') })[0]).toMatch(
      /--tls-ca .*garbage\.pem holds no PEM certificate/,
    );
  });

  it("refuses a key that is not the certificate's, and a certificate another CA signed", () => {
    expect(problemsOf({ tlsCert: file('server.pem'), tlsKey: file('stranger-key.pem') })[0]).toMatch(
      /--tls-key .*stranger-key\.pem is not the private key of the certificate .*server\.pem/,
    );
    expect(problemsOf({ tlsCert: file('stranger.pem'), tlsKey: file('stranger-key.pem'), tlsCa: file('ca.pem') })[0]).toMatch(
      /--tls-cert .*stranger\.pem is not signed by the CA .*ca\.pem/,
    );
  });

  it('refuses an expired certificate', () => {
    const later = new Date(Date.now() + 10 * 86_400_000);
    const load = (): unknown => loadTlsMaterial({ certPath: file('server.pem'), keyPath: file('server-key.pem'), caPath: null }, later);
    expect(load).toThrow(TlsFilesError);
    expect(load).toThrow(/the certificate expired on/);
  });
});

describe('reloadTlsOnSighup', () => {
  it('gives new valid files to the servers and keeps the certificate in force when they are bad', () => {
    const certPath = file('reload.pem');
    const keyPath = file('reload-key.pem');
    copyFileSync(file('server.pem'), certPath);
    copyFileSync(file('server-key.pem'), keyPath);
    const given: Buffer[] = [];
    const logs: string[] = [];
    const signals = new EventEmitter();
    const stop = reloadTlsOnSighup(
      { certPath, keyPath, caPath: null },
      () => [{ setSecureContext: (o) => given.push(o.cert) }],
      (level, message) => logs.push(`${level} ${message}`),
      signals as unknown as NodeJS.Process,
    );
    copyFileSync(file('stranger.pem'), certPath);
    signals.emit('SIGHUP');
    expect(given).toHaveLength(0);
    expect(logs).toEqual(['error TLS files refused at reload; the certificate in force stays']);
    copyFileSync(file('stranger-key.pem'), keyPath);
    signals.emit('SIGHUP');
    expect(given).toHaveLength(1);
    expect(given[0]?.toString()).toBe(
      loadTlsMaterial({ certPath: file('stranger.pem'), keyPath: file('stranger-key.pem'), caPath: null }).cert.toString(),
    );
    stop();
    signals.emit('SIGHUP');
    expect(given).toHaveLength(1);
  });
});
