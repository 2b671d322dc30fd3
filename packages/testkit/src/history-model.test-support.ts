/**
 * Histories a correct store produces, for testing the history checker: a single sequential model
 * (one map) that each operation updates at its linearization point, a random moment inside its
 * interval. Indeterminate writes take effect at a random moment after they began (possibly after
 * the client gave up) or never; failed writes never do. Versions are issued in linearization
 * order, which satisfies dkv's rule that a write is ordered after every write acknowledged
 * before it began. TTLs expire exactly TTL after the linearization point, on the recorder's clock.
 */
import type { HistoryOperation, OperationKind, OperationOutcome } from './history-recorder.js';
import { SeededRng } from './seeded-rng.js';

/** What {@link generateCorrectHistory} draws. */
export interface ModelHistoryOptions {
  readonly ops: number;
  readonly keys: number;
  readonly readRatio?: number;
  /** Fraction of writes that are deletes. */
  readonly deleteRatio?: number;
  /** Fraction of puts that carry a TTL of 1 to 3 seconds. */
  readonly ttlRatio?: number;
  /** Fraction of writes that end indeterminate. */
  readonly infoRatio?: number;
  /** Fraction of operations that fail. */
  readonly failRatio?: number;
  /** Operations start uniformly in [0, spanMs). Default: 3 ms per operation. */
  readonly spanMs?: number;
  /** Operations last 0 to this many ms. Default 50. */
  readonly maxDurationMs?: number;
}

interface Draft {
  id: number;
  kind: OperationKind;
  key: string;
  startMs: number;
  endMs: number;
  outcome: OperationOutcome;
  ttlSeconds?: number;
  /** Linearization point; undefined when the operation has no effect (failed, or an info write that never landed). */
  pointMs?: number;
  value: string | null;
  version?: number;
}

interface Cell {
  readonly value: string | null;
  readonly version: number;
  readonly expiresAtMs: number | null;
}

function draw(rng: SeededRng, id: number, options: ModelHistoryOptions): Draft {
  const spanMs = options.spanMs ?? options.ops * 3;
  const startMs = rng.int(Math.max(1, spanMs));
  const endMs = startMs + rng.int((options.maxDurationMs ?? 50) + 1);
  const key = `k${rng.int(options.keys)}`;
  const isRead = rng.chance(options.readRatio ?? 0.5);
  const kind: OperationKind = isRead ? 'get' : rng.chance(options.deleteRatio ?? 0.15) ? 'delete' : 'put';
  const fails = rng.chance(options.failRatio ?? 0.03);
  const outcome: OperationOutcome = fails ? 'fail' : !isRead && rng.chance(options.infoRatio ?? 0.1) ? 'info' : 'ok';
  const draft: Draft = { id, kind, key, startMs, endMs, outcome, value: kind === 'put' ? `v${id}` : null };
  if (kind === 'put' && rng.chance(options.ttlRatio ?? 0.1)) draft.ttlSeconds = 1 + rng.int(3);
  if (outcome === 'ok') draft.pointMs = startMs + rng.int(endMs - startMs + 1);
  else if (outcome === 'info' && rng.chance(0.5)) draft.pointMs = startMs + rng.int(endMs - startMs + 200);
  return draft;
}

/** A history that a correct store could produce; `seed` names it. */
export function generateCorrectHistory(seed: number, options: ModelHistoryOptions): HistoryOperation[] {
  const rng = new SeededRng(seed >>> 0);
  const drafts = Array.from({ length: options.ops }, (_, id) => draw(rng, id, options));
  const applied = drafts.filter((d) => d.pointMs !== undefined).sort((a, b) => a.pointMs! - b.pointMs! || a.id - b.id);
  const state = new Map<string, Cell>();
  let version = 0;
  for (const d of applied) {
    const at = d.pointMs!;
    if (d.kind === 'get') {
      const cell = state.get(d.key);
      const live = cell && cell.value !== null && (cell.expiresAtMs === null || cell.expiresAtMs > at);
      if (live) {
        d.value = cell.value;
        d.version = cell.version;
      }
      continue;
    }
    version += 1;
    const expiresAtMs = d.ttlSeconds !== undefined ? at + d.ttlSeconds * 1000 : null;
    state.set(d.key, { value: d.kind === 'put' ? d.value : null, version, expiresAtMs });
    if (d.outcome === 'ok') d.version = version;
  }
  return drafts.map((d) => ({
    id: d.id,
    process: `p${d.id % 7}`,
    kind: d.kind,
    key: d.key,
    value: d.kind === 'get' && d.outcome !== 'ok' ? null : d.value,
    startMs: d.startMs,
    endMs: d.endMs,
    outcome: d.outcome,
    ...(d.version !== undefined ? { version: d.version } : {}),
    ...(d.ttlSeconds !== undefined ? { ttlSeconds: d.ttlSeconds } : {}),
  }));
}
