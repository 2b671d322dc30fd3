import { webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @peculiar/x509 (PeculiarVentures, also behind `selfsigned` 5): maintained, typed, and built on
// WebCrypto, so the keys come from node's own crypto and no ASN.1 is written here. Loaded only
// when certificates are made, so the CLI's other commands (and their tests) never load it.
type X509 = typeof import('@peculiar/x509');

async function loadX509(): Promise<X509> {
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  return x509;
}

/** ECDSA P-256 with SHA-256: small keys, fast handshakes, accepted by every TLS client dkv meets. */
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** A development certificate's life: long enough for a local cluster, short enough not to be kept. */
const VALID_DAYS = 30;
const DAY_MS = 86_400_000;

/** The paths of a development CA and the certificates it signed, as `dkv cluster up --tls` writes them. */
export interface DevCertificates {
  readonly dir: string;
  /** The CA certificate clients trust (`--tls-ca`, `tls: { ca }`). */
  readonly caPath: string;
  /** Each process's certificate and key, by process name (`n1`, `c1`, ...). */
  readonly processes: ReadonlyMap<string, { readonly certPath: string; readonly keyPath: string }>;
}

/**
 * Needs the `reflect-metadata` polyfill loaded first (@peculiar/x509's dependency injection,
 * tsyringe, asks for it): the entry point (`main.ts`) loads it, as composition roots do.
 *
 * Makes a development CA and one certificate per process name under `dir` (created, mode 700;
 * keys mode 600). Each certificate is valid for `hosts` (IP addresses and DNS names), for both
 * server and client authentication, so the same one serves both doors and mutual TLS internode.
 * For a local cluster only: the CA's key is written beside it, so anyone who can read `dir` can
 * mint certificates the cluster trusts.
 */
export async function makeDevCertificates(dir: string, names: readonly string[], hosts: readonly string[]): Promise<DevCertificates> {
  const x509 = await loadX509();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const notBefore = new Date(Date.now() - DAY_MS);
  const notAfter = new Date(Date.now() + VALID_DAYS * DAY_MS);
  const caKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=dkv development CA',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, ca.toString('pem'));
  writeFileSync(join(dir, 'ca-key.pem'), await pemKey(caKeys.privateKey), { mode: 0o600 });
  const processes = new Map<string, { certPath: string; keyPath: string }>();
  for (const name of names) {
    const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=dkv ${name}`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(
          hosts.map((host) => (/^[\d.]+$|:/.test(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host })),
        ),
      ],
    });
    const certPath = join(dir, `${name}.pem`);
    const keyPath = join(dir, `${name}-key.pem`);
    writeFileSync(certPath, cert.toString('pem'));
    writeFileSync(keyPath, await pemKey(keys.privateKey), { mode: 0o600 });
    processes.set(name, { certPath, keyPath });
  }
  return { dir, caPath, processes };
}

/** A random positive serial number, as RFC 5280 asks (unique per CA; 16 random bytes are). */
function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

/** A private key as PKCS#8 PEM, which node's TLS reads. */
async function pemKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}
