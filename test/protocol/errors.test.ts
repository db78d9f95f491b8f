import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HandshakeError, ProtocolError } from '../../src/protocol/errors.js';

describe('protocol errors', () => {
  it('a ProtocolError carries its close code and stable string code', () => {
    const error = new ProtocolError('WS_ERR_INVALID_UTF8', 1007, 'invalid UTF-8');
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'ProtocolError');
    assert.equal(error.code, 'WS_ERR_INVALID_UTF8');
    assert.equal(error.closeCode, 1007);
    assert.equal(error.message, 'invalid UTF-8');
  });

  it('a HandshakeError carries its HTTP status and the headers to answer with', () => {
    const error = new HandshakeError('WS_ERR_BAD_VERSION', 426, 'v13 only', {
      'Sec-WebSocket-Version': '13',
    });
    assert.equal(error.name, 'HandshakeError');
    assert.equal(error.status, 426);
    assert.deepEqual(error.headers, { 'Sec-WebSocket-Version': '13' });
    assert.deepEqual(new HandshakeError('WS_ERR_BAD_KEY', 400, 'bad key').headers, {});
  });
});
