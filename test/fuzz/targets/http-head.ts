/**
 * The HTTP/1.1 upgrade head (src/protocol/http1/request-head.ts) and what the standalone server does
 * with it: the RFC 6455 section 4.2.1 checks and the permessage-deflate negotiation
 * (src/protocol/ws/handshake.ts, permessage-deflate.ts). Invariants:
 * - the parser returns a head, asks for more bytes, or throws an HttpParseError with status 400, 431 or
 *   505, and the same under any cutting of the bytes (the bytes after the head included);
 * - a head has a token method, a target without spaces or controls, HTTP/1.x, lower-case names,
 *   trimmed values without controls, headers that are the raw ones joined, Host for HTTP/1.1, and it
 *   reads back the same when written out again;
 * - the handshake check returns a key, subprotocols and extensions, or a HandshakeError with 400, 405
 *   or 426; an accepted request is one a strict reading of section 4.2.1 accepts too;
 * - a negotiated permessage-deflate answer is one element a client accepts, with the same agreement.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { HandshakeError } from '../../../src/protocol/errors.js';
import {
  HttpParseError,
  type ParsedRequestHead,
  RequestHeadParser,
} from '../../../src/protocol/http1/request-head.js';
import { parseExtensions } from '../../../src/protocol/ws/extensions.js';
import {
  buildAcceptResponse,
  buildRefusal,
  validateClientRequest,
} from '../../../src/protocol/ws/handshake.js';
import {
  acceptResponse,
  type DeflateConfig,
  negotiateAsServer,
} from '../../../src/protocol/ws/permessage-deflate.js';
import type { Rng } from '../../support/random.js';
import type { FuzzTarget } from '../engine/target.js';
import { cuts, pieces, rngFor } from './util.js';

const MAX_HEAD = 1024;
const NBSP_AS_SPACE = 'handshake: U+00A0 taken for whitespace';
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

type Outcome =
  | { kind: 'head'; head: ParsedRequestHead; rest: string }
  | { kind: 'more' }
  | { kind: 'error'; status: number; message: string };

function parseHead(chunks: readonly Buffer[]): Outcome {
  const parser = new RequestHeadParser(MAX_HEAD);
  for (let i = 0; i < chunks.length; i++) {
    let head: ParsedRequestHead | null;
    try {
      head = parser.push(chunks[i]!);
    } catch (error) {
      assert.ok(error instanceof HttpParseError, `push threw ${inspect(error)}`);
      assert.ok([400, 431, 505].includes(error.status), `status ${error.status}`);
      return { kind: 'error', status: error.status, message: error.message };
    }
    if (head !== null) {
      const rest = Buffer.concat([parser.rest, ...chunks.slice(i + 1)]).toString('hex');
      return { kind: 'head', head, rest };
    }
  }
  return { kind: 'more' };
}

function checkHead(head: ParsedRequestHead, input: Buffer): void {
  assert.match(head.method, TOKEN);
  assert.match(head.url, /^[\x21-\x7e\x80-\xff]+$/);
  assert.equal(head.httpVersionMajor, 1);
  assert.equal(head.httpVersion, `${head.httpVersionMajor}.${head.httpVersionMinor}`);
  assert.equal(head.rawHeaders.length % 2, 0);
  const joined: Record<string, string> = {};
  for (let i = 0; i < head.rawHeaders.length; i += 2) {
    const name = head.rawHeaders[i]!;
    const value = head.rawHeaders[i + 1]!;
    assert.match(name, TOKEN);
    assert.match(value, /^(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/);
    const key = name.toLowerCase();
    joined[key] = joined[key] === undefined ? value : `${joined[key]}, ${value}`;
  }
  assert.deepEqual({ ...head.headers }, joined);
  if (head.httpVersionMinor >= 1) assert.ok(head.headers.host !== undefined, 'HTTP/1.1 without Host');
  // The head ends at the first CRLF CRLF of the input.
  const end = input.indexOf('\r\n\r\n');
  assert.ok(end >= 0 && end + 4 <= MAX_HEAD);
  // Written out again, it reads the same.
  let text = `${head.method} ${head.url} HTTP/${head.httpVersion}\r\n`;
  for (let i = 0; i < head.rawHeaders.length; i += 2)
    text += `${head.rawHeaders[i]}: ${head.rawHeaders[i + 1]}\r\n`;
  const again = new RequestHeadParser(1 << 20).push(Buffer.from(`${text}\r\n`, 'latin1'));
  assert.deepEqual(again, head, 'the head written out again reads differently');
}

const OWS = /^[ \t]+|[ \t]+$/g;
const OWS_AND_NBSP = /^[ \t\xa0]+|[ \t\xa0]+$/g;

/**
 * RFC 6455 section 4.2.1 read strictly: OWS is SP and HTAB only (RFC 9110 section 5.6.3), tokens
 * compared case-insensitively. `space` may widen OWS, to tell a known leniency from anything else.
 */
