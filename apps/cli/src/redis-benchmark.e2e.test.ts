// Goal: redis-benchmark, Redis's own load tool, runs against dkv's Redis door unchanged (issue 11,
// Proof; API.md names it among the clients that work): its SET and GET tests complete with no error
// and the data it wrote is there, read back over HTTP. It also exercises what redis-benchmark does
// before its tests (CONFIG GET of save and appendonly) and 50 pipelining-free connections at once.
// Method: `dkv cluster up --nodes 3` from the built CLI on 127.0.0.1 (N=3 W=2 R=2);
// `redis-benchmark -t get,set -n 2000 -q` against the `dkv redis at` port; its exit code, its
// output (a requests-per-second line per test, no error line) and the key it writes
// (`key:__rand_int__`, a 3-byte value without -r and -d) are checked. Speed is not asserted
// (benchmarks/resp measures it). redis-benchmark comes from Debian's redis-tools, installed by
// tools/ensure-debian-tools.sh (or it fails with the command to run). Every process is stopped by pid.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses, ensureDebianTools, REDIS_TOOLS } from './e2e-support.js';

const DEADLINE_MS = 45_000;
const cli = new CliProcesses({ ...process.env, DKV_LOG_LEVEL: 'warn' }, DEADLINE_MS);

beforeAll(async () => {
  ensureDebianTools(REDIS_TOOLS);
  await cli.readyUrl(cli.start(['cluster', 'up', '--nodes', '3', '--port', '0', '--resp-port', '0']));
}, 600_000);

afterAll(async () => {
  await cli.stopAll();
}, 30_000);

function redisBenchmark(port: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'redis-benchmark',
      ['-h', '127.0.0.1', '-p', String(port), '-t', 'get,set', '-n', '2000', '-q'],
      { timeout: 120_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

describe('redis-benchmark against dkv', () => {
  it('completes its SET and GET tests with no error, and what it wrote is stored', async () => {
    const { code, stdout, stderr } = await redisBenchmark(Number(new URL(cli.redisUrl).port));
    const output = `${stdout}\n${stderr}`;
    expect(code, output).toBe(0);
    // -q prints one "<TEST>: <n> requests per second" line per test (after carriage-return progress).
    const lines = output.split(/[\r\n]+/).map((line) => line.trim());
    expect(
      lines.some((line) => /^SET: [\d.]+ requests per second/.test(line)),
      output,
    ).toBe(true);
    expect(
      lines.some((line) => /^GET: [\d.]+ requests per second/.test(line)),
      output,
    ).toBe(true);
    expect(output, output).not.toMatch(/error|ERR |QUORUM_NOT_MET|UNAVAILABLE/i);
    const res = await fetch(`${cli.url}/v1/kv/${encodeURIComponent('key:__rand_int__')}`, { signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
    // redis-benchmark 7 fills the value with random letters; its size is -d's default, 3 bytes.
    expect(Buffer.byteLength(await res.text())).toBe(3);
  }, 150_000);
});
