import { resolve } from 'node:path';
import type { Setting } from '@dkv/app-config';
import type { CoordinatorAppConfig } from '@dkv/coordinator';
import type { NodeConfig } from '@dkv/node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { jsonOption, registerAdminCommands, urlOption } from './admin-commands.js';
import {
  adminRequest,
  AdminHttpError,
  credentialOptions,
  credentialsFrom,
  tlsCaFrom,
  EXIT_FAILED,
  EXIT_USAGE,
  type AdminCredentials,
  type AdminHttp,
} from './admin-http.js';
import { TOPOLOGIES, type ClusterUpOptions, type Topology } from './cluster-up.js';
import { PROCESS_SETTINGS, type ClusterUpSettings, type NodeSettings, type ProcessSettingsLoader } from './process-settings.js';
import { previewRingChange } from './ring-preview.js';
import { formatRing, formatRingPreview, formatStatus } from './views.js';

/** What the commands do, injected so that argument parsing can be tested without starting anything. */
export interface CliDeps {
  clusterUp(options: ClusterUpOptions): Promise<number>;
  runNode(config: NodeConfig): Promise<void>;
  runCoordinator(config: CoordinatorAppConfig): Promise<void>;
  fetchCluster(url: string, credentials?: AdminCredentials, tlsCa?: Buffer): Promise<Parameters<typeof formatStatus>[0]>;
  fetchDistribution(url: string, credentials?: AdminCredentials, tlsCa?: Buffer): Promise<Parameters<typeof formatRing>[0]>;
  /** The one function the admin commands send their requests through (`adminRequest`). */
  readonly http: AdminHttp;
  /** Waits between two looks at a long operation (default: a timer); tests pass a fast one. */
  sleep?(ms: number): Promise<void>;
  /** The wall clock of long operations (default `Date.now`). */
  now?(): number;
  readonly env: Readonly<Record<string, string | undefined>>;
  out(text: string): void;
  err(text: string): void;
  /** Ends the process with `code` (bad configuration is 2, as for the apps). */
  exit(code: number): void;
  /**
   * Where `cluster up`, `node` and `coordinator` get their settings tables, loaded only when one
   * of them runs or shows its help (default {@link PROCESS_SETTINGS}, the apps' own modules).
   */
  readonly settings?: ProcessSettingsLoader;
}

export { DEFAULT_URL } from './admin-commands.js';

/** A commander parser for a whole number in `min..max`, whose error says what is allowed. */
export function wholeNumber(min: number, max: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || value < min || value > max)
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return value;
  };
}

/**
 * An option of `cluster up` that it hands, as given, to every storage node it starts: spelt,
 * described and checked by the node's own setting (so a bad value stops `cluster up` before any
 * node starts, with the node's message).
 */
function passedToNodes(setting: Setting<unknown>, value: string): Option {
  const option = new Option(`--${setting.flag} ${value}`, setting.description).env(setting.env).argParser((text: string) => {
    const parsed = setting.schema.safeParse(text);
    if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues.map((issue) => issue.message).join('; '));
    return text;
  });
  return setting.defaultValue === undefined ? option : option.default(setting.defaultValue);
}

/** `tombstone-grace-ms` → `tombstoneGraceMs`: how commander names an option's value. */
export function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Adds one option per setting of an app's settings table (their variables are read by the app's
 * parser): `--flag <value>`, or `--flag` alone for a switch.
 */
function addSettings(
  command: Command,
  table: Record<string, { flag: string; env: string; description: string; defaultValue?: string; required?: boolean; switch?: boolean }>,
): Command {
  for (const setting of Object.values(table)) {
    const def = setting.defaultValue !== undefined ? `, default ${setting.defaultValue}` : setting.required ? ', required' : '';
    command.option(`--${setting.flag}${setting.switch ? '' : ' <value>'}`, `${setting.description} (env ${setting.env}${def})`);
  }
  return command;
}

