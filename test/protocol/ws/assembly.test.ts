/**
 * MessageAssembly: a message's payload grows with the bytes that arrived, never with a declared
 * length, and a fragment costs its bytes only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AssemblyBudget,
  BudgetExceededError,
  MessageAssembly,
  MIN_CAPACITY,
} from '../../../src/protocol/ws/assembly.js';

/** The buffer behind what take() returned: its capacity is what the assembly allocated last. */
function capacityOf(view: Buffer): number {
  return view.buffer.byteLength;
}

describe('MessageAssembly', () => {
  it('hands a payload that came as one piece on as that very view, without a copy', () => {
    const assembly = new MessageAssembly();
    const chunk = Buffer.from('hello world');
    const piece = chunk.subarray(6);
    assembly.push(piece, 16 * 1024 * 1024);
    const out = assembly.take();
    assert.equal(out, piece);
    assert.equal(assembly.length, 0, 'emptied for the next message');
  });

  it('joins pieces in order under any split, with capacity at most twice what arrived (or the minimum)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40_000 }), { minLength: 2, maxLength: 12 }),
        fc.boolean(),
        (sizes, boundIsExact) => {
          const total = sizes.reduce((a, b) => a + b, 0);
          const bound = boundIsExact ? total : 64 * 1024 * 1024;
          const assembly = new MessageAssembly();
          const pieces = sizes.map((n, i) => Buffer.alloc(n, i + 1));
          for (const piece of pieces) assembly.push(piece, bound);
          assert.equal(assembly.length, total);
          const out = assembly.take();
          assert.ok(out.equals(Buffer.concat(pieces)));
          // (Small buffers come from Node's shared pool: their capacity is the pool's.)
          if (pieces.filter((p) => p.length > 0).length > 1 && capacityOf(out) > 8192) {
            assert.ok(capacityOf(out) <= Math.max(MIN_CAPACITY, 2 * total), `capacity ${capacityOf(out)}`);
            assert.ok(capacityOf(out) <= bound || capacityOf(out) === total);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never allocates past the bound: a final frame declared exactly ends in a buffer of its length', () => {
    const assembly = new MessageAssembly();
    const total = 100_000;
    for (let i = 0; i < 100; i++) assembly.push(Buffer.alloc(1000, i), total);
    const out = assembly.take();
    assert.equal(out.length, total);
    assert.equal(capacityOf(out), total);
  });

  it('costs the bytes of 16,384 one-byte fragments, not a view object each', () => {
    const assembly = new MessageAssembly();
    const chunk = Buffer.alloc(16_384, 7);
    for (let i = 0; i < chunk.length; i++) assembly.push(chunk.subarray(i, i + 1), 16 * 1024 * 1024);
    const out = assembly.take();
    assert.equal(out.length, 16_384);
    assert.ok(capacityOf(out) <= 2 * 16_384);
  });

  it('reserves what it allocates from a shared budget, refuses past it, and gives it back when handed on', () => {
    const budget = new AssemblyBudget(100_000);
    const a = new MessageAssembly(budget);
    const b = new MessageAssembly(budget);
    a.push(Buffer.alloc(10, 1), 1_000_000);
    assert.equal(budget.inUse, 0, 'a single piece is a view: nothing allocated');
    a.push(Buffer.alloc(30_000, 2), 1_000_000);
    const afterA = budget.inUse;
    assert.ok(afterA >= 30_010 && afterA <= 2 * 30_010, `${afterA}`);
    b.push(Buffer.alloc(10, 3), 1_000_000);
    b.push(Buffer.alloc(30_000, 4), 1_000_000);
    assert.throws(() => a.push(Buffer.alloc(60_000, 5), 1_000_000), BudgetExceededError);
    assert.equal(a.take().length, 30_010, 'what was received is intact');
    assert.ok(budget.inUse < afterA + 1 && budget.inUse > 0, 'a gave its buffer back');
    b.reset();
    assert.equal(budget.inUse, 0);
  });
});
