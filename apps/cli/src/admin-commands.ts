import type { ClusterInfo, DistributionEntry } from '@dkv/client';
import type { KeyEndpoints, RepairReport } from '@dkv/coordination';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AdminHttpError, EXIT_FAILED, EXIT_TIMEOUT, type AdminHttp } from './admin-http.js';
import {
  formatEndpoints,
  formatHints,
  formatMoveProgress,
  formatRemoval,
  formatRepair,
  formatRepairProgress,
  formatVnodes,
  moveProgressOf,
  type HintsJson,
  type MoveProgress,
  type RemovalJson,
  type VnodesJson,
} from './admin-views.js';
import { previewRingChange } from './ring-preview.js';

/** What the admin commands need of the outside world (a subset of `CliDeps`). */
export interface AdminDeps {
  /** The one function every admin request goes through (see `admin-http.ts`). */
  readonly http: AdminHttp;
  out(text: string): void;
  err(text: string): void;
  exit(code: number): void;
  /** Waits between two looks at a long operation; tests pass a fast one. */
  sleep?(ms: number): Promise<void>;
  /** The wall clock, for a long operation's elapsed time and deadline. */
  now?(): number;
}

/** The coordinator URL the admin commands use when `--url` and `DKV_URL` are absent. */
export const DEFAULT_URL = 'http://127.0.0.1:7070';
/** How often a long operation (decommission, removenode, repair) is looked at, by default. */
export const DEFAULT_INTERVAL_MS = 500;
/** How long a long operation is followed before the command gives up waiting (exit 4), by default: one hour. */
export const DEFAULT_TIMEOUT_MS = 3_600_000;

/** A failure the command itself found (an unknown node, a dead node to decommission...): exit 1 with its message. */
class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
  }
}

function wholeNumber(min: number, max: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || value < min || value > max)
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return value;
  };
}

/** `--url` (`DKV_URL`), shared with `status` and `ring`. */
export function urlOption(): Option {
  return new Option('--url <url>', "the coordinator's URL").env('DKV_URL').default(DEFAULT_URL);
}

/** `--json` (`DKV_JSON=1`): machine-readable output on stdout. */
export function jsonOption(): Option {
  return new Option('--json', 'print JSON on stdout (one object) instead of text').env('DKV_JSON');
}

function followOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--interval-ms <ms>', 'how often progress is looked at')
        .env('DKV_INTERVAL_MS')
        .default(DEFAULT_INTERVAL_MS)
        .argParser(wholeNumber(50, 60_000)),
    )
    .addOption(
      new Option('--timeout-ms <ms>', 'give up waiting after this long (exit 4; the operation goes on)')
        .env('DKV_TIMEOUT_MS')
        .default(DEFAULT_TIMEOUT_MS)
        .argParser(wholeNumber(1000, 86_400_000)),
    );
}

interface CommonOptions {
  readonly url: string;
  readonly json?: boolean | string;
}
interface FollowOptions extends CommonOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/**
 * Adds the admin commands of API.md beside `status` and `ring`: `getendpoints`, `decommission`,
 * `removenode`, `repair`, `vnodes`, `hints`. Each takes `--url` and `--json`; failures exit 1
 * (refused or failed), 3 (coordinator unreachable) or 4 (gave up waiting), usage errors 2.
 */
export function registerAdminCommands(program: Command, deps: AdminDeps): void {
  const ctx = new AdminContext(deps);
  program
    .command('getendpoints')
    .description("the key's N replicas, in preference order")
    .argument('<key>', 'the key (as stored: no URL-encoding needed)')
    .addOption(urlOption())
    .addOption(jsonOption())
    .action((key: string, opts: CommonOptions) => ctx.run('getendpoints', opts.url, () => ctx.getEndpoints(key, opts)));
  program
    .command('hints')
    .description('hinted writes this coordinator holds per target node (count, bytes, oldest age)')
    .addOption(urlOption())
    .addOption(jsonOption())
    .action((opts: CommonOptions) => ctx.run('hints', opts.url, () => ctx.hints(opts)));
  program
    .command('vnodes')
    .description("change a node's virtual-node count on the live cluster (data moves in the background)")
    .argument('<id>', 'the node')
    .argument('<count>', 'its new vnode count (1..65536)', wholeNumber(1, 65_536))
    .option('--preview', 'show the resulting shares and bytes moved without changing anything')
    .addOption(urlOption())
    .addOption(jsonOption())
    .action((id: string, count: number, opts: CommonOptions & { preview?: boolean }) =>
      ctx.run('vnodes', opts.url, () => ctx.vnodes(id, count, opts)),
    );
  followOptions(
    program
      .command('decommission')
      .description("move a live node's data to its new owners, then remove it; shows progress until done")
      .argument('<id>', 'the node')
      .addOption(urlOption())
      .addOption(jsonOption()),
  ).action((id: string, opts: FollowOptions) => ctx.run('decommission', opts.url, () => ctx.removal('decommission', id, opts, false)));
  followOptions(
    program
      .command('removenode')
      .description('remove a dead node at once; its ranges are re-replicated from the survivors; shows progress until done')
      .argument('<id>', 'the node')
      .option('--force', 'remove it even though it is up (its data is not streamed from it)')
      .addOption(urlOption())
      .addOption(jsonOption()),
  ).action((id: string, opts: FollowOptions & { force?: boolean }) =>
    ctx.run('removenode', opts.url, () => ctx.removal('removenode', id, opts, opts.force === true)),
  );
  followOptions(
    program
      .command('repair')
      .description('an anti-entropy pass now, with progress and a summary of what differed')
      .option('--node <id>', 'repair only the ranges this node replicates')
      .addOption(urlOption())
      .addOption(jsonOption()),
  ).action((opts: FollowOptions & { node?: string }) => ctx.run('repair', opts.url, () => ctx.repair(opts)));
}

