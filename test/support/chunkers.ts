/**
 * Ways to cut a byte stream before feeding it to a parser: every chunk is a fresh copy with its own
 * ArrayBuffer (parsers unmask in place, and zero-copy checks compare `.buffer`), so the same input can
 * be fed several times under different cuttings.
 */
import fc from 'fast-check';
import type { Rng } from './random.js';

/** A copy of `bytes[start, end)` backed by an ArrayBuffer of its own (never Node's shared pool). */
export function ownCopy(bytes: Uint8Array, start = 0, end = bytes.length): Buffer {
  const buffer = new ArrayBuffer(end - start);
  new Uint8Array(buffer).set(bytes.subarray(start, end));
  return Buffer.from(buffer);
}

/** Cut at the given positions (any order, duplicates and out-of-range positions ignored). */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    out.push(ownCopy(bytes, start, point));
    start = point;
  }
  return out;
}

export function byteByByte(bytes: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(ownCopy(bytes, i, i + 1));
  return out;
}

/** Every way to cut the stream in two: [bytes[0, i), bytes[i, n)] for i = 0..n. */
export function* everySplit(bytes: Uint8Array): Generator<[Buffer, Buffer], void, undefined> {
  for (let i = 0; i <= bytes.length; i++) yield [ownCopy(bytes, 0, i), ownCopy(bytes, i)];
}

/** Random chunk sizes between 1 and `maxChunk`. */
export function randomChunks(bytes: Uint8Array, rng: Rng, maxChunk: number): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  while (start < bytes.length) {
    const end = Math.min(bytes.length, start + 1 + rng.below(maxChunk));
    out.push(ownCopy(bytes, start, end));
    start = end;
  }
  return out;
}

/** Cut points as fractions of the stream length, so one arbitrary fits streams of any length. */
export const cutFractions = (maxCuts = 24): fc.Arbitrary<number[]> =>
  fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: maxCuts, size: 'max' });

export function splitAtFractions(bytes: Uint8Array, fractions: readonly number[]): Buffer[] {
  return splitAt(
    bytes,
    fractions.map((f) => Math.floor(f * bytes.length)),
  );
}

export function concat(chunks: readonly Uint8Array[]): Buffer {
  return Buffer.concat(chunks);
}
