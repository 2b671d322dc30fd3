/**
 * Harness pieces shared by transport's tests (excluded from the build): real Fastify and TCP
 * storage nodes on 127.0.0.1 port 0, a dead address, and a gate that holds a slow node's answers until
 * teardown. Nothing here sleeps: tests await conditions.
 */
import { connect, createServer } from 'node:net';
import {
  DEFAULT_TOMBSTONE_GRACE_MS,
  type Node,
  type NodeClient,
  type RequestOptions,
  type ResponseFor,
  type StorageRequest,
  type StorageResponse,
} from '@dkv/core';
import { SystemClock } from '@dkv/runtime';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { contractNode, MapStorageHandler, type NodeClientHarness } from '@dkv/testkit';
import Fastify, { type FastifyInstance } from 'fastify';
import type { MaybeAsyncStorageRequestHandler } from './handler.js';
import { registerInternalRoutes, type InternalRoutesOptions } from './internal-routes.js';
import { FrameKind, FrameReader } from './tcp-frame.js';
import { TcpStorageServer, type TcpStorageServerOptions } from './tcp-storage-server.js';

/** A promise that a test opens by hand: the slow node's answers wait on it. */
export class Gate {
  private open: () => void = () => undefined;
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));
  /** How many callers are waiting, so a test can await "the request has arrived". */
  waiting = 0;

  release(): void {
    this.open();
  }

  /** A handler that counts the request, waits for the gate, then answers from `inner`. */
  handlerFor(inner: MaybeAsyncStorageRequestHandler): MaybeAsyncStorageRequestHandler {
    return {
      handle: async (request): Promise<StorageResponse> => {
        this.waiting += 1;
        await this.opened;
        this.waiting -= 1;
        return inner.handle(request);
      },
    };
  }
}

/** One storage node served over HTTP by a real Fastify app. */
export interface HttpTestNode {
  readonly node: Node;
  readonly app: FastifyInstance;
}

/** Starts a Fastify app on 127.0.0.1, port 0, serving `handler` (a fresh map by default). */
export async function startHttpNode(
  id: string,
  handler: MaybeAsyncStorageRequestHandler = new MapStorageHandler(id),
  options?: InternalRoutesOptions,
): Promise<HttpTestNode> {
  const app = Fastify({ logger: false });
  registerInternalRoutes(app, handler, options);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return { node: contractNode(id, `127.0.0.1:${address.port}`), app };
}

/** An address where nothing listens: a port the OS just gave out and that was closed again. */
export async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return `127.0.0.1:${address.port}`;
}

/** One storage node served over the binary TCP protocol. */
export interface TcpTestNode {
  readonly node: Node;
  readonly server: TcpStorageServer;
  readonly port: number;
}

/** Starts a {@link TcpStorageServer} on 127.0.0.1 (port 0 unless given) serving `handler`. */
export async function startTcpNode(
  id: string,
  handler: MaybeAsyncStorageRequestHandler = new MapStorageHandler(id),
  options?: TcpStorageServerOptions,
  port = 0,
): Promise<TcpTestNode> {
  const server = new TcpStorageServer(handler, options);
  const bound = await server.listen(port, '127.0.0.1');
  return { node: contractNode(id, `127.0.0.1:${bound.port}`), server, port: bound.port };
}

/** Live, slow and dead nodes for the contract suite and the adapters' own tests. */
export interface TestCluster {
  readonly nodes: Node[];
  readonly slowNode: Node;
  readonly deadNode: Node;
  readonly gate: Gate;
  close(): Promise<void>;
}

/** Names the adapters' own tests use for the cluster of their transport. */
export type HttpCluster = TestCluster;
export type TcpCluster = TestCluster;

type HandlerFactory = (nodeId: string) => MaybeAsyncStorageRequestHandler;
const mapHandler: HandlerFactory = (nodeId) => new MapStorageHandler(nodeId);

/** A real replica for `nodeId`: StorageService over a fresh in-memory engine on the system clock. */
export const storageServiceHandler: HandlerFactory = (nodeId) =>
  new StorageService({
    nodeId,
    engine: new InMemoryStorageEngine({ clock: new SystemClock(), tombstoneGraceMs: DEFAULT_TOMBSTONE_GRACE_MS }),
  });

/**
 * Starts `liveCount` nodes with `start`, each answered by `handlerFor(id)` (a fresh map by
 * default), one slow node behind a gate, and picks a dead address.
 */
async function startCluster<T extends { readonly node: Node }>(
  start: (id: string, handler: MaybeAsyncStorageRequestHandler) => Promise<T>,
  stop: (started: T) => Promise<void>,
  liveCount: number,
  handlerFor: HandlerFactory,
): Promise<TestCluster> {
  const gate = new Gate();
  const live = await Promise.all(Array.from({ length: liveCount }, (_, i) => `node-${i + 1}`).map((id) => start(id, handlerFor(id))));
  const slow = await start('slow', gate.handlerFor(new MapStorageHandler('slow')));
  const deadNode = contractNode('dead', await deadAddress());
  return {
    nodes: live.map(({ node }) => node),
    slowNode: slow.node,
    deadNode,
    gate,
    close: async () => {
      gate.release();
      await Promise.all([...live, slow].map(stop));
    },
  };
}

