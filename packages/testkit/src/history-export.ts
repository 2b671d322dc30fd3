/**
 * Exports a recorded history for the external linearizability checkers, for when the targeted
 * checks of {@link checkHistory} pass but you want the full search: Knossos (through Jepsen or
 * elle-cli) and Porcupine. Both judge one register per key, with a delete as a write of nil, and
 * both treat an indeterminate (`info`) write as one that may take effect at any later time or
 * never, as dkv's own checker does. Neither models TTLs: keys written with a TTL that a read saw
 * expire will look like lost writes to them, so export histories without TTLs (or without those
 * keys) for these tools.
 */
import type { HistoryOperation } from './history-recorder.js';

/** How {@link toElleEdn} shapes each operation's `:f` and `:value`. */
export type EdnForm = 'independent' | 'register' | 'txn';

/** Options of {@link toElleEdn}. */
export interface ElleEdnOptions {
  /**
   * - `independent` (default): `:f :read`/`:write`, `:value [k v]`, the shape of Jepsen's
   *   `jepsen.independent` tuples, for a Knossos `cas-register` checked per key.
   * - `register`: `:value v`, a single register, for Knossos or `elle-cli --model cas-register`
   *   directly; the history must hold one key (filter it first), or this throws.
   * - `txn`: `:f :txn`, `:value [[:r k v]]` or `[[:w k v]]`, for Elle's `rw-register` checker
   *   (which needs every write to a key to write a distinct value, so deletes, all nil, confuse it).
   */
  readonly form?: EdnForm;
}

/** Each client's operations split into sequential lanes, each lane one Jepsen/Porcupine process number. */
function assignLanes(history: readonly HistoryOperation[]): Map<number, number> {
  const byProcess = new Map<string, HistoryOperation[]>();
  for (const op of history) {
    const list = byProcess.get(op.process);
    if (list) list.push(op);
    else byProcess.set(op.process, [op]);
  }
  const laneOf = new Map<number, number>();
  let nextLane = 0;
  for (const ops of byProcess.values()) {
    ops.sort((a, b) => a.startMs - b.startMs || a.id - b.id);
    // Open lanes of this client: [lane number, end of its last op]. A lane whose op is `info`
    // is closed for good, as Jepsen retires a crashed process.
    const open: Array<[number, number]> = [];
    for (const op of ops) {
      const free = open.findIndex(([, endMs]) => endMs < op.startMs);
      let lane: number;
      if (free >= 0) {
        lane = open[free]![0];
        open.splice(free, 1);
      } else {
        lane = nextLane;
        nextLane += 1;
      }
      laneOf.set(op.id, lane);
      if (op.outcome !== 'info') open.push([lane, op.endMs]);
    }
  }
  return laneOf;
}

interface HistoryEvent {
  readonly op: HistoryOperation;
  readonly invoke: boolean;
  readonly timeMs: number;
}

/** Invocations and completions in time order; at equal times invocations come first, so equal times read as concurrency. */
function events(history: readonly HistoryOperation[]): HistoryEvent[] {
  const list: HistoryEvent[] = [];
  for (const op of history) {
    list.push({ op, invoke: true, timeMs: op.startMs }, { op, invoke: false, timeMs: op.endMs });
  }
  return list.sort((a, b) => a.timeMs - b.timeMs || Number(b.invoke) - Number(a.invoke) || a.op.id - b.op.id);
}

function ednString(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === '"') out += '\\"';
    else if (char === '\\') out += '\\\\';
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += char;
  }
  return `${out}"`;
}

function ednValue(value: string | null): string {
  return value === null ? 'nil' : ednString(value);
}

/** The register value an event carries: what a write writes (nil for a delete), what an ok read read, nil otherwise. */
function registerValue(op: HistoryOperation, invoke: boolean): string | null {
  if (op.kind === 'put') return op.value;
  if (op.kind === 'delete') return null;
  return invoke || op.outcome !== 'ok' ? null : op.value;
}

function ednOpValue(op: HistoryOperation, invoke: boolean, form: EdnForm): string {
  const value = ednValue(registerValue(op, invoke));
  if (form === 'register') return value;
  if (form === 'independent') return `[${ednString(op.key)} ${value}]`;
  return `[[${op.kind === 'get' ? ':r' : ':w'} ${ednString(op.key)} ${value}]]`;
}

function originMs(history: readonly HistoryOperation[]): number {
  let origin = Number.POSITIVE_INFINITY;
  for (const op of history) origin = Math.min(origin, op.startMs);
  return Number.isFinite(origin) ? origin : 0;
}

