import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HubProtocolError, parseClientMessage } from '../../../src/protocol/hub/messages.js';

function code(text: string, max = 1000): string {
  try {
    parseClientMessage(text, max);
  } catch (error) {
    assert.ok(error instanceof HubProtocolError);
    return error.code;
  }
  return 'parsed';
}

describe('hub protocol v1: parseClientMessage', () => {
  it('reads every client message type with its fields', () => {
    assert.deepEqual(
      parseClientMessage(
        '{"type":"subscribe","id":1,"channel":"a.b","since":{"epoch":"E","offset":3},"presence":true}',
        1000,
      ),
      {
        type: 'subscribe',
        id: 1,
        channel: 'a.b',
        since: { epoch: 'E', offset: 3 },
        presence: true,
      },
    );
    assert.deepEqual(
      parseClientMessage('{"type":"publish","id":2,"channel":"c","data":"x","cmid":"k"}', 1000),
      {
        type: 'publish',
        id: 2,
        channel: 'c',
        data: 'x',
        cmid: 'k',
      },
    );
    assert.deepEqual(parseClientMessage('{"type":"ping"}', 1000), { type: 'ping' });
  });

  it('answers each malformed message with its code, and the id when it could read one', () => {
    assert.equal(code('nope'), 'BAD_MESSAGE');
    assert.equal(code('[1]'), 'BAD_MESSAGE');
    assert.equal(code('{"type":"subscribe","channel":"a"}'), 'BAD_MESSAGE');
    assert.equal(code('{"type":"fly","id":1}'), 'UNKNOWN_TYPE');
    assert.equal(code('{"type":"subscribe","id":1,"channel":"a b"}'), 'BAD_CHANNEL');
    assert.equal(
      code('{"type":"subscribe","id":1,"channel":"a","since":{"epoch":"E","offset":-1}}'),
      'BAD_MESSAGE',
    );
    assert.equal(code('{"type":"publish","id":1,"channel":"a","data":1,"cmid":"k"}'), 'BAD_MESSAGE');
    assert.equal(code('{"type":"publish","id":1,"channel":"a","data":"x"}'), 'BAD_MESSAGE');
    try {
      parseClientMessage('{"type":"fly","id":9}', 100);
    } catch (error) {
      assert.equal((error as HubProtocolError).id, 9);
    }
  });

  it('measures the size limit in UTF-8 bytes', () => {
    const message = JSON.stringify({ type: 'publish', id: 1, channel: 'a', data: 'é'.repeat(40), cmid: 'k' });
    assert.equal(code(message, message.length + 10), 'TOO_LARGE');
    assert.equal(code(message, Buffer.byteLength(message)), 'parsed');
  });
});
