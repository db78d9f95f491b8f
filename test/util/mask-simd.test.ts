import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { simdMaskAvailable, simdMaskInto } from '../../src/util/mask-simd.js';

function naive(src: Uint8Array, key: Uint8Array, phase: number): Buffer {
  const out = Buffer.alloc(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! ^ key[(phase + i) & 3]!;
  return out;
}

describe('WebAssembly SIMD masking kernel', () => {
  it('is available on this platform (Node 20 has WebAssembly SIMD)', () => {
    assert.equal(simdMaskAvailable, true);
  });

  it('matches the byte-wise definition for any length, phase and offset, across block boundaries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300_000 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 7 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer(),
        (length, phase, offset, key, seed) => {
          const src = Buffer.alloc(length);
          let x = seed | 0;
          for (let i = 0; i < length; i++) {
            x = (x * 1103515245 + 12345) | 0;
            src[i] = x >>> 24;
          }
          const dst = Buffer.alloc(length + offset);
          assert.equal(simdMaskInto(src, key, dst, offset, phase), true);
          assert.ok(dst.subarray(offset).equals(naive(src, key, phase)));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('masks in place when source and destination are the same bytes', () => {
    const data = Buffer.from('a payload long enough to cross several SIMD vectors, twice over.'.repeat(4));
    const key = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
    const expected = naive(data, key, 2);
    simdMaskInto(data, key, data, 0, 2);
    assert.ok(data.equals(expected));
  });
});
