import {
  compareVersionedValues,
  DkvError,
  QuorumNotMetError,
  REPLICA_FULL_PREFIX,
  sendTo,
  VersionTooFarAheadError,
  type Node,
  type NodeClient,
  type Clock,
  type ReplyTo,
  type QuorumOperation,
  type ResponseFor,
  type Scheduler,
  type Timer,
  type VersionedValue,
  type VersionMeta,
} from '@dkv/core';
import { FanOut, type FanOutDecision, type FanOutEvent, type FanOutFailure, type FanOutLoss } from './fan-out.js';

/**
 * The least wait before a hedged read asks a spare replica, in ms: below this a hedge would race
 * replicas that are merely busy. The one home of this default (the coordinator's config and its
 * `--hedge-min-delay-ms` read it).
 */
export const DEFAULT_HEDGE_MIN_DELAY_MS = 2;

/**
 * The most wait before a hedged read asks a spare replica, in ms: a quarter of the default replica
 * deadline (1 s), so that a hedge still has time to answer when the recent p99 is high. The one
 * home of this default (the coordinator's config and its `--hedge-max-delay-ms` read it).
 */
export const DEFAULT_HEDGE_MAX_DELAY_MS = 250;

/** Settings of the QuorumManager. */
export interface QuorumConfig {
  /** Deadline of each replica request; a replica that has not answered by then counts as failed. */
  readonly requestTimeoutMs: number;
  /** Read repairs allowed in flight at once; beyond this, repairs are dropped (and counted). */
  readonly readRepairMaxInFlight: number;
  /**
   * Whom a read (and a write's version read) asks first: `all` replicas at once (Dynamo's way:
   * no replica can be slow for it, at N/R times the work), or only as many as the `quorum`
   * needs (Cassandra's way), asking the next replica at once when one fails, and as a hedge when
   * the quorum has not answered within the recent p99 of replica reads (bounded by
   * `hedgeMinDelayMs`..`hedgeMaxDelayMs`). Hedging needs the `scheduler` hook; without the
   * `clock` hook no latency is measured and the hedge delay is `hedgeMinDelayMs`.
   * The coordinator's default is `all`.
   */
  readonly readFanout: 'all' | 'quorum';
  /** The least hedge delay (the coordinator's default is {@link DEFAULT_HEDGE_MIN_DELAY_MS}). */
  readonly hedgeMinDelayMs: number;
  /** The most hedge delay (the coordinator's default is {@link DEFAULT_HEDGE_MAX_DELAY_MS}). */
  readonly hedgeMaxDelayMs: number;
  /**
   * A replica asked before the others whenever it is one of a key's targets: the storage node
   * this coordinator runs in, whose replica it reads in-process. With `readFanout: 'quorum'` a
   * read then costs one network request instead of R.
   */
  readonly preferNodeId?: string;
  /**
   * Digest reads: one replica (the first asked) sends the value, the others only its version
   * (HEAD), and a newer version seen without its value is fetched (see `readWithQuorum`). Saves
   * the value's bytes on all but one replica of every read. Default true.
   */
  readonly readDigests?: boolean;
}

/** Hooks through which the QuorumManager learns about and reports on replicas. */
export interface QuorumHooks {
  /** False for nodes known to be down: they are not contacted and count as failed at once. */
  readonly isAvailable?: (nodeId: string) => boolean;
  /** Told the outcome of every replica request, with the failure when there was one (passive failure detection). */
  readonly onReplicaOutcome?: (nodeId: string, ok: boolean, error?: unknown) => void;
  /** Time and timers for hedged reads; without a scheduler a read asks a spare replica only when one fails. */
  readonly clock?: Clock;
  readonly scheduler?: Scheduler;
}

/** One replica's part in a fan-out: its answer, or why it has none. */
export type ReplicaOutcome<T> =
  { readonly node: Node; readonly ok: true; readonly value: T } | { readonly node: Node; readonly ok: false; readonly error: unknown };

/** What a quorum read found. `record` is the winning version, tombstone included, or null. */
export interface QuorumReadResult {
  readonly record: VersionedValue | null;
  readonly answered: number;
}

/** A replica that had not acknowledged a write when the quorum was reached, and its pending outcome. */
export interface Straggler {
  readonly node: Node;
  /** Resolves true if the replica acknowledged eventually, false if it failed, timed out or was skipped. */
  readonly delivered: Promise<boolean>;
  /**
   * Calls `listener` once with what `delivered` resolves with, as soon as it is known (at once if
   * it is), without a promise: the ReplicationManager follows every straggler of every write so.
   */
  whenDelivered(listener: (ok: boolean) => void): void;
}

/** What a quorum write achieved: who acknowledged in time, and who is still owed the write. */
export interface QuorumWriteResult {
  readonly acknowledged: readonly Node[];
  readonly stragglers: readonly Straggler[];
}

/** Counters the QuorumManager keeps for metrics. */
export interface QuorumStats {
  readRepairs: number;
  readRepairsDropped: number;
  /**
   * Values fetched because a version came only as a digest: the newest of a read's quorum (the
   * read waits for it), or a newer one a replica reported after the quorum (for read repair).
   */
  digestFetches: number;
  /** Spare replicas asked because the first ones were slower than the hedge delay. */
  hedgedReads: number;
  quorumFailures: { read: number; write: number; 'version read': number };
}

