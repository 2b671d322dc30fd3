// Goal: the coordinator's production composition root serves a cluster when one binding is
// swapped, the way tests are meant to use it (load the production container modules, rebind one
// token). Method: a real storage node answers the join (membership n1..n3); the container's wire
// adapter (`TOKENS.wire`, the transport) is rebound to an InMemoryNodeClient over three in-process
// storage services, under the production retries and circuit breaker; the public API is exercised
// over real HTTP on 127.0.0.1, and the in-memory transport is seen to carry every replica request.
import { freePort } from '@dkv/testkit';
import type { Membership } from '@dkv/core';
import { parseNodeConfig, startNode, type RunningNode } from '@dkv/node';
import { InMemoryStorageEngine, StorageService } from '@dkv/storage';
import { TOKENS } from '@dkv/composition';
import { CircuitBreakingNodeClient, InMemoryNodeClient } from '@dkv/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from './config.js';
import { coordinatorContainer, startCoordinator, type RunningCoordinator } from './coordinator.composition.js';
import { COORDINATOR_TOKENS as T } from './tokens.js';

describe('coordinator composition root', () => {
  let node: RunningNode;
  let coordinator: RunningCoordinator;
  const engines = new Map<string, InMemoryStorageEngine>();
  const sent: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    node = await startNode(
      parseNodeConfig(
        { id: 'n1', port: String(port), members: `n1=127.0.0.1:${port},n2=127.0.0.1:1,n3=127.0.0.1:2`, logLevel: 'silent' },
        {},
      ),
    );
    const inMemory = new InMemoryNodeClient();
    for (const id of ['n1', 'n2', 'n3']) {
      const engine = new InMemoryStorageEngine({ clock: { now: () => Date.now() }, tombstoneGraceMs: 60_000 });
      engines.set(id, engine);
      const service = new StorageService({ nodeId: id, engine });
      inMemory.register(id, {
        handle: (request) => {
          sent.push(`${id}:${request.type}`);
          return service.handle(request);
        },
      });
    }
    const config = parseCoordinatorConfig({ id: 'c1', port: '0', respPort: '0', join: node.address, logLevel: 'silent' }, {});
    coordinator = await startCoordinator(config, (membership: Membership) => {
      const container = coordinatorContainer(config, membership);
      container.rebind(TOKENS.wire).toConstantValue(inMemory);
      // The swap replaces the wire alone: the data client is still the production chain around it.
      expect(container.get(T.nodeClient)).toBeInstanceOf(CircuitBreakingNodeClient);
      return container;
    });
  });

  afterAll(async () => {
    await coordinator?.close();
    await node?.close();
  });

  it('writes through the swapped NodeClient to all three replicas and reads back', async () => {
    const put = await fetch(`${coordinator.url}/v1/kv/session%3A7?ttl=60`, { method: 'PUT', body: 'hello' });
    expect(put.status).toBe(200);
    const { version } = (await put.json()) as { version: number };
    const get = await fetch(`${coordinator.url}/v1/kv/session%3A7`);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('hello');
    expect(get.headers.get('x-dkv-version')).toBe(String(version));
    await expect.poll(() => [...engines.values()].filter((e) => e.get('session:7')?.version === version).length).toBe(3);
    // n2 and n3 have no process at all (ports 1 and 2): only the in-memory transport can reach them.
    expect(sent).toEqual(expect.arrayContaining(['n1:PUT', 'n2:PUT', 'n3:PUT']));
    // A digest read: one replica sends the value (GET), the others their version (HEAD); all three are asked.
    const reads = sent.filter((s) => /:(GET|HEAD)$/.test(s));
    expect(reads.filter((s) => s.endsWith(':GET'))).toHaveLength(1);
    expect(new Set(reads.map((s) => s.split(':')[0]))).toEqual(new Set(['n1', 'n2', 'n3']));
  });
});
