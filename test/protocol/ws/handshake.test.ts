import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HandshakeError, type HandshakeErrorCode } from '../../../src/protocol/errors.js';
import {
  acceptFor,
  buildAcceptResponse,
  buildClientRequest,
  buildRefusal,
  generateKey,
  type Headers,
  isValidKey,
  parseProtocolList,
  type RequestHead,
  validateClientRequest,
  validateServerResponse,
} from '../../../src/protocol/ws/handshake.js';

const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function request(headers: Headers = {}, method = 'GET', httpVersion = '1.1'): RequestHead {
  return {
    method,
    httpVersion,
    headers: {
      host: 'server.example.com',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': RFC_KEY,
      'sec-websocket-version': '13',
      ...headers,
    },
  };
}

function refusal(req: RequestHead): HandshakeError {
  try {
    validateClientRequest(req);
  } catch (error) {
    assert.ok(error instanceof HandshakeError);
    return error;
  }
  assert.fail('the request was accepted');
}

function expectRefused(req: RequestHead, status: number, code: HandshakeErrorCode): HandshakeError {
  const error = refusal(req);
  assert.equal(error.status, status);
  assert.equal(error.code, code);
  return error;
}

describe('handshake: keys', () => {
  it('computes the RFC 6455 example accept value: dGhlIHNhbXBsZSBub25jZQ== -> s3pPLMBiTxaQ9kYGzzhZRbK+xOo=', () => {
    assert.equal(acceptFor(RFC_KEY), RFC_ACCEPT);
  });

  it('generates a 24-character base64 key from exactly 16 random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const key = generateKey(bytes);
        assert.equal(key.length, 24);
        assert.ok(isValidKey(key));
        assert.deepEqual(Uint8Array.from(Buffer.from(key, 'base64')), bytes);
      }),
      { numRuns: 100 },
    );
    assert.equal(generateKey(Buffer.from('the sample nonce')), RFC_KEY);
    assert.throws(() => generateKey(new Uint8Array(15)), RangeError);
    assert.throws(() => generateKey(new Uint8Array(17)), RangeError);
  });

  it('generates a key from a 16-byte view at an offset of a larger buffer', () => {
    const backing = Buffer.alloc(40, 0xee);
    Buffer.from('the sample nonce').copy(backing, 7);
    assert.equal(generateKey(backing.subarray(7, 23)), RFC_KEY);
  });

  it('accepts only keys that decode to 16 bytes', () => {
    for (const key of [
      '',
      'dGhlIHNhbXBsZSBub25jZQ=',
      'dGhlIHNhbXBsZSBub25jZQ',
      'dGhlIHNhbXBsZSBub25jZ===',
      'dGhlIHNhbXBsZSBub25j!Q==',
    ]) {
      assert.equal(isValidKey(key), false, key);
    }
  });
});

