/**
 * Test support for network partitions between real processes: one Linux network namespace per
 * storage node, each joined by a veth pair to a bridge in the root namespace on a private /24
 * that clashes with no address or route of this machine. Links are cut with iproute2 alone (no
 * nft or iptables): a host's veth set down isolates it from everyone; blackhole routes inside two
 * namespaces cut those two from each other only. Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN);
 * {@link probeNetns} says whether it is there. Not part of the CLI's build.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
/** Deadline of one `ip` command. */
const IP_TIMEOUT_MS = 10_000;
/** The port every node listens on inside its own namespace (nothing else runs there). */
export const NETNS_NODE_PORT = 7100;
/** Address of host `i` (from 0) in the subnet: .10, .11, ...; the bridge is .1. */
const HOST_OFFSET = 10;
/** Subnet candidates tried before giving up. */
const SUBNET_ATTEMPTS = 64;

/** Whether namespaces can be made here, and if not, why. */
export type NetnsProbe = { readonly available: true } | { readonly available: false; readonly reason: string };

/** One storage node's namespace and address. */
export interface NetnsHost {
  readonly id: string;
  /** The namespace's name (`dkv-<pid>-<id>`). */
  readonly ns: string;
  /** Its address on the test subnet. */
  readonly ip: string;
  /** `ip:port` the node listens on and is known by. */
  readonly address: string;
  /** The root-namespace end of its veth pair, attached to the bridge. */
  readonly hostLink: string;
}

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: IP_TIMEOUT_MS, encoding: 'utf8' });
}

async function ipAsync(args: readonly string[]): Promise<void> {
  await execFileAsync('ip', args, { timeout: IP_TIMEOUT_MS });
}

