import { QuorumTally } from './quorum-tally.js';

/** Settings of one {@link FanOut}. */
export interface FanOutOptions {
  /** Answers that decide the quorum (R or W). */
  readonly needed: number;
  /**
   * One entry per replica, in the order to ask them: false for a replica known to be down, which
   * is never asked and counts as failed at once.
   */
  readonly available: readonly boolean[];
  /**
   * Whom to ask at once: `all` available replicas (Dynamo's way), or only `needed` of them
   * (Cassandra's way), keeping the others as spares asked one at a time when a replica fails or
   * the hedge timer fires.
   */
  readonly askFirst: 'all' | 'needed';
  /** Whether a hedge timer may be armed while spares wait (the driver has a scheduler). */
  readonly hedge: boolean;
}

/**
 * Why a replica has no answer: a version `conflict` and an `excused` failure come from a healthy
 * replica; `refused-ahead` is a replica refusing the record's version as too far ahead of its
 * clock (the write's fault, with the replica's `reason`); `refused-full` is a replica with no room
 * for a new key (a failure like `error`, with the replica's `reason` to report); `error` is
 * anything else.
 */
export type FanOutFailure =
  { readonly kind: 'conflict' | 'excused' | 'error' } | { readonly kind: 'refused-ahead' | 'refused-full'; readonly reason: string };

/** What happened to a fan-out: a replica answered or failed, or the hedge timer fired. */
export type FanOutEvent =
  | { readonly type: 'answered'; readonly replica: number }
  | { readonly type: 'failed'; readonly replica: number; readonly failure: FanOutFailure }
  | { readonly type: 'hedge-timer-fired' };

/** Why a fan-out lost: a replica refused the version as too far ahead, a version conflict, or too few answers. */
export type FanOutLoss =
  | { readonly reason: 'refused-ahead'; readonly refusal: string }
  | { readonly reason: 'conflict' }
  | {
      readonly reason: 'quorum-not-met';
      readonly received: number;
      readonly contacted: number;
      /** The first `refused-full` reason a replica gave, or null. */
      readonly refusal: string | null;
    };

/**
 * What the driver must do, in order: send the request to a replica (`hedged` when the hedge timer
 * asked it), end a replica as never asked (`known-down`, or `decided` for a spare left when the
 * quorum was decided), arm or cancel the hedge timer, or settle the fan-out.
 */
export type FanOutDecision =
  | { readonly type: 'send'; readonly replica: number; readonly hedged: boolean }
  | { readonly type: 'skip'; readonly replica: number; readonly why: 'known-down' | 'decided' }
  | { readonly type: 'arm-hedge-timer' }
  | { readonly type: 'cancel-hedge-timer' }
  | { readonly type: 'won' }
  | ({ readonly type: 'lost' } & FanOutLoss);

type ReplicaState = 'down' | 'spare' | 'sent' | 'done' | 'skipped';

/**
 * The replicas whose decisions are shared values: decisions are immutable, and one fan-out runs
 * per request, so a send or a skip of one of the first replicas (every fan-out of a real cluster's
 * N) is a frozen object made once rather than an object per decision.
 */
const SHARED_DECISION_REPLICAS = 16;

function sharedDecisions<D extends FanOutDecision>(make: (replica: number) => D): readonly D[] {
  return Object.freeze(Array.from({ length: SHARED_DECISION_REPLICAS }, (_, replica) => Object.freeze(make(replica))));
}

const SENDS = sharedDecisions((replica) => ({ type: 'send', replica, hedged: false }) as const);
const HEDGED_SENDS = sharedDecisions((replica) => ({ type: 'send', replica, hedged: true }) as const);
const KNOWN_DOWN_SKIPS = sharedDecisions((replica) => ({ type: 'skip', replica, why: 'known-down' }) as const);
const DECIDED_SKIPS = sharedDecisions((replica) => ({ type: 'skip', replica, why: 'decided' }) as const);
const WON: FanOutDecision = Object.freeze({ type: 'won' });
const ARM_HEDGE_TIMER: FanOutDecision = Object.freeze({ type: 'arm-hedge-timer' });
const CANCEL_HEDGE_TIMER: FanOutDecision = Object.freeze({ type: 'cancel-hedge-timer' });
/** What a step that decides nothing returns (most answers before the quorum, and every one after it). */
const NO_DECISIONS: readonly FanOutDecision[] = Object.freeze([]);

/**
 * The decisions of one quorum fan-out, as a pure state machine (after etcd raft's `Step`/`Ready`):
 * events in, decisions out, no I/O and no timers. `QuorumManager` is the thin driver that performs
 * the decisions (sends, timers, promises, statistics) and feeds back what the network answered.
 *
 * Every replica is sent or skipped exactly once. A failure asks the next spare; the hedge timer
 * asks one more spare and re-arms while spares remain; the first decision (`won` at `needed`
 * answers, `lost` when the rest cannot make it up) cancels the timer and skips the spares left.
 * Answers that arrive after the decision are accepted and change nothing: the driver still follows
 * them for read repair and stragglers.
 *
 * Decisions are immutable values, some of them shared between fan-outs; a call that decides
 * nothing returns one shared empty list.
 */
