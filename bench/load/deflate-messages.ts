/**
 * The messages of the compressed-traffic benchmarks: a fixed set of realistic, JSON-like 4 KiB text
 * messages (an order-book / activity-feed update: ids, names, numbers, timestamps), all different,
 * generated from a seeded PRNG so every run and every process sends the very same bytes.
 *
 * Each message is compressed ONCE, statelessly (a fresh raw deflate stream per message, flushed with
 * Z_SYNC_FLUSH and the trailing 00 00 ff ff removed, RFC 7692 section 7.2.1), so the load generator
 * spends no CPU on zlib. That is only valid when the client does not use context takeover, which is
 * why the generator offers client_no_context_takeover.
 */
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';

export const MESSAGE_SIZE = 4096;
export const MESSAGE_COUNT = 64;

/** The four bytes a Z_SYNC_FLUSH leaves at the end of a deflate block, removed on the wire. */
export const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export interface DeflateMessage {
  /** The text message, ASCII, exactly MESSAGE_SIZE bytes. */
  text: Buffer;
  /** Its permessage-deflate payload (stateless, tail removed). */
  compressed: Buffer;
}

/** mulberry32: small, fast, seeded; the same sequence everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Radia', 'Edsger', 'Frances'];
const LAST = ['Lovelace', 'Hopper', 'Torvalds', 'Hamilton', 'Thompson', 'Liskov', 'Ritchie', 'Perlman'];
const PRODUCTS = ['widget', 'sprocket', 'gear', 'flange', 'bracket', 'valve', 'gasket', 'bearing', 'spring'];
const ADJECTIVES = ['blue', 'heavy', 'compact', 'deluxe', 'spare', 'coated', 'threaded', 'sealed'];
const STATUSES = ['open', 'filled', 'partially_filled', 'cancelled', 'pending'];
const WORDS =
  'the quick delivery was confirmed by the warehouse and the customer asked for a revised invoice'.split(' ');

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

function hex(random: () => number, digits: number): string {
  let out = '';
  for (let i = 0; i < digits; i++) out += Math.floor(random() * 16).toString(16);
  return out;
}

function item(random: () => number, base: number, index: number): Record<string, unknown> {
  return {
    id: `ord_${hex(random, 12)}`,
    line: index + 1,
    sku: `${pick(random, PRODUCTS).toUpperCase()}-${Math.floor(random() * 90000 + 10000)}`,
    name: `${pick(random, ADJECTIVES)} ${pick(random, PRODUCTS)}`,
    qty: Math.floor(random() * 50) + 1,
    price: Math.round(random() * 100000) / 100,
    status: pick(random, STATUSES),
    updatedAt: new Date(base + Math.floor(random() * 3_600_000)).toISOString(),
    tags: [pick(random, ADJECTIVES), pick(random, PRODUCTS)],
  };
}

/** One JSON message of exactly MESSAGE_SIZE bytes; a trailing free-text note pads it to size. */
function buildText(seed: number): Buffer {
  const random = prng(0x5eed0000 + seed);
  const base = Date.UTC(2026, 10, 22, 8, 0, 0) + seed * 60_000;
  const message: Record<string, unknown> = {
    type: 'orders.update',
    seq: 100_000 + seed * 17,
    ts: new Date(base).toISOString(),
    account: {
      id: `acc_${hex(random, 16)}`,
      owner: `${pick(random, FIRST)} ${pick(random, LAST)}`,
      balance: Math.round(random() * 1e8) / 100,
      currency: random() < 0.5 ? 'EUR' : 'USD',
    },
    items: [] as Record<string, unknown>[],
    note: '',
  };
  const items = message.items as Record<string, unknown>[];
  const size = (): number => JSON.stringify(message).length;
  // Add order lines while there is room for another one and some note.
  while (size() < MESSAGE_SIZE - 400) items.push(item(random, base, items.length));
  let note = '';
  while (size() + note.length < MESSAGE_SIZE) note += `${pick(random, WORDS)} `;
  message.note = note.slice(0, MESSAGE_SIZE - size());
  const text = Buffer.from(JSON.stringify(message), 'latin1');
  if (text.length !== MESSAGE_SIZE) throw new Error(`message ${seed} is ${text.length} bytes`);
  JSON.parse(text.toString('latin1'));
  return text;
}

/** Stateless permessage-deflate payload of `text` with a window of `windowBits` (9-15). */
export function compressStateless(text: Buffer, windowBits = 15): Buffer {
  const out = deflateRawSync(text, { finishFlush: constants.Z_SYNC_FLUSH, windowBits });
  if (!out.subarray(out.length - 4).equals(DEFLATE_TAIL)) {
    throw new Error('a Z_SYNC_FLUSH deflate output does not end with 00 00 ff ff');
  }
  const compressed = out.subarray(0, out.length - 4);
  // Check the round trip the way a receiver does (tail appended back).
  if (
    !inflateRawSync(Buffer.concat([compressed, DEFLATE_TAIL]), {
      finishFlush: constants.Z_SYNC_FLUSH,
    }).equals(text)
  ) {
    throw new Error('stateless compression does not round-trip');
  }
  return compressed;
}

/** The benchmark's messages, compressed with `windowBits` (what the server allowed the client). */
export function buildDeflateMessages(windowBits = 15): DeflateMessage[] {
  return Array.from({ length: MESSAGE_COUNT }, (_, seed) => {
    const text = buildText(seed);
    return { text, compressed: compressStateless(text, windowBits) };
  });
}