/** The first line `ip` wrote to stderr, or the error's message. */
function reasonOf(error: unknown): string {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'the `ip` command (iproute2) is not installed';
  const stderr = (error as { stderr?: Buffer | string }).stderr?.toString().trim();
  return (stderr !== undefined && stderr !== '' ? stderr : error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

/**
 * Tries once what the partition tests need: `ip netns add` of a throwaway namespace, a veth pair
 * into it and a bridge, removing them again. Synchronous, so a test file can decide at load time
 * whether to skip.
 */
export function probeNetns(): NetnsProbe {
  const tag = `dkv${process.pid}`;
  const ns = `dkv-${process.pid}-probe`;
  const steps: Array<[string, readonly string[]]> = [
    ['ip netns add', ['netns', 'add', ns]],
    ['a veth pair into a namespace', ['link', 'add', `${tag}pv`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]],
    ['a bridge', ['link', 'add', `${tag}pb`, 'type', 'bridge']],
  ];
  let failure: string | null = null;
  for (const [what, args] of steps) {
    try {
      ip(args);
    } catch (error) {
      failure = `${what} failed: ${reasonOf(error)}`;
      break;
    }
  }
  for (const args of [
    ['link', 'del', `${tag}pb`],
    ['link', 'del', `${tag}pv`],
    ['netns', 'del', ns],
  ]) {
    try {
      ip(args);
    } catch {
      // Not created (the probe stopped before it), or gone with the namespace.
    }
  }
  return failure === null ? { available: true } : { available: false, reason: failure };
}

/** The IPv4 networks this machine has addresses in or routes to, as [first, last] address numbers (the default route left out). */
function usedNetworks(): Array<[number, number]> {
  const text = `${ip(['-4', '-o', 'addr', 'show'])}\n${ip(['-4', 'route', 'show', 'table', 'all'])}`;
  const networks: Array<[number, number]> = [];
  for (const match of text.matchAll(/(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?(?![\d.])/g)) {
    const bits = match[5] === undefined ? 32 : Number(match[5]);
    if (bits === 0) continue;
    const value = ((Number(match[1]) << 24) | (Number(match[2]) << 16) | (Number(match[3]) << 8) | Number(match[4])) >>> 0;
    const size = 2 ** (32 - bits);
    const first = value - (value % size);
    networks.push([first, first + size - 1]);
  }
  return networks;
}

/**
 * A /24 that overlaps nothing this machine uses, as its first three octets: candidates in
 * 10.100-249.x, 172.16-31.x and 192.168.x, starting from one picked by the pid so that two test
 * runs at once start apart.
 */
function freeSubnet(): string {
  const used = usedNetworks();
  const candidates = (i: number): string => {
    const k = (process.pid + i * 7919) >>> 0;
    if (i % 3 === 0) return `10.${100 + (k % 150)}.${Math.floor(k / 150) % 256}`;
    if (i % 3 === 1) return `172.${16 + (k % 16)}.${Math.floor(k / 16) % 256}`;
    return `192.168.${k % 256}`;
  };
  for (let i = 0; i < SUBNET_ATTEMPTS; i += 1) {
    const prefix = candidates(i);
    const [a, b, c] = prefix.split('.').map(Number) as [number, number, number];
    const first = ((a << 24) | (b << 16) | (c << 8)) >>> 0;
    const last = first + 255;
    if (!used.some(([from, to]) => from <= last && to >= first)) return prefix;
  }
  throw new Error(`no free /24 for the test network among ${SUBNET_ATTEMPTS} candidates in 10/8, 172.16/12 and 192.168/16`);
}

/** True when process `pid` exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the namespaces and links an earlier run of these tests left behind when its process
 * died before its cleanup ran: only names of this module's pattern whose pid is gone. The
 * processes still running inside such a namespace (its nodes) are killed first, by pid.
 */
function removeLeftovers(): void {
  for (const line of ip(['netns', 'list']).split('\n')) {
    const match = /^(dkv-(\d+)-\S+)/.exec(line);
    if (!match || alive(Number(match[2]))) continue;
    let pids: string[] = [];
    try {
      pids = ip(['netns', 'pids', match[1]!])
        .split('\n')
        .filter((pid) => /^\d+$/.test(pid));
    } catch {
      // Nothing runs there any more, or the namespace went away meanwhile.
    }
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    tryIp(['netns', 'del', match[1]!]);
  }
  for (const line of ip(['-o', 'link', 'show']).split('\n')) {
    const match = /^\d+: (dkv(\d+)(?:br|v\d+|pv|pb))[@:]/.exec(line);
    if (match && !alive(Number(match[2]))) tryIp(['link', 'del', match[1]!]);
  }
}

function tryIp(args: readonly string[]): string | null {
  try {
    ip(args);
    return null;
  } catch (error) {
    return `ip ${args.join(' ')}: ${reasonOf(error)}`;
  }
}

/**
 * The test network of one test run. Build it with {@link PartitionNetwork.create} and always call
 * {@link PartitionNetwork.destroy} (in afterAll), after the processes inside have been stopped:
 * it removes every namespace, link and route it made, also after a failure half-way through
 * building.
 */
export class PartitionNetwork {
  readonly hosts: NetnsHost[] = [];
  private readonly bridge: string;
  /** What to remove, newest last: namespaces (`netns`) and links in the root namespace (`link`). */
  private readonly made: Array<{ kind: 'netns' | 'link'; name: string }> = [];

  private constructor(
    private readonly tag: string,
    private readonly subnet: string,
  ) {
    this.bridge = `${tag}br`;
  }

  /** A network not yet built, so that a caller holds it (and can destroy it) before building starts. */
  static plan(): PartitionNetwork {
    removeLeftovers();
    return new PartitionNetwork(`dkv${process.pid}`, freeSubnet());
  }

  /** The bridge's address: the root namespace (where the coordinator and the clients run) is reached at it. */
  get gateway(): string {
    return `${this.subnet}.1`;
  }

  /** Builds the bridge and one namespace per id, each with its veth and address, all links up. */
  async build(ids: readonly string[]): Promise<this> {
    this.made.push({ kind: 'link', name: this.bridge });
    await ipAsync(['link', 'add', this.bridge, 'type', 'bridge']);
    await ipAsync(['addr', 'add', `${this.gateway}/24`, 'dev', this.bridge]);
    await ipAsync(['link', 'set', this.bridge, 'up']);
    for (const [index, id] of ids.entries()) {
      const host: NetnsHost = {
        id,
        ns: `dkv-${process.pid}-${id}`,
        ip: `${this.subnet}.${HOST_OFFSET + index}`,
        address: `${this.subnet}.${HOST_OFFSET + index}:${NETNS_NODE_PORT}`,
        hostLink: `${this.tag}v${index + 1}`,
      };
      this.made.push({ kind: 'netns', name: host.ns });
      await ipAsync(['netns', 'add', host.ns]);
      this.made.push({ kind: 'link', name: host.hostLink });
      await ipAsync(['link', 'add', host.hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns]);
      await ipAsync(['link', 'set', host.hostLink, 'master', this.bridge, 'up']);
      await ipAsync(['-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0']);
      await ipAsync(['-n', host.ns, 'link', 'set', 'eth0', 'up']);
      await ipAsync(['-n', host.ns, 'link', 'set', 'lo', 'up']);
      this.hosts.push(host);
    }
    return this;
  }

  host(id: string): NetnsHost {
    const host = this.hosts.find((h) => h.id === id);
    if (!host) throw new Error(`no host ${id} in the test network`);
    return host;
  }

  /** The command prefix that runs a program inside `id`'s namespace (`ip netns exec` execs it: same pid). */
  via(id: string): string[] {
    return ['ip', 'netns', 'exec', this.host(id).ns];
  }

  /** Cuts `id` off from everyone (the other nodes and the root namespace): its veth goes down, packets are dropped silently. */
  async isolate(id: string): Promise<void> {
    await ipAsync(['link', 'set', this.host(id).hostLink, 'down']);
  }

  /** Undoes {@link isolate}. */
  async reconnect(id: string): Promise<void> {
    await ipAsync(['link', 'set', this.host(id).hostLink, 'up']);
  }

  /** Cuts `a` and `b` off from each other only, by a blackhole route to the other in each namespace. */
  async cut(a: string, b: string): Promise<void> {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      await ipAsync(['-n', this.host(from).ns, 'route', 'add', 'blackhole', `${this.host(to).ip}/32`]);
    }
  }

  /** Undoes {@link cut}. */
  async mend(a: string, b: string): Promise<void> {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      await ipAsync(['-n', this.host(from).ns, 'route', 'del', 'blackhole', `${this.host(to).ip}/32`]);
    }
  }

  /**
   * Whether a TCP connection from inside `from`'s namespace to `address` (`ip:port`) opens within
   * `timeoutMs`: how a test sees that a cut holds, or has healed.
   */
  async canConnect(from: string, address: string, timeoutMs = 1000): Promise<boolean> {
    const [host, port] = address.split(':');
    const script =
      'const s = require("node:net").connect(Number(process.argv[2]), process.argv[1]);' +
      's.on("connect", () => { s.destroy(); process.exit(0); }); s.on("error", () => process.exit(1));' +
      `setTimeout(() => process.exit(1), ${timeoutMs});`;
    try {
      await execFileAsync('ip', [...['netns', 'exec', this.host(from).ns], process.execPath, '-e', script, host!, port!], {
        timeout: timeoutMs + IP_TIMEOUT_MS,
      });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Removes everything {@link build} made (routes go with their namespaces; deleting a veth's end
   * deletes its peer), newest first, going on past failures; returns what could not be removed.
   * Call it once the processes inside the namespaces have exited.
   */
  destroy(): string[] {
    const problems: string[] = [];
    for (const { kind, name } of this.made.splice(0).reverse()) {
      const problem = tryIp(kind === 'netns' ? ['netns', 'del', name] : ['link', 'del', name]);
      const gone =
        kind === 'netns'
          ? !ip(['netns', 'list'])
              .split('\n')
              .some((line) => line.split(' ')[0] === name)
          : tryIp(['link', 'show', name]) !== null;
      if (problem !== null && !gone) problems.push(problem);
    }
    return problems;
  }
}
