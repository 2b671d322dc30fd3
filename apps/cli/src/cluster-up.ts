import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { makeDevCertificates, type DevCertificates } from './dev-certificates.js';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ListeningAnnouncement, PortTakenAnnouncement } from '@dkv/app-config';
import { findFreePorts } from './ports.js';

/**
 * The shapes of a local cluster: `coordinator` (API.md's default) runs storage nodes behind one
 * stateless coordinator; `nodes` runs storage nodes only, each serving the public API and
 * coordinating (`dkv node --coordinate`, Dynamo's "any node can coordinate").
 */
export const TOPOLOGIES = ['coordinator', 'nodes'] as const;
export type Topology = (typeof TOPOLOGIES)[number];

/** What `dkv cluster up` runs. */
export interface ClusterUpOptions {
  /** Storage nodes to start (API.md default 3). */
  readonly nodes: number;
  /** The coordinator's port, or with the `nodes` topology the first node's; 0 picks a free one (API.md default 7070). */
  readonly port: number;
  /** The Redis protocol door's port on the same process; 0 picks a free one (API.md default 6380). */
  readonly respPort: number;
  /** Default `coordinator`. */
  readonly topology?: Topology;
  /**
   * Zones to spread the nodes over, round-robin: n1 in z1, n2 in z2, ... Absent: every node in
   * the default zone (one zone, API.md's default).
   */
  readonly zones?: number;
  /** The children's log level (their logs go to this process's stderr). */
  readonly logLevel: string;
  /** How long to wait for every process to be ready before giving up. */
  readonly readyTimeoutMs: number;
  /** Each node keeps its data under `<dataDir>/<node id>` (`dkv node --data-dir`); undefined: in memory only. */
  readonly dataDir?: string;
  /** The nodes' `--fsync` policy, as given (checked by the node's setting); used with `dataDir`. */
  readonly fsync?: string;
  /**
   * The auth file every process gets as `--auth-file` (authentication on both doors and
   * internode); SIGHUP to `cluster up` is passed on to each, so all re-read it.
   */
  readonly authFile?: string;
  /**
   * Development TLS (`--tls`): a CA and a certificate per process are made under
   * `<dataDir>/tls`, or a new temporary directory without a data directory; every process serves
   * both doors over TLS and talks to the others over mutual TLS. For development only: the CA's
   * key lies beside it.
   */
  readonly tls?: boolean;
}

/** Chooses `count` ports free on `host` for the storage nodes (their member list names them before they start). */
export type PortChooser = (count: number, host: string) => Promise<number[]>;

/** What a caller that runs `cluster up` in its own process (a test) may give it beside the options. */
export interface ClusterUpControl {
  /** Stops the cluster as SIGTERM would (resolving 0) when aborted. */
  readonly signal?: AbortSignal;
  /** How the nodes' ports are chosen; default {@link findFreePorts}. */
  readonly choosePorts?: PortChooser;
  /**
   * The Node.js flags of every child; default {@link childExecArgv} of this process's (a test
   * runner's own flags, such as its module conditions, are not for the built children).
   */
  readonly execArgv?: readonly string[];
}

/** Where the output of `cluster up` goes: the Redis and ready lines to `out`, everything else to `err`. */
export interface ClusterUpIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** The host every process of a local cluster listens on. */
export const LOCAL_HOST = '127.0.0.1';
/** How long stopping may take before children that ignore SIGTERM are killed. */
const STOP_DEADLINE_MS = 10_000;
/** How often readiness is polled while starting. */
const READY_POLL_MS = 100;
/** How long to wait for children killed with SIGKILL to be reaped. */
const KILL_GRACE_MS = 2000;
/**
 * How many times the start may be tried on newly chosen ports when a storage node found the port
 * it was given taken by another process (see {@link LocalCluster.run}).
 */
export const START_ATTEMPTS = 3;

/** The entry points of the apps, relative to this file (in `src/` for tests, `dist/` when built: both sit one level below the app). */
export const NODE_MAIN = fileURLToPath(new URL('../../node/dist/main.js', import.meta.url));
export const COORDINATOR_MAIN = fileURLToPath(new URL('../../coordinator/dist/main.js', import.meta.url));

