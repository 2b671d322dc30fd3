import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { settingName, type Setting, type SettingsValues } from './settings.js';

const pathSchema = (what: string): z.ZodType<string, string> => z.string().min(1, `must be the path of ${what}`);

/**
 * The TLS settings (API.md, "Security") as every process takes them: storage nodes, coordinators
 * and `dkv cluster up`. `--tls-cert`/`--tls-key` put the public doors (HTTP API and Redis door)
 * behind TLS; `--tls-ca` makes internode connections mutual TLS, each side presenting its own
 * certificate, which the other checks against that CA. Files are read at start and on SIGHUP.
 */
export const TLS_SETTINGS = {
  tlsCert: {
    flag: 'tls-cert',
    env: 'DKV_TLS_CERT',
    description:
      'PEM certificate (chain) this process presents: with --tls-key, the HTTP API is served over https and the Redis door over TLS (rediss://); re-read on SIGHUP',
    schema: pathSchema('a PEM certificate file'),
  },
  tlsKey: {
    flag: 'tls-key',
    env: 'DKV_TLS_KEY',
    description: 'PEM private key of --tls-cert (unencrypted; keep it readable by the dkv user only)',
    schema: pathSchema('a PEM private key file'),
  },
  tlsCa: {
    flag: 'tls-ca',
    env: 'DKV_TLS_CA',
    description:
      'PEM CA certificate(s): internode connections become mutual TLS, every node and coordinator presenting its --tls-cert, which must be signed by this CA; peers whose certificate is not are refused',
    schema: pathSchema('a PEM CA certificate file'),
  },
} satisfies Record<string, Setting<unknown>>;

/** The parsed values of {@link TLS_SETTINGS}. */
export type TlsSettingsValues = SettingsValues<typeof TLS_SETTINGS>;

/** Where a process's TLS material lives, re-read on SIGHUP. */
export interface TlsFiles {
  readonly certPath: string;
  readonly keyPath: string;
  /** Null: no internode mutual TLS. */
  readonly caPath: string | null;
}

/** The PEM contents of {@link TlsFiles}, checked: the key matches the certificate, which the CA (if any) signed. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | null;
}

/** A process's TLS configuration: the files and what they held when last read. */
export interface TlsConfig extends TlsMaterial {
  readonly files: TlsFiles;
}

/** A TLS file that cannot be used: the message names the setting, the file and why (never the key's bytes). */
export class TlsFilesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsFilesError';
  }
}

/**
 * Reads and checks the files: each readable and PEM of the right kind, the certificate still
 * valid, the key the certificate's, and with a CA the certificate signed by one of its
 * certificates (peers would refuse it otherwise). Throws a {@link TlsFilesError} naming the first
 * problem found.
 */
export function loadTlsMaterial(files: TlsFiles, now: Date = new Date()): TlsMaterial {
  const S = TLS_SETTINGS;
  const cert = readPem(S.tlsCert, files.certPath);
  const key = readPem(S.tlsKey, files.keyPath);
  const ca = files.caPath === null ? null : readPem(S.tlsCa, files.caPath);
  const leaf = parseCertificate(S.tlsCert, files.certPath, cert);
  if (new Date(leaf.validTo) < now)
    throw new TlsFilesError(`${settingName(S.tlsCert)} ${files.certPath}: the certificate expired on ${leaf.validTo}`);
  const privateKey = parseKey(files.keyPath, key);
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsFilesError(
      `${settingName(S.tlsKey)} ${files.keyPath} is not the private key of the certificate ${files.certPath} (${settingName(S.tlsCert)}): give the key the certificate was made for`,
    );
  }
  if (ca !== null && files.caPath !== null) {
    const authorities = pemBlocks(ca).map((block) => parseCertificate(S.tlsCa, files.caPath ?? '', Buffer.from(block)));
    if (authorities.length === 0) throw new TlsFilesError(`${settingName(S.tlsCa)} ${files.caPath} holds no PEM certificate`);
    if (!authorities.some((authority) => leaf.checkIssued(authority) && leaf.verify(authority.publicKey))) {
      throw new TlsFilesError(
        `${settingName(S.tlsCert)} ${files.certPath} is not signed by the CA ${files.caPath} (${settingName(S.tlsCa)}): the other nodes would refuse it; sign it with that CA`,
      );
    }
  }
  return { cert, key, ca };
}