function strictlyValid(head: ParsedRequestHead, space = OWS): boolean {
  const list = (name: string): string[] =>
    (head.headers[name] ?? '')
      .split(',')
      .map((s) => s.replace(space, ''))
      .filter((s) => s !== '');
  const has = (name: string, token: string): boolean => list(name).some((t) => t.toLowerCase() === token);
  const one = (name: string): string | undefined => head.headers[name]?.replace(space, '');
  return (
    head.method === 'GET' &&
    head.httpVersionMinor >= 1 &&
    has('upgrade', 'websocket') &&
    has('connection', 'upgrade') &&
    one('sec-websocket-version') === '13' &&
    /^[A-Za-z0-9+/]{22}==$/.test(one('sec-websocket-key') ?? '')
  );
}

const SERVER_CONFIGS: readonly DeflateConfig[] = [
  { serverNoContextTakeover: true, clientNoContextTakeover: true },
  { serverMaxWindowBits: 12, clientMaxWindowBits: 10 },
  {},
];

function checkHandshake(head: ParsedRequestHead): void {
  let request: ReturnType<typeof validateClientRequest>;
  try {
    request = validateClientRequest(head);
  } catch (error) {
    assert.ok(error instanceof HandshakeError, `validateClientRequest threw ${inspect(error)}`);
    assert.ok([400, 405, 426].includes(error.status), `status ${error.status}`);
    buildRefusal(error.status, error.message, error.headers);
    return;
  }
  if (!strictlyValid(head)) {
    assert.ok(strictlyValid(head, OWS_AND_NBSP), 'accepted a request that RFC 6455 section 4.2.1 refuses');
    assert.fail(`${NBSP_AS_SPACE}: accepted a request that RFC 6455 section 4.2.1 refuses`);
  }
  for (const p of request.protocols) assert.match(p, TOKEN);
  assert.equal(new Set(request.protocols).size, request.protocols.length);
  for (const config of SERVER_CONFIGS) {
    const negotiated = negotiateAsServer(request.extensions, config);
    if (negotiated === null) continue;
    const a = negotiated.agreement;
    assert.ok(a.serverMaxWindowBits >= 9 && a.serverMaxWindowBits <= 15);
    assert.ok(a.clientMaxWindowBits >= 8 && a.clientMaxWindowBits <= 15);
    const answer = parseExtensions(negotiated.response);
    assert.equal(answer.length, 1);
    if (a.clientMaxWindowBits < 9) {
      assert.throws(() => acceptResponse(answer[0]!, {}));
    } else {
      const client = acceptResponse(answer[0]!, {});
      assert.deepEqual(client, a, `the client reads ${negotiated.response} differently`);
    }
    const response = buildAcceptResponse({
      key: request.key,
      protocol: request.protocols[0],
      extensions: negotiated.response,
    });
    assert.ok(response.endsWith('\r\n\r\n') && response.indexOf('\r\n\r\n') === response.length - 4);
  }
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function request(lines: readonly string[], rest = ''): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${rest}`, 'latin1');
}

const UPGRADE = [
  'GET /chat?room=1 HTTP/1.1',
  'Host: server.example.com',
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Key: ${KEY}`,
  'Sec-WebSocket-Version: 13',
];

