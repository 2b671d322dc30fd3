// Goal: with real processes, two kinds of refusal (issue 10). Finding 7: a storage node started
// with another N than the cluster's refuses to join: it exits non-zero at start with a message
// naming the setting and both values, and the cluster neither lists it nor changes. Finding 8:
// `/readyz` and `/v1/cluster` follow a dead quorum within about a second: once two of three
// storage nodes are SIGKILLed, their addresses refuse connections, and that refusal is evidence
// enough; they do not wait for the heartbeat failure threshold.
// Method: `dkv cluster up --nodes 3` on 127.0.0.1 with a heartbeat failure threshold of 40 rounds
// (20 s at the 500 ms interval), so that readiness by missed heartbeats alone would take 20 s.
// `dkv node --join` with `--n 2` is started and its exit code and output read; then two nodes are
// killed by pid, and the test measures how long until `/readyz` answers 503 and `/v1/cluster`
// says both are down. Every wait has a deadline; afterAll stops every process this test
// started, by pid.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses, freePort, isAlive } from './e2e-support.js';

const DEADLINE_MS = 60_000;
const FAILURE_THRESHOLD = 40;
/** The bound the test holds readiness to: well under the 20 s of the threshold, with room for a loaded machine. */
const FOLLOW_BOUND_MS = 3000;
const cli = new CliProcesses(
  { ...process.env, DKV_HEARTBEAT_FAILURE_THRESHOLD: String(FAILURE_THRESHOLD), DKV_LOG_LEVEL: 'warn' },
  DEADLINE_MS,
);
let url = '';

beforeAll(async () => {
  url = await cli.readyUrl(cli.start(['cluster', 'up', '--nodes', '3', '--port', '0']));
  // The hook's own timeout is longer than the wait's deadline, so that a cluster that never gets
  // ready fails with the wait's error, which shows the cluster's output, not a bare hook timeout.
}, DEADLINE_MS + 15_000);

afterAll(async () => {
  await cli.stopAll();
});

async function clusterStatuses(): Promise<Record<string, string>> {
  const body = (await (await fetch(`${url}/v1/cluster`)).json()) as { nodes: Array<{ id: string; status: string }> };
  return Object.fromEntries(body.nodes.map((node) => [node.id, node.status]));
}

describe('a process started with another cluster-wide setting', () => {
  it(
    'dkv node --join with a different N is refused: it exits non-zero naming the setting and both values',
    async () => {
      const port = await freePort();
      const child = cli.start(['node', '--id', 'n4', '--port', String(port), '--join', cli.announced.get('n1')!.address, '--n', '2']);
      const output: string[] = [];
      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
      child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
      const exit = await Promise.race([
        new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))),
        sleep(DEADLINE_MS / 3).then(() => 'still running' as const),
      ]);
      expect(exit).toBe(2);
      expect(output.join('')).toMatch(/refusing to join the cluster: cluster setting n \(--n\) is 3 in the cluster but 2 in this process/);
      expect(Object.keys(await clusterStatuses()).sort()).toEqual(['n1', 'n2', 'n3']);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
    },
    DEADLINE_MS,
  );
});

describe('readiness follows a dead quorum', () => {
  it(
    'answers /readyz 503 and reports both nodes down within a few seconds of two of three being killed',
    async () => {
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const victims = ['n2', 'n3'].map((id) => ({ id, pid: cli.announced.get(id)!.pid }));
      for (const victim of victims) process.kill(victim.pid, 'SIGKILL');
      await cli.waitFor('the two nodes to die', async () => (victims.some((v) => isAlive(v.pid)) ? undefined : true));
      const killedAt = Date.now();
      let readyzAfterMs = -1;
      let downAfterMs = -1;
      while (Date.now() - killedAt < DEADLINE_MS / 2 && (readyzAfterMs < 0 || downAfterMs < 0)) {
        if (readyzAfterMs < 0 && (await fetch(`${url}/readyz`)).status === 503) readyzAfterMs = Date.now() - killedAt;
        const statuses = await clusterStatuses();
        if (downAfterMs < 0 && statuses['n2'] === 'down' && statuses['n3'] === 'down') downAfterMs = Date.now() - killedAt;
        await sleep(20);
      }
      console.log(`faults: readiness: /readyz 503 after ${readyzAfterMs} ms, both down in /v1/cluster after ${downAfterMs} ms`);
      expect(readyzAfterMs).toBeGreaterThanOrEqual(0);
      expect(readyzAfterMs).toBeLessThan(FOLLOW_BOUND_MS);
      expect(downAfterMs).toBeGreaterThanOrEqual(0);
      expect(downAfterMs).toBeLessThan(FOLLOW_BOUND_MS);
    },
    DEADLINE_MS,
  );
});