describe('handshake: validateClientRequest (server role)', () => {
  it('accepts the RFC 6455 section 1.2 example request', () => {
    const result = validateClientRequest(
      request({
        origin: 'http://example.com',
        'sec-websocket-protocol': 'chat, superchat',
      }),
    );
    assert.deepEqual(result, {
      key: RFC_KEY,
      protocols: ['chat', 'superchat'],
      extensions: [],
      origin: 'http://example.com',
    });
  });

  it('answers 405 with Allow: GET to a method other than GET', () => {
    for (const method of ['POST', 'HEAD', 'get', 'CONNECT']) {
      const error = expectRefused(request({}, method), 405, 'WS_ERR_BAD_METHOD');
      assert.deepEqual(error.headers, { Allow: 'GET' });
    }
  });

  it('answers 400 to HTTP versions below 1.1', () => {
    for (const version of ['1.0', '0.9', '1', '', 'x.y', '1.x', 'one.one'])
      expectRefused(request({}, 'GET', version), 400, 'WS_ERR_BAD_HTTP_VERSION');
    validateClientRequest(request({}, 'GET', '2.0'));
  });

  it('takes only SP and HTAB for whitespace around values: a 0xA0 byte (latin1 U+00A0) is part of the value', () => {
    expectRefused(request({ connection: '\u00a0Upgrade' }), 400, 'WS_ERR_BAD_CONNECTION');
    expectRefused(request({ 'sec-websocket-version': '13\u00a0' }), 426, 'WS_ERR_BAD_VERSION');
    validateClientRequest(request({ connection: ' \tUpgrade\t ', 'sec-websocket-version': '\t13 ' }));
  });

  it('parses Upgrade and Connection token lists case-insensitively ("keep-alive, UPGRADE")', () => {
    const result = validateClientRequest(
      request({ upgrade: 'WebSocket', connection: 'keep-alive, UPGRADE' }),
    );
    assert.equal(result.key, RFC_KEY);
    validateClientRequest(request({ upgrade: 'h2c, websocket', connection: 'Upgrade,keep-alive' }));
    validateClientRequest(request({ connection: ['keep-alive', 'upgrade'] }));
  });

  it('answers 400 to a missing or wrong Upgrade header', () => {
    for (const upgrade of [undefined, '', 'h2c', 'websockets', 'web socket']) {
      expectRefused(request({ upgrade }), 400, 'WS_ERR_BAD_UPGRADE');
    }
  });

  it('answers 400 to a missing or wrong Connection header', () => {
    for (const connection of [undefined, 'keep-alive', 'upgraded', 'close']) {
      expectRefused(request({ connection }), 400, 'WS_ERR_BAD_CONNECTION');
    }
  });

  it('answers 426 with Sec-WebSocket-Version: 13 to any other version, or none', () => {
    for (const version of [undefined, '', '8', '12', '14', '13, 8', 'thirteen']) {
      const error = expectRefused(request({ 'sec-websocket-version': version }), 426, 'WS_ERR_BAD_VERSION');
      assert.deepEqual(error.headers, { 'Sec-WebSocket-Version': '13' });
    }
  });

  it('answers 400 to a missing or malformed Sec-WebSocket-Key', () => {
    for (const key of [
      undefined,
      '',
      'short==',
      'dGhlIHNhbXBsZSBub25jZQ',
      `${RFC_KEY}x`,
      'dGhlIHNhbXBsZSBub25jZQ==, other',
    ]) {
      expectRefused(request({ 'sec-websocket-key': key }), 400, 'WS_ERR_BAD_KEY');
    }
    // Surrounding whitespace is not part of the value.
    assert.equal(validateClientRequest(request({ 'sec-websocket-key': ` ${RFC_KEY} ` })).key, RFC_KEY);
  });

  it('answers 400 to a Sec-WebSocket-Protocol that is not a list of distinct tokens', () => {
    for (const protocol of ['chat, chat', 'chat v2', 'a/b', '"chat"', 'chat;q=1']) {
      expectRefused(request({ 'sec-websocket-protocol': protocol }), 400, 'WS_ERR_BAD_PROTOCOL');
    }
    assert.deepEqual(validateClientRequest(request({ 'sec-websocket-protocol': ' a ,b,, c' })).protocols, [
      'a',
      'b',
      'c',
    ]);
  });

  it('answers 400 to a malformed Sec-WebSocket-Extensions header, and parses a good one', () => {
    for (const extensions of ['permessage-deflate;', 'a b', 'x; p="v w"', ';']) {
      expectRefused(request({ 'sec-websocket-extensions': extensions }), 400, 'WS_ERR_BAD_EXTENSIONS');
    }
    const ok = validateClientRequest(
      request({ 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits, x-foo' }),
    );
    assert.deepEqual(
      ok.extensions.map((e) => [e.name, e.paramList]),
      [
        ['permessage-deflate', [['client_max_window_bits', true]]],
        ['x-foo', []],
      ],
    );
    assert.deepEqual(validateClientRequest(request({ 'sec-websocket-extensions': '  ' })).extensions, []);
  });
});

describe('handshake: buildAcceptResponse and buildRefusal', () => {
  it('formats the 101 answer of section 4.2.2 with the accept value', () => {
    assert.equal(
      buildAcceptResponse({ key: RFC_KEY }),
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n\r\n`,
    );
  });

  it('adds the chosen subprotocol, the negotiated extensions and extra headers', () => {
    const head = buildAcceptResponse({
      key: RFC_KEY,
      protocol: 'chat',
      extensions: 'permessage-deflate',
      headers: { 'X-Id': '7' },
    });
    assert.ok(head.endsWith('\r\n\r\n'));
    const lines = head.split('\r\n');
    assert.deepEqual(lines.slice(4, 7), [
      'Sec-WebSocket-Protocol: chat',
      'Sec-WebSocket-Extensions: permessage-deflate',
      'X-Id: 7',
    ]);
    assert.ok(!buildAcceptResponse({ key: RFC_KEY, extensions: '' }).includes('Extensions'));
  });

  it('refuses header values that would inject lines', () => {
    assert.throws(
      () => buildAcceptResponse({ key: RFC_KEY, headers: { 'X-A': 'b\r\nSet-Cookie: x' } }),
      TypeError,
    );
    assert.throws(() => buildRefusal(403, 'no', { 'X\nY': 'z' }), TypeError);
  });

  it('formats a refusal with its status text, Connection: close, a text body and its byte length', () => {
    const text = buildRefusal(426, 'unsupported version — 13 only', { 'Sec-WebSocket-Version': '13' });
    const [head, body] = text.split('\r\n\r\n');
    assert.equal(body, 'unsupported version — 13 only\n');
    assert.deepEqual(head!.split('\r\n'), [
      'HTTP/1.1 426 Upgrade Required',
      'Connection: close',
      'Content-Type: text/plain; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body!)}`,
      'Sec-WebSocket-Version: 13',
    ]);
    assert.ok(buildRefusal(405, 'x').startsWith('HTTP/1.1 405 Method Not Allowed\r\n'));
    assert.ok(buildRefusal(431, 'x').startsWith('HTTP/1.1 431 Request Header Fields Too Large\r\n'));
    assert.ok(buildRefusal(418, 'x').startsWith('HTTP/1.1 418 '));
  });
});

describe('handshake: client role', () => {
  it('builds the request headers of section 4.1', () => {
    const { key, headers } = buildClientRequest({
      random16: Buffer.from('the sample nonce'),
      protocols: ['chat', 'superchat'],
      extensions: 'permessage-deflate',
      origin: 'http://example.com',
    });
    assert.equal(key, RFC_KEY);
    assert.deepEqual(headers, {
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': RFC_KEY,
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Protocol': 'chat, superchat',
      'Sec-WebSocket-Extensions': 'permessage-deflate',
      Origin: 'http://example.com',
    });
    const bare = buildClientRequest({ random16: new Uint8Array(16) });
    assert.deepEqual(Object.keys(bare.headers), [
      'Upgrade',
      'Connection',
      'Sec-WebSocket-Key',
      'Sec-WebSocket-Version',
    ]);
  });

  it('a request the client builds passes the server validation, and the server answer passes the client one', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9.-]{0,8}$/), { maxLength: 4 }),
        (random16, protocols) => {
          const { key, headers } = buildClientRequest({ random16, protocols });
          const lower: Record<string, string> = {};
          for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
          const req = validateClientRequest({ method: 'GET', httpVersion: '1.1', headers: lower });
          assert.equal(req.key, key);
          assert.deepEqual(req.protocols, protocols);
          const chosen = protocols[0];
          const res = validateServerResponse(
            {
              status: 101,
              headers: {
                upgrade: 'websocket',
                connection: 'Upgrade',
                'sec-websocket-accept': acceptFor(req.key),
                ...(chosen === undefined ? {} : { 'sec-websocket-protocol': chosen }),
              },
            },
            { key, protocols },
          );
          assert.equal(res.protocol, chosen ?? '');
        },
      ),
      { numRuns: 100 },
    );
  });

  const sent = { key: RFC_KEY, protocols: ['chat'] };
  const goodHeaders = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': RFC_ACCEPT };

  function responseError(
    status: number,
    headers: Headers,
    accept?: (name: string) => boolean,
  ): HandshakeError {
    try {
      validateServerResponse({ status, headers }, sent, accept && ((e) => accept(e.name)));
    } catch (error) {
      assert.ok(error instanceof HandshakeError);
      return error;
    }
    assert.fail('the response was accepted');
  }

  it('accepts the RFC 6455 section 1.3 example answer', () => {
    assert.deepEqual(
      validateServerResponse({ status: 101, headers: { ...goodHeaders, connection: 'upgrade' } }, sent),
      {
        protocol: '',
        extensions: [],
      },
    );
  });

  it('fails on a status other than 101, keeping the status', () => {
    for (const status of [200, 400, 403, 426, 500]) {
      const error = responseError(status, goodHeaders);
      assert.equal(error.code, 'WS_ERR_BAD_STATUS');
      assert.equal(error.status, status);
    }
  });

  it('fails on a missing or wrong Upgrade, Connection or Sec-WebSocket-Accept', () => {
    const cases: Array<[Headers, HandshakeErrorCode]> = [
      [{ ...goodHeaders, upgrade: undefined }, 'WS_ERR_BAD_UPGRADE'],
      [{ ...goodHeaders, upgrade: 'h2c' }, 'WS_ERR_BAD_UPGRADE'],
      [{ ...goodHeaders, connection: undefined }, 'WS_ERR_BAD_CONNECTION'],
      [{ ...goodHeaders, connection: 'keep-alive' }, 'WS_ERR_BAD_CONNECTION'],
      [{ ...goodHeaders, 'sec-websocket-accept': undefined }, 'WS_ERR_BAD_ACCEPT'],
      [
        { ...goodHeaders, 'sec-websocket-accept': acceptFor('AAAAAAAAAAAAAAAAAAAAAA==') },
        'WS_ERR_BAD_ACCEPT',
      ],
      [{ ...goodHeaders, 'sec-websocket-accept': RFC_ACCEPT.toLowerCase() }, 'WS_ERR_BAD_ACCEPT'],
    ];
    for (const [headers, code] of cases) assert.equal(responseError(101, headers).code, code);
  });

  it('fails on a subprotocol that was not offered, and accepts one that was', () => {
    assert.equal(
      responseError(101, { ...goodHeaders, 'sec-websocket-protocol': 'superchat' }).code,
      'WS_ERR_UNREQUESTED_PROTOCOL',
    );
    assert.equal(
      validateServerResponse(
        { status: 101, headers: { ...goodHeaders, 'sec-websocket-protocol': 'chat' } },
        sent,
      ).protocol,
      'chat',
    );
  });

  it('fails on an extension it did not accept, or a malformed extension header', () => {
    const headers = { ...goodHeaders, 'sec-websocket-extensions': 'permessage-deflate' };
    assert.equal(responseError(101, headers).code, 'WS_ERR_UNREQUESTED_EXTENSION');
    assert.equal(
      responseError(101, headers, (name) => name === 'x-other').code,
      'WS_ERR_UNREQUESTED_EXTENSION',
    );
    const ok = validateServerResponse({ status: 101, headers }, sent, (e) => e.name === 'permessage-deflate');
    assert.deepEqual(
      ok.extensions.map((e) => e.name),
      ['permessage-deflate'],
    );
    assert.equal(
      responseError(101, { ...goodHeaders, 'sec-websocket-extensions': 'permessage-deflate;' }, () => true)
        .code,
      'WS_ERR_BAD_EXTENSIONS',
    );
  });
});

describe('handshake: parseProtocolList', () => {
  it('returns the tokens in order, or null for a duplicate or a non-token', () => {
    assert.deepEqual(parseProtocolList(undefined), []);
    assert.deepEqual(parseProtocolList('chat,  superchat'), ['chat', 'superchat']);
    assert.equal(parseProtocolList('chat, chat'), null);
    assert.equal(parseProtocolList('ch@t'), null);
  });
});
