import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * Mutual TLS between the processes of a cluster (`--tls-ca`): each presents its own certificate
 * (`cert`, `key`) and accepts a peer only if the peer's certificate chains to `ca`. The same
 * material serves as server certificate on a node's port and as client certificate when it calls
 * other nodes, so it must allow both uses (no extended key usage, or serverAuth and clientAuth).
 * On top, the cluster-secret handshake still runs when a secret is set.
 */
export interface InternodeTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

/** Options of `tls.connect` to a node at `host` with the cluster's material: the node must show a certificate from `ca`, valid for `host`. */
export function internodeConnectOptions(tls: InternodeTls, host: string): { ca: Buffer; cert: Buffer; key: Buffer; servername?: string } {
  // SNI carries names only; an IP address is checked against the certificate's IP entries without it.
  return { ca: tls.ca, cert: tls.cert, key: tls.key, ...(isIP(host) === 0 ? { servername: host } : {}) };
}

/** Whether a connection's peer presented a certificate its server verified against the CA (false for plain TCP). */
export function hasVerifiedPeerCertificate(socket: unknown): boolean {
  return (
    typeof socket === 'object' && socket !== null && (socket as Partial<TLSSocket>).encrypted === true && (socket as TLSSocket).authorized
  );
}
