// Goal: the logs of a real cluster are JSON lines with level, time, msg and the process's id, and
// no value or secret ever reaches them (issue #14), even at debug level.
// Method: `dkv cluster up --nodes 3` at DKV_LOG_LEVEL=debug from the built CLI (e2e-support);
// cluster up prefixes each child's lines with `[<id>] `. Writes carry a recognizable value and a
// Basic Authorization header with a recognizable password, also on refused requests (a bad key, a
// bad membership change); every line printed until then is kept and checked. Every wait is
// bounded; afterAll stops every process by pid.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcesses } from './e2e-support.js';

const DEADLINE_MS = 45_000;
const VALUE = 'session-value-7f3a9c1e';
const PASSWORD = 'pw-secret-51d2b8e0';
const AUTHORIZATION = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
const cli = new CliProcesses({ ...process.env, DKV_VNODES: '64', DKV_LOG_LEVEL: 'debug' }, DEADLINE_MS);
const lines: string[] = [];

beforeAll(async () => {
  const child = cli.start(['cluster', 'up', '--nodes', '3', '--port', '0']);
  for (const stream of [child.stdout, child.stderr])
    stream?.on('data', (chunk: Buffer) =>
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((line) => line.length > 0),
      ),
    );
  const url = await cli.readyUrl(child);
  const headers = { authorization: AUTHORIZATION };
  for (let i = 0; i < 20; i += 1) {
    expect((await fetch(`${url}/v1/kv/log-key-${i}`, { method: 'PUT', body: `${VALUE}-${i}`, headers })).status).toBe(200);
    expect(await (await fetch(`${url}/v1/kv/log-key-${i}`, { headers })).text()).toBe(`${VALUE}-${i}`);
  }
  expect((await fetch(`${url}/v1/kv/${'k'.repeat(600)}`, { method: 'PUT', body: VALUE, headers })).status).toBe(400);
  expect(
    (await fetch(`${url}/v1/cluster/nodes`, { method: 'POST', body: JSON.stringify({ id: VALUE, address: PASSWORD }), headers })).status,
  ).toBe(400);
  // A membership change logs at info on every process: once it is in, the earlier lines are too.
  await cli.waitFor('a log line of each process', async () =>
    ['n1', 'n2', 'n3', 'c1'].every((id) => lines.some((line) => line.startsWith(`[${id}] {`))) ? true : undefined,
  );
}, DEADLINE_MS * 2);

afterAll(async () => {
  await cli.stopAll();
});

describe('logs of a real cluster at debug level', () => {
  it('are JSON lines with level, time, msg and the id of the process that wrote them', () => {
    const childLines = lines.filter((line) => /^\[[^\]]+\] /.test(line));
    expect(childLines.length).toBeGreaterThan(4);
    const bad: string[] = [];
    for (const line of childLines) {
      const [, id, rest] = /^\[([^\]]+)\] (.*)$/.exec(line)!;
      try {
        const entry = JSON.parse(rest!) as Record<string, unknown>;
        const ok =
          typeof entry['level'] === 'number' &&
          typeof entry['time'] === 'number' &&
          typeof entry['msg'] === 'string' &&
          (entry['node'] === id || entry['coordinator'] === id);
        if (!ok) bad.push(line);
      } catch {
        bad.push(line);
      }
    }
    expect(bad).toEqual([]);
    // The only other lines are cluster up's own announcements.
    expect(lines.filter((line) => !/^\[[^\]]+\] /.test(line) && !line.startsWith('dkv'))).toEqual([]);
  });

  it('hold no value, password or Authorization header', () => {
    const leaks = lines.filter((line) => line.includes(VALUE) || line.includes(PASSWORD) || line.includes(AUTHORIZATION.slice(6)));
    expect(leaks).toEqual([]);
  });
});
