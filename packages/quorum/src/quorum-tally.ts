/** Where a quorum stands: still waiting, reached, or impossible to reach. */
export type QuorumResult = 'pending' | 'won' | 'lost';

/**
 * Counts answers towards a quorum, as a pure state machine (after etcd's `VoteResult`): `needed`
 * successes win; enough failures that the remaining replicas cannot make up the difference lose.
 * It decides nothing else, so the rules can be tested without any I/O.
 */
export class QuorumTally {
  private successes = 0;
  private failures = 0;

  constructor(
    readonly needed: number,
    readonly total: number,
  ) {}

  get received(): number {
    return this.successes;
  }

  get answered(): number {
    return this.successes + this.failures;
  }

  /** Records one replica's outcome and returns the quorum's state after it. */
  record(ok: boolean): QuorumResult {
    if (ok) this.successes += 1;
    else this.failures += 1;
    return this.result();
  }

  result(): QuorumResult {
    if (this.successes >= this.needed) return 'won';
    if (this.total - this.failures < this.needed) return 'lost';
    return 'pending';
  }
}
