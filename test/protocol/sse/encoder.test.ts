import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeComment, encodeEvent, encodeRetry } from '../../../src/protocol/sse/encoder.js';
import { EventStreamParser, type SseItem } from '../../../src/protocol/sse/parser.js';

function readBack(text: string, cuts: number[] = []): SseItem[] {
  const bytes = new TextEncoder().encode(text);
  const parser = new EventStreamParser({ comments: true });
  const out: SseItem[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...parser.feed(bytes.subarray(at, cut)));
    at = cut;
  }
  parser.end();
  return out;
}

describe('SSE encoder', () => {
  it('writes the fields an EventSource reads', () => {
    assert.equal(
      encodeEvent({ event: 'tick', id: '42', retry: 1000, data: 'a\nb' }),
      'event: tick\nid: 42\nretry: 1000\ndata: a\ndata: b\n\n',
    );
    assert.equal(encodeEvent({ data: '' }), 'data: \n\n');
    assert.equal(encodeRetry(3000), 'retry: 3000\n\n');
    assert.equal(encodeComment(), ':\n');
    assert.equal(encodeComment('keep\nalive'), ': keep\n: alive\n');
  });

  it('splits data on CR, LF and CRLF, and keeps a leading space', () => {
    assert.deepEqual(readBack(encodeEvent({ data: ' x\r\ny\rz\n' })), [
      { kind: 'event', type: 'message', data: ' x\ny\nz\n', lastEventId: '' },
    ]);
  });

  it('refuses what a reader could not read back', () => {
    assert.throws(() => encodeEvent({ data: 'x', event: 'a\nb' }), TypeError);
    assert.throws(() => encodeEvent({ data: 'x', id: '1\r2' }), TypeError);
    assert.throws(() => encodeEvent({ data: 'x', id: 'a\u0000' }), TypeError);
    assert.throws(() => encodeEvent({ retry: -1 }), TypeError);
    assert.throws(() => encodeEvent({ retry: 1.5 }), TypeError);
    assert.throws(() => encodeRetry(Number.NaN), TypeError);
  });

  it('round-trips any event through the parser, however the bytes are cut (property)', () => {
    const lineFree = fc
      .string({ unit: 'grapheme' })
      .filter((s) => !/[\r\n]/.test(s) && !s.includes('\u0000'));
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            data: fc.string({ unit: 'grapheme' }),
            event: fc.option(lineFree, { nil: undefined }),
            id: fc.option(lineFree, { nil: undefined }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        (messages, rawCuts) => {
          const text = messages.map((m) => encodeEvent(m)).join('');
          const size = new TextEncoder().encode(text).length;
          const cuts = [...new Set(rawCuts.map((c) => (c % size) + 1).filter((c) => c < size))].sort(
            (a, b) => a - b,
          );
          let lastEventId = '';
          const expected = messages.map((m) => {
            if (m.id !== undefined) lastEventId = m.id;
            return {
              kind: 'event',
              type: m.event === undefined || m.event === '' ? 'message' : m.event,
              data: m.data.replace(/\r\n|\r/g, '\n'),
              lastEventId,
            };
          });
          assert.deepEqual(readBack(text, cuts), expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
