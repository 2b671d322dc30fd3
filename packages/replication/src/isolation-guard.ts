import type { Clock, MemberEntry, RangeScanStorageEngine, Scheduler, Timer } from '@dkv/core';
import type { Gossiper } from '@dkv/membership';

/** When a storage node counts as away too long, and how it comes back. */
export interface IsolationConfig {
  /**
   * Out of contact with a majority of the cluster for longer than this, the node quarantines its
   * data. It must leave, within the tombstone grace, time for anti-entropy to bring the node every
   * tombstone it missed once it is back: the node sets it to half the grace, which the grace
   * (at least twice the anti-entropy interval) makes at least one anti-entropy interval.
   */
  readonly maxIsolationMs: number;
  /**
   * How long contact with a majority must have lasted before a quarantined node decides (wipe, or
   * lift the quarantine): long enough for gossip to have told it which peers were quarantined too.
   */
  readonly settleMs: number;
  /** How often the guard looks at the cluster (it also looks on every read, scan and digest). */
  readonly checkIntervalMs: number;
  /**
   * How often, at most, the last-contact time is written to the {@link LastContactStore}. A
   * restarted node counts itself away since the time last written, so it errs by at most this
   * much on the safe side (quarantining a little early); it must be below `maxIsolationMs`.
   * Unset, it is 5 s or a quarter of `maxIsolationMs`, whichever is less.
   */
  readonly saveIntervalMs: number;
}

/** Defaults: half the default grace of one hour; decide after 2 s of contact; look every second; save every 5 s. */
export const DEFAULT_ISOLATION_CONFIG: IsolationConfig = {
  maxIsolationMs: 30 * 60_000,
  settleMs: 2000,
  checkIntervalMs: 1000,
  saveIntervalMs: 5000,
};

/**
 * Where the guard keeps its last-contact time across restarts: with the node's data (a durable
 * node's data directory), so that a node stopped longer than it may be away and started again on
 * its data knows it was away, as a paused one does.
 */
export interface LastContactStore {
  /** The last-contact time an earlier run of this node saved (ms since the epoch), or null if none. */
  load(): number | null;
  /** Saves the last-contact time; called at most every `saveIntervalMs`, and on stop. */
  save(lastContactMs: number): void;
}

/** The metadata key a quarantined node sets on its own membership entry, so that peers know. */
export const QUARANTINED_METADATA_KEY = 'quarantined';

/** Counters for metrics and tests. */
export interface IsolationStats {
  /** Times the node went into quarantine (away longer than `maxIsolationMs`). */
  quarantines: number;
  /** Times it came back to a healthy majority and wiped its data to catch up as an empty node. */
  wipes: number;
  /** Times it came back to a cluster that had been cut apart as a whole, and kept its data. */
  lifted: number;
}

/** What an {@link IsolationGuard} works with. */
export interface IsolationGuardDeps {
  readonly selfId: string;
  readonly gossiper: Gossiper;
  readonly engine: RangeScanStorageEngine;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /** Called after a wipe: the store is empty and must catch up (range sync's `markDataLost`). */
  readonly onWiped: () => void;
  readonly config?: Partial<IsolationConfig>;
  /** Keeps the last-contact time across restarts; without it a restarted node starts in contact. */
  readonly store?: LastContactStore;
}

/** Records removed per scan batch while wiping. */
const WIPE_BATCH_RECORDS = 1000;
const FULL_RING = [[0, 2 ** 32 - 1]] as const;

