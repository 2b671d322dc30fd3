/**
 * Where a process's CPU went, from the `.cpuprofile` files that `node --cpu-prof` writes on exit:
 * self time by function and by category (a dkv package, an npm dependency, a Node.js subsystem,
 * the garbage collector), as shares of the non-idle time sampled.
 *
 * Also a command: `npx tsx benchmarks/lib/cpuprofile.ts <file.cpuprofile>...` prints the tables.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PidGroup } from './measure.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** One row of a summary: a name, its self time and its share of the non-idle time. */
export interface ProfileRow {
  readonly name: string;
  readonly selfMs: number;
  readonly share: number;
}

/** The summary of one process's profile. */
export interface ProfileSummary {
  readonly label: string;
  readonly file: string;
  /** Non-idle time sampled, in ms. */
  readonly totalMs: number;
  readonly byCategory: readonly ProfileRow[];
  readonly topFunctions: readonly ProfileRow[];
}

/** The category of a frame: a dkv package or app, an npm package, a Node.js subsystem, or a V8 pseudo-frame. */
export function categoryOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native / V8 builtins)';
  const dkv = /\/(packages|apps)\/([^/]+)\//.exec(url);
  if (dkv && !url.includes('node_modules')) return dkv[1] === 'apps' ? `app ${dkv[2]}` : `@dkv/${dkv[2]}`;
  const npm = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(url);
  if (npm?.[1]) return `npm ${npm[1]}`;
  const internal = /^node:(?:internal\/)?([^/]+)/.exec(url);
  if (internal?.[1]) return `node:${internal[1].replace(/\.js$/, '').replace(/_.*$/, '')}`;
  return url;
}

function shortUrl(url: string): string {
  const parts = url.replace(/^file:\/\//, '').split('/');
  return parts.slice(-2).join('/');
}

/** Summarizes one `.cpuprofile`: self time by category and the `top` functions. */
export function summarizeProfile(file: string, label: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    totalUs += us;
    const category = categoryOf(node.callFrame);
    categories.set(category, (categories.get(category) ?? 0) + us);
    const { functionName, url, lineNumber } = node.callFrame;
    const fn =
      url === '' ? functionName || '(anonymous)' : `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1} [${category}]`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const rows = (m: Map<string, number>, limit: number): ProfileRow[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: totalUs > 0 ? us / totalUs : 0 }));
  return { label, file, totalMs: totalUs / 1000, byCategory: rows(categories, 20), topFunctions: rows(functions, top) };
}

/** Summaries of the profiles in `dir` of the coordinator and the first storage node (by pid, from the file names). */
export function summarizeProfiles(dir: string, groups: readonly PidGroup[]): ProfileSummary[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  // CPU.<pid>.cpuprofile (the preload) or CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile (--cpu-prof).
  const pidOf = (f: string): number => {
    const parts = f.split('.');
    return Number(parts.length === 3 ? parts[1] : parts[3]);
  };
  const summaries: ProfileSummary[] = [];
  for (const [group, label] of [
    ['coordinator', 'coordinator'],
    ['nodes', 'storage node'],
  ] as const) {
    const pids = groups.find((g) => g.name === group)?.pids ?? [];
    const file = files.find((f) => pids.includes(pidOf(f)));
    if (file) summaries.push(summarizeProfile(join(dir, file), `${label} (pid ${pidOf(file)})`));
  }
  return summaries;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const file of process.argv.slice(2)) {
    const s = summarizeProfile(file, basename(file), 30);
    process.stdout.write(`\n${s.label}: ${(s.totalMs / 1000).toFixed(1)} s non-idle\n`);
    for (const r of s.byCategory) process.stdout.write(`  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.name}\n`);
    process.stdout.write('\n');
    for (const r of s.topFunctions) process.stdout.write(`  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.name}\n`);
  }
}
