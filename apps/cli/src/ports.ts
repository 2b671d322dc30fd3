import { createServer, type Server } from 'node:net';

/**
 * Finds `count` distinct free TCP ports on `host` by binding them all at once to port 0 and
 * releasing them. Another process could take one before the child that is given it binds it; the
 * child then fails to start and `cluster up` says so. `cluster up` uses this only for the storage
 * nodes, whose ports go into the member list they start from; it trusts a node's `/readyz` only
 * after the node announced that it bound the port, so a stranger there is never taken for it.
 */
export async function findFreePorts(count: number, host: string): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i += 1) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port: 0, exclusive: true }, () => resolve());
      });
    }
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port bound');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}