/** One fan-out of a request to a key's replicas, as `QuorumManager.fanOut` takes it. */
interface FanOutRequest<T, R> {
  readonly operation: QuorumOperation;
  readonly targets: readonly Node[];
  /** Answers that decide the quorum (R or W). */
  readonly needed: number;
  /**
   * Sends the request to one replica, its outcome handed to `reply` (see `NodeClient.sendTo`): the
   * requests on every read's and write's path, which so cost one object per replica asked rather
   * than a promise and its reaction. A request without it has `send`.
   */
  readonly sendTo?: (node: Node, reply: ReplyTo<T>) => void;
  /** Sends the request to one replica; a rejection is that replica's failure. Used when there is no `sendTo`. */
  readonly send?: (node: Node) => Promise<T>;
  /**
   * Checks a replica's answer in the reaction that receives it, before it counts: what it returns
   * is the answer, and a throw makes it that replica's failure, as a rejection of `send` would.
   * A check here rather than a `then` on `send` saves a promise, a closure and a turn per replica.
   */
  readonly check?: (answer: T, node: Node) => T;
  /** `needed`: ask only as many replicas as the quorum needs, the others as spares. Default `all`. */
  readonly askFirst?: 'all' | 'needed';
  /** Says which failures came from a healthy replica: a version `conflict`, or an `excused` answer. Default: all are errors. */
  readonly classify?: (error: unknown) => 'conflict' | 'excused' | 'error';
  /**
   * What the quorum resolves with once it is won, from the answers so far in the order they came
   * (the array keeps growing after: copy what is kept): called in the reaction of the answer that
   * won it, so no promise stands between the win and the caller's result. A throw rejects.
   */
  readonly won: (answers: ReadonlyArray<{ readonly node: Node; readonly value: T }>, run: FanOutRun<T, R>) => R | PromiseLike<R>;
  /** What the quorum resolves with when it is lost (a version conflict may be an answer); absent or throwing: it rejects. */
  readonly lost?: (error: Error) => R;
  /**
   * Told once every replica has an outcome (answered, failed, or never asked), with the outcomes in
   * the order of `targets`, in the reaction of the last one: read repair's hook, without a promise
   * per replica and a `Promise.all` on every read.
   */
  readonly settled?: (outcomes: ReadonlyArray<ReplicaOutcome<T>>) => void;
}

/** A fan-out under way: its quorum's result, the targets in the order asked, and each one's outcome on demand. */
interface FanOutRun<T, R> {
  readonly quorum: Promise<R>;
  readonly targets: readonly Node[];
  /** Calls `listener` with the outcome of `targets[index]` once it has one (at once if it has). */
  follow(index: number, listener: (outcome: ReplicaOutcome<T>) => void): void;
}

/**
 * The seed's `QuorumManager`: reads and writes a key on its replicas and returns as soon as a
 * quorum answered.
 *
 * Every request fans out to all preferred replicas in parallel (reads with `readFanout: 'quorum'`
 * ask R first and the others as spares) and settles on the R-th (or W-th) answer, so a slow or
 * dead replica never sets the latency; a replica known to be down is not even asked. Highest version wins (`compareVersionedValues`). After a read, every replica that
 * answered with an older version or nothing gets the winner in the background (read repair),
 * including those that answered after the quorum was reached, within a bound on repairs in flight.
 */
export class QuorumManager {
  readonly stats: QuorumStats = {
    readRepairs: 0,
    readRepairsDropped: 0,
    digestFetches: 0,
    hedgedReads: 0,
    quorumFailures: { read: 0, write: 0, 'version read': 0 },
  };
  private repairsInFlight = 0;
  private readonly latency = new LatencyWindow(256);
  /** The options of every replica request, one object for all of them. */
  private readonly requestOptions: { readonly timeoutMs: number };

  constructor(
    private readonly nodeClient: NodeClient,
    private readonly config: QuorumConfig,
    private readonly hooks: QuorumHooks = {},
  ) {
    this.requestOptions = { timeoutMs: config.requestTimeoutMs };
    this.readOps = {
      nodeClient,
      requestOptions: this.requestOptions,
      fetchNewest: (key, answers, newest, r, contacted) => this.fetchNewest(key, answers, newest, r, contacted),
      repair: (key, outcomes, known) => this.repair(key, outcomes, known),
    };
  }

  /**
   * Reads `key` from `targets` and returns the winning record once `r` replicas answered.
   *
   * With `readDigests` (the default) it is a digest read, as Cassandra's: the first replica asked
   * (the preferred one when it is a target) is sent a GET, the others a HEAD, so only one replica
   * sends the value and the rest only its version. When the newest version of the quorum's answers
   * came without its value, the value is fetched from a replica that reported it (one more round
   * trip, counted as `digestFetches`); should none give it, the read fails with QUORUM_NOT_MET.
   * Read repair then sends the winner to every replica that answered older or nothing.
   *
   * The method is written with `then` rather than `async`: it runs on every read, and each promise
   * and resumption it saves is one fewer per replica or per request.
   */
  readWithQuorum(key: string, targets: readonly Node[], r: number): Promise<QuorumReadResult> {
    return this.readRecord(key, targets, r, readResultOf);
  }

  /**
   * {@link readWithQuorum} whose promise resolves with `finish(record, key, answered)` instead of
   * a {@link QuorumReadResult}, called in the reaction that decides the read (a throw rejects): a
   * caller that turns the record into an answer of its own (the coordinator's GET) saves a result
   * object, a promise and a reaction per read. `record` is the winning version, tombstone included,
   * or null; `answered` the replicas that had answered when it was decided.
   */
  readRecord<T>(key: string, targets: readonly Node[], r: number, finish: QuorumReadFinish<T>): Promise<T> {
    if (targets.length === 1 && r === 1) return this.readOne(key, targets[0] as Node, finish);
    if (this.config.readDigests === false) return this.readFull(key, targets, r, finish);
    return this.fanOut<ReadAnswer, T>(new DigestRead(this.readOps, key, targets, r, this.readAskFirst(), finish)).quorum;
  }

  /**
   * What a {@link DigestRead} needs of this manager, made once: the requests' options and the
   * private steps it takes (fetch, repair), so that a read is one object without closures.
   */
  private readonly readOps: ReadOps;

  /**
   * Read repair once both are at hand, whichever comes last: the read's result (`known`, the
   * newest whole record it returns) and every replica's outcome (`settled`). A read whose quorum
   * was not met, or whose newest value could not be fetched, repairs nothing.
   */
  private repairWhenSettled(key: string) {
    let record: VersionedValue | null | undefined;
    let outcomes: ReadonlyArray<ReplicaOutcome<ReadAnswer>> | undefined;
    return {
      known: (known: VersionedValue | null): void => {
        record = known;
        if (outcomes !== undefined) this.repair(key, outcomes, known);
      },
      settled: (all: ReadonlyArray<ReplicaOutcome<ReadAnswer>>): void => {
        outcomes = all;
        if (record !== undefined) this.repair(key, all, record);
      },
    };
  }