/**
 * The quorum settings of a local cluster of `nodes` storage nodes: N = min(3, nodes) and
 * majority quorums W = R = floor(N/2) + 1, which is API.md's N=3 W=2 R=2 for 3 nodes or more.
 */
export function localQuorums(nodes: number): { n: number; w: number; r: number } {
  const n = Math.min(3, nodes);
  const majority = Math.floor(n / 2) + 1;
  return { n, w: majority, r: majority };
}

interface Child {
  readonly name: string;
  readonly role: 'node' | 'coordinator';
  readonly pid: number;
  /** Where it serves, from its own announcement (until then, where it was asked to listen). */
  url: string;
  /** Its Redis door, from its announcement; null without one or before it. */
  redisUrl: string | null;
  /** Resolves once the child has said it bound its ports (or exited without saying so). */
  readonly listening: Promise<void>;
  /** The ports `cluster up` chose for it (not ones the user asked for): only these may be chosen again. */
  readonly chosenPorts: readonly number[];
  /** A port it was given that it found taken by another process (its `dkv.port-taken` message), or null. */
  portTaken: number | null;
  /** Set when its start was given up for another try: its exit is then expected. */
  abandoned: boolean;
  exited: boolean;
  readonly exit: Promise<void>;
}

/** A storage node could not bind a port `cluster up` chose for it: the start may be tried again on others. */
class PortTakenError extends Error {}

type Phase = 'starting' | 'ready' | 'stopping';

/**
 * `dkv cluster up`: starts `nodes` storage node processes and one coordinator process on
 * 127.0.0.1, waits until each answers `/readyz`, prints `dkv redis at redis://127.0.0.1:<port>`
 * (`rediss://` with `--tls`, after `dkv tls ca at <path>`)
 * (the coordinator's Redis protocol door, open before its `/readyz` answers 200) and then
 * `dkv ready at http://127.0.0.1:<port>`, the last line (API.md), and runs until SIGINT or SIGTERM, which stop every child it started (by pid) and resolve 0.
 * With the `nodes` topology there is no coordinator: every node coordinates, and the ready line
 * names the first one.
 *
 * Each child is announced on stderr as `dkv: <role> <id> pid <pid> at <host:port>` once it has
 * bound its port, so tools and tests can find them. The coordinator listens on ports the system
 * picks (port 0) and says which over its IPC channel; the nodes, whose ports go into the member
 * list they all start from, are given free ports, and a node's `/readyz` counts only after the
 * node itself said it bound that port: a stranger that took the port meanwhile is never mistaken
 * for it. The node then fails to bind and says so before it exits; `cluster up` stops what it
 * started and starts again on newly chosen ports, up to {@link START_ATTEMPTS} times in all (a
 * port the user asked for is never changed: one taken stops the cluster with that reason).
 * Children run in process groups of their own (a terminal's Ctrl-C
 * reaches only this process, which then stops them in order) and hold an IPC channel to it:
 * should this process die without cleaning up, they see the channel close and stop themselves.
 *
 * A child that dies on its own during start-up, or the coordinator at any time, stops everything
 * and resolves 1. A storage node that dies once the cluster is up is reported and the cluster
 * keeps serving: surviving a lost node is what replication is for, and quorums tell clients if
 * too few are left.
 */
export async function clusterUp(options: ClusterUpOptions, io: ClusterUpIo, control: ClusterUpControl = {}): Promise<number> {
  const cluster = new LocalCluster(options, io, control.choosePorts ?? findFreePorts, control.execArgv ?? childExecArgv(process.execArgv));
  const onSignal = (name: NodeJS.Signals): void => cluster.stop(0, `${name}, stopping the cluster`);
  const onAbort = (): void => cluster.stop(0, 'asked to stop, stopping the cluster');
  control.signal?.addEventListener('abort', onAbort, { once: true });
  // With an auth file, SIGHUP means "re-read it" (as for each process), so it is passed on instead of ending this one.
  const onHangup = (): void => cluster.signalChildren('SIGHUP');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (options.authFile !== undefined || options.tls === true) process.on('SIGHUP', onHangup);
  try {
    return await cluster.run();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHangup);
    control.signal?.removeEventListener('abort', onAbort);
  }
}

