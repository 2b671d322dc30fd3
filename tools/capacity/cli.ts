/**
 * The capacity command without its process: arguments and a file reader in, the document or an
 * error message out. The whole document is built before anything is written, so a bad input
 * leaves stdout empty (and exit code 1) rather than a half-written docs/capacity.md.
 */
// benchmarks/ is not an Nx project, so the rule cannot place this import; the helpers are the ones the
// benchmark reports use, shared so that the capacity document reads like them.
// eslint-disable-next-line @nx/enforce-module-boundaries -- see above
import { parseFlags } from '../../benchmarks/lib/args.js';
import { capacityModel, DEFAULT_CAPACITY_OPTIONS, type CapacityOptions } from './model.js';
import { renderCapacity } from './render.js';
import { parseRespFloorRun, parseRespRun, renderRespCapacity, renderRespFloor, respCapacity } from './resp.js';
import { parseHttpRun, parseMemoryRun } from './results.js';

/** What the command touches outside itself: the real process passes fs and the standard streams. */
export interface CapacityIo {
  /** The text of `path`; throws (as `readFileSync` does) when it cannot be read. */
  readonly readFile: (path: string) => string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** The command line, printed on `--help` and with any argument it cannot use. */
export const USAGE = `usage: npx tsx tools/capacity.ts <http-result.json> <memory-result.json> [--reads 1000000] [--writes 200000]
       [--sessions 50000000] [--utilisation 0.5] [--machine-cores 16] [--machine-memory-gib 64] [--memory-fill 0.7]
       [--resp <resp-result.json>] [--resp-floor <resp-floor-result.json>]`;

/** Each flag, the option it sets, and the values that make sense beyond parseFlags' "a number >= 0". */
const FLAGS: ReadonlyArray<{
  readonly flag: string;
  readonly option: keyof CapacityOptions;
  readonly valid: (value: number) => boolean;
  readonly rule: string;
}> = [
  { flag: 'reads', option: 'readsPerSecond', valid: () => true, rule: '' },
  { flag: 'writes', option: 'writesPerSecond', valid: () => true, rule: '' },
  { flag: 'sessions', option: 'sessions', valid: () => true, rule: '' },
  {
    flag: 'utilisation',
    option: 'utilisation',
    valid: (v) => v > 0 && v < 1,
    rule: 'must be above 0 and below 1 (the share of each core planned to be busy)',
  },
  {
    flag: 'machine-cores',
    option: 'machineCores',
    valid: (v) => Number.isInteger(v) && v >= 1,
    rule: 'must be a whole number of cores, at least 1',
  },
  { flag: 'machine-memory-gib', option: 'machineMemoryGiB', valid: (v) => v > 0, rule: 'must be above 0' },
  {
    flag: 'memory-fill',
    option: 'memoryFill',
    valid: (v) => v > 0 && v <= 1,
    rule: 'must be above 0 and at most 1 (the share of memory planned to hold sessions)',
  },
];

/** Takes `--<name> <path>` out of `args` (parseFlags takes numbers only): the path or null, and the rest. */
function takePathFlag(args: readonly string[], name: string, what: string): { path: string | null; rest: string[] } {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return { path: null, rest: [...args] };
  const path = args[at + 1] ?? '';
  if (path === '' || path.startsWith('--')) throw new Error(`--${name} needs the path of ${what}\n${USAGE}`);
  return { path, rest: [...args.slice(0, at), ...args.slice(at + 2)] };
}

/** The result files and the options of a command line (without node and script); throws on anything wrong. */
export function parseCapacityArgs(argv: readonly string[]): {
  httpFile: string;
  memoryFile: string;
  respFile: string | null;
  respFloorFile: string | null;
  options: CapacityOptions;
} {
  const [httpFile, memoryFile, ...afterFiles] = argv;
  const resp = takePathFlag(afterFiles, 'resp', 'a Redis benchmark result');
  const floor = takePathFlag(resp.rest, 'resp-floor', 'a floor benchmark result (npm run bench:resp-floor)');
  const rest = floor.rest;
  const respFile = resp.path;
  if (!httpFile || !memoryFile || httpFile.startsWith('--') || memoryFile.startsWith('--')) throw new Error(USAGE);
  const flags = parseFlags(rest, Object.fromEntries(FLAGS.map(({ flag }) => [flag, 'number'])), USAGE);
  const options: { -readonly [K in keyof CapacityOptions]: CapacityOptions[K] } = { ...DEFAULT_CAPACITY_OPTIONS };
  for (const { flag, option, valid, rule } of FLAGS) {
    const value = flags[flag];
    if (typeof value !== 'number') continue;
    if (!valid(value)) throw new Error(`--${flag} ${rule}, got ${value}`);
    options[option] = value;
  }
  return { httpFile, memoryFile, respFile, respFloorFile: floor.path, options };
}

/** Runs the command: writes the document to `io.stdout` and returns 0, or writes one error to `io.stderr` and returns 1. */
export function runCapacity(argv: readonly string[], io: CapacityIo): number {
  try {
    const { httpFile, memoryFile, respFile, respFloorFile, options } = parseCapacityArgs(argv);
    const http = parseHttpRun(readJson(io, httpFile), httpFile);
    const memory = parseMemoryRun(readJson(io, memoryFile), memoryFile);
    const resp = respFile === null ? null : parseRespRun(readJson(io, respFile), respFile);
    const floor = respFloorFile === null ? null : parseRespFloorRun(readJson(io, respFloorFile), respFloorFile);
    const sections = [renderCapacity(capacityModel(http, memory, options), { http, memory, args: argv })];
    if (resp !== null) sections.push(renderRespCapacity(resp, respCapacity(resp, options), options));
    if (floor !== null) sections.push(renderRespFloor(floor, options));
    io.stdout(sections.length === 1 ? sections[0]! : `${sections.map((s) => s.trimEnd()).join('\n\n')}\n`);
    return 0;
  } catch (error) {
    io.stderr(`capacity: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

function readJson(io: CapacityIo, path: string): unknown {
  let text: string;
  try {
    text = io.readFile(path);
  } catch (error) {
    throw new Error(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`${path} is not JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