  /**
   * The read of a key with one replica and R = 1 (a one-node cluster, N = 1): what the fan-out
   * would decide, without its state machine, arrays, closures and promises per read. No spare, no
   * hedge, nothing to repair: the replica's answer is the answer, and its failure (or its being
   * known down) fails the quorum as the fan-out would.
   */
  private readOne<T>(key: string, node: Node, finish: QuorumReadFinish<T>): Promise<T> {
    if (this.hooks.isAvailable?.(node.id) === false) {
      return Promise.reject(lossErrorOf(this.stats, 'read', 1, { reason: 'quorum-not-met', received: 0, contacted: 0, refusal: null }));
    }
    return this.nodeClient.send(node, { type: 'GET', key }, this.requestOptions).then(
      (answer) => {
        this.hooks.onReplicaOutcome?.(node.id, true);
        return finish(answer.record, key, 1);
      },
      (error: unknown) => {
        this.hooks.onReplicaOutcome?.(node.id, false, error);
        const failure = classifyFailure(error, undefined);
        throw lossErrorOf(
          this.stats,
          'read',
          1,
          failure.kind === 'refused-ahead'
            ? { reason: 'refused-ahead', refusal: failure.reason }
            : { reason: 'quorum-not-met', received: 0, contacted: 1, refusal: null },
        );
      },
    );
  }

  /** The read of every replica's whole record (`readDigests: false`): each answer carries the value. */
  private readFull<T>(key: string, targets: readonly Node[], r: number, finish: QuorumReadFinish<T>): Promise<T> {
    const request = { type: 'GET', key } as const;
    const repair = this.repairWhenSettled(key);
    return this.fanOut<ReadAnswer, T>({
      operation: 'read',
      targets,
      needed: r,
      sendTo: (node, reply) => sendTo(this.nodeClient, node, request, this.requestOptions, reply),
      askFirst: this.readAskFirst(),
      won: (answers) => {
        repair.known(null);
        let winner: VersionedValue | null = null;
        for (const answer of answers) {
          const candidate = (answer.value as GetAnswer).record;
          if (candidate && (!winner || compareVersionedValues(candidate, winner) > 0)) winner = candidate;
        }
        return finish(winner, key, answers.length);
      },
      settled: repair.settled,
    }).quorum;
  }

  /**
   * A digest read's newest version came without its value: asks the replicas that reported it, one
   * at a time, for the whole record. A record at least as new as `newest` is the answer (newer: a
   * write landed meanwhile). None: the quorum cannot say what the newest value is, QUORUM_NOT_MET.
   */
  private fetchNewest(
    key: string,
    answers: ReadonlyArray<{ readonly node: Node; readonly value: ReadAnswer }>,
    newest: VersionMeta,
    r: number,
    contacted: number,
  ): Promise<VersionedValue> {
    this.stats.digestFetches += 1;
    const holders = answers.filter(
      (a) => a.value.type === 'HEAD' && a.value.meta !== null && compareVersionedValues(a.value.meta, newest) === 0,
    );
    const request = { type: 'GET', key } as const;
    const attempt = (index: number): Promise<VersionedValue> => {
      const holder = holders[index];
      if (holder === undefined) {
        this.stats.quorumFailures.read += 1;
        return Promise.reject(new QuorumNotMetError('read', r, answers.length - holders.length, contacted));
      }
      return this.nodeClient.send(holder.node, request, this.requestOptions).then(
        ({ record }) => (record !== null && compareVersionedValues(record, newest) >= 0 ? record : attempt(index + 1)),
        () => attempt(index + 1),
      );
    };
    return attempt(0);
  }

  /**
   * Reads only the version metadata of `key` from `needed` replicas and returns the highest, or
   * null if none holds the key. A `read-first` or sloppy write starts with this, so that its
   * version is above every version acknowledged before it (W + R > N makes the two quorums overlap).
   */
  async readVersionWithQuorum(key: string, targets: readonly Node[], needed: number): Promise<VersionMeta | null> {
    return this.fanOut({
      operation: 'version read',
      targets,
      needed,
      send: (node) =>
        this.nodeClient.send(node, { type: 'HEAD', key }, { timeoutMs: this.config.requestTimeoutMs }).then((answer) => answer.meta),
      askFirst: this.readAskFirst(),
      won: (answers) => winnerOf(answers.map((answer) => answer.value)),
    }).quorum;
  }

  /**
   * Sends `record` to every replica in `targets` and resolves once `w` acknowledged. A replica
   * that answers "I hold something newer" acknowledges too: the key is at least this new there.
   * Replicas that had not acknowledged by then are returned as stragglers for the
   * ReplicationManager to follow up. Rejects with QUORUM_NOT_MET when `w` can no longer be reached.
   *
   * `fallbacks` makes it a sloppy quorum's write: each of its nodes (not a replica of the key) is
   * sent a HINT to keep the record for the replica it stands in for, and counts toward `w` when it
   * took it. A fallback that did not acknowledge is not a straggler: the replica it stood in for
   * is the caller's to follow up.
   */
  async writeWithQuorum(
    key: string,
    record: VersionedValue,
    targets: readonly Node[],
    w: number,
    fallbacks?: ReadonlyMap<string, string>,
  ): Promise<QuorumWriteResult> {
    const timeout = { timeoutMs: this.config.requestTimeoutMs };
    const send = (node: Node): Promise<unknown> => {
      const standsFor = fallbacks?.get(node.id);
      if (standsFor === undefined) return this.nodeClient.send(node, { type: 'PUT', key, record }, timeout);
      return this.nodeClient.send(node, { type: 'HINT', key, record, target: standsFor }, timeout).then((answer) => {
        if (!answer.accepted) throw new Error(`node ${node.id} refused a hint for ${standsFor}`);
        return answer;
      });
    };
    return this.fanOut<unknown, QuorumWriteResult>({
      operation: 'write',
      targets,
      needed: w,
      send,
      won: (answers, run) => writeResultOf(answers, run, isOk, fallbacks),
    }).quorum;
  }

