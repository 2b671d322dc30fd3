// Goal: the compact engine's TTL heap pops in deadline order, whatever the pushes, pops and
// rebuilds, and in exactly the order of the in-memory engine's BinaryHeap for the same operations
// (equal deadlines included), so both engines' bounded sweeps do the same work.
// Method: fast-check operation sequences run on both heaps side by side.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeadlineHeap } from './deadline-heap.js';
import { BinaryHeap } from '@dkv/core';

type HeapOp = { kind: 'push'; deadline: number } | { kind: 'pop' } | { kind: 'rebuild'; deadlines: number[] };

const opArb: fc.Arbitrary<HeapOp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('push' as const), deadline: fc.integer({ min: 0, max: 20 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('pop' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('rebuild' as const),
      deadlines: fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 40 }),
    }),
  },
);

describe('DeadlineHeap', () => {
  it('pops what BinaryHeap pops, in the same order, with each item’s slot and generation', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
        const heap = new DeadlineHeap();
        type Item = { readonly deadline: number; readonly ids: readonly [number, number] };
        const reference = new BinaryHeap<Item>((a, b) => a.deadline - b.deadline);
        let next = 0;
        for (const op of ops) {
          if (op.kind === 'push') {
            heap.push(op.deadline, next, next * 3);
            reference.push({ deadline: op.deadline, ids: [next, next * 3] });
            next += 1;
          } else if (op.kind === 'pop') {
            const expected = reference.pop();
            if (expected === undefined) {
              expect(heap.size).toBe(0);
            } else {
              expect([heap.peekSlot(), heap.peekGeneration()]).toEqual(expected.ids);
            }
            heap.pop();
          } else {
            const items = op.deadlines.map((deadline, i) => [deadline, [next + i, (next + i) * 3] as const] as const);
            next += items.length;
            reference.rebuild(items.map(([deadline, ids]) => ({ deadline, ids })));
            heap.rebuild(items.length, (add) => {
              for (const [deadline, [slot, generation]] of items) add(deadline, slot, generation);
            });
          }
          expect(heap.size).toBe(reference.size);
          expect(heap.peekDeadline()).toBe(reference.peek()?.deadline ?? Number.POSITIVE_INFINITY);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('grows past its initial capacity and drains in order', () => {
    const heap = new DeadlineHeap();
    for (let i = 0; i < 5000; i += 1) heap.push((i * 7919) % 5000, i, 0);
    const drained: number[] = [];
    while (heap.size > 0) {
      drained.push(heap.peekDeadline());
      heap.pop();
    }
    expect(drained).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(heap.peekDeadline()).toBe(Number.POSITIVE_INFINITY);
  });
});
