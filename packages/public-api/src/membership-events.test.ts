// Goal: the dashboard's membership events record exactly the nodes added, changed and removed
// between two views, newest first, and never more than their capacity. Method: a table of view
// sequences fed to a MembershipEventLog, compared with the events expected.
import { describe, expect, it } from 'vitest';
import { MembershipEventLog } from './membership-events.js';

type View = Array<{ id: string; status: 'up' | 'down' | 'suspect' | 'joining' | 'leaving' }>;

describe('MembershipEventLog', () => {
  it.each<{ name: string; views: View[]; expected: unknown[] }>([
    { name: 'the first view is the baseline', views: [[{ id: 'n1', status: 'up' }]], expected: [] },
    { name: 'no change, no event', views: [[{ id: 'n1', status: 'up' }], [{ id: 'n1', status: 'up' }]], expected: [] },
    {
      name: 'a node killed goes suspect, then down',
      views: [[{ id: 'n1', status: 'up' }], [{ id: 'n1', status: 'suspect' }], [{ id: 'n1', status: 'down' }]],
      expected: [
        { time: 2, node: 'n1', kind: 'status', from: 'suspect', to: 'down' },
        { time: 1, node: 'n1', kind: 'status', from: 'up', to: 'suspect' },
      ],
    },
    {
      name: 'a node added, another removed',
      views: [[{ id: 'n1', status: 'up' }], [{ id: 'n2', status: 'joining' }]],
      expected: [
        { time: 1, node: 'n1', kind: 'removed', from: 'up' },
        { time: 1, node: 'n2', kind: 'added', to: 'joining' },
      ],
    },
  ])('$name', ({ views, expected }) => {
    const log = new MembershipEventLog(10);
    views.forEach((view, time) => log.observe(view, time));
    expect(log.recent()).toEqual(expected);
  });

  it('keeps the newest events up to its capacity', () => {
    const log = new MembershipEventLog(3);
    for (let time = 0; time < 10; time += 1) log.observe([{ id: 'n1', status: time % 2 === 0 ? 'up' : 'down' }], time);
    expect(log.recent().map((event) => event.time)).toEqual([9, 8, 7]);
  });

  it('refuses a capacity outside 1..10000', () => {
    expect(() => new MembershipEventLog(0)).toThrow(/1 to 10000/);
  });
});