  /**
   * A write that also checks its version: sends `record` to every replica in `targets` and
   * resolves once `w` replicas APPLIED it over a strictly lower version number. A replica that
   * holds a newer (or equal) version answers `applied: false`, and one that held the same number
   * from another writer answers `previous` equal to it; both are conflicts, not failures of the node.
   * When conflicts leave fewer than `w` replicas able to apply, it resolves with the highest
   * version the replicas hold, so the caller can issue a version above it and try again.
   *
   * This is what lets a write skip the read of the current version: if a write X was
   * acknowledged (applied on W replicas) before this one began, any W replicas that apply this
   * record include one that held X or newer, so this record is newer than X (W + W > N).
   *
   * That holds only of replicas that never forget. A replica catching up after losing its data
   * answers `previousUnknown`: it applied the record (it is no straggler) but cannot vouch that it
   * held nothing newer, so it does not count, and the write needs `w` replicas that can. The one
   * exception is `countsUnvouched`: replicas whose vote the quorum does not rest on, the pending
   * replicas of a write while data moves (`planWrite` asks one more acknowledgement for each, so
   * `w` of the others still count).
   */
  writeIfNewer(
    key: string,
    record: VersionedValue,
    targets: readonly Node[],
    w: number,
    countsUnvouched?: (node: Node) => boolean,
  ): Promise<QuorumWriteResult | { readonly conflictVersion: number }> {
    if (targets.length === 1 && w === 1) return this.writeIfNewerToOne(key, record, targets[0] as Node, countsUnvouched);
    let conflictVersion = 0;
    let unvouched = 0;
    const request = { type: 'PUT', key, record } as const;
    return this.fanOut<PutAnswer, QuorumWriteResult | { readonly conflictVersion: number }>({
      operation: 'write',
      targets,
      needed: w,
      sendTo: (node, reply) => sendTo(this.nodeClient, node, request, this.requestOptions, reply),
      check: (answer, node) => {
        // Applied over a strictly lower version NUMBER: a tie won on the writer id applies on
        // the replica (every replica orders the two alike) but does not count, so that an
        // acknowledged write always carries a higher number than the one before it.
        if (answer.applied && answer.previous < record.version) {
          if (answer.previousUnknown !== true || countsUnvouched?.(node) === true) return answer;
          unvouched += 1;
          throw UNVOUCHED;
        }
        conflictVersion = Math.max(conflictVersion, answer.version, answer.previous);
        throw new VersionConflict(conflictVersion);
      },
      classify: classifyWriteIfNewer,
      won: (answers, run) => writeResultOf(answers, run, appliedOrNewer, undefined),
      lost: (error) => {
        if (error instanceof VersionConflict) return { conflictVersion };
        if (error instanceof QuorumNotMetError && unvouched > 0) {
          error.message += `; ${unvouched} more applied it but are catching up after losing their data, so they cannot vouch that they held nothing newer`;
        }
        throw error;
      },
    }).quorum;
  }

  /**
   * {@link writeIfNewer} of one replica with W = 1 (a one-node cluster, N = 1): what the fan-out
   * would decide, as {@link readOne} does for reads, without its state machine, closures per
   * replica, arrays and second promise per write. The replica's applying over a lower version is
   * the quorum (no straggler); its conflict resolves with the version it holds; its unvouched
   * answer, its refusal of the version and its failure (or its being known down) fail the quorum
   * with the errors, statistics and outcome reports the fan-out gives them.
   */
  private writeIfNewerToOne(
    key: string,
    record: VersionedValue,
    node: Node,
    countsUnvouched: ((node: Node) => boolean) | undefined,
  ): Promise<QuorumWriteResult | { readonly conflictVersion: number }> {
    if (this.hooks.isAvailable?.(node.id) === false) {
      return Promise.reject(lossErrorOf(this.stats, 'write', 1, { reason: 'quorum-not-met', received: 0, contacted: 0, refusal: null }));
    }
    return this.nodeClient.send(node, { type: 'PUT', key, record }, this.requestOptions).then(
      (answer): QuorumWriteResult | { readonly conflictVersion: number } => {
        if (answer.applied && answer.previous < record.version) {
          if (answer.previousUnknown !== true || countsUnvouched?.(node) === true) {
            this.hooks.onReplicaOutcome?.(node.id, true);
            return { acknowledged: [node], stragglers: NO_STRAGGLERS };
          }
          // Applied but unvouched: a healthy replica that does not count (the fan-out's `excused`).
          this.hooks.onReplicaOutcome?.(node.id, true, undefined);
          const error = lossErrorOf(this.stats, 'write', 1, { reason: 'quorum-not-met', received: 0, contacted: 1, refusal: null });
          error.message += `; 1 more applied it but are catching up after losing their data, so they cannot vouch that they held nothing newer`;
          throw error;
        }
        // A conflict comes from a healthy replica.
        this.hooks.onReplicaOutcome?.(node.id, true, undefined);
        return { conflictVersion: Math.max(0, answer.version, answer.previous) };
      },
      (error: unknown) => {
        const failure = classifyFailure(error, classifyWriteIfNewer);
        const healthy = isHealthyFailure(failure);
        this.hooks.onReplicaOutcome?.(node.id, healthy, healthy ? undefined : error);
        if (failure.kind === 'refused-ahead')
          throw lossErrorOf(this.stats, 'write', 1, { reason: 'refused-ahead', refusal: failure.reason });
        if (failure.kind === 'conflict') return { conflictVersion: 0 };
        throw lossErrorOf(this.stats, 'write', 1, {
          reason: 'quorum-not-met',
          received: 0,
          contacted: 1,
          refusal: failure.kind === 'refused-full' ? failure.reason : null,
        });
      },
    );
  }

  /**
   * Drives one {@link FanOut}: performs its decisions (sends, the hedge timer, settling `quorum`)
   * and feeds it what the replicas answer, keeping the statistics and hooks on the way. `quorum`
   * settles as soon as the outcome is decided (`needed` successes, or too many failures), with
   * what `won` (or `lost`) makes of it; `settled` and `follow()` follow every replica to the end,
   * for read repair and stragglers (a replica never asked ends as not contacted). A failure that
   * `classify` calls a conflict or excused came from a healthy replica (it is reported so to
   * `onReplicaOutcome`); only conflicts turn a lost quorum into a version conflict.
   *
   * On every request, so it keeps to one small object per replica asked (a `Contact` given to
   * the client's `sendTo`; a request with only `send` costs the reaction to its promise instead)
   * and one promise for the quorum: outcomes are plain values, handed to a listener (a
   * straggler's) when one asks before it is known.
   */
  private fanOut<T, R>(request: FanOutRequest<T, R>): FanOutRun<T, R> {
    const driver = new FanOutDriver(
      request,
      preferFirst(request.targets, this.config.preferNodeId),
      this.stats,
      this.hooks,
      this.latency,
      this.config,
    );
    driver.start();
    return driver;
  }