/** The children of one `cluster up` and the phase it is in. */
class LocalCluster {
  private readonly children: Child[] = [];
  private phase: Phase = 'starting';
  /** With `--tls`: the development CA and each process's certificate, made before any process starts. */
  private certificates: DevCertificates | null = null;
  /** With `--tls`: how `/readyz` is asked (trusting the development CA). */
  private readyAgent: Agent | null = null;
  private settle: (code: number) => void = () => undefined;
  private readonly done = new Promise<number>((resolve) => {
    this.settle = resolve;
  });

  constructor(
    private readonly options: ClusterUpOptions,
    private readonly io: ClusterUpIo,
    private readonly choosePorts: PortChooser,
    private readonly execArgv: readonly string[],
  ) {}

  /** Starts the cluster and resolves with the exit code once it has stopped. */
  async run(): Promise<number> {
    void this.startOnFreePorts();
    return this.done;
  }

  /**
   * Runs the start, and again on newly chosen ports while a storage node reports that a port
   * chosen for it was taken meanwhile by another process (the ports are free when chosen, but
   * released before the node binds them): the children of the failed try are stopped first.
   */
  private async startOnFreePorts(): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.start();
        return;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (!(error instanceof PortTakenError) || attempt >= START_ATTEMPTS || this.phase !== 'starting') {
          this.stop(1, `cluster up failed: ${reason}`);
          return;
        }
        this.io.err(`dkv: ${reason}; starting again on other ports (try ${attempt + 1} of ${START_ATTEMPTS})`);
        for (const child of this.children) child.abandoned = true;
        await this.stopChildren();
        this.children.length = 0;
        if (this.phase !== 'starting') return;
      }
    }
  }

  /** Sends `signal` to every live child, by pid. */
  signalChildren(signal: NodeJS.Signals): void {
    for (const child of this.children) {
      if (child.exited) continue;
      try {
        process.kill(child.pid, signal);
      } catch {
        // Exited between the check and the signal: nothing to tell it.
      }
    }
  }

  /** Stops every live child (coordinator first), by SIGTERM and after a deadline SIGKILL; resolves `run` with `code`. */
  stop(code: number, reason: string): void {
    if (this.phase === 'stopping') return;
    this.phase = 'stopping';
    this.io.err(`dkv: ${reason}`);
    void this.stopChildren()
      .then(() => this.readyAgent?.close())
      .then(() => this.settle(code));
  }

  private async start(): Promise<void> {
    if (this.options.tls === true) await this.makeCertificates();
    if (this.options.topology === 'nodes') return this.startCoordinatingNodes();
    const { nodes, port } = this.options;
    const nodePorts = await this.choosePortsBesides(nodes, [port, this.options.respPort]);
    const ids = nodePorts.map((_, i) => `n${i + 1}`);
    const members = memberList(ids, nodePorts, this.options.zones);
    const started = ids.map((id, i) => {
      const nodePort = nodePorts[i] ?? 0;
      // The nodes take the same N as the coordinator: N is a cluster-wide setting, and a process
      // whose N differs from the cluster's refuses to join.
      return this.spawnChild(
        id,
        'node',
        NODE_MAIN,
        [
          '--id',
          id,
          '--host',
          LOCAL_HOST,
          '--port',
          String(nodePort),
          '--members',
          members,
          ...nFlag(nodes),
          ...this.durabilityFlags(),
          ...this.authFlags(),
          ...this.tlsFlags(id),
        ],
        nodePort,
        [nodePort],
      );
    });
    await Promise.all(started.map((child) => this.waitReady(child)));
    if (this.phase !== 'starting') return;
    // A DKV_N/W/R the user set wins over the local defaults.
    const quorumArgs = quorumFlags(nodes);
    const args = [
      '--id',
      'c1',
      '--host',
      LOCAL_HOST,
      '--port',
      String(port),
      '--resp-port',
      String(this.options.respPort),
      '--join',
      `${LOCAL_HOST}:${nodePorts[0]}`,
      ...quorumArgs,
      ...this.authFlags(),
      ...this.tlsFlags('c1'),
    ];
    const coordinator = this.spawnChild('c1', 'coordinator', COORDINATOR_MAIN, args, port, []);
    await this.waitReady(coordinator);
    if (this.phase !== 'starting') return;
    this.phase = 'ready';
    this.announceCa();
    this.io.out(`dkv redis at ${coordinator.redisUrl ?? ''}`);
    this.io.out(`dkv ready at ${coordinator.url}`);
  }

  /**
   * The `nodes` topology: every node coordinates (`--coordinate`, with the local quorums), the
   * first on `--port` and `--resp-port`; no coordinator process. The Redis and ready lines name the
   * first node; every node's URL serves the same API and its own Redis door, listed on stderr.
   */
  private async startCoordinatingNodes(): Promise<void> {
    const { nodes, port, respPort } = this.options;
    const taken = [port, respPort];
    const free = await this.choosePortsBesides(2 * nodes, taken);
    const freeForHttp = free.slice(0, nodes);
    const freeForResp = free.slice(nodes);
    const nodePorts = (port === 0 ? freeForHttp : [port, ...freeForHttp]).slice(0, nodes);
    const respPorts = (respPort === 0 ? freeForResp : [respPort, ...freeForResp]).slice(0, nodes);
    const ids = nodePorts.map((_, i) => `n${i + 1}`);
    const members = memberList(ids, nodePorts, this.options.zones);
    const coordinate = ['--coordinate', ...quorumFlags(nodes)];
    const started = ids.map((id, i) => {
      const nodePort = nodePorts[i] ?? 0;
      const args = [
        '--id',
        id,
        '--host',
        LOCAL_HOST,
        '--port',
        String(nodePort),
        '--resp-port',
        String(respPorts[i] ?? 0),
        '--members',
        members,
        ...coordinate,
        ...this.durabilityFlags(),
        ...this.authFlags(),
        ...this.tlsFlags(id),
      ];
      const chosen = [nodePort, respPorts[i] ?? 0].filter((p) => !taken.includes(p));
      return this.spawnChild(id, 'node', NODE_MAIN, args, nodePort, chosen);
    });
    // A coordinating node is ready when it can serve quorum requests, so this waits for the cluster.
    await Promise.all(started.map((child) => this.waitReady(child)));
    if (this.phase !== 'starting') return;
    this.phase = 'ready';
    this.io.err(`dkv: every node serves the public API: ${started.map((child) => child.url).join(' ')}`);
    // Each node said where its Redis door listens (rediss:// with TLS) when it bound its ports.
    this.io.err(`dkv: every node serves the Redis protocol: ${started.map((child) => child.redisUrl ?? '').join(' ')}`);
    this.announceCa();
    this.io.out(`dkv redis at ${started[0]?.redisUrl ?? ''}`);
    this.io.out(`dkv ready at ${started[0]?.url ?? ''}`);
  }

  /**
   * Chooses `count` free ports, none of them one of `asked` (the ports the user asked for, 0 for
   * none): the system may give a port asked for, free until its process binds it, and a node given
   * it would keep the coordinator (or the first node) from starting.
   */
  private async choosePortsBesides(count: number, asked: readonly number[]): Promise<number[]> {
    const avoid = asked.filter((p) => p !== 0);
    const free = await this.choosePorts(count + avoid.length, LOCAL_HOST);
    return free.filter((p) => !avoid.includes(p)).slice(0, count);
  }

  /**
   * Makes the development CA and a certificate for each process (n1..nk, c1), valid for
   * 127.0.0.1 and localhost, under `<dataDir>/tls` or a new temporary directory.
   */
  private async makeCertificates(): Promise<void> {
    const dir = this.options.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'dkv-tls-')) : join(this.options.dataDir, 'tls');
    const names = [...Array.from({ length: this.options.nodes }, (_, i) => `n${i + 1}`), 'c1'];
    this.certificates = await makeDevCertificates(dir, names, [LOCAL_HOST, 'localhost']);
    this.readyAgent = new Agent({ connect: { ca: readFileSync(this.certificates.caPath) } });
    this.io.err(`dkv: development TLS certificates in ${dir} (for development only: the CA's key is there too)`);
  }

  /** `--tls-cert`, `--tls-key` and `--tls-ca` of process `name`, when the cluster runs with TLS. */
  private tlsFlags(name: string): string[] {
    const own = this.certificates?.processes.get(name);
    if (this.certificates === null || own === undefined) return [];
    return ['--tls-cert', own.certPath, '--tls-key', own.keyPath, '--tls-ca', this.certificates.caPath];
  }

  /** With TLS, the CA a client must trust, on the output before the Redis and ready lines. */
  private announceCa(): void {
    if (this.certificates !== null) this.io.out(`dkv tls ca at ${this.certificates.caPath}`);
  }

  /** `--auth-file` for every process, when the cluster runs with authentication. */
  private authFlags(): string[] {
    return this.options.authFile === undefined ? [] : ['--auth-file', this.options.authFile];
  }

  /** `--data-dir` and `--fsync` for a storage node, when the cluster keeps its data on disk. */
  private durabilityFlags(): string[] {
    const { dataDir, fsync } = this.options;
    if (dataDir === undefined) return [];
    return ['--data-dir', dataDir, ...(fsync === undefined ? [] : ['--fsync', fsync])];
  }

  private spawnChild(name: string, role: Child['role'], main: string, args: string[], port: number, chosenPorts: readonly number[]): Child {
    const proc = spawn(process.execPath, [...this.execArgv, main, ...args], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
      env: { ...process.env, DKV_LOG_LEVEL: this.options.logLevel },
    });
    if (proc.pid === undefined) throw new Error(`cannot start ${role} ${name} with ${process.execPath}`);
    for (const stream of [proc.stdout, proc.stderr]) {
      if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.io.err(`[${name}] ${line}`));
    }
    const pid = proc.pid;
    let markExited: () => void = () => undefined;
    const exit = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    let markListening: () => void = () => undefined;
    const listening = new Promise<void>((resolve) => {
      markListening = resolve;
    });
    const child: Child = {
      name,
      role,
      pid,
      url: `${this.certificates === null ? 'http' : 'https'}://${LOCAL_HOST}:${port}`,
      redisUrl: null,
      listening,
      chosenPorts,
      portTaken: null,
      abandoned: false,
      exited: false,
      exit,
    };
    proc.on('message', (message: unknown) => {
      if (isPortTakenAnnouncement(message)) {
        child.portTaken = message.port;
        return;
      }
      if (!isListeningAnnouncement(message)) return;
      child.url = message.url;
      child.redisUrl = message.redisUrl;
      this.io.err(`dkv: ${role} ${name} pid ${pid} at ${new URL(message.url).host}`);
      markListening();
    });
    // 'close', not 'exit': it comes after the IPC channel has delivered the child's last message
    // (a `dkv.port-taken` sent just before it exited).
    proc.on('close', (code, sig) => {
      child.exited = true;
      markExited();
      markListening();
      this.onChildExit(child, sig ? `signal ${sig}` : `exit code ${code}`);
    });
    proc.on('error', (error) => this.io.err(`dkv: ${role} ${name}: ${error.message}`));
    this.children.push(child);
    return child;
  }

  private onChildExit(child: Child, how: string): void {
    if (this.phase === 'stopping' || child.abandoned) return;
    // Its waitReady reports it, and the start is tried again on other ports.
    if (this.phase === 'starting' && this.mayChooseAgain(child)) return;
    if (this.phase === 'ready' && child.role === 'node') {
      this.io.err(`dkv: node ${child.name} (pid ${child.pid}) exited unexpectedly (${how}); the cluster keeps serving with the nodes left`);
      return;
    }
    this.stop(1, `${child.role} ${child.name} (pid ${child.pid}) exited unexpectedly (${how}); stopping the cluster`);
  }

  /** Whether `child` exited because a port `cluster up` chose for it was taken (so other ports may be chosen). */
  private mayChooseAgain(child: Child): boolean {
    return child.portTaken !== null && child.chosenPorts.includes(child.portTaken);
  }

  private async stopChildren(): Promise<void> {
    const live = this.children.filter((c) => !c.exited);
    // The coordinator first: it stops taking requests before the nodes behind it go.
    for (const child of live.filter((c) => c.role === 'coordinator')) signal(child, 'SIGTERM');
    for (const child of live.filter((c) => c.role === 'node')) signal(child, 'SIGTERM');
    const finished = Promise.all(live.map((c) => c.exit)).then(() => 'done' as const);
    if ((await Promise.race([finished, sleep(STOP_DEADLINE_MS, 'deadline' as const, { ref: false })])) === 'done') return;
    for (const child of this.children.filter((c) => !c.exited)) {
      this.io.err(`dkv: ${child.role} ${child.name} (pid ${child.pid}) did not stop within ${STOP_DEADLINE_MS} ms; killing it`);
      signal(child, 'SIGKILL');
    }
    await Promise.race([finished, sleep(KILL_GRACE_MS, undefined, { ref: false })]);
  }

  /**
   * Waits for the child to say it bound its ports, then polls its `/readyz` until it answers 200;
   * fails at the deadline, returns early if start-up was abandoned.
   */
  private async waitReady(child: Child): Promise<void> {
    const giveUpAt = Date.now() + this.options.readyTimeoutMs;
    const silent = await Promise.race([child.listening, sleep(this.options.readyTimeoutMs, 'silent' as const, { ref: false })]);
    if (silent === 'silent' && !child.exited && this.phase === 'starting') {
      throw new Error(`${child.role} ${child.name} (pid ${child.pid}) did not bind its ports within ${this.options.readyTimeoutMs} ms`);
    }
    if (child.exited && this.phase === 'starting' && this.mayChooseAgain(child)) {
      throw new PortTakenError(`${child.role} ${child.name} found port ${child.portTaken} taken by another process`);
    }
    while (Date.now() < giveUpAt) {
      if (child.exited || child.abandoned || this.phase !== 'starting') return;
      try {
        const res = await request(`${child.url}/readyz`, {
          signal: AbortSignal.timeout(1000),
          ...(this.readyAgent === null ? {} : { dispatcher: this.readyAgent }),
        });
        await res.body.dump();
        if (res.statusCode === 200) return;
      } catch {
        // Not listening yet.
      }
      await sleep(READY_POLL_MS);
    }
    throw new Error(
      `${child.role} ${child.name} (pid ${child.pid}) was not ready at ${child.url}/readyz within ${this.options.readyTimeoutMs} ms`,
    );
  }
}