/** HTTP nodes (see {@link startCluster}). */
export function startHttpCluster(liveCount = 3, handlerFor: HandlerFactory = mapHandler): Promise<TestCluster> {
  return startCluster(
    (id, handler) => startHttpNode(id, handler),
    ({ app }) => app.close(),
    liveCount,
    handlerFor,
  );
}

/** TCP nodes (see {@link startCluster}). */
export function startTcpCluster(liveCount = 3, handlerFor: HandlerFactory = mapHandler): Promise<TestCluster> {
  return startCluster(
    (id, handler) => startTcpNode(id, handler),
    ({ server }) => server.close(),
    liveCount,
    handlerFor,
  );
}

/** The contract suite's harness for `client` talking to `cluster`; teardown unblocks, then closes both. */
export function contractHarness(cluster: TestCluster, client: NodeClient): NodeClientHarness {
  return {
    client,
    nodes: cluster.nodes,
    slowNode: cluster.slowNode,
    deadNode: cluster.deadNode,
    teardown: async () => {
      cluster.gate.release();
      await client.close();
      await cluster.close();
      // A client seen through `throughSendTo`: a reply called twice settles nothing the test sees, so it is checked here.
      const violations = (client as { violations?: string[] }).violations ?? [];
      if (violations.length > 0) throw new Error(`sendTo broke its contract: ${violations.join('; ')}`);
    },
  };
}

/**
 * `client` seen through its `sendTo` (it must have one): each `send` is a `sendTo` whose reply
 * settles the promise, so the contract suite checks the callback form of the client. A reply that
 * breaks `sendTo`'s rules (called before `sendTo` returned, or more than once) makes the send fail
 * with an error that says so, and `violations` counts it, which the contract would catch.
 */
export function throughSendTo(client: NodeClient): NodeClient & { readonly violations: string[] } {
  const sendTo = client.sendTo?.bind(client);
  if (sendTo === undefined) throw new Error('throughSendTo: the client has no sendTo');
  const violations: string[] = [];
  return {
    violations,
    send<R extends StorageRequest>(target: Node, request: R, options: RequestOptions): Promise<ResponseFor<R>> {
      return new Promise<ResponseFor<R>>((resolve, reject) => {
        let returned = false;
        let calls = 0;
        const check = (what: string): boolean => {
          calls += 1;
          const problem = !returned ? `${what} before sendTo returned` : calls > 1 ? `${what} after ${calls - 1} earlier call(s)` : null;
          if (problem === null) return true;
          violations.push(problem);
          reject(new Error(`sendTo broke its contract: ${problem}`));
          return false;
        };
        sendTo(target, request, options, {
          answered: (answer) => {
            if (check('answered')) resolve(answer);
          },
          failed: (error) => {
            if (check('failed')) reject(error as Error);
          },
        });
        returned = true;
      });
    },
    close: () => client.close(),
  };
}

/** A PING frame: length (u32 LE, id and kind), id (u32 LE), kind. */
export function pingFrame(id: number): Buffer {
  const frame = Buffer.alloc(9);
  frame.writeUInt32LE(5, 0);
  frame.writeUInt32LE(id, 4);
  frame[8] = FrameKind.PING;
  return frame;
}

/** How {@link pingOver} sends its chunks after the first. */
export interface PingPacing {
  /**
   * `after-first-answer`: the rest in one go once the first answer is in (the first chunk's bytes
   * are then known to have been read); `turns`: one write a macrotask apart, so that each arrives
   * as a read of its own.
   */
  readonly send: 'after-first-answer' | 'turns';
  /** Destroys the connection once the first answer is in, with the other requests in flight or unsent. */
  readonly abandon?: boolean;
}

/**
 * Opens a raw connection to `port` on 127.0.0.1, sends `chunks` (the bytes of PING frames, cut
 * anywhere) as `pacing` says, and resolves with the ids answered once `answers` are in (the first
 * one when abandoning); rejects on an answer that is not a PING's, or a connection closed early.
 */
export async function pingOver(port: number, chunks: readonly Buffer[], answers: number, pacing: PingPacing): Promise<number[]> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  const reader = new FrameReader(1024 * 1024);
  const ids: number[] = [];
  try {
    return await new Promise<number[]>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`the connection closed after ${ids.length} of ${answers} answers`)));
      socket.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        while (reader.next()) {
          if (reader.kind !== FrameKind.PING_RESPONSE) reject(new Error(`answer of kind ${reader.kind}`));
          ids.push(reader.id);
          if (ids.length === 1 && pacing.send === 'after-first-answer') for (const rest of chunks.slice(1)) socket.write(rest);
        }
        if (ids.length >= (pacing.abandon === true ? 1 : answers)) resolve(ids);
      });
      socket.once('connect', async () => {
        if (pacing.send === 'after-first-answer') {
          socket.write(chunks[0] as Buffer);
          return;
        }
        for (const chunk of chunks) {
          if (socket.destroyed) return;
          socket.write(chunk);
          await new Promise<void>((done) => setImmediate(done));
        }
      });
    });
  } finally {
    socket.destroy();
  }
}