/** The option values of `command` keyed like the settings table; a switch given reads as `true`. */
function settingsFlags(command: Command, table: Record<string, { flag: string }>): Record<string, string | undefined> {
  const opts = command.opts<Record<string, string | boolean | undefined>>();
  const flags: Record<string, string | undefined> = {};
  for (const [key, setting] of Object.entries(table)) {
    const value = opts[camelCase(setting.flag)];
    flags[key] = value === true ? 'true' : value === false ? undefined : value;
  }
  return flags;
}

/**
 * `cluster up`'s options that come from the apps' settings: the Redis door's port, the storage
 * nodes' durability and the auth file (checked here, so a bad file stops `cluster up` before any
 * process starts, with the field at fault).
 */
function addClusterUpSettings(
  up: Command,
  { respSettings, durabilitySettings, authSettings, loadAuthFile, AuthFileError }: ClusterUpSettings,
): void {
  up.addOption(
    new Option(
      `--${respSettings.respPort.flag} <port>`,
      `${respSettings.respPort.description}; the coordinator's, with --topology nodes the first node's`,
    )
      .env(respSettings.respPort.env)
      .default(Number(respSettings.respPort.defaultValue))
      .argParser(wholeNumber(0, 65535)),
  )
    .addOption(passedToNodes(durabilitySettings.dataDir, '<dir>'))
    .addOption(passedToNodes(durabilitySettings.fsync, '<policy>'))
    .addOption(
      new Option(`--${authSettings.authFile.flag} <file>`, authSettings.authFile.description)
        .env(authSettings.authFile.env)
        .argParser((path: string) => {
          try {
            loadAuthFile(path);
          } catch (error) {
            if (error instanceof AuthFileError) throw new InvalidArgumentError(error.message);
            throw error;
          }
          return path;
        }),
    );
}

/**
 * Lets each command of `prepare` declare options loaded on demand: its preparation runs (once)
 * before `parent` hands it its arguments, whether to run it or to show its help. `parent`'s
 * implicit `help <command>` shows a command's help without that hook, so it is replaced by one
 * that prepares the command first.
 */
function optionsOnDemand(parent: Command, prepare: ReadonlyMap<Command, () => Promise<void>>): void {
  const prepared = new Map<Command, Promise<void>>();
  const ready = async (command: Command | undefined): Promise<void> => {
    const preparation = command === undefined ? undefined : prepare.get(command);
    if (command === undefined || preparation === undefined) return;
    if (!prepared.has(command)) prepared.set(command, preparation());
    await prepared.get(command);
  };
  parent.hook('preSubcommand', async (_parent, dispatched) => ready(dispatched));
  parent.helpCommand(false);
  parent
    .command('help [command]')
    .description('display help for command')
    .action(async (name: string | undefined) => {
      const target =
        name === undefined ? undefined : parent.commands.find((command) => command.name() === name || command.aliases().includes(name));
      if (target === undefined) return parent.help({ error: name !== undefined });
      await ready(target);
      target.help();
    });
}

/**
 * `cluster up`, `node` and `coordinator`: the commands that start processes. Their options come
 * from the apps' settings, loaded on demand (see `CliDeps.settings`); `cluster up` is prepared
 * here, and the preparations of `node` and `coordinator` are handed back for the program's
 * {@link optionsOnDemand}, called once every command is registered.
 */
