/**
 * The payloads of sections 12 and 13. Autobahn reads five data files (Goethe's Faust, a bitmap, a PDF,
 * a JSON and an HTML file) that cannot be fetched here; these are generated instead, deterministic
 * (fixed seeds: failures reproduce), 256 KiB each, and cover the same range from very compressible to
 * incompressible. Like Autobahn, consecutive messages are consecutive slices of the data (wrapping
 * around), so with context takeover a message can refer back into the previous ones.
 */
import { isUtf8 } from 'node:buffer';

export interface PayloadKind {
  title: string;
  binary: boolean;
  corpus(): Buffer;
}

const CORPUS_SIZE = 256 * 1024;

/** xorshift32, fixed seed. */
export class Prng {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }
  below(n: number): number {
    return this.next() % n;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

/** Fill a corpus from strings until CORPUS_SIZE bytes, ending on a code point boundary. */
function textCorpus(piece: (rng: Prng) => string, seed: number): Buffer {
  const rng = new Prng(seed);
  const parts: Buffer[] = [];
  let length = 0;
  while (length < CORPUS_SIZE) {
    const b = Buffer.from(piece(rng), 'utf8');
    parts.push(b);
    length += b.length;
  }
  const all = Buffer.concat(parts);
  let end = CORPUS_SIZE;
  while (end > 0 && (all[end]! & 0xc0) === 0x80) end--;
  return all.subarray(0, end);
}

const FAUST =
  'Habe nun, ach! Philosophie, Juristerei und Medizin, und leider auch Theologie durchaus studiert, ' +
  'mit heißem Bemühn. Da steh ich nun, ich armer Tor! Und bin so klug als wie zuvor; ' +
  'heiße Magister, heiße Doktor gar und ziehe schon an die zehen Jahr herauf, herab und quer und krumm ' +
  'meine Schüler an der Nase herum – und sehe, daß wir nichts wissen können!\n';

const WORDS = [
  'the',
  'conduit',
  'message',
  'window',
  'deflate',
  'Straße',
  'größer',
  'κόσμε',
  'λόγος',
  'naïve',
  'café',
  'über',
  '𝄞',
  '日本語',
  'Ελληνικά',
  'frame',
  'socket',
  'and',
  'of',
  'a',
  'to',
  'in',
  'is',
  'compression',
  'sliding',
];

const NAMES = ['ada', 'grace', 'alan', 'edsger', 'barbara', 'ken', 'dennis', 'margaret', 'linus', 'guido'];

export const PAYLOAD_KINDS: readonly PayloadKind[] = [
  {
    title: 'Repetitive human-readable text (UTF-8, one paragraph repeated)',
    binary: false,
    corpus: () => textCorpus(() => FAUST, 1),
  },
  {
    title: 'JSON records with pseudo-random values (UTF-8)',
    binary: false,
    corpus: () =>
      textCorpus((rng) => {
        const tags = Array.from({ length: 1 + rng.below(4) }, () => `"${rng.pick(WORDS)}"`).join(',');
        return (
          `{"id":${rng.next()},"user":"${rng.pick(NAMES)}${rng.below(1000)}","score":${(rng.next() / 2 ** 32).toFixed(6)},` +
          `"active":${rng.below(2) === 1},"tags":[${tags}],"note":"${rng.pick(WORDS)} ${rng.pick(WORDS)}"}\n`
        );
      }, 2),
  },
  {
    title: 'Random words, multi-byte (UTF-8 with 2-, 3- and 4-byte code points)',
    binary: false,
    corpus: () =>
      textCorpus(
        (rng) => `${rng.pick(WORDS)}${rng.below(12) === 0 ? '.\n' : rng.below(6) === 0 ? ', ' : ' '}`,
        3,
      ),
  },
  {
    title: 'Structured binary (an 8-bit grey gradient image with noise)',
    binary: true,
    corpus: () => {
      const rng = new Prng(4);
      const out = Buffer.allocUnsafe(CORPUS_SIZE);
      for (let i = 0; i < CORPUS_SIZE; i++) {
        const x = i & 511;
        const y = i >>> 9;
        out[i] = ((x >>> 1) + (y >>> 2) + (rng.below(16) === 0 ? rng.below(64) : 0)) & 0xff;
      }
      return out;
    },
  },
  {
    title: 'Pseudo-random binary (incompressible: DEFLATE output is larger than its input)',
    binary: true,
    corpus: () => {
      const rng = new Prng(5);
      const out = Buffer.allocUnsafe(CORPUS_SIZE);
      for (let i = 0; i < CORPUS_SIZE; i += 4) out.writeUInt32LE(rng.next(), i);
      return out;
    },
  },
];

const corpora = new Map<PayloadKind, Buffer>();

function corpusOf(kind: PayloadKind): Buffer {
  let c = corpora.get(kind);
  if (c === undefined) {
    c = kind.corpus();
    corpora.set(kind, c);
  }
  return c;
}

/** Replace a cut code point at either end of a slice of valid UTF-8 with '*'. */
function mendUtf8(b: Buffer): Buffer {
  for (let i = 0; i < b.length && (b[i]! & 0xc0) === 0x80; i++) b[i] = 0x2a;
  let lead = b.length - 1;
  while (lead >= 0 && (b[lead]! & 0xc0) === 0x80) lead--;
  if (lead >= 0 && b[lead]! >= 0xc0) {
    const need = b[lead]! >= 0xf0 ? 4 : b[lead]! >= 0xe0 ? 3 : 2;
    if (b.length - lead < need) b.fill(0x2a, lead);
  }
  return b;
}

/** Consecutive slices of `size` bytes of a kind's data, as Autobahn's sendOne takes them. */
export class PayloadStream {
  private at = 0;
  private readonly corpus: Buffer;

  constructor(
    readonly kind: PayloadKind,
    readonly size: number,
  ) {
    this.corpus = corpusOf(kind);
  }

  next(): Buffer {
    const c = this.corpus;
    const out = Buffer.allocUnsafe(this.size);
    let filled = 0;
    while (filled < this.size) {
      const n = Math.min(this.size - filled, c.length - this.at);
      c.copy(out, filled, this.at, this.at + n);
      filled += n;
      this.at = (this.at + n) % c.length;
    }
    if (this.kind.binary) return out;
    const text = mendUtf8(out);
    if (!isUtf8(text)) throw new Error('payload generator produced invalid UTF-8');
    return text;
  }
}
