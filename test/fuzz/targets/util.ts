/** Helpers the targets share. */
import { createHash } from 'node:crypto';
import { Rng } from '../../support/random.js';

/** A PRNG seeded by the input itself: the same input is always cut the same way (reproducible). */
export function rngFor(input: Uint8Array, salt = 0): Rng {
  const digest = createHash('sha1').update(input).digest();
  return new Rng(digest.readUInt32BE(0) ^ salt);
}

/** Cut points for `length` bytes: a few at random, or every byte when `everyByte`. */
export function cuts(rng: Rng, length: number, everyByte = false): number[] {
  if (everyByte) return Array.from({ length: Math.max(0, length - 1) }, (_, i) => i + 1);
  const n = rng.below(Math.min(length, 12) + 1);
  return Array.from({ length: n }, () => rng.below(length + 1));
}

/** Cut `bytes` at `points` into fresh copies (parsers may unmask in place), empty pieces included. */
export function pieces(bytes: Uint8Array, points: readonly number[]): Buffer[] {
  const sorted = [...points].filter((p) => p >= 0 && p <= bytes.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...sorted, bytes.length]) {
    out.push(Buffer.from(bytes.subarray(at, p)));
    at = p;
  }
  return out;
}

export function utf8(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}
