import {
  DEFAULT_ZONE,
  type ClusterSettings,
  type Clock,
  type GossipState,
  type Heartbeat,
  type Membership,
  type MembershipView,
  type MemberEntry,
  type Node,
  type NodeClient,
  type Rng,
  type Scheduler,
  type SyncProgress,
  type Timer,
} from '@dkv/core';
import {
  changeEntry,
  ClusterSettingsConflictError,
  mergeEntries,
  mergeSettings,
  settingsConflicts,
  toMembership,
} from './cluster-document.js';
import {
  DEFAULT_FAILURE_DETECTOR_CONFIG,
  FailureDetector,
  isNewerHeartbeat,
  type FailureDetectorConfig,
  type Liveness,
} from './failure-detector.js';

/** A change of one entry of the document: the fields that change (its version is bumped). */
export interface EntryChange {
  readonly id: string;
  readonly change: Partial<Omit<MemberEntry, 'id' | 'version'>>;
}

/** Pacing and bounds of gossip. */
export interface GossiperConfig {
  /** Time between two rounds. */
  readonly intervalMs: number;
  /** Peers contacted per round. */
  readonly fanout: number;
  /** Deadline of one exchange. */
  readonly requestTimeoutMs: number;
  /** The most entries (and heartbeats) a document may hold: a bound on every gossip message. */
  readonly maxEntries: number;
  /** Every this many rounds, one peer believed down is contacted too, to notice it came back. */
  readonly probeDownEveryRounds: number;
  /** A process that is not a member (a coordinator) and has been down this long is forgotten. */
  readonly forgetAfterMs: number;
  readonly failureDetector: FailureDetectorConfig;
}

/** Defaults for a LAN: a round every 200 ms with 3 peers; suspect after 2 s, down after 5 s. */
export const DEFAULT_GOSSIPER_CONFIG: GossiperConfig = {
  intervalMs: 200,
  fanout: 3,
  requestTimeoutMs: 500,
  maxEntries: 1024,
  probeDownEveryRounds: 5,
  forgetAfterMs: 10 * 60_000,
  failureDetector: DEFAULT_FAILURE_DETECTOR_CONFIG,
};

/** What a {@link Gossiper} is made of. */
export interface GossiperDeps {
  /** This process's node id when it is a member (a storage node), null for a coordinator that only listens. */
  readonly selfId: string | null;
  /**
   * The id a process that is not a member (a coordinator) sends heartbeats under, so that others
   * see it alive and see which ring it routes by ({@link Gossiper.setRouting}). Ignored for members.
   */
  readonly heartbeatId?: string;
  /** The document this process starts from: a bootstrap document, its own joining entry, or nothing. */
  readonly initialEntries: readonly MemberEntry[];
  /** Whom to ask while no peer is known (addresses from `--join` / `--members`). */
  readonly seeds: readonly Node[];
  readonly nodeClient: NodeClient;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  readonly config?: GossiperConfig;
  /**
   * The cluster-wide settings this process was started with (see {@link ClusterSettings}); they
   * travel with the document. Default: none declared (nothing to disagree on).
   */
  readonly settings?: ClusterSettings;
}

/**
 * Membership by gossip, with no leader and no single point of failure (after Dynamo, Cassandra's
 * gossiper and memberlist's push-pull). Every `intervalMs` the process bumps its heartbeat and
 * exchanges its whole state (the membership document and the heartbeats) with up to `fanout`
 * random peers, or with the seeds while it knows no peer; both sides merge. The document is a
 * CRDT (`mergeEntries`), heartbeats merge by the later (generation, counter), so all processes
 * converge. A restarted process recovers the document from its peers, and a coordinator learns
 * the ring from any node it can reach.
 *
 * It is the {@link MembershipView} of the process: `current()` is the document as a `Membership`,
 * and listeners run when its epoch changes. A local {@link FailureDetector} over the heartbeats
 * gives `livenessOf`, which `/v1/cluster` shows as suspect / down over the document status.
 */