/**
 * The history as a Jepsen history file: one EDN map per line, an `:invoke` event when each
 * operation began and an `:ok`, `:fail` or `:info` event when it ended, in time order:
 *
 * `{:type :invoke, :f :write, :value ["k" "v1"], :process 0, :time 0, :index 0, :dkv-id 7}`
 *
 * Gets are `:read`; puts are `:write`s of their value and deletes `:write`s of nil. `:time` is
 * nanoseconds since the first invocation. `:process` numbers are assigned per client, and a client
 * whose operations overlapped, or that had an `info` operation (Jepsen retires a crashed process),
 * continues under a fresh number. `:dkv-id` is the operation's id in `history`.
 *
 * To check it:
 * - elle-cli (https://github.com/ligurio/elle-cli), one key in `register` form:
 *   `java -jar elle-cli-<version>-standalone.jar --model cas-register history.edn`.
 * - Knossos from a REPL, `independent` form: read the lines with `clojure.edn/read-string`, turn
 *   each `:value` into `(jepsen.independent/tuple k v)`, and run
 *   `(jepsen.checker/check (jepsen.independent/checker (jepsen.checker/linearizable {:model (knossos.model/cas-register)})) {} history {})`.
 * - Elle, `txn` form: `java -jar elle-cli-<version>-standalone.jar --model rw-register history.edn`.
 */
export function toElleEdn(history: readonly HistoryOperation[], options: ElleEdnOptions = {}): string {
  const form = options.form ?? 'independent';
  if (form === 'register') {
    const keys = new Set(history.map((op) => op.key));
    if (keys.size > 1) {
      throw new RangeError(
        `the register form holds one key, but the history has ${keys.size}; filter it by key, or use the independent form`,
      );
    }
  }
  const lanes = assignLanes(history);
  const origin = originMs(history);
  const lines = events(history).map((event, index) => {
    const { op, invoke } = event;
    const type = invoke ? 'invoke' : op.outcome;
    const f = form === 'txn' ? 'txn' : op.kind === 'get' ? 'read' : 'write';
    const timeNs = Math.round((event.timeMs - origin) * 1e6);
    return `{:type :${type}, :f :${f}, :value ${ednOpValue(op, invoke, form)}, :process ${lanes.get(op.id)!}, :time ${timeNs}, :index ${index}, :dkv-id ${op.id}}`;
  });
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** The `Input` of a {@link PorcupineOperation}. */
export interface PorcupineInput {
  readonly op: 'get' | 'put' | 'delete';
  readonly key: string;
  /** The value a put writes; null for gets and deletes. */
  readonly value: string | null;
}

/** The `Output` of a {@link PorcupineOperation}. */
export interface PorcupineOutput {
  /** For a get, the value read, or null for not-found; null for writes. */
  readonly value: string | null;
  /** False only for an indeterminate write, whose outcome is unknown: a model must accept any output for it. */
  readonly ok: boolean;
}

/** One operation in the shape of Porcupine's `porcupine.Operation`. */
export interface PorcupineOperation {
  readonly ClientId: number;
  readonly Input: PorcupineInput;
  /** Invocation time, integer nanoseconds since the first invocation. */
  readonly Call: number;
  readonly Output: PorcupineOutput;
  /** Response time, same unit; `Number.MAX_SAFE_INTEGER` for an indeterminate write (it may take effect at any later time). */
  readonly Return: number;
}

/**
 * The history as Porcupine operations. Failed operations are left out: a failed write had no
 * effect and a failed read told nothing. `ClientId`s are assigned as {@link toElleEdn} assigns
 * `:process` numbers. See {@link toPorcupineJson} for how to check them.
 */
export function toPorcupineOperations(history: readonly HistoryOperation[]): PorcupineOperation[] {
  const kept = history.filter((op) => op.outcome !== 'fail');
  const lanes = assignLanes(kept);
  const origin = originMs(kept);
  const toNs = (ms: number): number => Math.round((ms - origin) * 1e6);
  return [...kept]
    .sort((a, b) => a.startMs - b.startMs || a.id - b.id)
    .map((op) => ({
      ClientId: lanes.get(op.id)!,
      Input: { op: op.kind, key: op.key, value: op.kind === 'put' ? op.value : null },
      Call: toNs(op.startMs),
      Output: { value: op.kind === 'get' ? op.value : null, ok: op.outcome === 'ok' },
      Return: op.outcome === 'info' ? Number.MAX_SAFE_INTEGER : toNs(op.endMs),
    }));
}

/**
 * {@link toPorcupineOperations} as a JSON array. To check it with Porcupine
 * (https://github.com/anishathalye/porcupine), decode it in Go into
 * `[]struct{ ClientId int; Input kvInput; Call int64; Output kvOutput; Return int64 }` with
 * `type kvInput struct { Op string \`json:"op"\`; Key string \`json:"key"\`; Value *string \`json:"value"\` }` and
 * `type kvOutput struct { Value *string \`json:"value"\`; Ok bool \`json:"ok"\` }`, copy each into a
 * `porcupine.Operation`, and call `porcupine.CheckOperations(model, ops)` with a model whose
 * `Partition` groups operations by `Input.Key`, whose `Init` is a nil `*string`, and whose `Step`
 * is: get is legal when `Output.Value` equals the state (both nil, or equal strings) and keeps it;
 * put sets the state to `Input.Value`; delete sets it to nil; puts and deletes are always legal,
 * whatever their output (an indeterminate one has `Ok: false`).
 */
export function toPorcupineJson(history: readonly HistoryOperation[]): string {
  return JSON.stringify(toPorcupineOperations(history));
}
