// Goal: the quorum rule itself, without I/O: won at `needed` successes, lost as soon as the
// remaining replicas cannot make it up. Method: table of outcome sequences.
import { describe, expect, it } from 'vitest';
import { QuorumTally, type QuorumResult } from './quorum-tally.js';

describe('QuorumTally', () => {
  const cases: Array<[string, number, number, boolean[], QuorumResult[]]> = [
    ['W=2 of 3, two successes', 2, 3, [true, true], ['pending', 'won']],
    ['W=2 of 3, success then two failures', 2, 3, [true, false, false], ['pending', 'pending', 'lost']],
    ['W=2 of 3, two failures first', 2, 3, [false, false], ['pending', 'lost']],
    ['R=1 of 3, first success wins', 1, 3, [true], ['won']],
    ['W=3 of 3, one failure loses', 3, 3, [true, false], ['pending', 'lost']],
  ];
  it.each(cases)('%s', (_name, needed, total, outcomes, expected) => {
    const tally = new QuorumTally(needed, total);
    expect(outcomes.map((ok) => tally.record(ok))).toEqual(expected);
  });

  it('is lost from the start when fewer replicas exist than needed', () => {
    expect(new QuorumTally(2, 1).result()).toBe('lost');
  });
});
