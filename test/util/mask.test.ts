import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { maskInto, unmaskInPlace } from '../../src/util/mask.js';

/** The definition of section 5.3, one byte at a time. */
function naiveMask(src: Uint8Array, key: Uint8Array, phase: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! ^ key[(phase + i) % 4]!;
  return out;
}

/** A view of `bytes` at byteOffset `offset` inside a larger ArrayBuffer with sentinel bytes around it. */
function placed(bytes: Uint8Array, offset: number, sentinel = 0xa5): Uint8Array {
  const backing = new Uint8Array(offset + bytes.length + 8).fill(sentinel);
  const view = backing.subarray(offset, offset + bytes.length);
  view.set(bytes);
  return view;
}

const key = fc.uint8Array({ minLength: 4, maxLength: 4 });
// Lengths straddle the word-loop threshold (32) and leave every possible tail (0-3 bytes).
const data = fc.uint8Array({ minLength: 0, maxLength: 300, size: 'max' });
const offset = fc.integer({ min: 0, max: 7 });
const phase = fc.integer({ min: 0, max: 3 });

describe('mask', () => {
  it('maskInto equals the byte-wise definition for any data, key, phase and (unaligned) offsets', () => {
    fc.assert(
      fc.property(
        data,
        key,
        offset,
        offset,
        offset,
        phase,
        (src, k, srcOffset, dstViewOffset, dstOffset, p) => {
          const source = placed(src, srcOffset);
          const before = Uint8Array.from(source);
          const dst = placed(new Uint8Array(dstOffset + src.length + 3), dstViewOffset, 0x5a);
          maskInto(source, k, dst, dstOffset, p);
          assert.deepEqual(dst.subarray(dstOffset, dstOffset + src.length), naiveMask(src, k, p));
          // Nothing outside the target range is touched, and the source is left alone.
          assert.ok(dst.subarray(0, dstOffset).every((b) => b === 0));
          assert.ok(dst.subarray(dstOffset + src.length).every((b) => b === 0));
          const backing = new Uint8Array(dst.buffer);
          assert.ok(backing.subarray(0, dst.byteOffset).every((b) => b === 0x5a));
          assert.ok(backing.subarray(dst.byteOffset + dst.length).every((b) => b === 0x5a));
          assert.deepEqual(source, before);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('maskInto takes the word path when source and destination share an alignment, and stays exact', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 400, size: 'max' }),
        key,
        offset,
        fc.integer({ min: 0, max: 3 }),
        phase,
        (src, k, srcOffset, extra, p) => {
          const source = placed(src, srcOffset);
          // Same residue mod 4 for source and destination start: dst view at `extra`, dstOffset chosen so
          // (extra + dstOffset) % 4 === srcOffset % 4.
          const dstOffset = (((srcOffset - extra) % 4) + 4) % 4;
          const dst = placed(new Uint8Array(dstOffset + src.length), extra);
          assert.equal((dst.byteOffset + dstOffset) % 4, source.byteOffset % 4);
          maskInto(source, k, dst, dstOffset, p);
          assert.deepEqual(dst.subarray(dstOffset), naiveMask(src, k, p));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('unmaskInPlace equals the byte-wise definition at any byteOffset and phase', () => {
    fc.assert(
      fc.property(data, key, offset, phase, (src, k, at, p) => {
        const view = placed(src, at);
        unmaskInPlace(view, k, p);
        assert.deepEqual(Uint8Array.from(view), naiveMask(src, k, p));
        const backing = new Uint8Array(view.buffer);
        assert.ok(backing.subarray(view.byteOffset + view.length).every((b) => b === 0xa5));
        assert.ok(backing.subarray(0, view.byteOffset).every((b) => b === 0xa5));
      }),
      { numRuns: 300 },
    );
  });

  it('unmasking twice restores the original bytes', () => {
    fc.assert(
      fc.property(data, key, offset, phase, (src, k, at, p) => {
        const view = placed(src, at);
        unmaskInPlace(view, k, p);
        unmaskInPlace(view, k, p);
        assert.deepEqual(Uint8Array.from(view), src);
      }),
      { numRuns: 100 },
    );
  });

  it('unmasking a payload piece by piece with running phases equals unmasking it whole', () => {
    fc.assert(
      fc.property(data, key, fc.array(fc.nat(), { maxLength: 8 }), (src, k, rawCuts) => {
        const cuts = [...new Set(rawCuts.map((c) => c % (src.length + 1)))].sort((a, b) => a - b);
        const pieces = Uint8Array.from(src);
        let start = 0;
        for (const end of [...cuts, src.length]) {
          unmaskInPlace(pieces.subarray(start, end), k, start & 3);
          start = end;
        }
        assert.deepEqual(pieces, naiveMask(src, k, 0));
      }),
      { numRuns: 150 },
    );
  });

  it('masks the RFC 6455 section 5.7 example "Hello" with key 37 fa 21 3d', () => {
    const out = new Uint8Array(5);
    maskInto(Buffer.from('Hello'), Uint8Array.of(0x37, 0xfa, 0x21, 0x3d), out, 0);
    assert.deepEqual(Buffer.from(out).toString('hex'), '7f9f4d5158');
  });
});
