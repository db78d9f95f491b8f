/**
 * A small seeded PRNG for bulk test data (payload bytes, text, mask keys, cut points). fast-check picks
 * the seed, so a failing case is reproducible and its seed shrinks; the bytes themselves are cheap.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    // mulberry32 state; 0 is a fine seed.
    this.state = seed >>> 0;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, bound). */
  below(bound: number): number {
    return Math.floor((this.next() / 0x100000000) * bound);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** A `generateMask` for client connections: a fresh, reproducible 4-byte key per call. */
export function seededMasks(seed: number): () => Uint8Array {
  const rng = new Rng(seed);
  return () => rng.bytes(4);
}

/**
 * Valid UTF-8 of exactly `byteLength` bytes, mixing 1- to 4-byte code points (no surrogates), so that
 * random cut points land inside multi-byte sequences.
 */
export function randomUtf8(rng: Rng, byteLength: number): Buffer {
  const out = Buffer.alloc(byteLength);
  let at = 0;
  while (at < byteLength) {
    const room = byteLength - at;
    const width = Math.min(room, 1 + rng.below(4));
    let codePoint: number;
    if (width === 1) codePoint = rng.below(0x80);
    else if (width === 2) codePoint = rng.between(0x80, 0x7ff);
    else if (width === 3) {
      codePoint = rng.between(0x800, 0xffff - 0x800);
      if (codePoint >= 0xd800) codePoint += 0x800; // skip the surrogates
    } else codePoint = rng.between(0x10000, 0x10ffff);
    at += out.write(String.fromCodePoint(codePoint), at, 'utf8');
  }
  return out;
}
