/**
 * The server side of the NodeClient microbenchmark, run in a child process by bench.ts (forked,
 * so that client and server do not share a core's time). It holds a real StorageService over an
 * InMemoryStorageEngine, preloads the keys, serves them over HTTP (Fastify + the internal route)
 * or the binary TCP protocol on 127.0.0.1, and answers the parent's questions over IPC:
 * `{ type: 'cpu' }` gets this process's `process.cpuUsage()`. It runs until the parent stops it.
 *
 * Usage (by bench.ts): server.ts <http|tcp> <keyCount> <valueBytes>
 */
import { StorageService, InMemoryStorageEngine } from '@dkv/storage';
import { registerInternalRoutes, TcpStorageServer } from '@dkv/transport';
import Fastify from 'fastify';
import { preload } from './workload.js';

const [adapter, keyCountText, valueBytesText] = process.argv.slice(2);
const keyCount = Number(keyCountText);
const valueBytes = Number(valueBytesText);
if ((adapter !== 'http' && adapter !== 'tcp') || !(keyCount > 0) || !(valueBytes >= 0) || process.send === undefined) {
  console.error('usage (forked by bench.ts): server.ts <http|tcp> <keyCount> <valueBytes>');
  process.exit(2);
}

const engine = new InMemoryStorageEngine({ clock: { now: () => Date.now() }, tombstoneGraceMs: 3_600_000 });
const service = new StorageService({ nodeId: `bench-${adapter}`, engine });
preload(engine, keyCount, valueBytes);

let port: number;
if (adapter === 'http') {
  const app = Fastify({ logger: false });
  registerInternalRoutes(app, service);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  port = address.port;
} else {
  const server = new TcpStorageServer(service);
  port = (await server.listen(0, '127.0.0.1')).port;
}

process.on('message', (message: { type?: string }) => {
  if (message.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
});
// Exiting (rather than dying of the signal) lets `node --cpu-prof` write this process's profile.
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', port });