function registerProcessCommands(program: Command, deps: CliDeps): ReadonlyMap<Command, () => Promise<void>> {
  const settings = deps.settings ?? PROCESS_SETTINGS;
  const cluster = program.command('cluster').description('run a whole local cluster');
  const up = cluster
    .command('up')
    .description('start storage nodes and a coordinator on 127.0.0.1 and wait for SIGINT/SIGTERM (what `npm start` runs)')
    .addOption(new Option('--nodes <n>', 'storage nodes to start').env('DKV_NODES').default(3).argParser(wholeNumber(1, 64)))
    .addOption(
      new Option('--port <port>', "coordinator port (0 picks a free one); with --topology nodes, the first node's")
        .env('DKV_PORT')
        .default(7070)
        .argParser(wholeNumber(0, 65535)),
    )
    .addOption(
      new Option(
        '--topology <topology>',
        'coordinator: storage nodes behind one stateless coordinator; nodes: no coordinator, every node serves the public API and coordinates',
      )
        .env('DKV_TOPOLOGY')
        .default('coordinator')
        .choices(TOPOLOGIES),
    )
    .addOption(
      new Option('--log-level <level>', 'log level of the processes (their logs go to stderr)')
        .env('DKV_LOG_LEVEL')
        .default('warn')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    )
    .addOption(
      new Option('--ready-timeout-ms <ms>', 'how long to wait for every process to be ready')
        .env('DKV_READY_TIMEOUT_MS')
        .default(30_000)
        .argParser(wholeNumber(1, 600_000)),
    )
    .addOption(
      new Option('--zones <k>', 'spread the nodes round-robin over k zones named z1..zk (default: one zone)')
        .env('DKV_ZONES')
        .argParser(wholeNumber(1, 64)),
    )
    .addOption(
      new Option(
        '--tls',
        'development TLS: make a CA and a certificate per process (under <data-dir>/tls, else a new temporary directory), serve https:// and rediss://, mutual TLS between processes; prints "dkv tls ca at <path>" for clients to trust. Not for production',
      ).env('DKV_CLUSTER_TLS'),
    )
    .action(
      async (opts: {
        nodes: number;
        port: number;
        respPort: number;
        topology: Topology;
        logLevel: string;
        readyTimeoutMs: number;
        dataDir?: string;
        fsync: string;
        zones?: number;
        authFile?: string;
        tls?: boolean;
      }) => {
        if (opts.zones !== undefined && opts.zones > opts.nodes) {
          deps.err(`dkv: --zones (${opts.zones}) must be at most --nodes (${opts.nodes}): every zone needs a node\n`);
          deps.exit(2);
          return;
        }
        const durability = opts.dataDir === undefined ? {} : { dataDir: opts.dataDir, fsync: opts.fsync };
        const zones = opts.zones === undefined ? {} : { zones: opts.zones };
        const auth = opts.authFile === undefined ? {} : { authFile: resolve(opts.authFile) };
        const tls = opts.tls === true ? { tls: true } : {};
        deps.exit(
          await deps.clusterUp({
            nodes: opts.nodes,
            port: opts.port,
            respPort: opts.respPort,
            topology: opts.topology,
            logLevel: opts.logLevel,
            readyTimeoutMs: opts.readyTimeoutMs,
            ...durability,
            ...zones,
            ...auth,
            ...tls,
          }),
        );
      },
    );
  optionsOnDemand(cluster, new Map([[up, async () => addClusterUpSettings(up, await settings.clusterUp())]]));

  const node = processCommand(
    program,
    deps,
    'node',
    'run one storage node in the foreground',
    () => settings.node(),
    (config) => deps.runNode(config),
  );
  const coordinator = processCommand(
    program,
    deps,
    'coordinator',
    'run one coordinator in the foreground',
    () => settings.coordinator(),
    (config) => deps.runCoordinator(config),
  );
  return new Map([node, coordinator]);
}

/** What {@link processCommand} needs of an app's settings: its table, parser and process logger. */
interface AppSettings<C> {
  readonly settings: Parameters<typeof addSettings>[1];
  parse(flags: Record<string, string | undefined>, env: Readonly<Record<string, string | undefined>>): C;
  readonly ConfigError: abstract new (...args: never[]) => Error;
  readonly processLogger: NodeSettings['processLogger'];
}

/**
 * `dkv node` or `dkv coordinator`: one process in the foreground, its options the app's settings
 * (loaded on demand; the preparation is handed back for {@link optionsOnDemand}). Its standard
 * error is a log stream from the first line: bad configuration and commander's own usage errors
 * (an unknown flag, a missing value) are JSON lines of the process logger at level fatal, with
 * the process's id when the flags or `DKV_NODE_ID` gave one (else null), before exit code 2.
 */