/**
 * The TLS configuration the settings name, read and checked: null when none is given. A key
 * without a certificate (or the other way round), a CA without both, or a file that cannot be
 * used adds a problem naming the setting and the file.
 */
export function tlsConfigFrom(values: TlsSettingsValues, problems: string[]): TlsConfig | null {
  const S = TLS_SETTINGS;
  const { tlsCert, tlsKey, tlsCa } = values;
  if (tlsCert === undefined && tlsKey === undefined) {
    if (tlsCa !== undefined)
      problems.push(
        `${settingName(S.tlsCa)} needs ${settingName(S.tlsCert)} and ${settingName(S.tlsKey)}: with mutual TLS each process presents its own certificate, signed by that CA`,
      );
    return null;
  }
  if (tlsCert === undefined || tlsKey === undefined) {
    problems.push(
      `${settingName(S.tlsCert)} and ${settingName(S.tlsKey)} go together: give both (the certificate and its private key) or neither`,
    );
    return null;
  }
  const files: TlsFiles = { certPath: tlsCert, keyPath: tlsKey, caPath: tlsCa ?? null };
  try {
    return { files, ...loadTlsMaterial(files) };
  } catch (error) {
    if (!(error instanceof TlsFilesError)) throw error;
    problems.push(error.message);
    return null;
  }
}

/** A server whose certificate can be replaced while it runs (node's `tls.Server`, `https.Server`). */
export interface SecureContextTarget {
  setSecureContext(options: { cert: Buffer; key: Buffer; ca?: Buffer }): void;
}

/**
 * Re-reads the TLS files on every SIGHUP and gives the new certificate to each of `targets`
 * (connections open keep theirs; new ones get the new one). Files that fail the checks of
 * {@link loadTlsMaterial} are refused and the certificate in force stays, so a bad renewal does not
 * take a door down. Returns the function that stops listening for SIGHUP.
 */
export function reloadTlsOnSighup(
  files: TlsFiles,
  targets: () => readonly SecureContextTarget[],
  log: (level: 'info' | 'error', message: string, fields: Record<string, unknown>) => void,
  signals: Pick<NodeJS.Process, 'on' | 'off'> = process,
): () => void {
  const onSignal = (): void => {
    try {
      const material = loadTlsMaterial(files);
      for (const target of targets())
        target.setSecureContext({ cert: material.cert, key: material.key, ...(material.ca === null ? {} : { ca: material.ca }) });
      log('info', 'TLS certificate re-read', { certFile: files.certPath });
    } catch (error) {
      if (!(error instanceof TlsFilesError)) throw error;
      log('error', 'TLS files refused at reload; the certificate in force stays', { reason: error.message });
    }
  };
  signals.on('SIGHUP', onSignal);
  return () => signals.off('SIGHUP', onSignal);
}

function readPem(setting: Setting<unknown>, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new TlsFilesError(`${settingName(setting)} cannot read ${path} (${code}): it must be a file this process can read`);
  }
}

function parseCertificate(setting: Setting<unknown>, path: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new TlsFilesError(`${settingName(setting)} ${path} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
}

function parseKey(path: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    // The reason is not quoted: it could carry the key's bytes.
    throw new TlsFilesError(
      `${settingName(TLS_SETTINGS.tlsKey)} ${path} is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----, or RSA/EC PRIVATE KEY)`,
    );
  }
}

/** The PEM certificate blocks of a bundle (a CA file may hold several). */
function pemBlocks(pem: Buffer): string[] {
  return pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
