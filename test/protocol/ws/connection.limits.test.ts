/**
 * The core's limits on what a peer may make it hold or do: fragments per message (1008 past
 * maxFragments + 1 per 64 bytes of payload) and message size (1009 past maxPayload, from the headers,
 * before the payload is buffered).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientFrame } from '../../support/frames.js';
import { endpoint } from '../../support/pair.js';

/** `count` fragments of `size` bytes; the first opens a binary message unless `first` is false. */
function fragments(count: number, fin: boolean, size = 1, first = true): Buffer {
  const frames: Buffer[] = [];
  const payload = Buffer.alloc(size, 0x78);
  for (let i = 0; i < count; i++) {
    frames.push(clientFrame({ fin: fin && i === count - 1, opcode: first && i === 0 ? 2 : 0, payload }));
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

  it('fails with 1008 WS_ERR_TOO_MANY_FRAGMENTS on the 1-byte fragment past maxFragments + 1 per 64 bytes', () => {
    const { conn, log } = endpoint('server', { maxFragments: 100 });
    // 101 bytes allow 100 + 101 / 64 = 101.6 fragments: 101 pass, the 102nd fails.
    conn.receiveData(fragments(101, false));
    assert.equal(conn.failure as unknown, null);
    conn.receiveData(fragments(1, false, 1, false));
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

  it('defaults to 16,384 fragments per message (+1 per 64 bytes)', () => {
    const { conn } = endpoint('server');
    // 16,384 + 16,644 / 64 = 16,644.06: 16,644 one-byte fragments pass, the next one does not.
    conn.receiveData(fragments(16_644, false));
    assert.equal(conn.failure as unknown, null);
    conn.receiveData(fragments(1, false, 1, false));
    assert.equal(conn.failure?.closeCode, 1008);
  });

  it('takes one more fragment per 64 bytes of payload (Autobahn 9.3.1: 4 MiB in 64-byte fragments)', () => {
    const { conn, log } = endpoint('server', { maxFragments: 100 });
    conn.receiveData(fragments(1000, true, 64));
    assert.equal(conn.failure, null);
    const message = log.events.find((e) => e.type === 'message');
    assert.ok(message !== undefined && message.type === 'message');
    assert.equal(message.data.length, 64_000);
    // 100 fragments of 64 bytes, then one-byte ones: 100 + k > 100 + (6400 + k) / 64 from k = 102.
    const small = endpoint('server', { maxFragments: 100 });
    small.conn.receiveData(fragments(100, false, 64));
    small.conn.receiveData(fragments(101, false, 1, false));
    assert.equal(small.conn.failure as unknown, null);
    small.conn.receiveData(fragments(1, false, 1, false));
    assert.equal(small.conn.failure?.closeCode, 1008);
  });

  it('fails with 1009 on a header whose declared length passes maxPayload, before any payload byte', () => {
    const { conn } = endpoint('server', { maxPayload: 1000 });
    const frame = clientFrame({ opcode: 2, payload: Buffer.alloc(1001) });
    conn.receiveData(frame.subarray(0, 8));
    assert.equal(conn.failure?.closeCode, 1009);
  });
});