  /** Whom a read asks first, by `readFanout`: all replicas, or only as many as the quorum needs. */
  private readAskFirst(): 'all' | 'needed' {
    return this.config.readFanout === 'quorum' ? 'needed' : 'all';
  }

  /**
   * Read repair: sends the newest whole record known (`known`, or a newer one a late GET answer
   * brought) to every replica that answered with an older version or nothing.
   *
   * A replica that answered a version newer than every record at hand (a late digest: typically
   * a write that reached it but failed its quorum) is asked for its value first, once, and the
   * repair then carries that value to the others. Left alone, the divergence would outlive any
   * number of reads: each would take its quorum from the same two stale replicas and see the
   * newer version only as a late digest again, until anti-entropy's next round. The fetch is
   * counted as a digest fetch and holds one of the repairs in flight while it runs.
   */
  private repair(key: string, outcomes: ReadonlyArray<ReplicaOutcome<ReadAnswer>>, known: VersionedValue | null, fetched = false): void {
    let winner = known;
    for (const outcome of outcomes) {
      if (!outcome.ok || outcome.value.type !== 'GET') continue;
      const record = outcome.value.record;
      if (record && (!winner || compareVersionedValues(record, winner) > 0)) winner = record;
    }
    if (!fetched && this.fetchLateDigest(key, outcomes, winner)) return;
    if (!winner) return;
    let stale: Node[] | null = null;
    for (const outcome of outcomes) {
      if (!outcome.ok) continue;
      const held = metaOfAnswer(outcome.value);
      if (held && compareVersionedValues(held, winner) >= 0) continue;
      if (this.repairsInFlight >= this.config.readRepairMaxInFlight) {
        this.stats.readRepairsDropped += 1;
        continue;
      }
      this.repairsInFlight += 1;
      this.stats.readRepairs += 1;
      (stale ??= []).push(outcome.node);
    }
    if (stale === null) return;
    // Sent a turn later: this runs in the reaction of a replica's answer, and the read's own
    // result goes to its caller first.
    const record = winner;
    const nodes = stale;
    void Promise.resolve().then(() => {
      for (const node of nodes) {
        this.nodeClient
          .send(node, { type: 'PUT', key, record }, this.requestOptions)
          .catch(() => undefined)
          .finally(() => {
            this.repairsInFlight -= 1;
          });
      }
    });
  }

  /**
   * Starts the fetch of the newest late digest's value when one is newer than `winner`, and the
   * repair with what it brings once it answers (with `winner` again should the fetch fail or bring
   * nothing newer). False when there is nothing to fetch, or the repairs in flight are at their
   * bound (then the fetch is dropped and counted as a dropped repair).
   */
  private fetchLateDigest(key: string, outcomes: ReadonlyArray<ReplicaOutcome<ReadAnswer>>, winner: VersionedValue | null): boolean {
    let newest: { readonly node: Node; readonly meta: VersionMeta } | null = null;
    for (const outcome of outcomes) {
      if (!outcome.ok || outcome.value.type !== 'HEAD' || outcome.value.meta === null) continue;
      const meta = outcome.value.meta;
      if (
        (winner === null || compareVersionedValues(meta, winner) > 0) &&
        (newest === null || compareVersionedValues(meta, newest.meta) > 0)
      ) {
        newest = { node: outcome.node, meta };
      }
    }
    if (newest === null) return false;
    if (this.repairsInFlight >= this.config.readRepairMaxInFlight) {
      this.stats.readRepairsDropped += 1;
      return false;
    }
    this.repairsInFlight += 1;
    this.stats.digestFetches += 1;
    const repairWith = (record: VersionedValue | null): void => {
      this.repairsInFlight -= 1;
      const better = record !== null && (winner === null || compareVersionedValues(record, winner) > 0) ? record : winner;
      this.repair(key, outcomes, better, true);
    };
    this.nodeClient.send(newest.node, { type: 'GET', key }, this.requestOptions).then(
      ({ record }) => repairWith(record),
      () => repairWith(null),
    );
    return true;
  }
}

/**
 * What a quorum read resolves with, made from its winning record (tombstone included, or null),
 * the key, and how many replicas had answered (see `QuorumManager.readRecord`).
 */
export type QuorumReadFinish<T> = (record: VersionedValue | null, key: string, answered: number) => T;

/** `readWithQuorum`'s own finish: the record and the count of answers. */
function readResultOf(record: VersionedValue | null, _key: string, answered: number): QuorumReadResult {
  return { record, answered };
}

/** The parts of a QuorumManager a {@link DigestRead} uses, shared by all its reads. */
interface ReadOps {
  readonly nodeClient: NodeClient;
  readonly requestOptions: { readonly timeoutMs: number };
  fetchNewest(
    key: string,
    answers: ReadonlyArray<{ readonly node: Node; readonly value: ReadAnswer }>,
    newest: VersionMeta,
    r: number,
    contacted: number,
  ): Promise<VersionedValue>;
  repair(key: string, outcomes: ReadonlyArray<ReplicaOutcome<ReadAnswer>>, known: VersionedValue | null): void;
}

/**
 * One digest read (see `QuorumManager.readWithQuorum`) as the fan-out request it drives: the first
 * replica asked gets the GET, the others the HEAD; once won, the newest version's value (fetched
 * if it came as a digest) becomes `finish`'s answer; read repair runs once both that record and
 * every replica's outcome are known, whichever comes last. One object with methods rather than
 * a literal of closures and a repair helper: one is made for every read.
 */
class DigestRead<T> implements FanOutRequest<ReadAnswer, T> {
  readonly operation = 'read';
  private readonly get: { readonly type: 'GET'; readonly key: string };
  private readonly head: { readonly type: 'HEAD'; readonly key: string };
  private valueAsked = false;
  /** The record the read returned (undefined until known; it stays so when the read failed). */
  private record: VersionedValue | null | undefined = undefined;
  /** Every replica's outcome, once all have one. */
  private outcomes: ReadonlyArray<ReplicaOutcome<ReadAnswer>> | undefined = undefined;