/**
 * Cassandra's gc_grace rule, enforced by the node itself: a replica that was out of contact
 * longer than the tombstone grace may hold values whose deletes the others have already purged;
 * if it served them, or pushed them by anti-entropy or read repair, the deletes would come back.
 *
 * The guard tracks the last local time the node was in contact with a majority of the cluster's
 * storage nodes (itself included), judged by gossip's failure detector: a peer counts while its
 * heartbeat progresses, so a node behind a partition, or paused (SIGSTOP, a frozen VM), loses
 * contact with the majority at once. The time since the last contact is judged before the
 * present contact, so a node whose checks stopped (a paused process, or one stopped and started
 * again on its data, with a {@link LastContactStore}) is quarantined on its first check even when
 * gossip has already shown it its peers alive again (a freshly started failure detector takes
 * every peer for alive). Once it has been out of contact for more than `maxIsolationMs`, the node is quarantined: it
 * serves no read, scan or digest (so it pushes nothing by anti-entropy, range sync or read
 * repair) and starts no anti-entropy round; it still takes writes, as a node catching up does.
 * The check runs on every such request, not only on a timer, so a resumed node refuses its first
 * request already.
 *
 * When contact with a majority has lasted `settleMs`, the quarantined node decides:
 * - if a majority of the cluster is in contact and not quarantined itself, the cluster went on
 *   without it and may have purged tombstones: it wipes its store and catches up as a node that
 *   restarted empty (range sync from the replicas, not read from until done). Its acknowledged
 *   writes are not lost: a write acknowledged by W replicas while W + R > N is on replicas of the
 *   majority too, or could not have been deleted there (a delete needs W of the same replicas).
 * - otherwise the whole cluster was cut apart (every node quarantined): no majority could have
 *   acknowledged a delete meanwhile, so wiping would only lose data; it lifts the quarantine and
 *   keeps its store. This is why the guard quarantines rather than wipes at once.
 * Why not wipe at once when the time is up: in a cluster-wide outage every node would wipe, and
 * the data would be gone. Why not keep the data and merge it back: a value whose tombstone was
 * purged cannot be told from a write the others missed.
 */
export class IsolationGuard {
  readonly stats: IsolationStats = { quarantines: 0, wipes: 0, lifted: 0 };
  private readonly config: IsolationConfig;
  private lastContactMs: number;
  private quarantined = false;
  private contactSinceMs: number | null = null;
  private savedContactMs: number | null = null;
  private timer: Timer | null = null;
  /** How recent a contact lets {@link isQuarantined} answer without looking again (see there). */
  private readonly recheckMs: number;

  constructor(private readonly deps: IsolationGuardDeps) {
    const merged = { ...DEFAULT_ISOLATION_CONFIG, ...deps.config };
    // Unset, the save interval follows a short isolation limit down (tests run with a grace of seconds).
    const saveIntervalMs = deps.config?.saveIntervalMs ?? Math.min(DEFAULT_ISOLATION_CONFIG.saveIntervalMs, merged.maxIsolationMs / 4);
    this.config = { ...merged, saveIntervalMs };
    this.recheckMs = Math.min(this.config.checkIntervalMs, this.config.maxIsolationMs / 100);
    if (!(this.config.saveIntervalMs > 0 && this.config.saveIntervalMs < this.config.maxIsolationMs)) {
      throw new RangeError(
        `isolation saveIntervalMs must be above 0 and below maxIsolationMs (${this.config.maxIsolationMs}), got ${this.config.saveIntervalMs}`,
      );
    }
    // Set once, not on start: a process that is stopped and started again (a pause) keeps it, and a
    // process started again on its data reads it back from the store.
    const saved = deps.store?.load() ?? null;
    this.lastContactMs = saved ?? deps.clock.now();
    this.savedContactMs = saved;
  }

  /** Looks at once (a resumed process judges its absence before anything else), then every `checkIntervalMs`. */
  start(): void {
    if (this.timer !== null) return;
    this.check();
    this.timer = this.deps.scheduler.every(this.config.checkIntervalMs, () => this.check());
  }

  /** Stops looking, and saves the last-contact time so that a restart counts from it. */
  stop(): void {
    this.timer?.cancel();
    this.timer = null;
    this.save();
  }

  /** The last local time the node was known to be in contact with a majority. */
  lastContact(): number {
    return this.lastContactMs;
  }

  /**
   * True while the node must not serve or push its data. It runs on every read a replica serves,
   * so a node that is not quarantined and was last found in contact with a majority less than
   * `recheckMs` ago (the check interval, at most a hundredth of `maxIsolationMs`) answers no
   * without looking at its peers again: the answer is the one a check would give, since a check
   * quarantines only after `maxIsolationMs` without contact. What is skipped is the contact's note,
   * so the last contact lags the truth by at most `recheckMs` and a node cut off is quarantined at
   * most that much early (a second in 30 minutes by default). Otherwise it checks afresh: a process
   * resumed after a pause longer than it may be away is quarantined on its first read.
   */
  isQuarantined(): boolean {
    if (!this.quarantined && this.deps.clock.now() - this.lastContactMs < this.recheckMs) return false;
    this.check();
    return this.quarantined;
  }

