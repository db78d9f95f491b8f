/**
 * WebSocket masking (RFC 6455 section 5.3): octet i of the payload is XORed with octet (i mod 4) of the
 * 32-bit masking key. Masking and unmasking are the same operation.
 *
 * Word-at-a-time: after a byte-wise prologue that brings the destination to a 4-byte boundary, the body
 * is processed as 32-bit words through an Int32Array view with the key rotated to match, then a byte-wise
 * epilogue finishes the tail. This is pure TypeScript; no native addon. Payloads from SIMD_THRESHOLD
 * bytes up go to the WebAssembly SIMD kernel (mask-simd.ts) when the platform has one.
 */

import { simdMaskInto } from './mask-simd.js';

const WORD_THRESHOLD = 32;
const SIMD_THRESHOLD = 192;

/** XOR `src[0..length)` with `key` starting at key phase `phase`, writing into `dst` at `dstOffset`. */
export function maskInto(
  src: Uint8Array,
  key: Uint8Array,
  dst: Uint8Array,
  dstOffset: number,
  phase = 0,
): void {
  const length = src.length;
  // Large payloads: the WebAssembly SIMD kernel (3-5x the scalar loop from a few hundred bytes up).
  if (length >= SIMD_THRESHOLD && simdMaskInto(src, key, dst, dstOffset, phase)) return;
  if (length >= WORD_THRESHOLD && src.byteOffset % 4 !== (dst.byteOffset + dstOffset) % 4) {
    // Source and destination can never be word-aligned together: copy (memcpy) first, then mask the
    // destination in place, which is word-aligned with itself. Two fast passes beat one byte-wise pass.
    dst.set(src, dstOffset);
    maskInto(
      dst.subarray(dstOffset, dstOffset + length),
      key,
      dst.subarray(dstOffset, dstOffset + length),
      0,
      phase,
    );
    return;
  }
  let i = 0;
  if (length >= WORD_THRESHOLD) {
    // Prologue: advance until the destination (and the source) are word-aligned.
    const misalign = (4 - ((dst.byteOffset + dstOffset) % 4)) % 4;
    for (; i < misalign; i++) dst[dstOffset + i] = src[i]! ^ key[(phase + i) & 3]!;
    const words = (length - i) >>> 2;
    const srcWords = new Int32Array(src.buffer, src.byteOffset + i, words);
    const dstWords = new Int32Array(dst.buffer, dst.byteOffset + dstOffset + i, words);
    // Little-endian word whose byte k is key[(phase + i + k) & 3].
    const p = phase + i;
    const k32 =
      key[p & 3]! | (key[(p + 1) & 3]! << 8) | (key[(p + 2) & 3]! << 16) | (key[(p + 3) & 3]! << 24);
    // Eight words per pass: fewer loop checks, and V8 keeps the key in a register.
    const unrolled = words & ~7;
    let w = 0;
    for (; w < unrolled; w += 8) {
      dstWords[w] = srcWords[w]! ^ k32;
      dstWords[w + 1] = srcWords[w + 1]! ^ k32;
      dstWords[w + 2] = srcWords[w + 2]! ^ k32;
      dstWords[w + 3] = srcWords[w + 3]! ^ k32;
      dstWords[w + 4] = srcWords[w + 4]! ^ k32;
      dstWords[w + 5] = srcWords[w + 5]! ^ k32;
      dstWords[w + 6] = srcWords[w + 6]! ^ k32;
      dstWords[w + 7] = srcWords[w + 7]! ^ k32;
    }
    for (; w < words; w++) dstWords[w] = srcWords[w]! ^ k32;
    i += words << 2;
  }
  for (; i < length; i++) dst[dstOffset + i] = src[i]! ^ key[(phase + i) & 3]!;
}

/** Unmask `data` in place, `phase` being the index of its first byte within the frame payload. */
export function unmaskInPlace(data: Uint8Array, key: Uint8Array, phase = 0): void {
  maskInto(data, key, data, 0, phase);
}

/** True when this platform stores integers little-endian (the word loop above assumes it). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
if (!LITTLE_ENDIAN) throw new Error('conduit: big-endian platforms are not supported by the masking kernel');