  constructor(
    private readonly ops: ReadOps,
    private readonly key: string,
    readonly targets: readonly Node[],
    readonly needed: number,
    readonly askFirst: 'all' | 'needed',
    private readonly finish: QuorumReadFinish<T>,
  ) {
    this.get = { type: 'GET', key };
    this.head = { type: 'HEAD', key };
  }

  sendTo(node: Node, reply: ReplyTo<ReadAnswer>): void {
    if (this.valueAsked) return sendTo(this.ops.nodeClient, node, this.head, this.ops.requestOptions, reply);
    this.valueAsked = true;
    sendTo(this.ops.nodeClient, node, this.get, this.ops.requestOptions, reply);
  }

  won(answers: ReadonlyArray<{ readonly node: Node; readonly value: ReadAnswer }>): T | Promise<T> {
    const found = newestOf(answers);
    if (found === null || found.answer.type === 'GET') {
      const record = found === null ? null : (found.answer as GetAnswer).record;
      this.known(record);
      return this.finish(record, this.key, answers.length);
    }
    const answered = answers.slice();
    return this.ops.fetchNewest(this.key, answered, found.meta, this.needed, this.targets.length).then((record) => {
      this.known(record);
      return this.finish(record, this.key, answered.length);
    });
  }

  settled(outcomes: ReadonlyArray<ReplicaOutcome<ReadAnswer>>): void {
    this.outcomes = outcomes;
    if (this.record !== undefined) this.ops.repair(this.key, outcomes, this.record);
  }

  private known(record: VersionedValue | null): void {
    this.record = record;
    if (this.outcomes !== undefined) this.ops.repair(this.key, this.outcomes, record);
  }
}

/**
 * One fan-out under way, as `QuorumManager.fanOut` drives it: the {@link FanOut} machine's
 * decisions performed (sends, the hedge timer, settling `quorum`) and what the replicas answer fed
 * back. Its state is fields of one object rather than closures over locals, since one is made
 * for every request; each replica asked costs its `Contact` (or a promise's reaction) and its outcome.
 */
class FanOutDriver<T, R> implements FanOutRun<T, R> {
  readonly quorum: Promise<R>;
  private readonly machine: FanOut;
  /** Set when the fan-out may hedge: latency samples feed only the hedge delay (a clock read per request is not free). */
  private readonly clock: Clock | undefined;
  private readonly scheduler: Scheduler | undefined;
  /** The successful outcomes in the order they came (what `won` is given). */
  private readonly answers: Array<{ readonly node: Node; readonly ok: true; readonly value: T }> = [];
  /** Each replica's outcome once it has one, in the order of `targets`. */
  private readonly outcomes: Array<ReplicaOutcome<T> | undefined> = [];
  /** Listeners of `follow()` waiting for a replica still in flight, by replica (made only when one asks). */
  private waiting: Array<Array<(outcome: ReplicaOutcome<T>) => void> | undefined> | null = null;
  private unsettled: number;
  private hedgeTimer: Timer | null = null;
  private resolveQuorum!: (result: R | PromiseLike<R>) => void;
  private rejectQuorum!: (error: unknown) => void;

  constructor(
    private readonly request: FanOutRequest<T, R>,
    readonly targets: readonly Node[],
    private readonly stats: QuorumStats,
    private readonly hooks: QuorumHooks,
    private readonly latency: LatencyWindow,
    private readonly config: QuorumConfig,
  ) {
    const askFirst = request.askFirst ?? 'all';
    const isAvailable = hooks.isAvailable;
    const available: boolean[] = [];
    for (const node of targets) available.push(isAvailable === undefined || isAvailable(node.id));
    this.scheduler = askFirst === 'needed' ? hooks.scheduler : undefined;
    this.clock = askFirst === 'needed' ? hooks.clock : undefined;
    this.machine = new FanOut({ needed: request.needed, available, askFirst, hedge: this.scheduler !== undefined });
    this.unsettled = targets.length;
    this.quorum = new Promise<R>((resolve, reject) => {
      this.resolveQuorum = resolve;
      this.rejectQuorum = reject;
    });
  }

  start(): void {
    this.perform(this.machine.start());
    if (this.targets.length === 0) this.request.settled?.([]);
  }

  follow(index: number, listener: (outcome: ReplicaOutcome<T>) => void): void {
    const known = this.outcomes[index];
    if (known !== undefined) return listener(known);
    this.waiting ??= [];
    (this.waiting[index] ??= []).push(listener);
  }

  private settle(replica: number, outcome: ReplicaOutcome<T>): void {
    this.outcomes[replica] = outcome;
    const waiters = this.waiting?.[replica];
    if (waiters !== undefined) for (const listener of waiters) listener(outcome);
    this.unsettled -= 1;
    if (this.unsettled === 0) this.request.settled?.(this.outcomes as Array<ReplicaOutcome<T>>);
  }

  private perform(decisions: readonly FanOutDecision[]): void {
    // An indexed loop: the lists are of several shapes (shared, frozen, fresh), where `for...of`
    // was seen to make an iterator result per decision.
    for (let index = 0; index < decisions.length; index += 1) {
      const decision = decisions[index]!;
      if (decision.type === 'send') {
        if (decision.hedged) this.stats.hedgedReads += 1;
        this.contact(decision.replica);
      } else if (decision.type === 'skip') {
        this.settle(decision.replica, {
          node: this.targets[decision.replica]!,
          ok: false,
          error: decision.why === 'known-down' ? KNOWN_DOWN : NOT_CONTACTED,
        });
      } else if (decision.type === 'arm-hedge-timer') {
        const delayMs = Math.min(this.config.hedgeMaxDelayMs, Math.max(this.config.hedgeMinDelayMs, this.latency.p99()));
        this.hedgeTimer = this.scheduler?.after(delayMs, () => this.perform(this.machine.step({ type: 'hedge-timer-fired' }))) ?? null;
      } else if (decision.type === 'cancel-hedge-timer') {
        this.hedgeTimer?.cancel();
      } else if (decision.type === 'won') {
        try {
          this.resolveQuorum(this.request.won(this.answers, this));
        } catch (error) {
          this.rejectQuorum(error);
        }
      } else {
        const error = lossErrorOf(this.stats, this.request.operation, this.request.needed, decision);
        const lost = this.request.lost;
        try {
          if (lost === undefined) this.rejectQuorum(error);
          else this.resolveQuorum(lost(error));
        } catch (thrown) {
          this.rejectQuorum(thrown);
        }
      }
    }
  }

