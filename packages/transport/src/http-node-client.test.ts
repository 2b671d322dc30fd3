// Goal: HttpNodeClient bounds what it holds per node and names each failure as the port says:
// past the in-flight bound it fails fast with `overloaded` (other nodes unaffected, the bound
// frees up as answers arrive), a non-2xx or oversized or mistyped answer is `remote`, and a bad
// address is `unreachable`. Method: real Fastify servers on 127.0.0.1 port 0; a gate holds
// answers so "in flight" is a state the test awaits, never a sleep.
import { NodeUnavailableError, type StorageResponse } from '@dkv/core';
import { contractNode, MapStorageHandler } from '@dkv/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpNodeClient } from './http-node-client.js';
import { Gate, startHttpNode, type HttpTestNode } from './test-support.js';

const opts = { timeoutMs: 5_000 };
const started: HttpTestNode[] = [];
const clients: HttpNodeClient[] = [];

async function node(...args: Parameters<typeof startHttpNode>): Promise<HttpTestNode> {
  const testNode = await startHttpNode(...args);
  started.push(testNode);
  return testNode;
}

function client(options?: ConstructorParameters<typeof HttpNodeClient>[0]): HttpNodeClient {
  const created = new HttpNodeClient(options);
  clients.push(created);
  return created;
}

async function failureOf(promise: Promise<unknown>): Promise<NodeUnavailableError> {
  const error: unknown = await promise.then(
    () => new Error('expected a failure'),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(NodeUnavailableError);
  return error as NodeUnavailableError;
}

async function until(condition: () => boolean): Promise<void> {
  for (let polls = 0; !condition(); polls += 1) {
    if (polls > 10_000) throw new Error('condition not reached');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(started.splice(0).map(({ app }) => app.close()));
});

describe('HttpNodeClient', () => {
  it('fails fast with overloaded beyond maxInFlightPerNode, without touching other nodes', async () => {
    const gate = new Gate();
    const slow = await node('slow', gate.handlerFor(new MapStorageHandler('slow')));
    const other = await node('other');
    const http = client({ maxInFlightPerNode: 2, connectionsPerNode: 1 });

    const held = [http.send(slow.node, { type: 'PING' }, opts), http.send(slow.node, { type: 'PING' }, opts)];
    await until(() => gate.waiting === 1);
    const overloaded = await failureOf(http.send(slow.node, { type: 'PING' }, opts));
    expect(overloaded.kind).toBe('overloaded');
    expect(overloaded.message).toContain('2 requests in flight, the limit is 2');
    expect((await http.send(other.node, { type: 'PING' }, opts)).nodeId).toBe('other');

    gate.release();
    expect((await Promise.all(held)).map((pong) => pong.nodeId)).toEqual(['slow', 'slow']);
    expect((await http.send(slow.node, { type: 'PING' }, opts)).nodeId).toBe('slow');
  });

  it('frees the in-flight slot of a request that timed out', async () => {
    const gate = new Gate();
    const slow = await node('slow', gate.handlerFor(new MapStorageHandler('slow')));
    const http = client({ maxInFlightPerNode: 1 });
    expect((await failureOf(http.send(slow.node, { type: 'PING' }, { timeoutMs: 50 }))).kind).toBe('timeout');
    gate.release();
    await until(() => gate.waiting === 0);
    expect((await http.send(slow.node, { type: 'PING' }, opts)).nodeId).toBe('slow');
  });

  it('names a non-2xx answer remote, with the status and the server message', async () => {
    const crashing = await node('crashing', {
      handle: () => {
        throw new Error('boom');
      },
    });
    const failure = await failureOf(client().send(crashing.node, { type: 'PING' }, opts));
    expect(failure.kind).toBe('remote');
    expect(failure.message).toBe('node crashing remote: answered HTTP 500: INTERNAL: internal error');
  });

  it('names an answer over maxResponseBytes remote', async () => {
    const big = new MapStorageHandler('big');
    big.handle({
      type: 'PUT',
      key: 'k',
      record: { value: new Uint8Array(10_000), version: 1, writerId: 'c', createdAt: 0, updatedAt: 0, expiresAt: null, tombstone: false },
    });
    const server = await node('big', big);
    const failure = await failureOf(client({ maxResponseBytes: 1_000 }).send(server.node, { type: 'GET', key: 'k' }, opts));
    expect(failure.kind).toBe('remote');
    expect(failure.message).toMatch(/over the limit of 1000 bytes/);
  });

  it('names an answer of the wrong type remote', async () => {
    const liar = await node('liar', { handle: (): StorageResponse => ({ type: 'PUT', applied: true, version: 1, previous: 0 }) });
    const failure = await failureOf(client().send(liar.node, { type: 'PING' }, opts));
    expect(failure.kind).toBe('remote');
    expect(failure.message).toContain('answered a PING request with a PUT response');
  });

  it('names an address that is not host:port unreachable', async () => {
    const failure = await failureOf(client().send(contractNode('odd', 'not an address'), { type: 'PING' }, opts));
    expect(failure.kind).toBe('unreachable');
  });

  it('refuses options that are not positive whole numbers', () => {
    expect(() => new HttpNodeClient({ maxInFlightPerNode: 0 })).toThrow(/maxInFlightPerNode/);
    expect(() => new HttpNodeClient({ connectionsPerNode: 1.5 })).toThrow(/connectionsPerNode/);
  });
});
