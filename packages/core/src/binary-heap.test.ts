// Goal: the generic heap pops in comparator order whatever the pushes, pops, retains and rebuilds,
// Method: fast-check operation
// sequences against a sorted reference array.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryHeap } from './binary-heap.js';

const byValue = (a: number, b: number): number => a - b;

function drain<T>(heap: BinaryHeap<T>): T[] {
  const out: T[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) out.push(item);
  return out;
}

describe('BinaryHeap', () => {
  it('pops items in comparator order, whatever the push order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 })), (values) => {
        const heap = new BinaryHeap(byValue);
        values.forEach((value) => heap.push(value));
        expect(heap.size).toBe(values.length);
        expect(drain(heap)).toEqual([...values].sort(byValue));
        expect(heap.peek()).toBeUndefined();
      }),
    );
  });

  it('keeps order across interleaved pushes and pops', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined })), (ops) => {
        const heap = new BinaryHeap(byValue);
        const reference: number[] = [];
        for (const op of ops) {
          if (op === undefined) {
            reference.sort(byValue);
            expect(heap.pop()).toBe(reference.shift());
          } else {
            heap.push(op);
            reference.push(op);
          }
          expect(heap.peek()).toBe(reference.length ? Math.min(...reference) : undefined);
        }
      }),
    );
  });

  it('heapifies a rebuild and a retain', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.array(fc.integer()), (before, after) => {
        const heap = new BinaryHeap(byValue);
        before.forEach((value) => heap.push(value));
        heap.rebuild(after);
        expect(drain(heap)).toEqual([...after].sort(byValue));
        after.forEach((value) => heap.push(value));
        heap.retain((value) => value % 3 === 0);
        expect(drain(heap)).toEqual(after.filter((value) => value % 3 === 0).sort(byValue));
      }),
    );
  });
});
