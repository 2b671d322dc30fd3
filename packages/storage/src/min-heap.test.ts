// Goal: the TTL index's heap pops in priority order, whatever the pushes and rebuilds.
// Method: fast-check properties against sorting the same priorities.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MinHeap } from './min-heap.js';

function drain(heap: MinHeap<number>): number[] {
  const out: number[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) out.push(item);
  return out;
}

describe('MinHeap', () => {
  it('pops items in priority order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 })), (priorities) => {
        const heap = new MinHeap<number>();
        priorities.forEach((p) => heap.push(p, p));
        expect(heap.size).toBe(priorities.length);
        expect(drain(heap)).toEqual([...priorities].sort((a, b) => a - b));
        expect(heap.peekPriority()).toBe(Number.POSITIVE_INFINITY);
      }),
    );
  });

  it('keeps order across interleaved pushes and pops', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined })), (ops) => {
        const heap = new MinHeap<number>();
        const reference: number[] = [];
        for (const op of ops) {
          if (op === undefined) {
            reference.sort((a, b) => a - b);
            expect(heap.pop()).toBe(reference.shift());
          } else {
            heap.push(op, op);
            reference.push(op);
          }
          expect(heap.peekPriority()).toBe(reference.length ? Math.min(...reference) : Number.POSITIVE_INFINITY);
        }
      }),
    );
  });

  it('heapifies a rebuild', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.array(fc.integer()), (before, after) => {
        const heap = new MinHeap<number>();
        before.forEach((p) => heap.push(p, p));
        heap.rebuild(after.map((p) => [p, p] as const));
        expect(drain(heap)).toEqual([...after].sort((a, b) => a - b));
      }),
    );
  });
});
