// Goal: the image of deploy/docker/Dockerfile starts, serves its health check, runs as a non-root
// user and stops cleanly on SIGTERM (issue #14's proof: "the image's start command, user and
// signal handling checked by running the same entry point outside a container"; Docker is not
// available here). Also that the Dockerfile keeps its promises on paper: multi-stage, a runtime
// stage that takes only built output from the others, exec-form commands (signals reach tini,
// not a shell), a numeric non-root USER, the ports and volume its ENV names.
// Method: parse the Dockerfile's final stage; run ENTRYPOINT + CMD from the repository root (the
// image's WORKDIR /app holds the same tree: package.json files, dist, bin) with the image's ENV,
// where three values are changed for a shared machine and said so: DKV_HOST 127.0.0.1 instead of
// 0.0.0.0, free ports instead of 7000/6379, a temporary directory as the VOLUME; plus what a
// `docker run` must give (DKV_NODE_ID) and N=W=R=1 so one node can serve. As root, the process
// runs as the image's USER by `setpriv` (tini and setpriv come from Debian packages that
// tools/ensure-debian-tools.sh installs, or names the command to install them). The HEALTHCHECK's
// own command is run and must pass, then SIGTERM goes to tini (PID 1 in the container) and the
// whole must exit 0; afterwards the same health check must fail.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianTools, freePort, waitUntil } from './e2e-support.js';
import { REPO_ROOT, imageRuntime, readDockerfile, type ImageRuntime } from './deploy-support.js';

const DEADLINE_MS = 60_000;
const stages = readDockerfile();
const runtime: ImageRuntime = imageRuntime(stages[stages.length - 1]!);
const [uid, gid] = (runtime.user ?? '').split(':').map(Number) as [number, number];
const asRoot = process.getuid?.() === 0;

let dataDir = '';
let env: Record<string, string> = {};
let child: ChildProcess | null = null;
let stderr = '';
let httpPort = 0;

/** The prefix that runs a command as the image's USER (only root can switch; otherwise this test's own non-root user). */
function asImageUser(): string[] {
  return asRoot ? ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'] : [];
}

function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return waitUntil(what, probe, { deadlineMs: DEADLINE_MS, context: () => `stderr:\n${stderr}` });
}

/** The pids whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        return /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

function healthCheck(): number {
  const [command, ...args] = [...asImageUser(), ...runtime.healthcheck!.command];
  return spawnSync(command!, args, { cwd: REPO_ROOT, env, timeout: 10_000 }).status ?? -1;
}

/** Directories on the checkout's path opened for the image's user, with their modes to put back. */
const reopened: Array<{ dir: string; mode: number }> = [];

beforeAll(async () => {
  ensureDebianTools(['tini', ...(asRoot ? ['setpriv:util-linux'] : [])]);
  dataDir = mkdtempSync(join(tmpdir(), 'dkv-image-data-'));
  if (asRoot) {
    chownSync(dataDir, uid, gid);
    // The image's user must reach the checkout as it reaches /app in the image: a directory on its
    // path closed to others (a mode-700 temporary directory, the checkout's own root included when
    // it was cloned straight into one) gets search access (o+x) for the test, and its mode back
    // afterwards.
    for (let dir = REPO_ROOT; ; dir = dirname(dir)) {
      const mode = statSync(dir).mode & 0o7777;
      if ((mode & 0o001) === 0) {
        chmodSync(dir, mode | 0o001);
        reopened.push({ dir, mode });
      }
      if (dirname(dir) === dir) break;
    }
  }
  httpPort = await freePort();
  env = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    ...runtime.env,
    DKV_HOST: '127.0.0.1',
    DKV_PORT: String(httpPort),
    DKV_RESP_PORT: String(await freePort()),
    DKV_DATA_DIR: dataDir,
    DKV_NODE_ID: 'img1',
    DKV_N: '1',
    DKV_W: '1',
    DKV_R: '1',
    DKV_LOG_LEVEL: 'info',
  };
});