export class FanOut {
  private readonly tally: QuorumTally;
  private readonly replicas: ReplicaState[];
  private readonly spares: number[] = [];
  private contacted = 0;
  private conflicts = 0;
  private refusedAhead: string | null = null;
  private refusedFull: string | null = null;
  private hedgeArmed = false;
  private started = false;
  private decided = false;
  /** The decisions of the call under way, made on the first one (most steps decide nothing). */
  private out: FanOutDecision[] | null = null;

  constructor(private readonly options: FanOutOptions) {
    if (!Number.isInteger(options.needed) || options.needed < 0)
      throw new Error(`a fan-out's needed answers must be a whole number of at least 0, got ${options.needed}`);
    this.tally = new QuorumTally(options.needed, options.available.length);
    this.replicas = options.available.map((up) => (up ? 'spare' : 'down'));
  }

  /** True once the fan-out is won or lost. */
  get isDecided(): boolean {
    return this.decided;
  }

  /** The first decisions: whom to ask, whom to skip as known down, and whether to arm the hedge timer. */
  start(): readonly FanOutDecision[] {
    if (this.started) throw new Error('a fan-out starts once');
    this.started = true;
    let asked = 0;
    const replicas = this.replicas;
    for (let replica = 0; replica < replicas.length; replica += 1) {
      if (replicas[replica] === 'down') {
        this.tally.record(false);
        replicas[replica] = 'skipped';
        this.emit(replica < SHARED_DECISION_REPLICAS ? KNOWN_DOWN_SKIPS[replica]! : { type: 'skip', replica, why: 'known-down' });
      } else if (this.options.askFirst === 'all' || asked < this.options.needed) {
        asked += 1;
        this.send(replica, false);
      } else {
        this.spares.push(replica);
      }
    }
    this.decide();
    if (!this.decided && this.spares.length > 0 && this.options.hedge) this.armHedge();
    return this.taken();
  }

  /** Feeds one event and returns what to do about it. Rejects an event about a replica that has no request in flight. */
  step(event: FanOutEvent): readonly FanOutDecision[] {
    if (!this.started) throw new Error('a fan-out takes events only after start()');
    if (event.type === 'hedge-timer-fired') {
      this.hedgeFired();
      return this.taken();
    }
    if (this.replicas[event.replica] !== 'sent') {
      throw new Error(
        `replica ${event.replica} has no request in flight (it is ${this.replicas[event.replica] ?? 'not one of the targets'})`,
      );
    }
    this.replicas[event.replica] = 'done';
    if (event.type === 'answered') {
      this.tally.record(true);
    } else {
      this.tally.record(false);
      if (event.failure.kind === 'conflict') this.conflicts += 1;
      if (event.failure.kind === 'refused-ahead') this.refusedAhead ??= event.failure.reason;
      if (event.failure.kind === 'refused-full') this.refusedFull ??= event.failure.reason;
      if (!this.decided) this.askSpare(false);
    }
    this.decide();
    return this.taken();
  }

  /** Adds a decision to the call's list, making the list on the first. */
  private emit(decision: FanOutDecision): void {
    if (this.out === null) this.out = [decision];
    else this.out.push(decision);
  }

  /** The call's decisions, handed over (the shared empty list when there are none). */
  private taken(): readonly FanOutDecision[] {
    const out = this.out;
    this.out = null;
    return out ?? NO_DECISIONS;
  }

  private hedgeFired(): void {
    this.hedgeArmed = false;
    if (this.decided || this.spares.length === 0) return;
    this.askSpare(true);
    if (this.spares.length > 0) this.armHedge();
  }

  private askSpare(hedged: boolean): void {
    const replica = this.spares.shift();
    if (replica !== undefined) this.send(replica, hedged);
  }

  private send(replica: number, hedged: boolean): void {
    this.contacted += 1;
    this.replicas[replica] = 'sent';
    if (replica >= SHARED_DECISION_REPLICAS) this.emit({ type: 'send', replica, hedged });
    else this.emit((hedged ? HEDGED_SENDS : SENDS)[replica]!);
  }

  private armHedge(): void {
    this.hedgeArmed = true;
    this.emit(ARM_HEDGE_TIMER);
  }

  private decide(): void {
    if (this.decided) return;
    const result = this.tally.result();
    if (result === 'pending') return;
    this.decided = true;
    if (this.hedgeArmed) {
      this.hedgeArmed = false;
      this.emit(CANCEL_HEDGE_TIMER);
    }
    if (this.spares.length > 0) {
      for (const replica of this.spares.splice(0)) {
        this.replicas[replica] = 'skipped';
        this.emit(replica < SHARED_DECISION_REPLICAS ? DECIDED_SKIPS[replica]! : { type: 'skip', replica, why: 'decided' });
      }
    }
    this.emit(result === 'won' ? WON : { type: 'lost', ...this.loss() });
  }

  private loss(): FanOutLoss {
    if (this.refusedAhead !== null) return { reason: 'refused-ahead', refusal: this.refusedAhead };
    if (this.conflicts > 0) return { reason: 'conflict' };
    return { reason: 'quorum-not-met', received: this.tally.received, contacted: this.contacted, refusal: this.refusedFull };
  }
}
