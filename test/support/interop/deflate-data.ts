/**
 * Payloads for the permessage-deflate interop tests: deterministic, compressible, and built so that a
 * peer compressing with a larger LZ77 window than agreed, or keeping (or dropping) context when it
 * should not, produces bytes the other side cannot inflate. Both generators repeat pieces from far
 * back (up to several KiB), beyond the 512 bytes of a 9-bit window.
 */

/** A seeded linear congruential generator: the same seed, the same sequence. */
function lcg(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
}

/** Above this size, messages repeat a block (see `compressibleBytes`). */
const BLOCK = 4000;

/**
 * `size` bytes that compress well. Up to 4000 bytes: runs copied from a 4 KiB random dictionary at
 * random offsets, with random literals between them (about 3:1). Larger: such a block repeated, each
 * copy numbered, so most matches lie 4000 bytes back (zlib compresses that in a few ms per MiB, which
 * keeps the 1 MiB messages cheap, and a 9-bit window cannot reach them).
 */
export function compressibleBytes(size: number, seed = 1): Buffer {
  if (size <= BLOCK) return dictionaryBytes(size, seed);
  const block = dictionaryBytes(BLOCK, seed);
  const out = Buffer.alloc(size);
  for (let at = 0, i = 0; at < size; at += BLOCK + 4, i++) {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(i);
    head.copy(out, at);
    block.copy(out, at + 4);
  }
  return out;
}

function dictionaryBytes(size: number, seed: number): Buffer {
  const next = lcg(seed);
  const dictionary = Buffer.alloc(4096);
  for (let i = 0; i < dictionary.length; i++) dictionary[i] = next() & 0xff;
  const out = Buffer.alloc(size);
  let at = 0;
  while (at < size) {
    if ((next() & 7) === 0) {
      const n = Math.min(1 + (next() & 7), size - at);
      for (let i = 0; i < n; i++) out[at++] = next() & 0xff;
    } else {
      const n = Math.min(8 + (next() % 57), size - at);
      const from = next() % (dictionary.length - n);
      dictionary.copy(out, at, from, from + n);
      at += n;
    }
  }
  return out;
}

const WORDS = [
  'conduit',
  'deflate',
  'h\u00e9llo',
  'w\u00f6rld',
  '\u20acuro',
  '\u{1f30d}',
  '\u03b4\u03bf\u03ba\u03b9\u03bc\u03ae',
  '\u4e2d\u6587',
  '\u00fcn\u00efc\u00f6d\u00e9',
  '\u65e5\u672c\u8a9e',
  'window',
  'takeover',
  '\u03ba\u03cc\u03c3\u03bc\u03b5',
  'frame',
];

/**
 * A text of exactly `size` UTF-8 bytes: words with 1- to 4-byte characters picked at random, padded
 * with 'z' to the exact length. Above 4000 bytes, as for bytes: a 4000-byte block of words repeated,
 * each copy numbered.
 */
export function compressibleText(size: number, seed = 1): string {
  if (size <= BLOCK) return wordText(size, seed);
  const block = wordText(BLOCK, seed);
  const parts: string[] = [];
  let bytes = 0;
  for (let i = 0; ; i++) {
    const copy = `[${i}] ${block}`;
    const length = Buffer.byteLength(copy);
    if (bytes + length > size) break;
    parts.push(copy);
    bytes += length;
  }
  return parts.join('') + wordText(size - bytes, seed + 1);
}

function wordText(size: number, seed: number): string {
  const next = lcg(seed);
  const parts: string[] = [];
  let bytes = 0;
  for (;;) {
    const word = WORDS[next() % WORDS.length]!;
    const length = Buffer.byteLength(word) + 1;
    if (bytes + length > size) break;
    parts.push(word, ' ');
    bytes += length;
  }
  return parts.join('') + 'z'.repeat(size - bytes);
}

export interface TestMessage {
  /** What is sent: a string goes as text, a Buffer as binary. */
  data: string | Buffer;
  /** UTF-8 length of a text, length of a binary message. */
  size: number;
  label: string;
}