afterAll(() => {
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    for (const pid of childrenOf(child.pid)) process.kill(pid, 'SIGKILL');
    child.kill('SIGKILL');
  }
  if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true });
  for (const { dir, mode } of reopened.splice(0)) chmodSync(dir, mode);
});

describe('the Dockerfile', () => {
  it('builds in stages and its runtime stage takes only what the other stages made', () => {
    expect(stages.map((stage) => stage.name)).toEqual(['build', 'deps', 'runtime']);
    const runtimeStage = stages[2]!;
    const copies = runtimeStage.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) expect(copy.flags.from, `runtime ${copy.keyword} ${copy.rest} must copy --from a stage`).toBeDefined();
    // The deps stage installs production dependencies only.
    expect(stages[1]!.instructions.some((i) => i.keyword === 'RUN' && /npm ci --omit=dev/.test(i.rest))).toBe(true);
  });

  it('runs as a numeric non-root user, under tini, exposing the ports and the volume its settings use', () => {
    expect(runtime.user).toMatch(/^\d+:\d+$/);
    expect(uid).toBeGreaterThan(0);
    expect(runtime.entrypoint[0]).toBe('/usr/bin/tini');
    expect(runtime.entrypoint.at(-1)).toBe('--');
    expect(runtime.cmd.slice(0, 4)).toEqual(['node', 'apps/cli/bin/dkv.js', 'node', '--coordinate']);
    expect(runtime.workdir).toBe('/app');
    expect([...runtime.expose].sort()).toEqual([Number(runtime.env.DKV_PORT), Number(runtime.env.DKV_RESP_PORT)].sort());
    expect(runtime.volumes).toEqual([runtime.env.DKV_DATA_DIR]);
    expect(runtime.env.DKV_HOST).toBe('0.0.0.0');
    expect(runtime.healthcheck?.command.join(' ')).toContain('/livez');
  });
});

describe("the image's entry point, run outside a container", () => {
  it('starts as the image user, passes its HEALTHCHECK, and exits 0 on SIGTERM', async () => {
    // The image gives its user /app; here the checkout must be readable by that uid, or the
    // process dies at once and the wait below would only time out. Say so instead.
    if (asRoot) {
      const entry = join(REPO_ROOT, 'apps/cli/bin/dkv.js');
      const probe = spawnSync(asImageUser()[0]!, [...asImageUser().slice(1), 'test', '-r', entry]);
      if (probe.status !== 0)
        throw new Error(
          `uid ${uid} (the image's user) cannot read ${entry}: give it read and search access along the checkout's path (e.g. chmod o+rx on each directory), as the image gives /app`,
        );
    }
    const [command, ...args] = [...asImageUser(), ...runtime.entrypoint, ...runtime.cmd];
    child = spawn(command!, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${httpPort}`;
    await waitFor('/readyz to answer 200', async () => {
      const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      return res.status === 200 ? true : undefined;
    });
    // tini (the spawned pid, as setpriv execs it) runs node as its child, both as the image's user.
    const tini = child.pid!;
    const [nodePid] = childrenOf(tini);
    expect(nodePid, 'tini must run node as its child').toBeDefined();
    if (asRoot) {
      expect(uidOf(tini)).toBe(uid);
      expect(uidOf(nodePid!)).toBe(uid);
      expect(statSync(join(dataDir, 'img1')).uid).toBe(uid);
    }
    const put = await fetch(`${base}/v1/kv/image-check`, { method: 'PUT', body: 'v', signal: AbortSignal.timeout(5000) });
    expect(put.status).toBe(200);
    expect(healthCheck()).toBe(0);

    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), DEADLINE_MS))]);
    expect(code, `exit code after SIGTERM; stderr:\n${stderr}`).toBe(0);
    expect(stderr).toContain('SIGTERM, stopping');
    expect(healthCheck()).not.toBe(0);
  });
});
