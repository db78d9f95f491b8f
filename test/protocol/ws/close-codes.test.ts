import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CloseCode,
  isValidApplicationCloseCode,
  isValidWireCloseCode,
} from '../../../src/protocol/ws/close-codes.js';

/** RFC 6455 section 7.4 plus the IANA registrations 1012-1014; 3000-4999 for libraries and applications. */
function expectedOnWire(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014].includes(code);
}

describe('close codes', () => {
  it('allows on the wire exactly 1000-1003, 1007-1014 and 3000-4999, over the whole 16-bit range', () => {
    for (let code = 0; code <= 0xffff; code++) {
      assert.equal(isValidWireCloseCode(code), expectedOnWire(code), `code ${code}`);
    }
  });

  it('never allows the reserved 1004, 1005, 1006 and 1015 on the wire', () => {
    for (const code of [1004, CloseCode.NoStatus, CloseCode.Abnormal, CloseCode.TlsHandshake]) {
      assert.equal(isValidWireCloseCode(code), false);
    }
  });

  it('accepts only integer wire codes from applications', () => {
    assert.equal(isValidApplicationCloseCode(1000), true);
    assert.equal(isValidApplicationCloseCode(4999), true);
    for (const code of [1000.5, 3000.1, Number.NaN, Number.POSITIVE_INFINITY, 1005, 999, 5000]) {
      assert.equal(isValidApplicationCloseCode(code), false, `code ${code}`);
    }
  });

  it('names the codes of section 7.4.1 with their numbers', () => {
    assert.deepEqual(
      [CloseCode.Normal, CloseCode.GoingAway, CloseCode.ProtocolError, CloseCode.UnsupportedData],
      [1000, 1001, 1002, 1003],
    );
    assert.deepEqual(
      [
        CloseCode.InvalidPayload,
        CloseCode.PolicyViolation,
        CloseCode.MessageTooBig,
        CloseCode.MandatoryExtension,
      ],
      [1007, 1008, 1009, 1010],
    );
    assert.equal(CloseCode.InternalError, 1011);
  });
});
