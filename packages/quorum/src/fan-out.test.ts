// Goal: the fan-out's decisions without I/O: whom it asks first, when it asks a spare (a failure,
// the hedge timer), when it decides and why it lost, and that every replica is sent or skipped
// exactly once. Method: tables of event sequences with the expected decisions rendered beside
// them, then seeded random sequences checked for the invariants (the seed is in the failure).
import { describe, expect, it } from 'vitest';
import { SeededRng } from '@dkv/testkit';
import { FanOut, type FanOutDecision, type FanOutEvent, type FanOutOptions } from './fan-out.js';

/** One decision as a table shows it. */
function render(decision: FanOutDecision): string {
  switch (decision.type) {
    case 'send':
      return decision.hedged ? `send ${decision.replica} (hedge)` : `send ${decision.replica}`;
    case 'skip':
      return `skip ${decision.replica} (${decision.why})`;
    case 'arm-hedge-timer':
      return 'arm hedge';
    case 'cancel-hedge-timer':
      return 'cancel hedge';
    case 'won':
      return 'won';
    case 'lost':
      if (decision.reason === 'quorum-not-met') return `lost: ${decision.received} received of ${decision.contacted} contacted`;
      if (decision.reason === 'refused-ahead') return `lost: refused ahead (${decision.refusal})`;
      return 'lost: conflict';
  }
}

/** An event written as the tables write it: `ok 1`, `fail 1`, `conflict 1`, `excused 1`, `ahead 1`, `hedge`. */
function parse(text: string): FanOutEvent {
  if (text === 'hedge') return { type: 'hedge-timer-fired' };
  const [kind, index] = text.split(' ');
  const replica = Number(index);
  if (kind === 'ok') return { type: 'answered', replica };
  if (kind === 'fail') return { type: 'failed', replica, failure: { kind: 'error' } };
  if (kind === 'conflict' || kind === 'excused') return { type: 'failed', replica, failure: { kind } };
  if (kind === 'ahead') return { type: 'failed', replica, failure: { kind: 'refused-ahead', reason: 'clock 9 min behind' } };
  throw new Error(`unknown event in a table: ${text}`);
}

const up = (count: number): boolean[] => Array.from({ length: count }, () => true);
const all = (needed: number, available: boolean[]): FanOutOptions => ({ needed, available, askFirst: 'all', hedge: false });
const spares = (needed: number, available: boolean[], hedge = false): FanOutOptions => ({ needed, available, askFirst: 'needed', hedge });

/** Runs a table row: the rendering of `start()`, then of each event's decisions, joined by `, `. */
function run(options: FanOutOptions, events: string[]): string[] {
  const fan = new FanOut(options);
  return [fan.start(), ...events.map((event) => fan.step(parse(event)))].map((decisions) => decisions.map(render).join(', '));
}

