/**
 * The layers under dkv's Redis door, each alone in one process, to tell where a request's CPU
 * goes: `minimal` is a bare RESP server over a Map (parse GET/SET, answer; what one Node process
 * can do at best), `door` is dkv's Redis door (@dkv/resp: parser, command table, ordering,
 * bounds, reply writer) over a Map backend, without the coordinator. Run redis-benchmark against
 * the port it prints; on SIGTERM or SIGINT it prints its CPU time and exits.
 *
 * Usage: npx tsx --conditions=development benchmarks/resp/layer-server.ts minimal|door
 */
import { createServer } from 'node:net';
import { MapBackend, startMapDoor } from './map-door.js';

const mode = process.argv[2];
const started = process.cpuUsage();

function report(): void {
  const cpu = process.cpuUsage(started);
  process.stdout.write(`cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms\n`);
  process.exit(0);
}
process.on('SIGTERM', report);
process.on('SIGINT', report);

/** A bare RESP server: multibulk commands only, GET, SET and anything else answered +OK (redis-benchmark's CONFIG GET). */
function minimal(): void {
  const map = new Map<string, Buffer>();
  const server = createServer({ noDelay: true }, (socket) => {
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      for (;;) {
        const args: Buffer[] = [];
        let pos = 0;
        const line = (): number | null => {
          const end = pending.indexOf('\r\n', pos);
          if (end < 0) return null;
          const n = Number(pending.toString('latin1', pos + 1, end));
          pos = end + 2;
          return n;
        };
        const count = line();
        if (count === null) break;
        let complete = true;
        for (let i = 0; i < count; i += 1) {
          const length = line();
          if (length === null || pos + length + 2 > pending.length) {
            complete = false;
            break;
          }
          args.push(pending.subarray(pos, pos + length));
          pos += length + 2;
        }
        if (!complete) break;
        pending = pending.subarray(pos);
        const name = (args[0] as Buffer).toString('latin1').toUpperCase();
        if (name === 'GET') {
          const value = map.get((args[1] as Buffer).toString());
          out.push(
            value === undefined ? Buffer.from('$-1\r\n') : Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')]),
          );
        } else if (name === 'SET') {
          map.set((args[1] as Buffer).toString(), Buffer.from(args[2] as Buffer));
          out.push(Buffer.from('+OK\r\n'));
        } else out.push(Buffer.from('*0\r\n'));
      }
      if (out.length > 0) socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`port ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
  });
}

async function door(): Promise<void> {
  const running = await startMapDoor(new MapBackend());
  process.stdout.write(`port ${running.port}\n`);
}

if (mode === 'minimal') minimal();
else if (mode === 'door') void door();
else {
  process.stderr.write('usage: layer-server.ts minimal|door\n');
  process.exit(2);
}