/** Structure-aware: drop, repeat or swap a header line, or change a line's case. */
function mutateLines(input: Buffer, rng: Rng): Buffer {
  const text = input.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return input;
  const lines = text.slice(0, end).split('\r\n');
  const i = rng.below(lines.length);
  const j = rng.below(lines.length);
  const op = rng.below(4);
  if (op === 0) lines.splice(i, 1);
  else if (op === 1) lines.splice(j, 0, lines[i]!);
  else if (op === 2) [lines[i], lines[j]] = [lines[j]!, lines[i]!];
  else lines[i] = rng.below(2) === 0 ? lines[i]!.toUpperCase() : lines[i]!.toLowerCase();
  return Buffer.from(`${lines.join('\r\n')}${text.slice(end)}`, 'latin1');
}

export const httpHeadTarget: FuzzTarget = {
  name: 'http-head',
  description:
    'upgrade head: a head, more, or a 400/431/505 under any cutting; handshake and deflate answer consistent',
  maxLength: 1400,
  dictionary: [
    '\r\n',
    '\r\n\r\n',
    ': ',
    'GET ',
    ' HTTP/1.1',
    'HTTP/1.0',
    'HTTP/2.0',
    'Host: a',
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Connection: keep-alive, Upgrade',
    `Sec-WebSocket-Key: ${KEY}`,
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Protocol: chat, superchat',
    'Sec-WebSocket-Extensions: ',
    'permessage-deflate',
    '; client_max_window_bits',
    '; server_max_window_bits=10',
    '; client_no_context_takeover',
    '; server_no_context_takeover',
    '="15"',
    '=8',
    ', ',
    '\t',
    ' ',
    '\n',
    '\xa0',
  ],
  seeds() {
    return {
      upgrade: request(UPGRADE),
      'upgrade-with-frame': request(UPGRADE, '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'),
      deflate: request([
        ...UPGRADE,
        'Sec-WebSocket-Protocol: conduit.v1, chat',
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate',
        'Origin: http://example.com',
      ]),
      'deflate-quoted': request([
        ...UPGRADE,
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits="12"; server_no_context_takeover',
        'Sec-WebSocket-Extensions: x-webkit-deflate-frame',
      ]),
      'http10-no-host': request(['GET / HTTP/1.0', 'Upgrade: websocket']),
      'bad-version': request(['POST /x HTTP/1.1', 'Host: a', 'Sec-WebSocket-Version: 8']),
      'leading-crlf': Buffer.from(`\r\n${request(UPGRADE).toString('latin1')}`, 'latin1'),
      'obs-fold': request(['GET / HTTP/1.1', 'Host: a', 'X: a', ' folded']),
      partial: Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n', 'latin1'),
    };
  },
  run(input) {
    const whole = parseHead([Buffer.from(input)]);
    const rng = rngFor(input);
    assert.deepEqual(parseHead(pieces(input, cuts(rng, input.length))), whole, 'random cut points');
    if (input.length <= 400) assert.deepEqual(parseHead(pieces(input, cuts(rng, input.length, true))), whole);
    if (whole.kind === 'error') {
      buildRefusal(whole.status, whole.message);
      return;
    }
    if (whole.kind === 'more') {
      assert.ok(input.indexOf('\r\n\r\n') < 0 && input.length <= MAX_HEAD, 'asked for more after a head');
      return;
    }
    checkHead(whole.head, input);
    checkHandshake(whole.head);
  },
  mutate: mutateLines,
};
