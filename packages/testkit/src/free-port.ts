import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The lowest port {@link freePort} chooses: below it sit well-known services (Redis's 6379, 8080). */
const LOWEST_PORT = 10_000;
/** How many random ports {@link freePort} tries before it lets the system choose one. */
const TRIES = 64;
/** Where Linux keeps the range its ephemeral ports come from ("32768\t60999"). */
const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

/**
 * A free TCP port on 127.0.0.1, for tests that give a server a port before it starts: the port is
 * bound, read and closed again before it is returned, so another process could take it in between.
 * To make that unlikely, the port is chosen at random below the system's ephemeral range where
 * Linux says what it is: ports there are never handed out for a client's outgoing connection or a
 * `listen(0)`, which the many connections of tests running side by side take from that range all
 * the time (a port from it was seen taken between this call and the server's bind). Elsewhere,
 * and if no port below the range is free, the system chooses one. Tests that can listen on port 0
 * and read the port back should.
 */
export async function freePort(): Promise<number> {
  const below = ephemeralLow();
  if (below !== null && below - LOWEST_PORT > TRIES) {
    for (let i = 0; i < TRIES; i += 1) {
      const candidate = LOWEST_PORT + Math.floor(Math.random() * (below - LOWEST_PORT));
      if ((await bindAndRelease(candidate)) !== null) return candidate;
    }
  }
  const chosen = await bindAndRelease(0);
  if (chosen === null) throw new Error('no free TCP port on 127.0.0.1');
  return chosen;
}

/** The first port of the system's ephemeral range, or null where it cannot be read. */
export function ephemeralLow(): number | null {
  try {
    const low = Number(readFileSync(EPHEMERAL_RANGE_FILE, 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : null;
  } catch {
    return null;
  }
}

/** Binds `port` (0: one the system chooses) on 127.0.0.1 and closes it again: the port bound, or null if it was taken. */
function bindAndRelease(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : null));
    });
  });
}
