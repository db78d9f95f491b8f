/**
 * MessageAssembly: a message's payload grows with the bytes that arrived (at most GROWTH_EVIDENCE
 * times them), never with a declared length alone; a fragment costs its bytes only; masked pieces are
 * unmasked as they are copied into place.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AssemblyBudget,
  BudgetExceededError,
  GROWTH_EVIDENCE,
  MessageAssembly,
  MIN_CAPACITY,
} from '../../../src/protocol/ws/assembly.js';
import { maskInto } from '../../../src/util/mask.js';

const CAP = 64 * 1024 * 1024;

/** The buffer behind what take() returned: its capacity is what the assembly allocated last. */
function capacityOf(view: Buffer): number {
  return view.buffer.byteLength;
}

describe('MessageAssembly', () => {
  it('hands a payload that came as one piece on as that very view, without a copy', () => {
    const assembly = new MessageAssembly();
    const chunk = Buffer.from('hello world');
    const piece = chunk.subarray(6);
    assembly.push(piece, piece.length, CAP);
    const out = assembly.take();
    assert.equal(out, piece);
    assert.equal(assembly.length, 0, 'emptied for the next message');
  });

  it('joins pieces in order under any split, never holding more than 8x what arrived', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40_000 }), { minLength: 2, maxLength: 12 }),
        fc.integer({ min: 0, max: 3_000_000 }),
        (sizes, extra) => {
          const total = sizes.reduce((a, b) => a + b, 0);
          // One frame declared `total + extra` long, of which `total` arrived (a peer that stops).
          const target = total + extra;
          const assembly = new MessageAssembly();
          const pieces = sizes.map((n, i) => Buffer.alloc(n, i + 1));
          // A final frame: nothing past its declared end can come.
          for (const piece of pieces) assembly.push(piece, target, target);
          assert.equal(assembly.length, total);
          const out = assembly.take();
          assert.ok(out.equals(Buffer.concat(pieces)));
          // (Small buffers come from Node's shared pool: their capacity is the pool's.)
          if (pieces.filter((p) => p.length > 0).length > 1 && capacityOf(out) > 8192) {
            const most = Math.max(MIN_CAPACITY, GROWTH_EVIDENCE * total);
            assert.ok(capacityOf(out) <= most, `capacity ${capacityOf(out)} for ${total} received`);
            assert.ok(
              capacityOf(out) <= target,
              `capacity ${capacityOf(out)} past the declared end ${target}`,
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('ends a message declared in one frame in a buffer of exactly its length, with few copies', () => {
    const assembly = new MessageAssembly();
    const total = 1024 * 1024;
    for (let i = 0; i < 16; i++) assembly.push(Buffer.alloc(64 * 1024, i), total, total);
    const out = assembly.take();
    assert.equal(out.length, total);
    assert.equal(capacityOf(out), total);
    for (let i = 0; i < 16; i++) assert.equal(out[i * 64 * 1024], i);
  });

  it('unmasks masked pieces as it copies them, under any split and phase', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 5000 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (payload, cuts) => {
          const key = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
          const masked = Buffer.alloc(payload.length);
          maskInto(payload, key, masked, 0);
          const points = [...new Set(cuts.map((c) => c % payload.length))].sort((a, b) => a - b);
          const assembly = new MessageAssembly();
          let at = 0;
          for (const end of [...points, payload.length]) {
            if (end <= at) continue;
            const view = assembly.pushMasked(
              masked.subarray(at, end),
              key,
              at & 3,
              payload.length,
              payload.length,
            );
            assert.ok(view.equals(Buffer.from(payload.subarray(at, end))), 'the returned view is unmasked');
            at = end;
          }
          assert.ok(assembly.take().equals(Buffer.from(payload)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('costs the bytes of 16,384 one-byte fragments, not a view object each', () => {
    const assembly = new MessageAssembly();
    const chunk = Buffer.alloc(16_384, 7);
    // Fragment i ends the message so far at i + 1 bytes.
    for (let i = 0; i < chunk.length; i++) assembly.push(chunk.subarray(i, i + 1), i + 1, CAP);
    const out = assembly.take();
    assert.equal(out.length, 16_384);
    assert.ok(capacityOf(out) <= 2 * 16_384, `${capacityOf(out)}`);
  });

  it('reserves what it allocates from a shared budget, refuses past it, and gives it back when handed on', () => {
    const budget = new AssemblyBudget(300_000);
    const a = new MessageAssembly(budget);
    const b = new MessageAssembly(budget);
    a.push(Buffer.alloc(10, 1), 1_000_000, CAP);
    assert.equal(budget.inUse, 0, 'a single piece is a view: nothing allocated');
    a.push(Buffer.alloc(30_000, 2), 1_000_000, CAP);
    const afterA = budget.inUse;
    assert.ok(afterA >= 30_010 && afterA <= GROWTH_EVIDENCE * 30_010, `${afterA}`);
    b.push(Buffer.alloc(10, 3), 1_000_000, CAP);
    b.push(Buffer.alloc(30_000, 4), 1_000_000, CAP);
    assert.throws(() => b.push(Buffer.alloc(100_000, 5), 1_000_000, CAP), BudgetExceededError);
    assert.equal(a.take().length, 30_010, 'what was received is intact');
    assert.equal(budget.inUse, afterA, 'a gave its buffer back; b holds what it had');
    b.reset();
    assert.equal(budget.inUse, 0);
  });
});
