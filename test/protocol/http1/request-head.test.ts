import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  fieldLinesError,
  HttpParseError,
  MAX_HEADER_FIELDS,
  RequestHeadParser,
} from '../../../src/protocol/http1/request-head.js';

const UPGRADE =
  'GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
  'Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: x-other\r\n\r\n';

function parseAll(text: string, max?: number) {
  const parser = new RequestHeadParser(max);
  const head = parser.push(Buffer.from(text, 'latin1'));
  return { head, rest: parser.rest };
}

function status(text: string, max?: number): number {
  try {
    parseAll(text, max);
  } catch (error) {
    assert.ok(error instanceof HttpParseError);
    return error.status;
  }
  return 0;
}

describe('RequestHeadParser (RFC 9112)', () => {
  it('parses an upgrade request: method, target, version, lower-case headers, repeats joined', () => {
    const { head, rest } = parseAll(`${UPGRADE}\x81\x80`);
    assert.ok(head !== null);
    assert.equal(head.method, 'GET');
    assert.equal(head.url, '/chat?room=1');
    assert.equal(head.httpVersion, '1.1');
    assert.equal(head.headers.upgrade, 'websocket');
    assert.equal(head.headers['sec-websocket-extensions'], 'permessage-deflate, x-other');
    assert.equal(head.rawHeaders[0], 'Host');
    assert.deepEqual([...rest], [0x81, 0x80], 'bytes after the head are kept for the WebSocket');
  });

  it('gives the same result however the bytes are split', () => {
    const bytes = Buffer.from(UPGRADE, 'latin1');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const parser = new RequestHeadParser();
        let head = null;
        let from = 0;
        for (const at of [...points, bytes.length]) {
          assert.equal(head, null, 'no head before its last byte');
          head = parser.push(bytes.subarray(from, at));
          from = at;
        }
        assert.ok(head !== null);
        assert.equal(head.headers['sec-websocket-key'], 'dGhlIHNhbXBsZSBub25jZQ==');
      }),
    );
  });

  it('refuses what has been used for request smuggling with 400', () => {
    const bad = [
      'GET / HTTP/1.1\nHost: x\r\n\r\n', // bare LF
      'GET / HTTP/1.1\r\nHost : x\r\n\r\n', // space before the colon
      'GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n', // obsolete line folding
      'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', // control character
      'GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n', // two Host fields
      'GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n', // no Host in HTTP/1.1
      'GET  / HTTP/1.1\r\nHost: x\r\n\r\n', // two spaces
      'GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n',
      'G(T / HTTP/1.1\r\nHost: x\r\n\r\n', // method not a token
      'GET / HTTX/1.1\r\nHost: x\r\n\r\n',
      'GET / HTTP/1.1\r\nNoColon\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n', // two lengths
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n',
    ];
    for (const text of bad) assert.equal(status(text), 400, JSON.stringify(text));
  });

  it('answers 505 for another major version and 431 for a head over the limit', () => {
    assert.equal(status('GET / HTTP/2.0\r\nHost: x\r\n\r\n'), 505);
    assert.equal(status(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200)}\r\n\r\n`, 128), 431);
    // Refused before the end of the head arrives, so an endless head is never buffered.
    const fields = Array.from({ length: MAX_HEADER_FIELDS }, (_, i) => `X-${i}: 1\r\n`).join('');
    assert.equal(status(`GET / HTTP/1.1\r\nHost: x\r\n${fields}\r\n`), 431);
    const parser = new RequestHeadParser(64);
    assert.equal(parser.push(Buffer.from('GET / HTTP/1.1\r\n')), null);
    assert.throws(
      () => parser.push(Buffer.alloc(100, 0x61)),
      (e: HttpParseError) => e.status === 431,
    );
  });

  it('accepts HTTP/1.0 without Host and ignores an empty line before the request line', () => {
    const { head } = parseAll('\r\nGET / HTTP/1.0\r\n\r\n');
    assert.equal(head?.httpVersion, '1.0');
  });
});

describe("fieldLinesError: the rules over all of a request's fields", () => {
  const error = (raw: string[], rules: Parameters<typeof fieldLinesError>[1] = { requireHost: true }) => {
    const e = fieldLinesError(raw, rules);
    return e === null ? null : `${e.status} ${e.message}`;
  };

  it('passes a request with one Host, one framing, and fields under the limit', () => {
    assert.equal(error(['Host', 'a', 'Content-Length', '3']), null);
    assert.equal(error(['host', 'a', 'Transfer-Encoding', 'chunked']), null);
    // RFC 9110 section 8.6: repeated identical values may be taken as one.
    assert.equal(error(['Host', 'a', 'Content-Length', '3, 3', 'content-length', '3']), null);
    assert.equal(error([], { requireHost: false }), null);
    const fields = Array.from({ length: MAX_HEADER_FIELDS - 1 }, (_, i) => [`X-${i}`, '1']).flat();
    assert.equal(error(['Host', 'a', ...fields]), null);
  });

  it('answers 400 to two Host fields, whatever their case, and to none when Host is required', () => {
    assert.equal(error(['Host', 'a', 'hOST', 'a']), '400 more than one Host header');
    assert.equal(error(['Host', 'a', 'Host', 'b'], { requireHost: false }), '400 more than one Host header');
    assert.equal(error(['X', 'y']), '400 missing Host header');
    assert.equal(error(['X', 'y'], { requireHost: false }), null);
  });

  it('answers 400 to lengths that differ or are not numbers, and to a length with Transfer-Encoding', () => {
    for (const raw of [
      ['Content-Length', '3', 'Content-Length', '4'],
      ['Content-Length', '3, 4'],
      ['Content-Length', '-1'],
      ['Content-Length', '+3'],
      ['Content-Length', '0x10'],
      ['Content-Length', ''],
    ]) {
      assert.equal(error(['Host', 'a', ...raw]), '400 invalid or conflicting Content-Length', String(raw));
    }
    assert.equal(
      error(['Host', 'a', 'Content-Length', '3', 'Transfer-Encoding', 'chunked']),
      '400 both Content-Length and Transfer-Encoding',
    );
  });

  it('answers 400 to an upgrade request that carries a body', () => {
    const upgrade = { requireHost: true, upgrade: true };
    assert.equal(error(['Host', 'a', 'Content-Length', '0'], upgrade), null);
    assert.equal(error(['Host', 'a', 'Content-Length', '5'], upgrade), '400 an upgrade request with a body');
    assert.equal(
      error(['Host', 'a', 'Transfer-Encoding', 'chunked'], upgrade),
      '400 an upgrade request with a body',
    );
  });

  it('answers 431 past the field count', () => {
    const fields = Array.from({ length: MAX_HEADER_FIELDS }, (_, i) => [`X-${i}`, '1']).flat();
    assert.equal(error(['Host', 'a', ...fields]), `431 more than ${MAX_HEADER_FIELDS} header fields`);
    assert.equal(
      error(['Host', 'a', 'X', '1'], { requireHost: true, maxFields: 1 }),
      '431 more than 1 header fields',
    );
  });
});
