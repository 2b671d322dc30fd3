import { z } from 'zod';
import { intSchema, type Setting } from './settings.js';

/** The fsync policy as parsed: the shape `DurableStorageEngine` takes (`@dkv/storage`'s `FsyncPolicy`). */
export type FsyncSetting =
  { readonly mode: 'always' } | { readonly mode: 'interval'; readonly intervalMs: number } | { readonly mode: 'never' };

/**
 * The default `--fsync`: every 100 ms. A crash of the process loses nothing acknowledged under
 * any policy (a write is in the log before it is answered); a power cut of the machine loses at
 * most the last 100 ms of this replica's writes, which its other replicas hold and anti-entropy
 * brings back. `always` closes that window at the price of an fsync (about 10 ms on the virtual
 * disks this was measured on) in every write's latency.
 */
export const DEFAULT_FSYNC = '100';

/**
 * The default `--merge-min-bytes`: 64 MiB (the durable engine's own default). A small log is not
 * worth merging; tests set it low to make merges happen.
 */
export const DEFAULT_MERGE_MIN_BYTES = String(64 * 1024 * 1024);

const fsyncSchema: z.ZodType<FsyncSetting, string> = z.string().transform((text, ctx) => {
  const trimmed = text.trim();
  if (trimmed === 'always' || trimmed === 'never') return { mode: trimmed };
  const intervalMs = Number(trimmed);
  if (/^\d+$/.test(trimmed) && Number.isSafeInteger(intervalMs) && intervalMs >= 1 && intervalMs <= 60_000)
    return { mode: 'interval', intervalMs };
  ctx.addIssue({ code: 'custom', message: 'must be always, never, or an interval in milliseconds from 1 to 60000' });
  return z.NEVER;
});

const dataDirSchema: z.ZodType<string, string> = z.string().transform((text, ctx) => {
  if (text.trim() === '' || text.includes('\0')) {
    ctx.addIssue({ code: 'custom', message: 'must be a directory path' });
    return z.NEVER;
  }
  return text;
});

/**
 * Where a storage node keeps its data and how hard it pushes it to disk: the flags of
 * `dkv node` and `dkv cluster up` (which hands them to each node it starts), defined once. A
 * node's files go under `<data-dir>/<node id>`; without `--data-dir` it keeps its data in memory
 * only.
 */
export const DURABILITY_SETTINGS = {
  dataDir: {
    flag: 'data-dir',
    env: 'DKV_DATA_DIR',
    description: 'keep the data on disk under <dir>/<node id>, to survive restarts (default: in memory only)',
    schema: dataDirSchema,
  },
  mergeMinBytes: {
    flag: 'merge-min-bytes',
    env: 'DKV_MERGE_MIN_BYTES',
    defaultValue: DEFAULT_MERGE_MIN_BYTES,
    description:
      'with --data-dir: a log smaller than this is never merged; above it, a merge starts once the log holds 1.5x the bytes of the live records',
    schema: intSchema(0, 2 ** 40),
  },
  fsync: {
    flag: 'fsync',
    env: 'DKV_FSYNC',
    defaultValue: DEFAULT_FSYNC,
    description:
      'with --data-dir: always (fsync before each acknowledgement, one fsync per batch of concurrent writes), an interval in ms (fsync in the background; a power cut loses at most that window on this replica), or never (the OS decides)',
    schema: fsyncSchema,
  },
} satisfies Record<string, Setting<unknown>>;