function processCommand<C>(
  program: Command,
  deps: CliDeps,
  name: 'node' | 'coordinator',
  description: string,
  load: () => Promise<AppSettings<C>>,
  run: (config: C) => Promise<void>,
): [Command, () => Promise<void>] {
  const command = program.command(name).description(description).showHelpAfterError(false);
  let loaded: AppSettings<C> | null = null;
  const fatal = (message: string): void => {
    const id = (command.getOptionValue('id') as string | undefined) ?? deps.env['DKV_NODE_ID'] ?? null;
    loaded!.processLogger('info', { [name]: id }, { write: (line) => deps.err(line) }).fatal(message);
  };
  command.configureOutput({
    outputError: (message) => fatal(`${message.replace(/^error: /, '').trim()} (dkv ${name} --help lists the settings)`),
  });
  command.action(async () => {
    const { settings: table, parse, ConfigError } = loaded!;
    let config: C;
    try {
      config = parse(settingsFlags(command, table), deps.env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      fatal(error.message);
      return deps.exit(EXIT_USAGE);
    }
    await run(config);
  });
  const prepare = async (): Promise<void> => {
    loaded = await load();
    addSettings(command, loaded.settings);
  };
  return [command, prepare];
}

/**
 * The `dkv` command line (API.md): `cluster up`, `node`, `coordinator`, `status`, `ring`.
 * Usage errors and bad configuration exit 2 with a message naming the setting.
 */
export function buildProgram(deps: CliDeps): Command {
  const program = new Command('dkv')
    .description('dkv: a Dynamo-style distributed key-value store for sessions with TTLs')
    .exitOverride()
    .configureOutput({ writeOut: (s) => deps.out(s), writeErr: (s) => deps.err(s) })
    .showHelpAfterError();

  const onDemand = registerProcessCommands(program, deps);

  const status = program
    .command('status')
    .description("the cluster's nodes and their states")
    .addOption(urlOption())
    .addOption(jsonOption());
  for (const option of credentialOptions()) status.addOption(option);
  status.action(async (opts: { url: string; json?: boolean | string; user?: string; password?: string; tlsCa?: string }) => {
    await report(deps, 'status', opts.url, async () => {
      const cluster = await deps.fetchCluster(opts.url, credentialsFrom(opts), tlsCaFrom(opts));
      return isJson(opts.json) ? JSON.stringify(cluster) : formatStatus(cluster);
    });
  });
  const ring = program
    .command('ring')
    .description("each node's share of the ring, keys and bytes; or a preview of adding or removing nodes")
    .addOption(urlOption());
  for (const option of credentialOptions()) ring.addOption(option);
  ring
    .addOption(new Option('--preview-add <count>', 'preview adding this many nodes (nothing changes)').argParser(wholeNumber(1, 1000)))
    .addOption(new Option('--preview-vnodes <count>', 'virtual nodes of the previewed new nodes').argParser(wholeNumber(1, 65_536)))
    .addOption(new Option('--preview-remove <ids>', 'preview removing these nodes, comma-separated (nothing changes)'))
    .addOption(jsonOption())
    .action(
      async (opts: {
        url: string;
        previewAdd?: number;
        previewVnodes?: number;
        previewRemove?: string;
        json?: boolean | string;
        user?: string;
        password?: string;
        tlsCa?: string;
      }) => {
        if (opts.previewAdd === undefined && opts.previewRemove === undefined) {
          await report(deps, 'ring', opts.url, async () => {
            const credentials = credentialsFrom(opts);
            const tlsCa = tlsCaFrom(opts);
            const [cluster, distribution] = await Promise.all([
              deps.fetchCluster(opts.url, credentials, tlsCa),
              deps.fetchDistribution(opts.url, credentials, tlsCa),
            ]);
            if (isJson(opts.json))
              return JSON.stringify({
                nodes: distribution.map((e) => ({ ...e, zone: cluster.nodes.find((n) => n.id === e.id)?.zone ?? null })),
              });
            const zones = cluster.nodes.some((node) => node.zone !== undefined)
              ? new Map(cluster.nodes.map((node) => [node.id, node.zone ?? '-']))
              : undefined;
            return formatRing(distribution, zones);
          });
          return;
        }
        const plan = {
          add: opts.previewAdd ?? 0,
          remove: (opts.previewRemove ?? '')
            .split(',')
            .map((id) => id.trim())
            .filter((id) => id.length > 0),
          ...(opts.previewVnodes === undefined ? {} : { addVnodes: opts.previewVnodes }),
        };
        await report(deps, 'ring', opts.url, async () => {
          const credentials = credentialsFrom(opts);
          const tlsCa = tlsCaFrom(opts);
          const [cluster, distribution] = await Promise.all([
            deps.fetchCluster(opts.url, credentials, tlsCa),
            deps.fetchDistribution(opts.url, credentials, tlsCa),
          ]);
          const preview = previewRingChange(cluster, distribution, plan);
          return isJson(opts.json) ? JSON.stringify(preview) : formatRingPreview(preview);
        });
      },
    );
  // Credentials go into every admin request in one place: the options of the command being run.
  let adminOptions: { user?: string; password?: string; tlsCa?: string } = {};
  const http: AdminHttp = (request) => {
    const credentials = credentialsFrom(adminOptions);
    const tlsCa = tlsCaFrom(adminOptions);
    return deps.http({ ...request, ...(credentials === undefined ? {} : { credentials }), ...(tlsCa === undefined ? {} : { tlsCa }) });
  };
  const before = new Set(program.commands);
  registerAdminCommands(program, {
    http,
    out: deps.out,
    err: deps.err,
    exit: deps.exit,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  for (const command of program.commands.filter((c) => !before.has(c))) {
    for (const option of credentialOptions()) command.addOption(option);
    command.hook('preAction', (_command, action) => {
      adminOptions = action.opts();
    });
  }
  optionsOnDemand(program, onDemand);
  return program;
}

function isJson(flag: boolean | string | undefined): boolean {
  return flag === true || (typeof flag === 'string' && !['', '0', 'false'].includes(flag.toLowerCase()));
}

/** Prints what `render` produced; a failure exits 3 when the coordinator was unreachable, else 1. */
async function report(deps: CliDeps, name: string, url: string, render: () => Promise<string>): Promise<void> {
  try {
    deps.out(`${await render()}\n`);
  } catch (error) {
    deps.err(`dkv ${name}: ${url}: ${error instanceof Error ? error.message : String(error)}\n`);
    deps.exit(error instanceof AdminHttpError ? error.exitCode : EXIT_FAILED);
  }
}

/** GETs a read-only admin `path` through {@link adminRequest} (role `read` when authentication is on). */
function readAdmin(url: string, path: string, credentials?: AdminCredentials, tlsCa?: Buffer): Promise<unknown> {
  return adminRequest({
    url,
    method: 'GET',
    path,
    ...(credentials === undefined ? {} : { credentials }),
    ...(tlsCa === undefined ? {} : { tlsCa }),
  });
}

/** Reads `/v1/cluster` (role `read` when authentication is on). */
export async function fetchCluster(
  url: string,
  credentials?: AdminCredentials,
  tlsCa?: Buffer,
): Promise<Parameters<typeof formatStatus>[0]> {
  return (await readAdmin(url, '/v1/cluster', credentials, tlsCa)) as Parameters<typeof formatStatus>[0];
}

/** Reads `/v1/cluster/distribution` (role `read` when authentication is on). */
export async function fetchDistribution(
  url: string,
  credentials?: AdminCredentials,
  tlsCa?: Buffer,
): Promise<Parameters<typeof formatRing>[0]> {
  return (await readAdmin(url, '/v1/cluster/distribution', credentials, tlsCa)) as Parameters<typeof formatRing>[0];
}
