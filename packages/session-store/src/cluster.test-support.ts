/**
 * Test support: a real dkv cluster for the session store's tests, started through the built `dkv`
 * command as `dkv cluster up --topology nodes` on 127.0.0.1 with free ports, so that every node
 * coordinates and the store can fail over between them. It reads the nodes' announcements
 * (`dkv: node <id> pid <pid> at <address>`), waits with deadlines, kills a node by pid, and stops
 * every process it started, by pid. Not part of the package's public entry.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../../apps/cli/bin/dkv.js', import.meta.url));
const DEADLINE_MS = 45_000;

/** A running cluster of coordinating nodes and what it announced. */
export class TestCluster {
  readonly nodes = new Map<string, { pid: number; url: string }>();
  /** Every node's Redis door (`redis://host:port`), in node order, as `cluster up` lists them. */
  redisUrls: string[] = [];
  private readonly output: string[] = [];
  private readonly child: ChildProcess;

  private constructor(nodeCount: number) {
    this.child = spawn(process.execPath, [CLI, 'cluster', 'up', '--topology', 'nodes', '--nodes', String(nodeCount), '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DKV_LOG_LEVEL: 'warn', DKV_RESP_PORT: '0' },
    });
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n').filter((l) => l.length > 0)) {
        this.output.push(line);
        const match = /^dkv: node (\S+) pid (\d+) at (\S+)/.exec(line);
        if (match) this.nodes.set(match[1]!, { pid: Number(match[2]), url: `http://${match[3]!}` });
        const doors = /^dkv: every node serves the Redis protocol: (.+)$/.exec(line);
        if (doors) this.redisUrls = doors[1]!.split(' ');
      }
      this.output.splice(0, Math.max(0, this.output.length - 100));
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
  }

  /** Starts `nodeCount` coordinating nodes and waits until each answers /readyz with 200. */
  static async start(nodeCount = 3): Promise<TestCluster> {
    const cluster = new TestCluster(nodeCount);
    await cluster.waitFor('every node to be announced', async () => (cluster.nodes.size === nodeCount ? true : undefined));
    await cluster.waitFor('the Redis doors to be listed', async () => (cluster.redisUrls.length === nodeCount ? true : undefined));
    for (const { url } of cluster.nodes.values()) {
      await cluster.waitFor(`${url} to be ready`, async () => ((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200 ? true : undefined));
    }
    return cluster;
  }

  /** The nodes' base URLs, in id order. */
  get urls(): string[] {
    return [...this.nodes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, node]) => node.url);
  }

  /** SIGKILLs the node serving `url` and waits until its process is gone. */
  async kill(url: string): Promise<void> {
    const node = [...this.nodes.values()].find((n) => n.url === url);
    if (node === undefined) throw new Error(`no node at ${url}`);
    process.kill(node.pid, 'SIGKILL');
    await this.waitFor(`pid ${node.pid} to exit`, async () => (isAlive(node.pid) ? undefined : true));
  }

  /** Polls `probe` until it returns a value, or fails after the deadline with the recent output. */
  async waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    const giveUpAt = Date.now() + DEADLINE_MS;
    let last: unknown;
    while (Date.now() < giveUpAt) {
      if (this.child.exitCode !== null) break;
      try {
        const value = await probe();
        if (value !== undefined) return value;
      } catch (error) {
        last = error;
      }
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}${last ? ` (${String(last)})` : ''}\n${this.output.slice(-30).join('\n')}`);
  }

  /** SIGTERM to `cluster up` (which stops its nodes), then SIGKILL to anything of ours still running. */
  async stop(): Promise<void> {
    const exited = new Promise((resolve) => (this.child.exitCode !== null ? resolve(null) : this.child.once('exit', resolve)));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000, undefined, { ref: false })]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    for (const { pid } of this.nodes.values()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
