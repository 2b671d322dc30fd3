// Goal: the exports are what Knossos/elle-cli and Porcupine read: one EDN event per line with
// Jepsen's keys, process numbers that never have two operations outstanding (and are retired
// after an info), and Porcupine operations with the documented input and output shapes.
// Method: one small history rendered exactly, beside the expected text; a property over model
// histories whose clients overlap, checking the per-process discipline Jepsen requires.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toElleEdn, toPorcupineJson, toPorcupineOperations } from './history-export.js';
import { generateCorrectHistory } from './history-model.test-support.js';
import type { HistoryOperation } from './history-recorder.js';

const history: HistoryOperation[] = [
  { id: 0, process: 'c1', kind: 'put', key: 'k', value: 'a', startMs: 0, endMs: 10, outcome: 'ok', version: 1 },
  { id: 1, process: 'c2', kind: 'get', key: 'k', value: 'a', startMs: 5, endMs: 15, outcome: 'ok', version: 1 },
  { id: 2, process: 'c1', kind: 'delete', key: 'k', value: null, startMs: 20, endMs: 30, outcome: 'info', error: 'QUORUM_NOT_MET' },
  { id: 3, process: 'c1', kind: 'get', key: 'k', value: null, startMs: 40, endMs: 50, outcome: 'fail', error: 'QUORUM_NOT_MET' },
  { id: 4, process: 'c2', kind: 'put', key: 'q"x', value: 'b\n', startMs: 10, endMs: 12, outcome: 'ok', version: 1 },
];

describe('toElleEdn', () => {
  it('renders invoke and completion events in time order, one per line', () => {
    expect(toElleEdn(history).split('\n')).toEqual([
      String.raw`{:type :invoke, :f :write, :value ["k" "a"], :process 0, :time 0, :index 0, :dkv-id 0}`,
      String.raw`{:type :invoke, :f :read, :value ["k" nil], :process 2, :time 5000000, :index 1, :dkv-id 1}`,
      String.raw`{:type :invoke, :f :write, :value ["q\"x" "b\n"], :process 3, :time 10000000, :index 2, :dkv-id 4}`,
      String.raw`{:type :ok, :f :write, :value ["k" "a"], :process 0, :time 10000000, :index 3, :dkv-id 0}`,
      String.raw`{:type :ok, :f :write, :value ["q\"x" "b\n"], :process 3, :time 12000000, :index 4, :dkv-id 4}`,
      String.raw`{:type :ok, :f :read, :value ["k" "a"], :process 2, :time 15000000, :index 5, :dkv-id 1}`,
      String.raw`{:type :invoke, :f :write, :value ["k" nil], :process 0, :time 20000000, :index 6, :dkv-id 2}`,
      String.raw`{:type :info, :f :write, :value ["k" nil], :process 0, :time 30000000, :index 7, :dkv-id 2}`,
      String.raw`{:type :invoke, :f :read, :value ["k" nil], :process 1, :time 40000000, :index 8, :dkv-id 3}`,
      String.raw`{:type :fail, :f :read, :value ["k" nil], :process 1, :time 50000000, :index 9, :dkv-id 3}`,
      '',
    ]);
  });

  it('renders the register and txn forms', () => {
    const oneKey = history.filter((op) => op.key === 'k');
    expect(toElleEdn(oneKey, { form: 'register' }).split('\n')[5]).toBe(
      '{:type :info, :f :write, :value nil, :process 0, :time 30000000, :index 5, :dkv-id 2}',
    );
    expect(toElleEdn(oneKey, { form: 'txn' }).split('\n')[3]).toBe(
      '{:type :ok, :f :txn, :value [[:r "k" "a"]], :process 2, :time 15000000, :index 3, :dkv-id 1}',
    );
    expect(() => toElleEdn(history, { form: 'register' })).toThrow(/one key.*2/);
    expect(toElleEdn([])).toBe('');
  });

  it('never leaves a process with two operations outstanding, nor reuses one after an info', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 200 }), (seed, ops) => {
        const generated = generateCorrectHistory(seed, { ops, keys: 3, spanMs: ops * 2 });
        const state = new Map<number, 'idle' | 'busy' | 'retired'>();
        const lines = toElleEdn(generated).trimEnd().split('\n');
        expect(lines).toHaveLength(ops * 2);
        lines.forEach((line, index) => {
          const [, type, process] = /^\{:type :(\w+), .*:process (\d+), .*:index (\d+),/.exec(line) ?? [];
          expect(line).toContain(`:index ${index},`);
          const p = Number(process);
          const before = state.get(p) ?? 'idle';
          if (type === 'invoke') {
            expect(before).toBe('idle');
            state.set(p, 'busy');
          } else {
            expect(before).toBe('busy');
            state.set(p, type === 'info' ? 'retired' : 'idle');
          }
        });
      }),
      { numRuns: 100 },
    );
  });
});

describe('toPorcupineJson', () => {
  it('renders operations with the documented input and output, without failed ones', () => {
    expect(toPorcupineOperations(history)).toEqual([
      { ClientId: 0, Input: { op: 'put', key: 'k', value: 'a' }, Call: 0, Output: { value: null, ok: true }, Return: 10_000_000 },
      { ClientId: 1, Input: { op: 'get', key: 'k', value: null }, Call: 5_000_000, Output: { value: 'a', ok: true }, Return: 15_000_000 },
      {
        ClientId: 2,
        Input: { op: 'put', key: 'q"x', value: 'b\n' },
        Call: 10_000_000,
        Output: { value: null, ok: true },
        Return: 12_000_000,
      },
      {
        ClientId: 0,
        Input: { op: 'delete', key: 'k', value: null },
        Call: 20_000_000,
        Output: { value: null, ok: false },
        Return: Number.MAX_SAFE_INTEGER,
      },
    ]);
    expect(JSON.parse(toPorcupineJson(history))).toEqual(toPorcupineOperations(history));
  });
});
