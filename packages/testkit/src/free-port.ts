import { createServer } from 'node:net';

/**
 * A free TCP port on 127.0.0.1, for tests that start servers: the port is bound, read and closed
 * again before it is returned (another process could take it in between; tests that can listen on
 * port 0 should).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
