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
import { parseRespRun, renderRespCapacity, respCapacity } from './resp.js';
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
       [--resp <resp-result.json>]`;

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

/** The two result files and the options of a command line (without node and script); throws on anything wrong. */
export function parseCapacityArgs(argv: readonly string[]): {
  httpFile: string;
  memoryFile: string;
  respFile: string | null;
  options: CapacityOptions;
} {
  const [httpFile, memoryFile, ...afterFiles] = argv;
  // --resp takes a path, which parseFlags (numbers) does not: it is taken out first.
  const respAt = afterFiles.indexOf('--resp');
  const respFile = respAt >= 0 ? (afterFiles[respAt + 1] ?? '') : null;
  if (respFile !== null && (respFile === '' || respFile.startsWith('--')))
    throw new Error(`--resp needs the path of a Redis benchmark result\n${USAGE}`);
  const rest = respAt >= 0 ? [...afterFiles.slice(0, respAt), ...afterFiles.slice(respAt + 2)] : afterFiles;
  if (!httpFile || !memoryFile || httpFile.startsWith('--') || memoryFile.startsWith('--')) throw new Error(USAGE);
  const flags = parseFlags(rest, Object.fromEntries(FLAGS.map(({ flag }) => [flag, 'number'])), USAGE);
  const options: { -readonly [K in keyof CapacityOptions]: CapacityOptions[K] } = { ...DEFAULT_CAPACITY_OPTIONS };
  for (const { flag, option, valid, rule } of FLAGS) {
    const value = flags[flag];
    if (typeof value !== 'number') continue;
    if (!valid(value)) throw new Error(`--${flag} ${rule}, got ${value}`);
    options[option] = value;
  }
  return { httpFile, memoryFile, respFile, options };
}

/** Runs the command: writes the document to `io.stdout` and returns 0, or writes one error to `io.stderr` and returns 1. */
export function runCapacity(argv: readonly string[], io: CapacityIo): number {
  try {
    const { httpFile, memoryFile, respFile, options } = parseCapacityArgs(argv);
    const http = parseHttpRun(readJson(io, httpFile), httpFile);
    const memory = parseMemoryRun(readJson(io, memoryFile), memoryFile);
    const resp = respFile === null ? null : parseRespRun(readJson(io, respFile), respFile);
    const document = renderCapacity(capacityModel(http, memory, options), { http, memory, args: argv });
    io.stdout(resp === null ? document : `${document.trimEnd()}\n\n${renderRespCapacity(resp, respCapacity(resp, options), options)}`);
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