describe('FanOut', () => {
  const cases: Array<[string, FanOutOptions, string[], string[]]> = [
    [
      'all at once: R=2 of 3 wins on the second answer; a later answer changes nothing',
      all(2, up(3)),
      ['ok 1', 'ok 0', 'ok 2'],
      ['send 0, send 1, send 2', '', 'won', ''],
    ],
    [
      'all at once: W=2 of 3 lost on the second failure',
      all(2, up(3)),
      ['ok 0', 'fail 1', 'fail 2'],
      ['send 0, send 1, send 2', '', '', 'lost: 1 received of 3 contacted'],
    ],
    [
      'all at once: W=3 of 3 lost on the first failure',
      all(3, up(3)),
      ['fail 2'],
      ['send 0, send 1, send 2', 'lost: 0 received of 3 contacted'],
    ],
    [
      'a replica known down is skipped and counts as failed',
      all(2, [true, false, true]),
      ['ok 2', 'fail 0'],
      ['send 0, skip 1 (known-down), send 2', '', 'lost: 1 received of 2 contacted'],
    ],
    [
      'too many known down: lost at the start',
      all(2, [false, false, true]),
      [],
      ['skip 0 (known-down), skip 1 (known-down), send 2, lost: 0 received of 1 contacted'],
    ],
    ['nothing needed: won at the start', all(0, up(2)), [], ['send 0, send 1, won']],
    [
      'spares: R=2 of 3 asks two, a failure asks the spare',
      spares(2, up(3)),
      ['fail 0', 'ok 1', 'ok 2'],
      ['send 0, send 1', 'send 2', '', 'won'],
    ],
    [
      'spares: the quorum reached first skips the spare',
      spares(2, up(3)),
      ['ok 1', 'ok 0'],
      ['send 0, send 1', '', 'skip 2 (decided), won'],
    ],
    [
      'spares: a known-down replica is passed over for the first ask',
      spares(2, [false, true, true, true]),
      ['ok 1', 'ok 2'],
      ['skip 0 (known-down), send 1, send 2', '', 'skip 3 (decided), won'],
    ],
    [
      'spares: lost once failures leave too few, spares used up',
      spares(2, up(3)),
      ['fail 0', 'fail 1'],
      ['send 0, send 1', 'send 2', 'lost: 0 received of 3 contacted'],
    ],
    [
      'hedge: the timer asks the last spare and is not re-armed',
      spares(2, up(3), true),
      ['hedge', 'ok 2', 'ok 0'],
      ['send 0, send 1, arm hedge', 'send 2 (hedge)', '', 'won'],
    ],
    [
      'hedge: re-armed while spares remain, cancelled by the decision, which skips the rest',
      spares(2, up(5), true),
      ['hedge', 'ok 2', 'ok 0'],
      ['send 0, send 1, arm hedge', 'send 2 (hedge), arm hedge', '', 'cancel hedge, skip 3 (decided), skip 4 (decided), won'],
    ],
    [
      'hedge: a timer that fires after failures used the spares asks no one',
      spares(1, up(2), true),
      ['fail 0', 'hedge', 'ok 1'],
      ['send 0, arm hedge', 'send 1', '', 'won'],
    ],
    [
      'hedge: a timer that fires after the decision asks no one',
      spares(1, up(2), true),
      ['ok 0', 'hedge'],
      ['send 0, arm hedge', 'cancel hedge, skip 1 (decided), won', ''],
    ],
    ['hedge: not armed without spares', spares(2, up(2), true), ['ok 0', 'ok 1'], ['send 0, send 1', '', 'won']],
    [
      'conflicts turn a lost quorum into a conflict',
      all(2, up(3)),
      ['conflict 0', 'conflict 1'],
      ['send 0, send 1, send 2', '', 'lost: conflict'],
    ],
    [
      'a refusal as too far ahead outranks conflicts',
      all(2, up(3)),
      ['conflict 0', 'ahead 1'],
      ['send 0, send 1, send 2', '', 'lost: refused ahead (clock 9 min behind)'],
    ],
    [
      'an excused failure still does not count toward the quorum',
      all(2, up(2)),
      ['excused 0'],
      ['send 0, send 1', 'lost: 0 received of 2 contacted'],
    ],
  ];
  it.each(cases)('%s', (_name, options, events, expected) => {
    expect(run(options, events)).toEqual(expected);
  });

  it('refuses events out of order, with what was wrong', () => {
    expect(() => new FanOut(all(-1, up(3)))).toThrow(/needed answers must be a whole number of at least 0, got -1/);
    expect(() => new FanOut(all(1, up(1))).step({ type: 'hedge-timer-fired' })).toThrow(/only after start/);
    const fan = new FanOut(spares(1, up(3)));
    fan.start();
    expect(() => fan.start()).toThrow(/starts once/);
    expect(() => fan.step({ type: 'answered', replica: 1 })).toThrow(/replica 1 has no request in flight \(it is spare\)/);
    expect(() => fan.step({ type: 'answered', replica: 7 })).toThrow(/replica 7 has no request in flight \(it is not one of the targets\)/);
    fan.step({ type: 'answered', replica: 0 });
    expect(() => fan.step({ type: 'answered', replica: 0 })).toThrow(/replica 0 has no request in flight \(it is done\)/);
  });

  it('sends or skips every replica exactly once and decides once, whatever the order of events', () => {
    for (let seed = 1; seed <= 300; seed += 1) {
      const rng = new SeededRng(seed);
      const total = 1 + rng.int(6);
      const options: FanOutOptions = {
        needed: rng.int(total + 1),
        available: Array.from({ length: total }, () => rng.next() < 0.8),
        askFirst: rng.next() < 0.5 ? 'all' : 'needed',
        hedge: rng.next() < 0.5,
      };
      const fan = new FanOut(options);
      const decisions = [...fan.start()];
      const inFlight = decisions.flatMap((d) => (d.type === 'send' ? [d.replica] : []));
      for (let step = 0; step < 50 && (inFlight.length > 0 || !fan.isDecided); step += 1) {
        const pick = rng.int(inFlight.length + 1);
        const replica = pick < inFlight.length ? inFlight.splice(pick, 1)[0]! : undefined;
        const event: FanOutEvent =
          replica === undefined
            ? { type: 'hedge-timer-fired' }
            : rng.next() < 0.6
              ? { type: 'answered', replica }
              : { type: 'failed', replica, failure: { kind: 'error' } };
        const next = fan.step(event);
        inFlight.push(...next.flatMap((d) => (d.type === 'send' ? [d.replica] : [])));
        decisions.push(...next);
      }
      const touched = decisions.flatMap((d) => (d.type === 'send' || d.type === 'skip' ? [d.replica] : [])).sort((a, b) => a - b);
      expect(touched, `seed ${seed}: every replica sent or skipped once`).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(
        decisions.filter((d) => d.type === 'won' || d.type === 'lost'),
        `seed ${seed}: one decision`,
      ).toHaveLength(1);
      expect(fan.isDecided, `seed ${seed}`).toBe(true);
    }
  });
});
