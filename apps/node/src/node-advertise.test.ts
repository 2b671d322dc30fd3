// Goal: a node is known by its advertised address, not by where it listens (Kubernetes: listen on
// 0.0.0.0, be reached as dkv-3.dkv.<ns>.svc.cluster.local), and a node joins through a DNS name
// in a `--join` list whose other entries do not answer (a pod of the list still starting).
// Method: two nodes in this process listen on 127.0.0.1 and advertise `localhost:<port>` (a name,
// looked up at each connection); the second joins with `--join` naming a closed port first and
// the first node's name second. The membership both serve must name each node by its advertised
// address, and the joiner must end up `up`. Every wait is on a condition, with a deadline.
import { freePort, waitUntil } from '@dkv/testkit';
import { lookup } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from './config.js';
import { startNode, type RunningNode } from './node.composition.js';

const DEADLINE_MS = 30_000;
const nodes: RunningNode[] = [];
let ports: number[] = [];

interface MembershipView {
  readonly nodes: ReadonlyArray<{ id: string; address: string; status: string }>;
}

async function membershipAt(port: number): Promise<MembershipView> {
  const res = await fetch(`http://127.0.0.1:${port}/internal/v1/membership`, { signal: AbortSignal.timeout(2000) });
  return (await res.json()) as MembershipView;
}

function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return waitUntil(what, probe, { deadlineMs: DEADLINE_MS, intervalMs: 50 });
}

beforeAll(async () => {
  // The test relies on the name resolving to the loopback address the nodes listen on.
  expect((await lookup('localhost', { family: 4 })).address).toBe('127.0.0.1');
  ports = [await freePort(), await freePort(), await freePort()];
  const common = {
    host: '127.0.0.1',
    logLevel: 'silent',
    gossipIntervalMs: '50',
    syncSettleDelayMs: '0',
    antiEntropyIntervalMs: '0',
    vnodes: '16',
    n: '1',
  };
  nodes.push(
    await startNode(parseNodeConfig({ ...common, id: 'a1', port: String(ports[0]), advertiseAddress: `localhost:${ports[0]}` }, {})),
  );
  // ports[2] is free and stays closed: the first address of the list never answers.
  const join = `localhost:${ports[2]},localhost:${ports[0]}`;
  nodes.push(
    await startNode(parseNodeConfig({ ...common, id: 'a2', port: String(ports[1]), advertiseAddress: `localhost:${ports[1]}`, join }, {})),
  );
});

afterAll(async () => {
  for (const node of nodes.splice(0).reverse()) await node.close();
});

describe('advertised addresses and joining by name', () => {
  it('names each node by its advertised address, and the joiner becomes up through the second --join address', async () => {
    expect(nodes[0]!.address).toBe(`localhost:${ports[0]}`);
    const expected = [
      { id: 'a1', address: `localhost:${ports[0]}`, status: 'up' },
      { id: 'a2', address: `localhost:${ports[1]}`, status: 'up' },
    ];
    for (const port of [ports[0]!, ports[1]!]) {
      const view = await until(`the membership at port ${port} to list a1 and a2 up`, async () => {
        const current = await membershipAt(port);
        return current.nodes.length === 2 && current.nodes.every((node) => node.status === 'up') ? current : undefined;
      });
      expect(view.nodes.map(({ id, address, status }) => ({ id, address, status })).sort((x, y) => x.id.localeCompare(y.id))).toEqual(
        expected,
      );
    }
  });
});
