/**
 * Proof of the cluster secret between dkv processes: the challenge-response of the binary
 * internode port, and the signed header of the internal HTTP routes.
 *
 * The secret never crosses the wire, unlike Redis's `masterauth` (a password sent with `AUTH`):
 * each side sends a fresh random nonce and proves the secret with an HMAC-SHA256 over both nonces
 * and a label naming its direction, so a proof can be neither replayed on another connection nor
 * reflected back to its sender. Proofs are compared in constant time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of each side's nonce. */
export const NONCE_BYTES = 32;
/** Bytes of an HMAC-SHA256 proof. */
export const PROOF_BYTES = 32;

/** The label of each direction's proof: the server's cannot pass for the client's, nor one version's for another's. */
const SERVER_LABEL = Buffer.from('dkv-internode-v1 server proof\n');
const CLIENT_LABEL = Buffer.from('dkv-internode-v1 client proof\n');
const HTTP_LABEL = 'dkv-internode-v1 http\n';

/** The header that carries an internal HTTP request's proof: `<unix ms>.<hex HMAC>`. */
export const INTERNODE_AUTH_HEADER = 'x-dkv-internode-auth';

/** How far an internal HTTP request's timestamp may be from the receiver's clock. */
export const DEFAULT_HTTP_AUTH_SKEW_MS = 60_000;

/** A fresh random nonce. */
export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** What the server sends to prove the secret, bound to both nonces. */
export function serverProof(secret: string, clientNonce: Buffer, serverNonce: Buffer): Buffer {
  return createHmac('sha256', secret).update(SERVER_LABEL).update(clientNonce).update(serverNonce).digest();
}

/** What the client sends to prove the secret, bound to both nonces. */
export function clientProof(secret: string, clientNonce: Buffer, serverNonce: Buffer): Buffer {
  return createHmac('sha256', secret).update(CLIENT_LABEL).update(clientNonce).update(serverNonce).digest();
}

/** Whether `given` equals `expected`, in time that depends only on their lengths. */
export function proofsEqual(given: Buffer, expected: Buffer): boolean {
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The HMAC of an internal HTTP request: method, path (query excluded) and timestamp. */
function httpMac(secret: string, method: string, path: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${HTTP_LABEL}${method.toUpperCase()}\n${path}\n${timestampMs}`).digest('hex');
}

/** The {@link INTERNODE_AUTH_HEADER} value for a request of `method` to `path` sent at `nowMs`. */
export function signInternalRequest(secret: string, method: string, path: string, nowMs: number): string {
  return `${nowMs}.${httpMac(secret, method, path.split('?')[0] ?? '', nowMs)}`;
}

/**
 * Checks an internal HTTP request's {@link INTERNODE_AUTH_HEADER}: null when it proves the secret
 * for this method and path and its timestamp is within `maxSkewMs` of `nowMs`; otherwise why not
 * (the reason names what was wrong, never the secret or the expected value).
 */
export function verifyInternalRequest(
  secret: string,
  header: string | string[] | undefined,
  method: string,
  path: string,
  nowMs: number,
  maxSkewMs: number = DEFAULT_HTTP_AUTH_SKEW_MS,
): string | null {
  if (typeof header !== 'string') return `the ${INTERNODE_AUTH_HEADER} header is missing: internal routes need the cluster secret`;
  const match = /^(\d{1,15})\.([0-9a-f]{64})$/.exec(header);
  if (match === null) return `the ${INTERNODE_AUTH_HEADER} header must be <unix ms>.<64 hex digits>`;
  const timestampMs = Number(match[1]);
  if (Math.abs(nowMs - timestampMs) > maxSkewMs)
    return `the ${INTERNODE_AUTH_HEADER} timestamp is more than ${maxSkewMs} ms from this node's clock`;
  const expected = Buffer.from(httpMac(secret, method, path.split('?')[0] ?? '', timestampMs), 'hex');
  if (!proofsEqual(Buffer.from(match[2] as string, 'hex'), expected))
    return `the ${INTERNODE_AUTH_HEADER} header does not prove the cluster secret`;
  return null;
}