export class Gossiper implements MembershipView {
  readonly selfId: string | null;
  private entries: readonly MemberEntry[];
  private membership: Membership;
  private readonly heartbeats = new Map<string, Heartbeat>();
  private readonly listeners = new Set<(membership: Membership) => void>();
  private readonly detector: FailureDetector;
  private readonly config: GossiperConfig;
  private readonly generation: number;
  private counter = 0;
  private rounds = 0;
  private progress: SyncProgress | null = null;
  private routes: string | null = null;
  private reads: string | null = null;
  /** Heartbeats of processes that are not members, dropped after a long silence, by id: not revived by stale copies. */
  private readonly forgotten = new Map<string, { generation: number; counter: number; atMs: number }>();
  private inFlight = 0;
  private timer: Timer | null = null;
  private restartNoticed = false;
  private heardFromPeer = false;
  private readonly restartListeners = new Set<(previousGeneration: number) => void>();
  /** This process's settings and those learnt from the cluster (they agree where both are set). */
  private settings: ClusterSettings;
  /** True once a peer's answer carried settings that agree: from then on this process is in the cluster. */
  private agreed = false;
  private conflict: ClusterSettingsConflictError | null = null;
  private readonly conflictListeners = new Set<(error: ClusterSettingsConflictError) => void>();
  /** Gossip states ignored because their sender's settings differ from this process's. */
  private conflictingStates = 0;

  constructor(private readonly deps: GossiperDeps) {
    this.config = deps.config ?? DEFAULT_GOSSIPER_CONFIG;
    this.selfId = deps.selfId;
    this.detector = new FailureDetector(this.config.failureDetector);
    this.entries = mergeEntries([], deps.initialEntries).entries;
    this.membership = toMembership(this.entries);
    this.generation = deps.clock.now();
    this.settings = deps.settings ?? {};
    this.trackAll();
  }

  /**
   * Calls `listener` once if this process refuses to join: the first answer it got from the
   * cluster carried a cluster-wide setting with another value than its own. Gossip has stopped
   * by then, and nothing of that answer was merged.
   */
  onSettingsConflict(listener: (error: ClusterSettingsConflictError) => void): () => void {
    this.conflictListeners.add(listener);
    return () => this.conflictListeners.delete(listener);
  }

  /** Why this process refused to join, or null. */
  settingsConflict(): ClusterSettingsConflictError | null {
    return this.conflict;
  }

  /** The cluster-wide settings as this process knows them: its own and those gossip brought. */
  clusterSettings(): ClusterSettings {
    return this.settings;
  }

  /** Gossip states this process ignored because their sender's settings differed from its own. */
  conflictingStatesIgnored(): number {
    return this.conflictingStates;
  }

  /** The document as a `Membership` (removed nodes left out). */
  current(): Membership {
    return this.membership;
  }

