// Goal: the `sendTo` helper keeps NodeClient.sendTo's rules whatever the client: its own
// `sendTo` when it has one, else `send` behind one reaction; the reply called exactly once and
// never before the helper returns, also when the client throws. Method: small clients by hand.
import { describe, expect, it } from 'vitest';
import { NodeUnavailableError } from './errors.js';
import type { Node } from './node.js';
import { sendTo, type NodeClient, type ReplyTo } from './ports.js';
import type { StorageResponse } from './storage-request.js';

const NODE: Node = { id: 'n1', address: 'n1:1', role: 'storage', status: 'up', vnodes: 1, metadata: {} };
const PONG: StorageResponse = { type: 'PING', nodeId: 'n1', ready: true, keys: 0, bytes: 0 };

/** A reply that records its calls, and whether each came after the helper returned. */
function recorder(): { reply: ReplyTo<StorageResponse>; calls: string[]; returned: () => void; settled: Promise<void> } {
  const calls: string[] = [];
  let hasReturned = false;
  let settle: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const note = (call: string): void => {
    calls.push(`${call}${hasReturned ? '' : ' before return'}`);
    settle();
  };
  return {
    reply: {
      answered: (answer) => note(`answered ${answer.type}`),
      failed: (error) => note(`failed ${(error as Error).message}`),
    },
    calls,
    returned: () => (hasReturned = true),
    settled,
  };
}

async function run(client: NodeClient): Promise<string[]> {
  const { reply, calls, returned, settled } = recorder();
  sendTo(client, NODE, { type: 'PING' }, { timeoutMs: 100 }, reply);
  returned();
  await settled;
  // A second call would come in a later job: give it the chance.
  await new Promise((resolve) => setImmediate(resolve));
  return calls;
}

describe('sendTo', () => {
  it("goes through the client's own sendTo when it has one, not through send", async () => {
    let sends = 0;
    const client: NodeClient = {
      send: () => {
        sends += 1;
        return Promise.resolve(PONG as never);
      },
      sendTo: (_target, _request, _options, reply) => queueMicrotask(() => reply.answered(PONG as never)),
      close: () => Promise.resolve(),
    };
    expect(await run(client)).toEqual(['answered PING']);
    expect(sends).toBe(0);
  });

  it('falls back on send: the answer or the rejection, once, after it returns', async () => {
    const answering: NodeClient = { send: () => Promise.resolve(PONG as never), close: () => Promise.resolve() };
    expect(await run(answering)).toEqual(['answered PING']);
    const failing: NodeClient = {
      send: () => Promise.reject(new NodeUnavailableError('n1', 'timeout', 'slow')),
      close: () => Promise.resolve(),
    };
    expect(await run(failing)).toEqual(['failed node n1 timeout: slow']);
  });

  it('fails the send, after it returns, when send or sendTo throws', async () => {
    const throwingSend: NodeClient = {
      send: () => {
        throw new Error('send threw');
      },
      close: () => Promise.resolve(),
    };
    expect(await run(throwingSend)).toEqual(['failed send threw']);
    const throwingSendTo: NodeClient = {
      send: () => Promise.resolve(PONG as never),
      sendTo: () => {
        throw new Error('sendTo threw');
      },
      close: () => Promise.resolve(),
    };
    expect(await run(throwingSendTo)).toEqual(['failed sendTo threw']);
  });
});
