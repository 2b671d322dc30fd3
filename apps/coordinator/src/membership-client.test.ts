// Goal: a coordinator learns the ring from the node it joins even if that node comes up later,
// gives up at its deadline naming the address, refuses a malformed document, and its refresher
// adopts only a newer epoch, falling back to other known nodes when the join address is gone.
// Method: small real Fastify servers on 127.0.0.1:0 serving membership documents.
import type { Membership } from '@dkv/core';
import { StaticMembershipView } from '@dkv/membership';
import { TimerScheduler } from '@dkv/runtime';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { joinCluster, MEMBERSHIP_PATH, MembershipRefresher } from './membership-client.js';

const servers: FastifyInstance[] = [];

function membership(epoch: number, addresses: string[]): Membership {
  return {
    epoch,
    nodes: addresses.map((address, i) => ({ id: `n${i + 1}`, address, role: 'storage', status: 'up', vnodes: 8, metadata: {} })),
  };
}

async function serve(answer: () => { status: number; body: unknown }, port = 0, delayMs = 0): Promise<string> {
  const app = Fastify();
  app.get(MEMBERSHIP_PATH, async (_request, reply) => {
    const { status, body } = answer();
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return reply.code(status).send(body);
  });
  servers.push(app);
  await app.listen({ host: '127.0.0.1', port });
  const bound = app.server.address();
  return `127.0.0.1:${typeof bound === 'object' && bound ? bound.port : port}`;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const fast = { attemptTimeoutMs: 500, baseDelayMs: 10, maxDelayMs: 50 };

describe('joinCluster', () => {
  it('retries until the node answers', async () => {
    let calls = 0;
    const address = await serve(() => (++calls < 3 ? { status: 503, body: {} } : { status: 200, body: membership(1, ['127.0.0.1:1']) }));
    expect(await joinCluster(address, { deadlineMs: 5000, ...fast })).toEqual(membership(1, ['127.0.0.1:1']));
    expect(calls).toBe(3);
  });

  it('gives up at its deadline, naming the address and the last failure', async () => {
    const address = await serve(() => ({ status: 500, body: {} }));
    await expect(joinCluster(address, { deadlineMs: 1500, ...fast })).rejects.toThrow(
      new RegExp(`cannot learn the membership from ${address} within 1500 ms .*answered 500`),
    );
  });

  it('names the last real failure when the deadline cuts the last attempt short', async () => {
    // Every answer (500) takes 300 ms: the attempt started last has less time than that left and
    // times out at the deadline; the error must still say why the node kept failing.
    const address = await serve(() => ({ status: 500, body: {} }), 0, 300);
    await expect(joinCluster(address, { deadlineMs: 1000, ...fast })).rejects.toThrow(/within 1000 ms .*answered 500/);
  });

  it('refuses a malformed document', async () => {
    const address = await serve(() => ({ status: 200, body: { epoch: 1, nodes: [{ id: 'bad id', address: 'x' }] } }));
    // Time for full attempts even on a loaded machine: a 100 ms deadline once cut the first
    // attempt short, and the error then said "timeout" instead of why the document was refused.
    await expect(joinCluster(address, { ...fast, deadlineMs: 3000, attemptTimeoutMs: 2000 })).rejects.toThrow(/malformed: nodes\.0\./);
  });
});

describe('MembershipRefresher', () => {
  it('adopts a higher epoch, ignores a lower one, and falls back to known nodes', async () => {
    let joinDoc = membership(2, []);
    const other = await serve(() => ({ status: 200, body: membership(3, ['127.0.0.1:9']) }));
    joinDoc = membership(2, [other]);
    const join = await serve(() => ({ status: 200, body: joinDoc }));
    const view = new StaticMembershipView(membership(1, [join]));
    const refresher = new MembershipRefresher(
      join,
      () => view.current(),
      (m) => view.update(m),
      new TimerScheduler(),
      60_000,
      500,
    );
    expect(await refresher.refresh()).toBe(true);
    expect(view.current().epoch).toBe(2);
    joinDoc = membership(1, [join]);
    await refresher.refresh();
    expect(view.current().epoch).toBe(2);
    await servers[1]!.close();
    expect(await refresher.refresh()).toBe(true);
    expect(view.current().epoch).toBe(3);
  });
});