  subscribe(listener: (membership: Membership) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The document's entries, sorted by id, tombstones included. */
  document(): readonly MemberEntry[] {
    return this.entries;
  }

  entry(nodeId: string): MemberEntry | undefined {
    return this.entries.find((entry) => entry.id === nodeId);
  }

  /** This process's opinion of a node's liveness; itself is always alive. */
  livenessOf(nodeId: string): Liveness {
    if (nodeId === this.selfId) return 'alive';
    return this.detector.livenessOf(nodeId, this.deps.clock.now());
  }

  /** The last heartbeat known of `nodeId` (with its sync progress, if any). */
  heartbeatOf(nodeId: string): Heartbeat | undefined {
    if (nodeId === this.selfId) return this.ownHeartbeat();
    return this.heartbeats.get(nodeId);
  }

  /**
   * Calls `listener` once if a peer holds a heartbeat of this node from an earlier generation:
   * this process is a restart of that node, and whatever the earlier one held in memory is gone.
   */
  onPreviousIncarnation(listener: (previousGeneration: number) => void): () => void {
    this.restartListeners.add(listener);
    return () => this.restartListeners.delete(listener);
  }

  /** Sets the future ring id this process routes writes by (a coordinator), reported on its heartbeat. */
  setRouting(ringId: string | null): void {
    this.routes = ringId;
  }

  /** Sets the read ring id this process reads by (a coordinator), reported on its heartbeat. */
  setReading(ringId: string | null): void {
    this.reads = ringId;
  }

  /**
   * Whether every process that coordinates and that this process still remembers, live or not
   * (a coordinator cut off from gossip keeps routing by what it knew), reads by `ringId`, this
   * process included. A process forgotten (down for `forgetAfterMs`) no longer counts, nor one
   * whose heartbeat does not say what it reads by (older than the field).
   */
  everyoneReadsBy(ringId: string): boolean {
    const own = this.ownHeartbeat();
    if (own?.reads != null && own.reads !== ringId) return false;
    for (const beat of this.heartbeats.values()) {
      if (beat.routes !== null && beat.reads != null && beat.reads !== ringId) return false;
    }
    return true;
  }

  /**
   * The ring ids the live processes that coordinate writes route by (their last heartbeat), this
   * process included: what a node that gains ranges waits on before it streams.
   */
  routingProcesses(): Array<{ readonly id: string; readonly routes: string }> {
    const out: Array<{ id: string; routes: string }> = [];
    const own = this.ownHeartbeat();
    if (own?.routes) out.push({ id: own.id, routes: own.routes });
    for (const beat of this.heartbeats.values()) {
      if (beat.routes !== null && this.livenessOf(beat.id) !== 'down') out.push({ id: beat.id, routes: beat.routes });
    }
    return out;
  }

  /** Sets the sync progress this node reports on its heartbeat (null when nothing is moving). */
  setProgress(progress: SyncProgress | null): void {
    this.progress = progress;
  }

  /**
   * Changes entries and bumps each one's version, in one local step: a process that merges this
   * document later sees all of the changes at once. Entries not in the document are ignored.
   */
  change(changes: readonly EntryChange[]): void {
    const updated: MemberEntry[] = [];
    for (const { id, change } of changes) {
      const entry = this.entry(id);
      if (entry) updated.push(changeEntry(entry, change));
    }
    this.adopt(updated);
  }

  /** Merges whole entries into the document (an admin action creating or replacing entries). */
  put(entries: readonly MemberEntry[]): void {
    this.adopt(entries);
  }

  /**
   * The state one gossip message carries: the document and the heartbeats, own one refreshed. The
   * own heartbeat is left out until a peer has answered: the peer's answer then still holds the
   * heartbeat of this node's previous generation, if it had one, which is how a restarted
   * process learns that it is a restart (see {@link onPreviousIncarnation}).
   */
  state(): GossipState {
    const heartbeats = [...this.heartbeats.values()];
    const own = this.hasHeardFromPeers() ? this.ownHeartbeat() : undefined;
    if (own) heartbeats.push(own);
    return { entries: this.entries, heartbeats, settings: this.settings };
  }

  /**
   * The storage node's side of a push-pull exchange: merge what came, answer with the result. A
   * state whose settings differ from this process's is not merged; the answer carries this
   * process's settings, from which the sender learns that it must not join.
   */
  handleGossip(state: GossipState): GossipState {
    this.merge(state);
    return this.state();
  }

  /**
   * True once this process has merged a state from another process (or knows no peer to hear
   * from): until then it cannot know whether it is a restart of a node the cluster remembers.
   */
  hasHeardFromPeers(): boolean {
    return (
      this.heardFromPeer ||
      !this.entries.some((entry) => entry.role === 'storage' && entry.id !== this.selfId && entry.status !== 'removed')
    );
  }

  /**
   * Merges a peer's state into this one. A state over the size bound is refused whole. A state
   * whose cluster-wide settings differ from this process's is not merged: when it is the answer
   * to this process's own request (`isAnswer`) and this process has not yet agreed with any peer,
   * this process is the newcomer and refuses to join (see {@link onSettingsConflict}); otherwise
   * the sender is, and its state is ignored.
   */
  merge(state: GossipState, isAnswer = false): void {
    if (state.entries.length > this.config.maxEntries || state.heartbeats.length > this.config.maxEntries) {
      throw new RangeError(`gossip state over the bound of ${this.config.maxEntries} entries`);
    }
    if (this.conflict !== null) return;
    if (state.settings !== undefined) {
      const conflicts = settingsConflicts(this.settings, state.settings);
      if (conflicts.length > 0) {
        if (isAnswer && !this.agreed) this.refuse(new ClusterSettingsConflictError(conflicts));
        else this.conflictingStates += 1;
        return;
      }
      this.settings = mergeSettings(this.settings, state.settings);
      if (isAnswer) this.agreed = true;
    }
    const now = this.deps.clock.now();
    for (const beat of state.heartbeats) {
      const forgotten = this.forgotten.get(beat.id);
      if (forgotten && !isNewerHeartbeat(beat, forgotten)) continue;
      if (forgotten) this.forgotten.delete(beat.id);
      if (beat.id === this.selfId && beat.generation < this.generation && !this.restartNoticed) {
        this.restartNoticed = true;
        for (const listener of this.restartListeners) listener(beat.generation);
      }
      if (beat.id === this.heartbeatId() || this.entry(beat.id)?.status === 'removed') continue;
      const known = this.heartbeats.get(beat.id);
      if (known === undefined || isNewerHeartbeat(beat, known)) this.heartbeats.set(beat.id, beat);
      this.detector.observe(beat, now);
    }
    this.adopt(state.entries);
    this.heardFromPeer = true;
  }

  /** Starts periodic rounds; the first one runs at once. */
  start(): void {
    if (this.timer) return;
    this.round();
    this.timer = this.deps.scheduler.every(this.config.intervalMs, () => this.round());
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /**
   * One round: bump the heartbeat and exchange state with up to `fanout` peers. Exchanges run in
   * the background; a round is skipped while `2 x fanout` are still in flight, so a slow network
   * cannot pile them up.
   */
  round(): void {
    if (this.conflict !== null) return;
    this.counter += 1;
    this.rounds += 1;
    this.forgetDeparted();
    if (this.inFlight >= 2 * this.config.fanout) return;
    for (const peer of this.pickPeers()) {
      this.inFlight += 1;
      this.deps.nodeClient
        .send(peer, { type: 'GOSSIP', state: this.state() }, { timeoutMs: this.config.requestTimeoutMs })
        .then((answer) => this.merge(answer.state, true))
        .catch(() => undefined)
        .finally(() => {
          this.inFlight -= 1;
        });
    }
  }

  private refuse(error: ClusterSettingsConflictError): void {
    this.conflict = error;
    this.stop();
    for (const listener of this.conflictListeners) listener(error);
  }

  private pickPeers(): Node[] {
    const peers = this.entries.filter((entry) => entry.role === 'storage' && entry.status !== 'removed' && entry.id !== this.selfId);
    if (peers.length === 0) return this.deps.seeds.filter((seed) => seed.id !== this.selfId).slice(0, this.config.fanout);
    const rng = this.deps.rng;
    const shuffled = shuffle(peers, rng);
    // A peer whose heartbeat progressed within the last interval has just exchanged state with
    // this process, or with one that did: it needs no exchange this round. In a small cluster,
    // where the fanout reaches every peer, this halves the exchanges (each pair once per round
    // instead of twice) and the heartbeats still arrive at least every few rounds, far inside
    // the failure detector's timeouts.
    const freshSince = this.deps.clock.now() - this.config.intervalMs;
    const live = shuffled.filter((entry) => this.livenessOf(entry.id) !== 'down' && !this.detector.progressedSince(entry.id, freshSince));
    const picked = live.slice(0, this.config.fanout);
    const down = shuffled.filter((entry) => this.livenessOf(entry.id) === 'down');
    const probe = down[0];
    if (probe && this.rounds % this.config.probeDownEveryRounds === 0) picked.push(probe);
    return picked.map(entryNode);
  }

  private heartbeatId(): string | null {
    return this.selfId ?? this.deps.heartbeatId ?? null;
  }

  private ownHeartbeat(): Heartbeat | undefined {
    const id = this.heartbeatId();
    if (id === null) return undefined;
    return { id, generation: this.generation, counter: this.counter, progress: this.progress, routes: this.routes, reads: this.reads };
  }

  /**
   * Drops the heartbeats of processes that are not members (coordinators come and go, often
   * with fresh ids) once they have been down for `forgetAfterMs`, remembering the last one seen
   * for as long again so that a stale copy still travelling cannot bring it back.
   */
  private forgetDeparted(): void {
    const now = this.deps.clock.now();
    const forgetAfterMs = this.config.forgetAfterMs;
    for (const [id, until] of this.forgotten) if (now - until.atMs > forgetAfterMs) this.forgotten.delete(id);
    for (const [id, beat] of this.heartbeats) {
      if (this.entry(id) !== undefined || this.detector.livenessOf(id, now - forgetAfterMs) !== 'down') continue;
      this.heartbeats.delete(id);
      this.detector.forget(id);
      this.forgotten.set(id, { generation: beat.generation, counter: beat.counter, atMs: now });
    }
  }

  private adopt(incoming: readonly MemberEntry[]): void {
    const before = this.membership.epoch;
    const result = mergeEntries(this.entries, incoming);
    if (!result.changed) return;
    this.entries = result.entries;
    this.membership = toMembership(this.entries);
    for (const entry of this.entries) {
      if (entry.status !== 'removed') continue;
      this.heartbeats.delete(entry.id);
      this.detector.forget(entry.id);
    }
    this.trackAll();
    if (this.membership.epoch !== before) for (const listener of this.listeners) listener(this.membership);
  }

  private trackAll(): void {
    const now = this.deps.clock.now();
    for (const entry of this.entries) if (entry.status !== 'removed' && entry.id !== this.selfId) this.detector.track(entry.id, now);
  }
}

/** The node a document entry describes, to send it requests. */
export function entryNode(entry: MemberEntry): Node {
  return {
    id: entry.id,
    address: entry.address,
    role: entry.role,
    status: 'up',
    vnodes: entry.vnodes,
    metadata: entry.metadata,
    zone: entry.zone ?? DEFAULT_ZONE,
  };
}

function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const result = items.slice();
  for (let i = result.length - 1; i > 0; i -= 1) {
    const j = rng.int(i + 1);
    [result[i], result[j]] = [result[j] as T, result[i] as T];
  }
  return result;
}
