// Goal: the status shown for a node orders every pair of opinions the same way, as the doc
// comment of `displayedStatus` says: down (either source) > suspect > leaving / joining > up.
// Method: a table of every document status, gossip liveness and heartbeat status, with the
// expected status beside each row; no time or network is involved.
import { describe, expect, it } from 'vitest';
import type { NodeStatus } from '@dkv/core';
import type { Liveness } from '@dkv/membership';
import { displayedStatus } from './node-status.js';

const cases: Array<[document: NodeStatus, gossip: Liveness | undefined, heartbeat: NodeStatus, shown: NodeStatus]> = [
  // A killed node: gossip still suspects while heartbeats already gave up (the bug: was suspect).
  ['up', 'suspect', 'down', 'down'],
  ['up', 'down', 'suspect', 'down'],
  ['up', 'down', 'up', 'down'],
  ['up', 'alive', 'down', 'down'],
  ['up', undefined, 'down', 'down'],
  ['up', 'suspect', 'up', 'suspect'],
  ['up', 'suspect', 'suspect', 'suspect'],
  // A gossip-fed process leaves the heartbeats' suspect (also "not ready yet") to gossip.
  ['up', 'alive', 'suspect', 'up'],
  ['up', undefined, 'suspect', 'suspect'],
  ['up', 'alive', 'up', 'up'],
  ['up', undefined, 'up', 'up'],
  // Liveness outranks lifecycle: a node dying while it joins or leaves shows it.
  ['joining', 'alive', 'up', 'joining'],
  ['joining', 'alive', 'suspect', 'joining'],
  ['joining', 'suspect', 'up', 'suspect'],
  ['joining', 'suspect', 'down', 'down'],
  ['joining', undefined, 'down', 'down'],
  ['leaving', 'alive', 'up', 'leaving'],
  ['leaving', 'suspect', 'up', 'suspect'],
  ['leaving', 'suspect', 'down', 'down'],
  ['leaving', 'down', 'up', 'down'],
  ['leaving', undefined, 'suspect', 'suspect'],
];

describe('displayedStatus', () => {
  it.each(cases)('document %s, gossip %s, heartbeats %s: shows %s', (document, gossip, heartbeat, shown) => {
    expect(displayedStatus(document, gossip, heartbeat)).toBe(shown);
  });

  it('never shows a status other than the document one unless some source saw trouble', () => {
    for (const document of ['joining', 'up', 'leaving'] as const) {
      for (const gossip of ['alive', undefined] as const) expect(displayedStatus(document, gossip, 'up')).toBe(document);
    }
  });
});