/** The sizes of the issue: empty, tiny, the threshold's edges (1023, 1024), 64 KiB and 1 MiB. */
export const DEFLATE_SIZES = [0, 1, 125, 1023, 1024, 64 * 1024, 1024 * 1024] as const;

/** Text and binary messages of every size in `sizes`, alternating, each with its own content. */
export function sizedMessages(sizes: readonly number[] = DEFLATE_SIZES, seed = 1): TestMessage[] {
  const out: TestMessage[] = [];
  sizes.forEach((size, i) => {
    out.push({ data: compressibleText(size, seed + 2 * i), size, label: `text ${size}` });
    out.push({ data: compressibleBytes(size, seed + 2 * i + 1), size, label: `binary ${size}` });
  });
  return out;
}

/**
 * `count` messages from 900 to 2100 bytes (on both sides of the default 1024-byte threshold), text and
 * binary mixed, each numbered at the start so a reordering shows. Consecutive messages share content,
 * which a context-takeover deflater refers back to.
 */
export function burstMessages(count: number, seed = 100): TestMessage[] {
  const out: TestMessage[] = [];
  const next = lcg(seed);
  for (let i = 0; i < count; i++) {
    const size = 900 + (next() % 1200);
    const tag = `#${String(i).padStart(4, '0')} `;
    if (i % 3 === 2) {
      const body = compressibleBytes(size - tag.length, seed + (i % 4));
      out.push({ data: Buffer.concat([Buffer.from(tag), body]), size, label: `burst ${i} binary` });
    } else {
      const data = tag + compressibleText(size - tag.length, seed + (i % 4));
      out.push({ data, size, label: `burst ${i} text` });
    }
  }
  return out;
}

/** Whether `received` (with its type) is exactly `sent`. */
export function sameMessage(sent: TestMessage, received: Buffer, isBinary: boolean): boolean {
  if (typeof sent.data === 'string') return !isBinary && received.toString('utf8') === sent.data;
  return isBinary && received.equals(sent.data);
}

/** Parse a Sec-WebSocket-Extensions element into its name and sorted parameters, for comparing. */
export function extensionParams(value: string | undefined): string[] {
  if (value === undefined || value === '') return [];
  return value
    .split(';')
    .map((p) => p.trim().replace(/\s*=\s*/, '='))
    .filter((p) => p !== '')
    .sort();
}

export interface Received {
  data: Buffer;
  isBinary: boolean;
}

export interface Collector {
  readonly received: Received[];
  push(r: Received): void;
  /** Resolve once `n` messages arrived; reject after `ms` saying how many did. */
  until(n: number, ms?: number): Promise<void>;
}

/** Messages as they arrive, and a bounded wait for the n-th. */
export function collector(): Collector {
  const received: Received[] = [];
  let wake: (() => void) | null = null;
  return {
    received,
    push(r) {
      received.push(r);
      wake?.();
    },
    until(n, ms = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          wake = null;
          reject(new Error(`timed out after ${ms} ms waiting for ${n} messages (got ${received.length})`));
        }, ms);
        const check = () => {
          if (received.length < n) return;
          wake = null;
          clearTimeout(timer);
          resolve();
        };
        wake = check;
        check();
      });
    },
  };
}

/** The labels of messages that did not come back as sent, in order (empty when all did). */
export function mismatches(sent: readonly TestMessage[], received: readonly Received[]): string[] {
  const bad: string[] = [];
  sent.forEach((m, i) => {
    const r = received[i];
    if (r === undefined) bad.push(`${m.label}: missing`);
    else if (!sameMessage(m, r.data, r.isBinary))
      bad.push(`${m.label}: got ${r.isBinary ? 'binary' : 'text'} of ${r.data.length} bytes`);
  });
  if (received.length > sent.length) bad.push(`${received.length - sent.length} extra messages`);
  return bad;
}
