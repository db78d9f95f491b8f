/**
 * The SSE parser (src/protocol/sse/parser.ts) against a second, whole-stream reading of the WHATWG
 * "event stream interpretation". Invariants:
 * - the same events, retries, comments and last event ID under any cutting of the bytes (whole, at
 *   random points, byte by byte);
 * - the same as the reference reading;
 * - with a small maxLineLength, either the same or a RangeError, and a RangeError only when the stream
 *   has a line that long, after a prefix of the reference's items;
 * - nothing but that RangeError is ever thrown.
 */
import assert from 'node:assert/strict';
import { EventStreamParser, type SseItem } from '../../../src/protocol/sse/parser.js';
import type { FuzzTarget } from '../engine/target.js';
import { cuts, pieces, rngFor, utf8 } from './util.js';

const SMALL_LINE = 24;

interface Reading {
  items: SseItem[];
  lastEventId: string;
  /** Longest line, terminated or not, in UTF-16 code units. */
  longestLine: number;
}

/** The algorithm as the spec writes it, on the whole decoded stream (not incremental). */
export function referenceReading(bytes: Uint8Array): Reading {
  // "decoded using the UTF-8 decode algorithm": one leading BOM dropped, errors replaced.
  const text = new TextDecoder('utf-8').decode(bytes);
  const items: SseItem[] = [];
  let eventType = '';
  let data = '';
  let lastEventIdBuffer = '';
  let lastEventId = '';
  let longestLine = 0;
  const lineEnd = /\r\n|\r|\n/g;
  let start = 0;
  for (let m = lineEnd.exec(text); m !== null; m = lineEnd.exec(text)) {
    const line = text.slice(start, m.index);
    start = lineEnd.lastIndex;
    longestLine = Math.max(longestLine, line.length);
    if (line === '') {
      lastEventId = lastEventIdBuffer;
      if (data === '') {
        eventType = '';
        continue;
      }
      if (data.endsWith('\n')) data = data.slice(0, -1);
      items.push({ kind: 'event', type: eventType === '' ? 'message' : eventType, data, lastEventId });
      data = '';
      eventType = '';
      continue;
    }
    if (line.startsWith(':')) {
      items.push({ kind: 'comment', text: line.slice(1) });
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') eventType = value;
    else if (field === 'data') data += `${value}\n`;
    else if (field === 'id') {
      if (!value.includes('\0')) lastEventIdBuffer = value;
    } else if (field === 'retry') {
      if (/^[0-9]+$/.test(value)) items.push({ kind: 'retry', ms: Number.parseInt(value, 10) });
    }
  }
  // "Once the end of the file is reached, any pending data must be discarded."
  longestLine = Math.max(longestLine, text.length - start);
  return { items, lastEventId, longestLine };
}

function parse(
  chunks: readonly Uint8Array[],
  maxLineLength?: number,
): { items: SseItem[]; lastEventId: string } {
  const parser = new EventStreamParser({ comments: true, maxLineLength });
  const items: SseItem[] = [];
  for (const chunk of chunks) items.push(...parser.feed(chunk));
  parser.end();
  return { items, lastEventId: parser.lastEventId };
}

export const sseTarget: FuzzTarget = {
  name: 'sse',
  description: 'SSE parser: the reference reading under any cutting; only a RangeError for a long line',
  maxLength: 4096,
  dictionary: [
    'data:',
    'data: ',
    'event:',
    'id:',
    'retry:',
    ':',
    '\n',
    '\r\n',
    '\r',
    '\n\n',
    '\0',
    Uint8Array.of(0xef, 0xbb, 0xbf),
    Uint8Array.of(0xe2, 0x82),
    Uint8Array.of(0xf0, 0x9f, 0x98),
    Uint8Array.of(0xc3),
    Uint8Array.of(0xff),
    Uint8Array.of(0xed, 0xa0, 0x80),
  ],
  seeds() {
    return {
      message: utf8('data: hello\n\n'),
      multiline: utf8('event: tick\ndata: one\ndata: two\nid: 7\n\ndata:three\n\n'),
      crlf: utf8('data: a\r\ndata: b\r\n\r\nid: x\rdata: c\r\r'),
      comments: utf8(': keepalive\n\nretry: 1500\nretry: 1.5\ndata\n\n'),
      'id-nul': utf8('id: a\0b\ndata: x\n\nid\ndata: y\n\n'),
      bom: Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), utf8('data: after a BOM\n\n')]),
      unicode: utf8('data: é€😀\nevent: ünï\n\n'),
      'invalid-utf8': Buffer.concat([utf8('data: '), Buffer.of(0xe2, 0x82, 0x0a, 0x0a, 0xff, 0x0a, 0x0a)]),
      unfinished: utf8('data: one\n\ndata: never dispatched\n'),
    };
  },
  run(input) {
    const reference = referenceReading(input);
    const whole = parse([Buffer.from(input)]);
    assert.deepEqual(whole, { items: reference.items, lastEventId: reference.lastEventId });
    const rng = rngFor(input);
    assert.deepEqual(parse(pieces(input, cuts(rng, input.length))), whole, 'random cut points');
    if (input.length <= 512) assert.deepEqual(parse(pieces(input, cuts(rng, input.length, true))), whole);

    // A small line limit: the same items, or a RangeError after a prefix of them.
    const parser = new EventStreamParser({ comments: true, maxLineLength: SMALL_LINE });
    const items: SseItem[] = [];
    let refused: unknown = null;
    for (const chunk of pieces(input, cuts(rng, input.length))) {
      try {
        items.push(...parser.feed(chunk));
      } catch (error) {
        refused = error;
        break;
      }
    }
    if (refused === null) {
      assert.deepEqual(items, reference.items);
    } else {
      assert.ok(refused instanceof RangeError, `feed threw ${String(refused)}`);
      assert.ok(reference.longestLine > SMALL_LINE, 'refused a stream without a long line');
      assert.deepEqual(items, reference.items.slice(0, items.length));
    }
  },
  mutate(input, rng) {
    // Re-cut the stream into lines and shuffle, duplicate or drop one.
    const lines = input.toString('latin1').split(/(?<=\n)/);
    if (lines.length < 2) return input;
    const i = rng.below(lines.length);
    const j = rng.below(lines.length);
    const op = rng.below(3);
    if (op === 0) [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    else if (op === 1) lines.splice(j, 0, lines[i]!);
    else lines.splice(i, 1);
    return Buffer.from(lines.join(''), 'latin1');
  },
};
