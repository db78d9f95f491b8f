import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EventStreamParser, type SseItem } from '../../../src/protocol/sse/parser.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Parse `bytes` cut at `cuts` (sorted offsets), then end the stream. */
function parseCut(bytes: Uint8Array, cuts: number[], comments = false): SseItem[] {
  const parser = new EventStreamParser({ comments });
  const out: SseItem[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...parser.feed(bytes.subarray(at, cut)));
    at = cut;
  }
  parser.end();
  return out;
}

function parse(text: string, comments = false): SseItem[] {
  return parseCut(utf8(text), [], comments);
}

const event = (data: string, type = 'message', lastEventId = '') => ({
  kind: 'event' as const,
  type,
  data,
  lastEventId,
});

describe('EventStreamParser (WHATWG event stream interpretation)', () => {
  it('dispatches on a blank line, type "message" by default, multi-line data joined with LF', () => {
    assert.deepEqual(parse('data: one\ndata: two\n\ndata:three\n\n'), [event('one\ntwo'), event('three')]);
  });

  it('ends lines with CR, LF and CRLF alike', () => {
    assert.deepEqual(parse('data: a\rdata: b\r\ndata: c\n\r\n'), [event('a\nb\nc')]);
    assert.deepEqual(parse('data: x\r\rdata: y\n\n'), [event('x'), event('y')]);
  });

  it('drops exactly one space after the colon', () => {
    assert.deepEqual(parse('data:  two spaces\n\ndata:none\n\n'), [event(' two spaces'), event('none')]);
  });

  it('takes a line without a colon as a field with an empty value', () => {
    // "data" alone appends an empty line: the event is dispatched with data "".
    assert.deepEqual(parse('data\n\n'), [event('')]);
    assert.deepEqual(parse('data\ndata\n\n'), [event('\n')]);
  });

  it('dispatches nothing without data, and a trailing LF is removed once', () => {
    assert.deepEqual(parse('event: ping\n\n'), []);
    assert.deepEqual(parse('data: a\ndata:\n\n'), [event('a\n')]);
  });

  it('uses the event field for the type, and resets it after each dispatch', () => {
    assert.deepEqual(parse('event: tick\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n'), [
      event('1', 'tick'),
      event('2'),
      event('3'),
    ]);
  });

  it('keeps the last event ID across events, updates it without data, ignores ids with NULL', () => {
    const parser = new EventStreamParser();
    const out = parser.feed(
      'id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid: x\u0000y\ndata: d\n\nid\ndata: e\n\n',
    );
    assert.deepEqual(out, [
      event('a', 'message', '1'),
      event('b', 'message', '1'),
      event('c', 'message', '2'),
      event('d', 'message', '2'),
      event('e'),
    ]);
    assert.equal(parser.lastEventId, '');
    const resumed = new EventStreamParser({ lastEventId: '41' });
    assert.deepEqual(resumed.feed('data: z\n\n'), [event('z', 'message', '41')]);
  });

  it('takes retry only when it is ASCII digits', () => {
    assert.deepEqual(
      parse('retry: 2500\n\nretry: 1.5\nretry: -1\nretry: 10ms\nretry:\nretry: ３\nretry:0\n'),
      [
        { kind: 'retry', ms: 2500 },
        { kind: 'retry', ms: 0 },
      ],
    );
  });

  it('ignores comments and unknown fields (comments reported on request)', () => {
    assert.deepEqual(parse(': keepalive\nfoo: bar\nData: x\ndata: y\n\n'), [event('y')]);
    assert.deepEqual(parse(':\n: hi\ndata: y\n\n', true), [
      { kind: 'comment', text: '' },
      { kind: 'comment', text: ' hi' },
      event('y'),
    ]);
  });

  it('strips one leading BOM only, and replaces invalid UTF-8 with U+FFFD', () => {
    assert.deepEqual(parse('\uFEFFdata: a\n\n'), [event('a')]);
    // A second BOM is part of the first line: a field named "\uFEFFdata", ignored.
    assert.deepEqual(parse('\uFEFF\uFEFFdata: a\n\n'), []);
    const bytes = new Uint8Array([...utf8('data: '), 0xff, 0xc3, ...utf8('\n\n')]);
    assert.deepEqual(parseCut(bytes, []), [event('\uFFFD\uFFFD')]);
  });

  it('discards an event cut off by the end of the stream, and a last line without its end', () => {
    assert.deepEqual(parse('data: complete\n\ndata: cut off\n'), [event('complete')]);
    const parser = new EventStreamParser();
    parser.feed('data: a\n\nid: 9');
    parser.end();
    assert.equal(parser.lastEventId, '', 'the unfinished id line does not count');
    assert.throws(() => parser.feed('data: late\n\n'), /ended/);
  });

  it('refuses a line longer than maxLineLength instead of buffering it', () => {
    const parser = new EventStreamParser({ maxLineLength: 16 });
    assert.deepEqual(parser.feed('data: short\n\n'), [event('short')]);
    assert.throws(() => parser.feed(`data: ${'x'.repeat(20)}`), RangeError);
  });

  it('gives the same result however the bytes are cut (CRLF and characters split)', () => {
    const text =
      '\uFEFF: comment\r\nevent: café\r\nid: 7\r\ndata: héllo 🌍\r\ndata\r\n\r\nretry: 300\rdata: x\r\r' +
      'data: a\n\n';
    const bytes = utf8(text);
    const expected = parseCut(bytes, [], true);
    assert.deepEqual(expected, [
      { kind: 'comment', text: ' comment' },
      event('héllo 🌍\n', 'café', '7'),
      { kind: 'retry', ms: 300 },
      event('x', 'message', '7'),
      event('a', 'message', '7'),
    ]);
    // Byte by byte.
    assert.deepEqual(
      parseCut(
        bytes,
        Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
        true,
      ),
      expected,
    );
    // Random cut points.
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
        (cuts) => {
          assert.deepEqual(
            parseCut(
              bytes,
              cuts.sort((a, b) => a - b),
              true,
            ),
            expected,
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
