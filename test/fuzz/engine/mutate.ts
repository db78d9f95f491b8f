/**
 * Byte-level mutations in the manner of libFuzzer's MutationDispatcher: a stack of one to a few of
 * erase, insert, flip, overwrite, copy or cross over a part, set an "interesting" integer, change a
 * decimal number in the text, and put in a dictionary token. A target may add its own structure-aware
 * mutation (frames, JSON); it is picked like any other.
 */
import type { Rng } from '../../support/random.js';

export interface MutationContext {
  readonly rng: Rng;
  readonly maxLength: number;
  /** Tokens the format uses (the target's, and the string literals of the code under test). */
  readonly dictionary: readonly Buffer[];
  /** Another corpus input, for cross-over. */
  readonly other: () => Buffer;
  /** The target's own mutation, if any. */
  readonly custom?: ((input: Buffer, rng: Rng) => Buffer) | undefined;
}

const INTERESTING_8 = [0, 1, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x0a, 0x0d, 0x20, 0x3a, 0x22];
const INTERESTING_16 = [
  0, 0x7d, 0x7e, 0x7f, 0x80, 0xff, 0x100, 0x3e8, 0x3e9, 0x3ea, 0x3ef, 0x3f0, 0x7fff, 0xffff,
];
const INTERESTING_32 = [0, 1, 0x7f, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0x1fffff, 0x200000];

type Mutator = (data: Buffer, c: MutationContext) => Buffer;

function pos(c: MutationContext, length: number): number {
  return c.rng.below(length + 1);
}

const mutators: readonly Mutator[] = [
  // Erase a run of bytes.
  (d, c) => {
    if (d.length === 0) return d;
    const at = c.rng.below(d.length);
    const n = 1 + c.rng.below(Math.min(d.length - at, 1 + c.rng.below(16)));
    return Buffer.concat([d.subarray(0, at), d.subarray(at + n)]);
  },
  // Insert a random byte, or a run of one byte repeated.
  (d, c) => {
    const at = pos(c, d.length);
    const n = c.rng.below(4) === 0 ? 1 + c.rng.below(32) : 1;
    const b = c.rng.below(2) === 0 ? c.rng.next() & 0xff : INTERESTING_8[c.rng.below(INTERESTING_8.length)]!;
    return Buffer.concat([d.subarray(0, at), Buffer.alloc(n, b), d.subarray(at)]);
  },
  // Flip one bit.
  (d, c) => {
    if (d.length === 0) return d;
    const out = Buffer.from(d);
    out[c.rng.below(d.length)]! ^= 1 << c.rng.below(8);
    return out;
  },
  // Overwrite one byte, at random or with an interesting value.
  (d, c) => {
    if (d.length === 0) return d;
    const out = Buffer.from(d);
    out[c.rng.below(d.length)] =
      c.rng.below(2) === 0 ? c.rng.next() & 0xff : INTERESTING_8[c.rng.below(INTERESTING_8.length)]!;
    return out;
  },
  // Set a 16- or 32-bit integer (either byte order) to an interesting value or nudge it.
  (d, c) => {
    const wide = c.rng.below(2) === 0;
    const width = wide ? 4 : 2;
    if (d.length < width) return d;
    const out = Buffer.from(d);
    const at = c.rng.below(d.length - width + 1);
    const le = c.rng.below(2) === 0;
    const table = wide ? INTERESTING_32 : INTERESTING_16;
    let value: number;
    if (c.rng.below(2) === 0) value = table[c.rng.below(table.length)]!;
    else {
      const current = wide
        ? le
          ? out.readUInt32LE(at)
          : out.readUInt32BE(at)
        : le
          ? out.readUInt16LE(at)
          : out.readUInt16BE(at);
      value = current + c.rng.between(-35, 35);
    }
    const max = wide ? 0x100000000 : 0x10000;
    value = ((value % max) + max) % max;
    if (wide) le ? out.writeUInt32LE(value, at) : out.writeUInt32BE(value, at);
    else le ? out.writeUInt16LE(value, at) : out.writeUInt16BE(value, at);
    return out;
  },
  // Copy a part of the input over another place, or insert it there.
  (d, c) => {
    if (d.length === 0) return d;
    const from = c.rng.below(d.length);
    const n = 1 + c.rng.below(d.length - from);
    const part = Buffer.from(d.subarray(from, from + n));
    const to = pos(c, d.length);
    if (c.rng.below(2) === 0) return Buffer.concat([d.subarray(0, to), part, d.subarray(to)]);
    const out = Buffer.from(d);
    part.copy(out, Math.min(to, d.length - 1));
    return out;
  },
  // Cross over: a part of another corpus input spliced in.
  (d, c) => {
    const o = c.other();
    if (o.length === 0) return d;
    const from = c.rng.below(o.length);
    const n = 1 + c.rng.below(o.length - from);
    const to = pos(c, d.length);
    const cutEnd = c.rng.below(2) === 0 ? to : Math.min(d.length, to + n);
    return Buffer.concat([d.subarray(0, to), o.subarray(from, from + n), d.subarray(cutEnd)]);
  },
  // Insert or overwrite with a dictionary token.
  (d, c) => {
    if (c.dictionary.length === 0) return d;
    const token = c.dictionary[c.rng.below(c.dictionary.length)]!;
    const at = pos(c, d.length);
    if (c.rng.below(2) === 0) return Buffer.concat([d.subarray(0, at), token, d.subarray(at)]);
    return Buffer.concat([d.subarray(0, at), token, d.subarray(Math.min(d.length, at + token.length))]);
  },
  // Change a decimal number written in the input.
  (d, c) => {
    const text = d.toString('latin1');
    const numbers = [...text.matchAll(/\d+/g)];
    if (numbers.length === 0) return d;
    const m = numbers[c.rng.below(numbers.length)]!;
    const n = Number(m[0]);
    const choices = [0, 1, n + 1, n - 1, n * 2, 2 ** 31, 2 ** 53, 65535, 65536, 125, 126, 127, 1000, 1e21];
    const value = String(choices[c.rng.below(choices.length)]);
    const at = m.index!;
    return Buffer.from(text.slice(0, at) + value + text.slice(at + m[0].length), 'latin1');
  },
  // Shuffle a few bytes.
  (d, c) => {
    if (d.length < 2) return d;
    const out = Buffer.from(d);
    const at = c.rng.below(d.length - 1);
    const n = 2 + c.rng.below(Math.min(8, d.length - at) - 1);
    for (let i = n - 1; i > 0; i--) {
      const j = c.rng.below(i + 1);
      const t = out[at + i]!;
      out[at + i] = out[at + j]!;
      out[at + j] = t;
    }
    return out;
  },
];

/** One to five mutations stacked on `input`, cut to `maxLength`. */
export function mutate(input: Buffer, c: MutationContext): Buffer {
  let data = input;
  const depth = 1 + c.rng.below(5);
  for (let i = 0; i < depth; i++) {
    if (c.custom !== undefined && c.rng.below(mutators.length + 2) < 2) data = c.custom(data, c.rng);
    else data = mutators[c.rng.below(mutators.length)]!(data, c);
  }
  return data.length > c.maxLength ? data.subarray(0, c.maxLength) : data;
}
