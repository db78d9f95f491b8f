/**
 * The core's limits on what a peer may make it hold: fragments per message (1008 past maxFragments)
 * and message size (1009 past maxPayload, from the headers, before the payload is buffered).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientFrame } from '../../support/frames.js';
import { endpoint } from '../../support/pair.js';

function fragments(count: number, fin: boolean): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(clientFrame({ fin: fin && i === count - 1, opcode: i === 0 ? 2 : 0, payload: 'x' }));
  }
  return Buffer.concat(frames);
}

describe('Connection limits', () => {
  it('accepts a message in exactly maxFragments fragments', () => {
    const { conn, log } = endpoint('server', { maxFragments: 100 });
    conn.receiveData(fragments(100, true));
    const message = log.events.find((e) => e.type === 'message');
    assert.ok(message !== undefined && message.type === 'message');
    assert.equal(message.data.length, 100);
    assert.equal(conn.failure, null);
  });

  it('fails with 1008 WS_ERR_TOO_MANY_FRAGMENTS on the fragment past maxFragments', () => {
    const { conn, log } = endpoint('server', { maxFragments: 100 });
    conn.receiveData(fragments(101, false));
    assert.equal(conn.failure?.code, 'WS_ERR_TOO_MANY_FRAGMENTS');
    assert.equal(conn.failure?.closeCode, 1008);
    assert.equal(log.events.filter((e) => e.type === 'message').length, 0);
  });

  it('counts fragments per message: many messages of few fragments pass', () => {
    const { conn, log } = endpoint('server', { maxFragments: 3 });
    for (let i = 0; i < 50; i++) conn.receiveData(fragments(3, true));
    assert.equal(log.events.filter((e) => e.type === 'message').length, 50);
    assert.equal(conn.failure, null);
  });

  it('defaults to 16,384 fragments per message', () => {
    const { conn } = endpoint('server');
    conn.receiveData(fragments(16_384, false));
    assert.equal(conn.failure as unknown, null);
    conn.receiveData(fragments(2, false).subarray(clientFrame({ opcode: 2, payload: 'x' }).length));
    assert.equal(conn.failure?.closeCode, 1008);
  });

  it('fails with 1009 on a header whose declared length passes maxPayload, before any payload byte', () => {
    const { conn } = endpoint('server', { maxPayload: 1000 });
    const frame = clientFrame({ opcode: 2, payload: Buffer.alloc(1001) });
    conn.receiveData(frame.subarray(0, 8));
    assert.equal(conn.failure?.closeCode, 1009);
  });
});
