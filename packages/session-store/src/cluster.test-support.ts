/**
 * Test support: a real dkv cluster for the session store's tests, started through the built `dkv`
 * command as `dkv cluster up --topology nodes` on 127.0.0.1 with free ports, so that every node
 * coordinates and the store can fail over between them. The processes are testkit's
 * `CliProcesses` (the CLI's e2e tests start theirs the same way); `useTestCluster` is the set-up
 * and tear-down the framework tests share, and `listenExpress`, `call` and `sidOf` the HTTP they
 * share. Not part of the package's public entry.
 */
import { CliProcesses, isAlive } from '@dkv/testkit';
import type { Express } from 'express';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

const CLI = fileURLToPath(new URL('../../../apps/cli/bin/dkv.js', import.meta.url));
const DEADLINE_MS = 45_000;

/** A running cluster of coordinating nodes and what it announced. */
export class TestCluster {
  private constructor(private readonly processes: CliProcesses) {}

  /** Starts `nodeCount` coordinating nodes and waits until each answers /readyz with 200. */
  static async start(nodeCount = 3): Promise<TestCluster> {
    const processes = new CliProcesses(CLI, { ...process.env, DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);
    const cluster = new TestCluster(processes);
    // The ready line comes after every node's announcement and the list of Redis doors.
    await processes.readyUrl(processes.start(['cluster', 'up', '--topology', 'nodes', '--nodes', String(nodeCount), '--port', '0']));
    await cluster.waitFor('every node to be announced', async () => (processes.announced.size === nodeCount ? true : undefined));
    await cluster.waitFor('the Redis doors to be listed', async () => (processes.redisUrls.length === nodeCount ? true : undefined));
    for (const url of cluster.urls) {
      await cluster.waitFor(`${url} to be ready`, async () =>
        (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200 ? true : undefined,
      );
    }
    return cluster;
  }

  /** The nodes' base URLs, in id order. */
  get urls(): string[] {
    return [...this.processes.announced.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, node]) => `http://${node.address}`);
  }

  /** Every node's Redis door (`redis://host:port`), in node order, as `cluster up` lists them. */
  get redisUrls(): readonly string[] {
    return this.processes.redisUrls;
  }

  /** SIGKILLs the node serving `url` and waits until its process is gone. */
  async kill(url: string): Promise<void> {
    const node = [...this.processes.announced.values()].find((n) => `http://${n.address}` === url);
    if (node === undefined) throw new Error(`no node at ${url}`);
    process.kill(node.pid, 'SIGKILL');
    await this.waitFor(`pid ${node.pid} to exit`, async () => (isAlive(node.pid) ? undefined : true));
  }

  /** Polls `probe` until it returns a value, or fails after the deadline with the recent output. */
  waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    return this.processes.waitFor(what, probe);
  }

  /** SIGTERM to `cluster up` (which stops its nodes), then SIGKILL to anything of ours still running. */
  stop(): Promise<void> {
    return this.processes.stopAll();
  }
}

/** What {@link useTestCluster} hands a test file: the cluster once started, and a way to close what a test opened. */
export interface TestClusterFixture {
  /** The running cluster (inside tests, after `beforeAll`). */
  readonly cluster: TestCluster;
  /** Closes `close`'s resource after the file's tests, before the cluster stops (last opened, first closed). */
  closeLater(close: () => Promise<unknown>): void;
}

/** Starts a cluster of `nodeCount` nodes before a test file's tests and stops it, and what they opened, after. */
export function useTestCluster(nodeCount = 3): TestClusterFixture {
  let cluster: TestCluster | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    cluster = await TestCluster.start(nodeCount);
  }, 60_000);
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await cluster?.stop();
  }, 30_000);
  return {
    get cluster(): TestCluster {
      if (cluster === undefined) throw new Error('the test cluster is not started yet (use it inside tests)');
      return cluster;
    },
    closeLater: (close) => void closers.push(close),
  };
}

/** Listens with `app` on a free port of 127.0.0.1, closed by `closeLater`; answers its base URL. */
export async function listenExpress(app: Express, closeLater: TestClusterFixture['closeLater']): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const listening: Server = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  closeLater(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

/** A request carrying `cookie`; answers the status, the JSON body and the session cookie set, if any. */
export async function call(base: string, method: string, path: string, cookie?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: cookie === undefined ? {} : { cookie },
    signal: AbortSignal.timeout(10_000),
  });
  const setCookie = res.headers.get('set-cookie');
  return {
    status: res.status,
    body: (await res.json()) as { user?: string | null; visits?: number },
    cookie: setCookie === null ? undefined : setCookie.split(';')[0],
  };
}

/** The session id inside a signed `<name>=s:<sid>.<signature>` cookie (express-session's and @fastify/session's). */
export function sidOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
  return value.slice(2, value.lastIndexOf('.'));
}
