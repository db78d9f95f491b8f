/**
 * RFC 6455 section 8.1: text messages and close reasons must be valid UTF-8, and the connection fails
 * with 1007 at the first invalid byte, even in the middle of a fragmented message or a frame that has
 * not fully arrived (Autobahn 6.x, where ws is NON-STRICT).
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Role } from '../../../src/protocol/ws/connection.js';
import { splitAt } from '../../support/chunkers.js';
import { expectFailed, feed } from '../../support/expect.js';
import { closePayload, frameTo } from '../../support/frames.js';
import { hex } from '../../support/hex.js';
import { endpoint } from '../../support/pair.js';
import { EDGE_BYTES, firstInvalidIndex } from '../../support/utf8-reference.js';

const ROLES: readonly Role[] = ['server', 'client'];
const KOSME = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');

describe('Connection: UTF-8 of text messages and close reasons', () => {
  for (const role of ROLES) {
    it(`fails with 1007 when a ${role} receives a single-frame text message of invalid UTF-8`, () => {
      const { conn, log } = endpoint(role);
      conn.receiveData(frameTo(role, { opcode: 1, payload: hex('ce ba ed a0 80 65') }));
      expectFailed(conn, log, 1007, 'WS_ERR_INVALID_UTF8');
      assert.equal(log.messages().length, 0);
    });

    it(`fails with 1007 when a ${role} receives a text message that is invalid UTF-8 split across fragments`, () => {
      const { conn, log } = endpoint(role);
      conn.receiveData(frameTo(role, { opcode: 1, fin: false, payload: Buffer.concat([KOSME, hex('ed')]) }));
      assert.equal(log.errors().length, 0, 'a lone ED may still become valid');
      conn.receiveData(frameTo(role, { opcode: 0, fin: false, payload: hex('a0 80') }));
      expectFailed(conn, log, 1007, 'WS_ERR_INVALID_UTF8');
    });
  }

  it('accepts a text message whose code points are split across fragments (€ as e2 | 82 | ac)', () => {
    const { conn, log } = endpoint('server');
    feed(conn, [
      frameTo('server', { opcode: 1, fin: false, payload: hex('41 e2') }),
      frameTo('server', { opcode: 9, payload: 'between' }),
      frameTo('server', { opcode: 0, fin: false, payload: hex('82') }),
      frameTo('server', { opcode: 0, fin: true, payload: hex('ac 42') }),
    ]);
    assert.equal(log.errors().length, 0);
    assert.equal(log.messages()[0]!.data.toString(), 'A€B');
  });

  it('fails with 1007 in the fragment that makes the text invalid, before the final fragment arrives', () => {
    // Autobahn 6.4.1: PART1 valid, PART2 is U+110000 encoded, PART3 never needed.
    const { conn, log } = endpoint('server');
    conn.receiveData(frameTo('server', { opcode: 1, fin: false, payload: KOSME }));
    assert.equal(log.errors().length, 0);
    conn.receiveData(frameTo('server', { opcode: 0, fin: false, payload: hex('f4 90 80 80') }));
    expectFailed(conn, log, 1007, 'WS_ERR_INVALID_UTF8');
  });

  it('fails with 1007 when the final fragment leaves a code point unfinished', () => {
    const { conn, log } = endpoint('client');
    conn.receiveData(frameTo('client', { opcode: 1, fin: false, payload: 'abc' }));
    conn.receiveData(frameTo('client', { opcode: 0, fin: false, payload: hex('e2 82') }));
    assert.equal(log.errors().length, 0);
    conn.receiveData(frameTo('client', { opcode: 0, fin: true, payload: Buffer.alloc(0) }));
    expectFailed(conn, log, 1007, 'WS_ERR_INVALID_UTF8');
  });

  it('fails with 1007 when a single-frame text message ends inside a code point', () => {
    const { conn, log } = endpoint('client');
    conn.receiveData(frameTo('client', { opcode: 1, payload: hex('41 f0 9f 98') }));
    expectFailed(conn, log, 1007, 'WS_ERR_INVALID_UTF8');
  });

  it('fails fast: an invalid byte in the first part of a frame fails before the rest of the frame arrives', () => {
    for (const role of ROLES) {
      const { conn, log } = endpoint(role);
      const payload = Buffer.concat([KOSME, hex('ff'), Buffer.alloc(500, 0x61)]);
      const frame = frameTo(role, { opcode: 1, payload });
      const headerLength = frame.length - payload.length;
      // Header and the payload up to and including the invalid byte; 500 bytes still to come.
      conn.receiveData(Buffer.from(frame.subarray(0, headerLength + KOSME.length + 1)));
      expectFailed(conn, log, 1007, 'WS_ERR_INVALID_UTF8', role);
    }
  });

  it('fails fast: an invalid byte in a later part of a frame fails before the rest arrives (Autobahn 6.4.3)', () => {
    const { conn, log } = endpoint('server');
    const payload = Buffer.concat([KOSME, hex('f4 90 80 80'), Buffer.from('edited')]);
    const frame = frameTo('server', { opcode: 1, payload });
    const part2 = frame.length - payload.length + KOSME.length;
    conn.receiveData(Buffer.from(frame.subarray(0, part2)));
    assert.equal(log.errors().length, 0);
    conn.receiveData(Buffer.from(frame.subarray(part2, part2 + 2)));
    expectFailed(conn, log, 1007, 'WS_ERR_INVALID_UTF8');
  });

  it('accepts valid text split at every byte of a single frame', () => {
    const text = Buffer.from('héllo wörld — 𝄞 κόσμε');
    const frame = frameTo('server', { opcode: 1, payload: text });
    for (let i = 1; i < frame.length; i++) {
      const { conn, log } = endpoint('server');
      feed(conn, splitAt(frame, [i]));
      assert.equal(log.errors().length, 0, `split at ${i}`);
      assert.ok(log.messages()[0]!.data.equals(text));
    }
  });

  it('fails at exactly the chunk holding the first invalid byte, whatever the fragmentation and chunking', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 60, size: 'max' }).map((s) => Buffer.from(s));
    fc.assert(
      fc.property(
        text,
        fc.array(fc.constantFrom(...EDGE_BYTES), { maxLength: 3 }),
        fc.nat(),
        text,
        fc.array(fc.nat(), { maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 12, size: 'max' }),
        fc.constantFrom<Role>('server', 'client'),
        (head, inserted, where, tail, fragmentCuts, wireCuts, role) => {
          const at = where % (head.length + 1);
          const message = Buffer.concat([
            head.subarray(0, at),
            Buffer.from(inserted),
            head.subarray(at),
            tail,
          ]);
          // Fragment the message, remembering where each message byte lands on the wire.
          const cuts = [...new Set(fragmentCuts.map((c) => c % (message.length + 1)))].sort((a, b) => a - b);
          const bounds = [0, ...cuts, message.length];
          const frames: Buffer[] = [];
          const wireOffsetOf: number[] = [];
          let wireLength = 0;
          for (let f = 0; f + 1 < bounds.length; f++) {
            const payload = message.subarray(bounds[f]!, bounds[f + 1]!);
            const frame = frameTo(role, { opcode: f === 0 ? 1 : 0, fin: f + 2 === bounds.length, payload });
            const payloadStart = wireLength + frame.length - payload.length;
            for (let i = 0; i < payload.length; i++) wireOffsetOf.push(payloadStart + i);
            frames.push(frame);
            wireLength += frame.length;
          }
          const wire = Buffer.concat(frames);
          const chunks = splitAt(
            wire,
            wireCuts.map((c) => c % (wire.length + 1)),
          );
          const bad = firstInvalidIndex(message);
          // The wire offset whose arrival must fail the connection: the first invalid byte, or for a
          // message that ends inside a code point, the last byte of the last frame.
          const failAt = bad !== -1 ? wireOffsetOf[bad]! : isUtf8(message) ? -1 : wire.length - 1;
          const { conn, log } = endpoint(role);
          let received = 0;
          for (const chunk of chunks) {
            conn.receiveData(chunk);
            received += chunk.length;
            const shouldHaveFailed = failAt !== -1 && failAt < received;
            assert.equal(
              log.errors().length,
              shouldHaveFailed ? 1 : 0,
              `after ${received} of ${wire.length} bytes`,
            );
            if (shouldHaveFailed) break;
          }
          if (failAt === -1) assert.ok(log.messages()[0]!.data.equals(message));
          else expectFailed(conn, log, 1007, 'WS_ERR_INVALID_UTF8');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('does not check binary messages for UTF-8', () => {
    const { conn, log } = endpoint('server');
    conn.receiveData(frameTo('server', { opcode: 2, fin: false, payload: hex('ff fe') }));
    conn.receiveData(frameTo('server', { opcode: 0, payload: hex('ed a0 80') }));
    assert.equal(log.errors().length, 0);
    assert.equal(log.messages()[0]!.data.toString('hex'), 'fffeeda080');
  });

  describe('close reasons', () => {
    for (const role of ROLES) {
      it(`fails with 1007 when a ${role} receives a close reason of invalid UTF-8`, () => {
        const { conn, log } = endpoint(role);
        conn.receiveData(frameTo(role, { opcode: 8, payload: closePayload(1000, hex('ce ba ed a0 80')) }));
        expectFailed(conn, log, 1007, 'WS_ERR_INVALID_UTF8');
        assert.equal(conn.closeReceived, null);
        assert.equal(conn.receiveEof().code, 1006);
      });
    }

    it('fails with 1007 on a close reason that ends inside a code point', () => {
      const { conn, log } = endpoint('server');
      conn.receiveData(frameTo('server', { opcode: 8, payload: closePayload(1000, hex('41 e2 82')) }));
      expectFailed(conn, log, 1007, 'WS_ERR_INVALID_UTF8');
    });

    it('accepts a multi-byte UTF-8 close reason split across reads', () => {
      const reason = 'bye κόσμε €𝄞';
      const frame = frameTo('server', { opcode: 8, payload: closePayload(4000, reason) });
      for (let i = 1; i < frame.length; i++) {
        const { conn, log } = endpoint('server');
        feed(conn, splitAt(frame, [i]));
        assert.deepEqual(
          log.events.filter((e) => e.type === 'closeFrame'),
          [{ type: 'closeFrame', code: 4000, reason }],
        );
      }
    });
  });
});
