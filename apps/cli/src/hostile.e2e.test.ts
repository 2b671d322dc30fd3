// Goal: with real processes, a hostile crowd of clients cannot take a cluster down (issue #13's
// proof of the port bounds): 2,000 connections that stay idle, trickle half a frame or an HTTP
// header byte by byte, announce frames far over the limit, and pipeline thousands of GETs of a
// 512 KiB value without reading their answers (binary internode port and Redis door), while a
// normal client keeps being served within a generous latency bound, each node's and the
// coordinator's resident memory stays under RSS_BOUND_MB, and the history checker finds nothing
// lost or stale. Method: `dkv cluster up --nodes 3` on 127.0.0.1 with a 3 s read timeout; the
// attackers are raw sockets from this process (its `ulimit -n` must allow them, checked first);
// the clients are SDK clients recorded by the testkit's HistoryRecorder (scenario-support.ts);
// RSS is read from /proc/<pid>/status. Every wait has a deadline; afterAll stops every process
// this test started, by pid, and destroys every socket it opened.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { KVStoreClient } from '@dkv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses } from './e2e-support.js';
import { runScenario } from './scenario-support.js';

const DEADLINE_MS = 60_000;
/** The hostile connections: idle, trickling and oversized, spread over a node's port and the coordinator's. */
const HOSTILE_CONNECTIONS = 2000;
/** Each process's resident memory must stay under this while it is attacked. */
const RSS_BOUND_MB = 400;
/** A normal client's request must answer within this during the attack (a 2-core machine shared by many). */
const LATENCY_BOUND_MS = 5000;
const BIG_VALUE_BYTES = 512 * 1024;

const cli = new CliProcesses({ ...process.env, DKV_VNODES: '64', DKV_LOG_LEVEL: 'error', DKV_READ_TIMEOUT_MS: '3000' }, DEADLINE_MS);
const sockets: Socket[] = [];
let url = '';

/** The resident memory of process `pid`, in MiB. */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) / 1024;
}

function hostAndPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** Opens a raw socket that ignores what it is sent; resolves once connected (or failed: refusal is a bound working). */
function open(address: string): Promise<Socket> {
  const socket = connect(hostAndPort(address));
  sockets.push(socket);
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  return new Promise((resolve) => {
    socket.once('connect', () => resolve(socket));
    socket.once('close', () => resolve(socket));
  });
}

/** A binary frame header announcing `length` bytes after the length prefix. */
function announce(length: number): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32LE(length, 0);
  return head;
}

/** `count` pipelined binary GET frames of `key` (id, kind 0x01, u16 key length, key). */
function pipelinedGets(key: string, count: number): Buffer {
  const keyBytes = Buffer.from(key);
  const frames: Buffer[] = [];
  for (let id = 1; id <= count; id += 1) {
    const frame = Buffer.alloc(9 + 2 + keyBytes.length);
    frame.writeUInt32LE(frame.length - 4, 0);
    frame.writeUInt32LE(id, 4);
    frame[8] = 0x01;
    frame.writeUInt16LE(keyBytes.length, 9);
    keyBytes.copy(frame, 11);
    frames.push(frame);
  }
  return Buffer.concat(frames);
}

beforeAll(async () => {
  url = await cli.readyUrl(cli.start(['cluster', 'up', '--nodes', '3', '--port', '0']));
  await cli.waitFor('the Redis door', async () => (cli.redisUrl !== '' ? cli.redisUrl : undefined));
}, DEADLINE_MS);

afterAll(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await cli.stopAll();
});