  private contact(replica: number): void {
    const node = this.targets[replica]!;
    const startedAt = this.clock?.now() ?? 0;
    const request = this.request;
    if (request.sendTo !== undefined) {
      request.sendTo(node, new Contact(this, replica, node, startedAt));
      return;
    }
    void request.send!(node).then(
      (value) => this.answered(replica, node, value, startedAt),
      (error: unknown) => this.failed(replica, node, error),
    );
  }

  /** Replica `replica` answered (`startedAt`: when it was asked, on the hedging clock). */
  answered(replica: number, node: Node, answer: T, startedAt: number): void {
    let value = answer;
    const check = this.request.check;
    if (check !== undefined) {
      try {
        value = check(answer, node);
      } catch (error) {
        this.failed(replica, node, error);
        return;
      }
    }
    if (this.clock) this.latency.add(this.clock.now() - startedAt);
    const outcome = { node, ok: true, value } as const;
    this.answers.push(outcome);
    this.hooks.onReplicaOutcome?.(node.id, true);
    this.perform(this.machine.step(replica < ANSWERED_EVENTS.length ? ANSWERED_EVENTS[replica]! : { type: 'answered', replica }));
    this.settle(replica, outcome);
  }

  /** Replica `replica` failed with `error`. */
  failed(replica: number, node: Node, error: unknown): void {
    const failure = classifyFailure(error, this.request.classify);
    // A conflict, an excused answer or a refusal for want of room came from a healthy replica: not a failure to detect.
    const healthy = isHealthyFailure(failure);
    this.hooks.onReplicaOutcome?.(node.id, healthy, healthy ? undefined : error);
    this.perform(this.machine.step({ type: 'failed', replica, failure }));
    this.settle(replica, { node, ok: false, error });
  }
}

/** One replica asked by a {@link FanOutDriver} through `sendTo`: its outcome goes back to the driver. */
class Contact<T> implements ReplyTo<T> {
  constructor(
    private readonly driver: Pick<FanOutDriver<T, never>, 'answered' | 'failed'>,
    private readonly replica: number,
    private readonly node: Node,
    private readonly startedAt: number,
  ) {}

  answered(answer: T): void {
    this.driver.answered(this.replica, this.node, answer, this.startedAt);
  }

  failed(error: unknown): void {
    this.driver.failed(this.replica, this.node, error);
  }
}

/** The answer events of the first replicas, shared (events are immutable): one fewer object per answer. */
const ANSWERED_EVENTS: readonly FanOutEvent[] = Object.freeze(
  Array.from({ length: 16 }, (_, replica) => Object.freeze({ type: 'answered', replica } as const)),
);

/** The error a lost fan-out rejects with; a quorum not met is counted in `stats` for metrics. */
function lossErrorOf(stats: QuorumStats, operation: QuorumOperation, needed: number, loss: FanOutLoss): Error {
  if (loss.reason === 'refused-ahead') return new VersionTooFarAheadError(loss.refusal);
  if (loss.reason === 'conflict') return new VersionConflict(0);
  stats.quorumFailures[operation] += 1;
  return new QuorumNotMetError(operation, needed, loss.received, loss.contacted, loss.refusal);
}

/** A replica's answer to a read: the whole record (GET), or only its version (HEAD, a digest read). */
type ReadAnswer = ResponseFor<{ type: 'GET'; key: string }> | ResponseFor<{ type: 'HEAD'; key: string }>;
type GetAnswer = Extract<ReadAnswer, { type: 'GET' }>;
/** A replica's answer to a PUT. */
type PutAnswer = ResponseFor<{ type: 'PUT'; key: string; record: VersionedValue }>;

/** The version an answer reports: a GET's record (a record is a version too) or a HEAD's meta. */
function metaOfAnswer(answer: ReadAnswer): VersionMeta | null {
  return answer.type === 'GET' ? answer.record : answer.meta;
}

/**
 * The answer with the newest version among `answers`, and that version; on a tie a whole record
 * wins over a digest (it needs no fetch). Null when no replica holds the key.
 */
function newestOf(answers: ReadonlyArray<{ readonly value: ReadAnswer }>): { answer: ReadAnswer; meta: VersionMeta } | null {
  let best: ReadAnswer | null = null;
  let bestMeta: VersionMeta | null = null;
  for (const { value } of answers) {
    const meta = metaOfAnswer(value);
    if (meta === null) continue;
    const order = bestMeta === null ? 1 : compareVersionedValues(meta, bestMeta);
    if (order > 0 || (order === 0 && value.type === 'GET')) {
      best = value;
      bestMeta = meta;
    }
  }
  return best === null || bestMeta === null ? null : { answer: best, meta: bestMeta };
}

/**
 * Why a replica has no answer when it was never asked. One shared object each, without a stack:
 * a fan-out with spares ends its unasked replicas this way on nearly every request, and building
 * an Error (a stack capture) per replica was the costliest line of a quorum-sized read.
 */
export const NOT_CONTACTED: Error = stackless('not contacted: the quorum was decided first');
export const KNOWN_DOWN: Error = stackless('not contacted: known to be down');

function stackless(message: string): Error {
  const error = new Error(message);
  error.stack = `Error: ${message}`;
  return Object.freeze(error);
}

/**
 * A replica applied the write but is catching up after losing its data: it cannot count toward an
 * optimistic quorum, yet it is no node failure and no straggler. One shared object, as above.
 */
const UNVOUCHED: Error = stackless('applied, but the replica is catching up and cannot vouch for what it held before');

/** How `writeIfNewer` weighs a replica's failure: a version conflict, an unvouched answer, or an error. */
function classifyWriteIfNewer(error: unknown): 'conflict' | 'excused' | 'error' {
  return error instanceof VersionConflict ? 'conflict' : error === UNVOUCHED ? 'excused' : 'error';
}

/** A plain write's straggler was delivered when it acknowledged. */
function isOk(outcome: ReplicaOutcome<unknown>): boolean {
  return outcome.ok;
}