  /** One look: note contact, enter quarantine when away too long, or leave it once back. */
  check(): void {
    const now = this.deps.clock.now();
    const contact = this.inMajorityContact();
    if (!this.quarantined) {
      // Away too long is judged before the present contact: see the class comment.
      if (now - this.lastContactMs > this.config.maxIsolationMs) this.enterQuarantine();
      else if (contact) this.noteContact(now);
      return;
    }
    // Again while quarantined: the first mark may have come before this node had its own entry.
    this.mark(true);
    if (!contact) {
      this.contactSinceMs = null;
      return;
    }
    this.contactSinceMs ??= now;
    if (now - this.contactSinceMs < this.config.settleMs) return;
    if (this.healthyMajority()) {
      this.wipe();
      this.stats.wipes += 1;
      this.deps.onWiped();
    } else {
      this.stats.lifted += 1;
    }
    this.quarantined = false;
    this.mark(false);
    this.noteContact(now);
  }

  private noteContact(now: number): void {
    this.lastContactMs = now;
    if (this.savedContactMs === null || now - this.savedContactMs >= this.config.saveIntervalMs) this.save();
  }

  private save(): void {
    if (this.deps.store === undefined) return;
    this.deps.store.save(this.lastContactMs);
    this.savedContactMs = this.lastContactMs;
  }

  private enterQuarantine(): void {
    this.quarantined = true;
    this.contactSinceMs = null;
    this.stats.quarantines += 1;
    this.mark(true);
  }

  /** The storage nodes of the document, removed ones left out. */
  private members() {
    return this.deps.gossiper.document().filter((entry) => entry.role === 'storage' && entry.status !== 'removed');
  }

  /**
   * Whether this node and the peers gossip finds alive are a majority of the storage nodes (removed
   * ones left out). It runs on every read a replica serves (see {@link isQuarantined}), so it
   * counts in one pass over the document, with no array or closure made per call.
   */
  private inMajorityContact(): boolean {
    const document = this.deps.gossiper.document();
    const selfId = this.deps.selfId;
    let members = 0;
    let inContact = 0;
    for (let i = 0; i < document.length; i += 1) {
      const entry = document[i] as MemberEntry;
      if (entry.role !== 'storage' || entry.status === 'removed') continue;
      members += 1;
      if (entry.id === selfId || this.deps.gossiper.livenessOf(entry.id) === 'alive') inContact += 1;
    }
    return 2 * inContact > members;
  }

  /** A majority of the cluster's nodes are in contact and were not quarantined themselves. */
  private healthyMajority(): boolean {
    const members = this.members();
    const healthy = members.filter(
      (entry) =>
        entry.id !== this.deps.selfId &&
        this.deps.gossiper.livenessOf(entry.id) === 'alive' &&
        entry.metadata[QUARANTINED_METADATA_KEY] !== 'true',
    ).length;
    return 2 * healthy > members.length;
  }

  /** Sets or clears the quarantine mark on this node's own entry, for its peers' decisions. */
  private mark(quarantined: boolean): void {
    const entry = this.deps.gossiper.entry(this.deps.selfId);
    if (entry === undefined || (entry.metadata[QUARANTINED_METADATA_KEY] === 'true') === quarantined) return;
    const metadata: Record<string, string> = { ...entry.metadata };
    if (quarantined) metadata[QUARANTINED_METADATA_KEY] = 'true';
    else delete metadata[QUARANTINED_METADATA_KEY];
    this.deps.gossiper.change([{ id: this.deps.selfId, change: { metadata } }]);
  }

  /** Forgets every record, tombstones included, in bounded scan batches. */
  private wipe(): void {
    const { engine } = this.deps;
    for (;;) {
      const batch = engine.scan(FULL_RING, null, WIPE_BATCH_RECORDS, Number.MAX_SAFE_INTEGER);
      for (const { key } of batch.records) engine.remove(key);
      if (batch.cursor === null) return;
    }
  }
}
