import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ephemeralLow, freePort } from './free-port.js';

/** Listens on `port` of 127.0.0.1 and closes again: whether it could. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

describe('freePort', () => {
  it('gives ports a server can listen on, below the ephemeral range', async () => {
    const low = ephemeralLow();
    const ports = [];
    for (let i = 0; i < 20; i += 1) ports.push(await freePort());
    for (const port of ports) {
      expect(await canListen(port)).toBe(true);
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(low!);
    }
  });

  it('reads the first port of the ephemeral range (Linux, where the tests run)', () => {
    expect(ephemeralLow()).toBeGreaterThan(10_000);
  });
});