/** A `writeIfNewer` straggler was delivered when it applied, held something newer, or applied unvouched. */
function appliedOrNewer(outcome: ReplicaOutcome<unknown>): boolean {
  return outcome.ok || outcome.error instanceof VersionConflict || outcome.error === UNVOUCHED;
}

/**
 * A won write's result: the replicas that acknowledged (in the order they did), and every other
 * target as a straggler, except the stand-ins of a sloppy quorum (`fallbacks`), whose replicas are
 * the caller's to follow up. Written as loops: it runs on every write.
 */
function writeResultOf(
  answers: ReadonlyArray<{ readonly node: Node }>,
  run: FanOutRun<unknown, unknown>,
  delivers: (outcome: ReplicaOutcome<unknown>) => boolean,
  fallbacks: ReadonlyMap<string, string> | undefined,
): QuorumWriteResult {
  const acknowledged: Node[] = [];
  for (const answer of answers) acknowledged.push(answer.node);
  let stragglers: Straggler[] | null = null;
  const targets = run.targets;
  for (let index = 0; index < targets.length; index += 1) {
    const node = targets[index]!;
    if (acknowledged.includes(node) || fallbacks?.has(node.id) === true) continue;
    (stragglers ??= []).push(new FollowedStraggler(node, run, index, delivers));
  }
  return { acknowledged, stragglers: stragglers ?? NO_STRAGGLERS };
}

const NO_STRAGGLERS: readonly Straggler[] = Object.freeze([]);

/**
 * A replica still owed a write when its quorum was won, followed through its fan-out: its
 * `delivered` promise is made only if someone asks for it, so a caller that follows it with
 * `whenDelivered` (the ReplicationManager) costs no promise per straggler.
 */
class FollowedStraggler implements Straggler {
  private promise: Promise<boolean> | null = null;

  constructor(
    readonly node: Node,
    private readonly run: FanOutRun<unknown, unknown>,
    private readonly index: number,
    private readonly delivers: (outcome: ReplicaOutcome<unknown>) => boolean,
  ) {}

  get delivered(): Promise<boolean> {
    this.promise ??= new Promise((resolve) => this.whenDelivered(resolve));
    return this.promise;
  }

  whenDelivered(listener: (ok: boolean) => void): void {
    const delivers = this.delivers;
    this.run.follow(this.index, (outcome) => listener(delivers(outcome)));
  }
}

/** A replica holds a version at least as new as the one sent: a conflict, not a node failure. */
class VersionConflict extends Error {
  constructor(readonly heldVersion: number) {
    super(`replica holds version ${heldVersion}`);
  }
}

/**
 * Whether a failure came from a healthy replica, not one to suspect of being down: a version
 * conflict, an excused answer, or a refusal for want of room (a full replica still serves reads).
 * A refusal of a version as too far ahead is not among them, by choice: it says that the replica's
 * clock and this coordinator's are further apart than the cluster tolerates. If the replica's
 * lags, every coordinator's writes meet the same refusal, and suspecting it routes them around
 * it (hints) until its clock is fixed. If this coordinator's is ahead, it suspects every replica
 * and fails its own requests, which its clients then take to another coordinator; and it refuses
 * writes itself (CLOCK_OFFSET_TOO_LARGE) once its samples of the storage nodes' clocks show the
 * offset. Either way the side with the bad clock is the one fenced off.
 */
function isHealthyFailure(failure: FanOutFailure): boolean {
  return failure.kind === 'conflict' || failure.kind === 'excused' || failure.kind === 'refused-full';
}

/**
 * A replica's failure as the fan-out weighs it: by `classify`, then by a refusal of the version as
 * too far ahead, then by a refusal for want of room.
 */
function classifyFailure(error: unknown, classify: FanOutRequest<unknown, unknown>['classify']): FanOutFailure {
  const kind = classify?.(error) ?? 'error';
  if (kind !== 'error') return { kind };
  const reason = versionRefusal(error);
  if (reason !== null) return { kind: 'refused-ahead', reason };
  const full = refusalAfter(error, REPLICA_FULL_PREFIX);
  return full === null ? { kind } : { kind: 'refused-full', reason: full };
}

/** What follows `prefix` in a replica's error message (remote errors travel as text), or null. */
function refusalAfter(error: unknown, prefix: string): string | null {
  if (!(error instanceof DkvError)) return null;
  const at = error.message.indexOf(prefix);
  return at < 0 ? null : error.message.slice(at + prefix.length);
}

/** The reason a replica gave for refusing a version as too far ahead (`VERSION_TOO_FAR_AHEAD: ...`), or null. */
function versionRefusal(error: unknown): string | null {
  return refusalAfter(error, 'VERSION_TOO_FAR_AHEAD: ');
}

/** The highest of some versions by `compareVersionedValues`, or null if there are none. */
export function winnerOf<T extends VersionMeta>(candidates: ReadonlyArray<T | null>): T | null {
  let winner: T | null = null;
  for (const candidate of candidates) {
    if (candidate && (!winner || compareVersionedValues(candidate, winner) > 0)) winner = candidate;
  }
  return winner;
}

/** `targets` with the node `preferredId` moved to the front (the same array when it is absent or first). */
function preferFirst(targets: readonly Node[], preferredId: string | undefined): readonly Node[] {
  if (preferredId === undefined || targets.length === 0 || targets[0]!.id === preferredId) return targets;
  const index = targets.findIndex((node) => node.id === preferredId);
  if (index <= 0) return targets;
  return [targets[index]!, ...targets.slice(0, index), ...targets.slice(index + 1)];
}

/**
 * The recent latencies of replica reads, for the hedge delay: a ring of the last `size` samples
 * whose p99 is recomputed every `size / 4` samples (a sort of at most `size` numbers).
 */
class LatencyWindow {
  private readonly samples: number[] = [];
  private next = 0;
  private sinceSort = 0;
  private cachedP99 = 0;

  constructor(private readonly size: number) {}

  add(ms: number): void {
    if (this.samples.length < this.size) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.size;
    this.sinceSort += 1;
    if (this.sinceSort >= this.size / 4 || this.samples.length < 16) {
      this.sinceSort = 0;
      const sorted = this.samples.slice().sort((a, b) => a - b);
      this.cachedP99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
    }
  }

  p99(): number {
    return this.cachedP99;
  }
}