/**
 * The `--members` list of a local cluster: `id=host:port`, with `@z<k>` round-robin over `zones`
 * zones when given, so that every node starts from the same zoned ring.
 */
export function memberList(ids: readonly string[], ports: readonly number[], zones: number | undefined): string {
  return ids.map((id, i) => `${id}=${LOCAL_HOST}:${ports[i]}${zones === undefined ? '' : `@${localZone(i, zones)}`}`).join(',');
}

/** The zone of the `index`-th (from 0) local node spread round-robin over `zones` zones: z1..z`zones`. */
export function localZone(index: number, zones: number): string {
  return `z${(index % zones) + 1}`;
}

function isPortTakenAnnouncement(message: unknown): message is PortTakenAnnouncement {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as Partial<PortTakenAnnouncement>;
  return m.type === 'dkv.port-taken' && typeof m.port === 'number';
}

function isListeningAnnouncement(message: unknown): message is ListeningAnnouncement {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as Partial<ListeningAnnouncement>;
  return m.type === 'dkv.listening' && typeof m.url === 'string' && (m.redisUrl === null || typeof m.redisUrl === 'string');
}

/** `--n` of the local quorums, unless the user set `DKV_N` (which every process then reads). */
function nFlag(nodes: number): string[] {
  return process.env.DKV_N ? [] : ['--n', String(localQuorums(nodes).n)];
}

/** `--n/--w/--r` of the local quorums, leaving out any that a DKV_N/W/R the user set decides. */
function quorumFlags(nodes: number): string[] {
  return Object.entries(localQuorums(nodes)).flatMap(([name, value]) =>
    process.env[`DKV_${name.toUpperCase()}`] ? [] : [`--${name}`, String(value)],
  );
}

function signal(child: Child, name: NodeJS.Signals): void {
  if (child.exited) return;
  try {
    process.kill(child.pid, name);
  } catch {
    // It exited between the check and the signal.
  }
}

/**
 * The Node.js flags `cluster up` was started with, for its children: V8 and Node settings given
 * to `node <flags> dkv.js cluster up` (a heap size, `--max-semi-space-size`, a profiler) apply to
 * every process of the cluster, not to the launcher alone. Inspector flags are left out: every
 * child would try to listen on the same debugging port.
 */
export function childExecArgv(execArgv: readonly string[]): string[] {
  return execArgv.filter((flag) => !/^--(inspect|inspect-brk|inspect-wait|inspect-port|debug-port)(=|$)/.test(flag));
}