describe('a hostile crowd of clients against real processes', () => {
  it(
    'keeps serving a normal client, within its memory bound, and loses nothing',
    async () => {
      const limit = Number(
        /\d+/.exec(
          readFileSync('/proc/self/limits', 'utf8')
            .split('\n')
            .find((line) => line.startsWith('Max open files')) ?? '',
        )?.[0] ?? 0,
      );
      expect(limit, `this test opens ${HOSTILE_CONNECTIONS} sockets: raise the limit with ulimit -n`).toBeGreaterThan(
        HOSTILE_CONNECTIONS + 500,
      );
      const node = cli.announced.get('n1')!.address;
      const coordinatorAddress = new URL(url).host;
      const redisAddress = new URL(cli.redisUrl).host;
      const pids = [...cli.announced.values(), ...cli.coordinators.values()].map(({ pid }) => pid);
      const setup = new KVStoreClient({ url, timeoutMs: 5000 });
      await setup.put('hostile:big', Buffer.alloc(BIG_VALUE_BYTES, 7));
      const clients = [new KVStoreClient({ url, timeoutMs: 5000 }), new KVStoreClient({ url, timeoutMs: 5000 })];
      // The same GET before the attack, for the printed comparison.
      let baselineMaxMs = 0;
      for (let i = 0; i < 10; i += 1) {
        const startedAt = performance.now();
        await setup.get('hostile:big');
        baselineMaxMs = Math.max(baselineMaxMs, performance.now() - startedAt);
      }
      let latencyMaxMs = 0;
      let rssMaxMb = 0;
      let probing = true;
      const probe = (async () => {
        while (probing) {
          const startedAt = performance.now();
          await setup.get('hostile:big');
          latencyMaxMs = Math.max(latencyMaxMs, performance.now() - startedAt);
          for (const pid of pids) rssMaxMb = Math.max(rssMaxMb, rssMb(pid));
          await sleep(200);
        }
      })();
      try {
        const { verdict } = await runScenario(
          'hostile',
          clients,
          async () => {
            // Idle connections, half to the node's port and half to the coordinator's.
            const idle = HOSTILE_CONNECTIONS / 2;
            for (let i = 0; i < idle; i += 50)
              await Promise.all(Array.from({ length: 50 }, (_, j) => open((i + j) % 2 === 0 ? node : coordinatorAddress)));
            // Trickling: half a frame to the node, an endless HTTP header to the coordinator.
            const tricklers = await Promise.all(
              Array.from({ length: HOSTILE_CONNECTIONS / 4 }, (_, i) => open(i % 2 === 0 ? node : coordinatorAddress)),
            );
            for (const [i, socket] of tricklers.entries())
              socket.write(i % 2 === 0 ? announce(1024 * 1024) : 'GET /v1/kv/x HTTP/1.1\r\nHost: x\r\n');
            const trickle = setInterval(() => {
              for (const [i, socket] of tricklers.entries())
                if (!socket.destroyed) socket.write(i % 2 === 0 ? Buffer.from([0]) : 'X-A: b\r\n');
            }, 250);
            // Announced lengths far over the limit (the port takes such a start for HTTP, whose parser
            // refuses it) and just under it (a frame the node must not reserve up front).
            const oversized = await Promise.all(Array.from({ length: HOSTILE_CONNECTIONS / 4 }, () => open(node)));
            for (const [i, socket] of oversized.entries()) socket.write(announce(i % 2 === 0 ? 0xfffffff0 : 2 * 1024 * 1024 - 8));
            // Pipelines without reading: 20,000 GETs of the 512 KiB value on the binary port and on the Redis door.
            const binary = await open(node);
            binary.pause();
            binary.write(pipelinedGets('hostile:big', 20_000));
            const redis = await open(redisAddress);
            redis.pause();
            redis.write('GET hostile:big\r\n'.repeat(20_000));
            await sleep(6000);
            clearInterval(trickle);
          },
          { durationMs: 9000, expiryToleranceMs: 1000 },
        );
        expect(verdict.anomalies.map((anomaly) => anomaly.message)).toEqual([]);
      } finally {
        probing = false;
        await probe;
        await Promise.all([setup.close(), ...clients.map((client) => client.close())]);
      }
      console.log(
        `hostile: ${HOSTILE_CONNECTIONS} hostile connections; normal client's slowest GET ${latencyMaxMs.toFixed(0)} ms (before the attack ${baselineMaxMs.toFixed(0)} ms); largest RSS ${rssMaxMb.toFixed(0)} MiB`,
      );
      expect(latencyMaxMs).toBeLessThan(LATENCY_BOUND_MS);
      expect(rssMaxMb).toBeLessThan(RSS_BOUND_MB);
      const metrics = await (await fetch(`http://${node}/metrics`)).text();
      expect(metrics).toMatch(/dkv_port_bounds_total\{port="node",bound="write_backpressure",node="n1"\} [1-9]/);
      expect(metrics).toMatch(/dkv_port_bounds_total\{port="node",bound="read_timeout",node="n1"\} [1-9]/);
    },
    DEADLINE_MS * 2,
  );
});
