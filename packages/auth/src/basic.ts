/**
 * HTTP Basic credentials (RFC 7617), read from an `Authorization` header.
 */

/** A name and password as a request carries them. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** The longest `Authorization` header read; a longer one is no credentials at all. */
export const MAX_AUTHORIZATION_LENGTH = 4096;

/**
 * The credentials of an `Authorization: Basic <base64 name:password>` header, split at the first
 * `:`; null when the header is absent, of another scheme, too long or malformed.
 */
export function parseBasicAuthorization(header: string | undefined): Credentials | null {
  if (header === undefined || header.length > MAX_AUTHORIZATION_LENGTH) return null;
  const match = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header);
  if (match === null) return null;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The `Authorization` header value for `credentials`: what clients send. */
export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}