/** Whether `--json` (or `DKV_JSON`) asks for JSON: any value but `0`, `false` or empty. */
function wantsJson(opts: CommonOptions): boolean {
  return opts.json === true || (typeof opts.json === 'string' && !['', '0', 'false'].includes(opts.json.toLowerCase()));
}

/** The commands' bodies, over the injected deps. */
class AdminContext {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(private readonly deps: AdminDeps) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = deps.now ?? (() => Date.now());
  }

  /** Runs a command's body and turns its failure into a message and an exit code. */
  async run(name: string, url: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      if (error instanceof AdminHttpError) {
        this.deps.err(`dkv ${name}: ${url}: ${error.message}\n`);
        return this.deps.exit(error.exitCode);
      }
      this.deps.err(`dkv ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
      this.deps.exit(error instanceof CommandFailure ? error.exitCode : EXIT_FAILED);
    }
  }

  private print(opts: CommonOptions, json: unknown, text: string): void {
    this.deps.out(wantsJson(opts) ? `${JSON.stringify(json)}\n` : `${text}\n`);
  }

  private cluster(url: string): Promise<ClusterInfo> {
    return this.deps.http({ url, method: 'GET', path: '/v1/cluster' }) as Promise<ClusterInfo>;
  }

  async getEndpoints(key: string, opts: CommonOptions): Promise<void> {
    const answer = (await this.deps.http({
      url: opts.url,
      method: 'GET',
      path: `/v1/cluster/endpoints/${encodeURIComponent(key)}`,
    })) as KeyEndpoints;
    const pick = (r: KeyEndpoints['replicas'][number]) => ({ id: r.id, address: r.address, zone: r.zone, status: r.status });
    const json: KeyEndpoints = {
      key: answer.key,
      hash: answer.hash,
      replicas: answer.replicas.map(pick),
      pending: answer.pending.map(pick),
    };
    this.print(opts, json, formatEndpoints(json));
  }

  async hints(opts: CommonOptions): Promise<void> {
    const answer = (await this.deps.http({ url: opts.url, method: 'GET', path: '/v1/cluster/hints' })) as { hints: HintsJson['hints'] };
    const hints = answer.hints.map((h) => ({ target: h.target, count: h.count, bytes: h.bytes, oldestAgeMs: h.oldestAgeMs }));
    const json: HintsJson = {
      hints,
      total: { count: hints.reduce((s, h) => s + h.count, 0), bytes: hints.reduce((s, h) => s + h.bytes, 0) },
    };
    this.print(opts, json, formatHints(json));
  }

  async vnodes(id: string, count: number, opts: CommonOptions & { preview?: boolean }): Promise<void> {
    const [cluster, distribution] = await Promise.all([
      this.cluster(opts.url),
      this.deps.http({ url: opts.url, method: 'GET', path: '/v1/cluster/distribution' }) as Promise<DistributionEntry[]>,
    ]);
    const node = cluster.nodes.find((n) => n.id === id);
    if (node === undefined)
      throw new CommandFailure(`node ${id} is not in the cluster (members: ${cluster.nodes.map((n) => n.id).join(', ')})`);
    const preview = previewRingChange(cluster, distribution, { add: 0, remove: [], vnodes: { id, count } });
    if (opts.preview !== true)
      await this.deps.http({
        url: opts.url,
        method: 'PATCH',
        path: `/v1/cluster/nodes/${encodeURIComponent(id)}`,
        body: { vnodes: count },
      });
    const json: VnodesJson = {
      node: id,
      vnodesBefore: node.vnodes,
      vnodesAfter: count,
      applied: opts.preview !== true,
      rows: preview.rows,
      replicasMovedFraction: preview.replicasMovedFraction,
      bytesToMove: preview.bytesToMove,
    };
    this.print(opts, json, formatVnodes(json));
  }

  /**
   * `decommission` and `removenode`: checks the node's state (a decommission streams from the
   * node, so it must be alive; a removal is for a dead node unless forced), asks for the removal,
   * then follows `/v1/cluster` until the node has left and no data moves, printing a progress line
   * on stderr whenever it changes, and the summary on stdout.
   */
  async removal(operation: 'decommission' | 'removenode', id: string, opts: FollowOptions, force: boolean): Promise<void> {
    const before = await this.cluster(opts.url);
    const node = before.nodes.find((n) => n.id === id);
    if (node === undefined)
      throw new CommandFailure(`node ${id} is not in the cluster (members: ${before.nodes.map((n) => n.id).join(', ')})`);
    if (operation === 'decommission' && (node.status === 'down' || node.status === 'suspect')) {
      throw new CommandFailure(
        `node ${id} is ${node.status}: a decommission streams its data from it; remove a dead node with dkv removenode ${id}`,
      );
    }
    if (operation === 'removenode' && !force && (node.status === 'up' || node.status === 'joining')) {
      throw new CommandFailure(
        `node ${id} is ${node.status}: dkv removenode is for a dead node (its data is re-replicated from the others); move a live node's data with dkv decommission ${id}, or add --force`,
      );
    }
    const startedAt = this.now();
    const query = operation === 'removenode' ? '?force=true' : '';
    await this.deps.http({ url: opts.url, method: 'DELETE', path: `/v1/cluster/nodes/${encodeURIComponent(id)}${query}` });
    let last: MoveProgress | null = null;
    let lastLine = '';
    for (;;) {
      const cluster = await this.cluster(opts.url);
      const entry = cluster.nodes.find((n) => n.id === id);
      const progress = moveProgressOf(cluster);
      if (progress !== null) last = progress;
      if (entry === undefined && progress === null && cluster.rebalancing !== true) break;
      const line = formatMoveProgress(operation, id, entry?.status ?? 'removed, data still moving', progress);
      if (line !== lastLine) this.deps.err(`${line}\n`);
      lastLine = line;
      if (this.now() - startedAt > opts.timeoutMs) {
        throw new CommandFailure(
          `gave up waiting after ${opts.timeoutMs} ms (--timeout-ms): ${id} is ${entry?.status ?? 'removed'} and the data still moves in the background; dkv status shows it`,
          EXIT_TIMEOUT,
        );
      }
      await this.sleep(opts.intervalMs);
    }
    const result: RemovalJson = {
      operation,
      node: id,
      state: 'done',
      elapsedMs: this.now() - startedAt,
      ...(last ?? { rangesDone: 0, rangesPlanned: 0, keys: 0, bytes: 0 }),
    };
    this.print(opts, result, formatRemoval(result));
  }

  /** Starts a repair, follows its report with a progress line on stderr at each change, and prints the final report. */
  async repair(opts: FollowOptions & { node?: string }): Promise<void> {
    const startedAt = this.now();
    let report = (await this.deps.http({
      url: opts.url,
      method: 'POST',
      path: '/v1/cluster/repair',
      body: opts.node === undefined ? {} : { node: opts.node },
    })) as RepairReport;
    let lastLine = '';
    while (report.state === 'running') {
      const line = formatRepairProgress(report);
      if (line !== lastLine) this.deps.err(`${line}\n`);
      lastLine = line;
      if (this.now() - startedAt > opts.timeoutMs) {
        throw new CommandFailure(
          `gave up waiting after ${opts.timeoutMs} ms (--timeout-ms): ${report.id} is still running on the coordinator`,
          EXIT_TIMEOUT,
        );
      }
      await this.sleep(opts.intervalMs);
      report = (await this.deps.http({
        url: opts.url,
        method: 'GET',
        path: `/v1/cluster/repair/${encodeURIComponent(report.id)}`,
      })) as RepairReport;
    }
    const json: RepairReport = {
      id: report.id,
      state: report.state,
      node: report.node,
      startedAt: report.startedAt,
      finishedAt: report.finishedAt,
      rangesPlanned: report.rangesPlanned,
      rangesCompared: report.rangesCompared,
      rangesDiffering: report.rangesDiffering,
      rangesSkipped: report.rangesSkipped,
      keysDiffering: report.keysDiffering,
      recordsRepaired: report.recordsRepaired,
      bytesRepaired: report.bytesRepaired,
      error: report.error,
    };
    if (json.state === 'failed') {
      if (wantsJson(opts)) this.deps.out(`${JSON.stringify(json)}\n`);
      throw new CommandFailure(`${json.id} failed: ${json.error ?? 'no reason given'} (${formatRepairProgress(json)})`);
    }
    this.print(opts, json, formatRepair(json));
  }
}
