/**
 * Each malformed-frame class of RFC 6455 section 5 fails the connection with its close code, in both
 * roles, whether the bad frame arrives whole or one byte at a time; limits are enforced from headers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProtocolErrorCode } from '../../../src/protocol/errors.js';
import type { Role } from '../../../src/protocol/ws/connection.js';
import { byteByByte, ownCopy } from '../../support/chunkers.js';
import { expectFailed, feed } from '../../support/expect.js';
import { encodeFrame, frameTo, type RawFrame } from '../../support/frames.js';
import { endpoint } from '../../support/pair.js';

const ROLES: readonly Role[] = ['server', 'client'];

interface MalformedCase {
  name: string;
  /** Frames sent before the bad one (they must still be delivered). */
  before?: Array<Omit<RawFrame, 'mask'>>;
  bad: (role: Role) => Buffer;
  errorCode: ProtocolErrorCode;
  roles?: readonly Role[];
}

const hello: Omit<RawFrame, 'mask'> = { opcode: 1, payload: 'hello' };

const cases: MalformedCase[] = [
  ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map(
    (opcode): MalformedCase => ({
      name: `reserved opcode 0x${opcode.toString(16)}`,
      before: [hello],
      bad: (role) => frameTo(role, { opcode, payload: 'x' }),
      errorCode: 'WS_ERR_INVALID_OPCODE',
    }),
  ),
  ...(['rsv1', 'rsv2', 'rsv3'] as const).map(
    (bit): MalformedCase => ({
      name: `${bit.toUpperCase()} set on a text frame without a negotiated extension`,
      before: [hello],
      bad: (role) => frameTo(role, { opcode: 1, payload: 'x', [bit]: true }),
      errorCode: 'WS_ERR_UNEXPECTED_RSV',
    }),
  ),
  ...(['rsv2', 'rsv3'] as const).map(
    (bit): MalformedCase => ({
      name: `${bit.toUpperCase()} set on a ping`,
      bad: (role) => frameTo(role, { opcode: 9, [bit]: true }),
      errorCode: 'WS_ERR_UNEXPECTED_RSV',
    }),
  ),
  {
    name: 'an unmasked client frame at a server',
    before: [hello],
    bad: () => encodeFrame({ opcode: 1, payload: 'x', mask: null }),
    errorCode: 'WS_ERR_EXPECTED_MASK',
    roles: ['server'],
  },
  {
    name: 'an unmasked client ping at a server',
    bad: () => encodeFrame({ opcode: 9, mask: null }),
    errorCode: 'WS_ERR_EXPECTED_MASK',
    roles: ['server'],
  },
  {
    name: 'a masked server frame at a client',
    before: [hello],
    bad: () => encodeFrame({ opcode: 1, payload: 'x', mask: Uint8Array.of(1, 2, 3, 4) }),
    errorCode: 'WS_ERR_UNEXPECTED_MASK',
    roles: ['client'],
  },
  ...[
    [9, 126],
    [10, 126],
    [8, 126],
    [9, 65536],
  ].map(
    ([opcode, size]): MalformedCase => ({
      name: `a control frame (opcode ${opcode}) with a ${size}-byte payload`,
      before: [hello],
      bad: (role) => frameTo(role, { opcode: opcode!, payload: Buffer.alloc(size!, 0x61) }),
      errorCode: 'WS_ERR_INVALID_CONTROL_FRAME',
    }),
  ),
  ...[8, 9, 10].map(
    (opcode): MalformedCase => ({
      name: `a fragmented control frame (opcode ${opcode}, FIN clear)`,
      before: [hello],
      bad: (role) => frameTo(role, { opcode, fin: false, payload: 'x' }),
      errorCode: 'WS_ERR_INVALID_CONTROL_FRAME',
    }),
  ),
  {
    name: 'a continuation frame without a message in progress',
    bad: (role) => frameTo(role, { opcode: 0, payload: 'x' }),
    errorCode: 'WS_ERR_UNEXPECTED_CONTINUATION',
  },
  {
    name: 'a continuation frame after a complete message',
    before: [hello],
    bad: (role) => frameTo(role, { opcode: 0, fin: false, payload: 'x' }),
    errorCode: 'WS_ERR_UNEXPECTED_CONTINUATION',
  },
  {
    name: 'a new text frame inside a fragmented message',
    before: [{ opcode: 1, fin: false, payload: 'frag' }],
    bad: (role) => frameTo(role, { opcode: 1, payload: 'x' }),
    errorCode: 'WS_ERR_EXPECTED_CONTINUATION',
  },
  {
    name: 'a new binary frame inside a fragmented text message, after a ping',
    before: [
      { opcode: 1, fin: false, payload: 'frag' },
      { opcode: 9, payload: 'p' },
    ],
    bad: (role) => frameTo(role, { opcode: 2, fin: false, payload: 'x' }),
    errorCode: 'WS_ERR_EXPECTED_CONTINUATION',
  },
  {
    name: 'a 64-bit payload length with its most significant bit set',
    before: [hello],
    bad: (role) =>
      encodeFrame({
        opcode: 2,
        mask: role === 'server' ? Uint8Array.of(1, 2, 3, 4) : null,
        length: 5,
        lengthEncoding: 64,
        length64High: 0x80000000,
      }),
    errorCode: 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
  },
];

describe('Connection: malformed frames (RFC 6455 section 5)', () => {
  for (const c of cases) {
    for (const role of c.roles ?? ROLES) {
      it(`fails with 1002 when a ${role} receives ${c.name}`, () => {
        const wire = Buffer.concat([...(c.before ?? []).map((f) => frameTo(role, f)), c.bad(role)]);
        const expectedMessages = (c.before ?? []).filter((f) => f.opcode === 1 && f.fin !== false).length;
        for (const [how, chunks] of [
          ['whole', [ownCopy(wire)]],
          ['byte by byte', byteByByte(wire)],
        ] as const) {
          const { conn, log } = endpoint(role);
          feed(conn, chunks);
          expectFailed(conn, log, 1002, c.errorCode, how);
          assert.equal(log.messages().length, expectedMessages, `earlier messages delivered (${how})`);
          // Anything after the bad frame is ignored: no pong, no message, nothing written.
          const framesWritten = log.writtenFrames().length;
          conn.receiveData(frameTo(role, { opcode: 9, payload: 'late' }));
          conn.receiveData(frameTo(role, hello));
          assert.equal(log.messages().length, expectedMessages);
          assert.equal(log.writtenFrames().length, framesWritten);
          assert.deepEqual(conn.receiveEof(), { code: 1006, reason: '', wasClean: false });
        }
      });
    }
  }

  it('fails on a reserved opcode as soon as its header arrives, before any payload', () => {
    const { conn, log } = endpoint('server');
    conn.receiveData(frameTo('server', { opcode: 3, payload: Buffer.alloc(1000) }).subarray(0, 8));
    expectFailed(conn, log, 1002, 'WS_ERR_INVALID_OPCODE');
  });

  it('fails on an oversized control frame from its header alone', () => {
    const { conn, log } = endpoint('client');
    conn.receiveData(frameTo('client', { opcode: 9, payload: Buffer.alloc(126) }).subarray(0, 4));
    expectFailed(conn, log, 1002, 'WS_ERR_INVALID_CONTROL_FRAME');
  });

  it('accepts a ping with a payload of exactly 125 bytes and answers it', () => {
    const { conn, log } = endpoint('server');
    const payload = Buffer.alloc(125, 0x7a);
    conn.receiveData(frameTo('server', { opcode: 9, payload }));
    assert.equal(log.errors().length, 0);
    const [pong] = log.writtenFrames();
    assert.equal(pong!.opcode, 0xa);
    assert.ok(pong!.payload.equals(payload));
  });

  it('delivers control frames interleaved between the fragments of a message', () => {
    for (const role of ROLES) {
      const { conn, log } = endpoint(role);
      feed(conn, [
        frameTo(role, { opcode: 1, fin: false, payload: 'fragment ' }),
        frameTo(role, { opcode: 9, payload: 'p1' }),
        frameTo(role, { opcode: 0, fin: false, payload: 'one, ' }),
        frameTo(role, { opcode: 10, payload: 'p2' }),
        frameTo(role, { opcode: 0, fin: true, payload: 'two' }),
      ]);
      assert.deepEqual(log.types(), ['ping', 'pong', 'message']);
      assert.equal(log.messages()[0]!.data.toString(), 'fragment one, two');
      assert.equal(log.messages()[0]!.isText, true);
      assert.deepEqual(
        log.writtenFrames().map((f) => [f.opcode, f.payload.toString()]),
        [[0xa, 'p1']],
      );
    }
  });

  describe('RSV1 with a negotiated extension (allowRsv1)', () => {
    it('reports a message whose first frame has RSV1 as compressed, without validating its bytes as text', () => {
      const { conn, log } = endpoint('server', { allowRsv1: true });
      feed(conn, [
        frameTo('server', { opcode: 1, rsv1: true, fin: false, payload: Buffer.of(0xff, 0xfe) }),
        frameTo('server', { opcode: 0, payload: Buffer.of(0x00) }),
        frameTo('server', { opcode: 2, payload: 'plain' }),
      ]);
      assert.equal(log.errors().length, 0);
      assert.deepEqual(
        log.messages().map((m) => [m.data.toString('hex'), m.isText, m.compressed]),
        [
          ['fffe00', true, true],
          ['706c61696e', false, false],
        ],
      );
    });

    it('fails with 1002 when RSV1 is set on a continuation frame', () => {
      const { conn, log } = endpoint('server', { allowRsv1: true });
      feed(conn, [
        frameTo('server', { opcode: 1, rsv1: true, fin: false, payload: 'a' }),
        frameTo('server', { opcode: 0, rsv1: true, payload: 'b' }),
      ]);
      expectFailed(conn, log, 1002, 'WS_ERR_UNEXPECTED_RSV');
    });

    it('fails with 1002 when RSV1 is set on a control frame', () => {
      const { conn, log } = endpoint('client', { allowRsv1: true });
      conn.receiveData(frameTo('client', { opcode: 9, rsv1: true }));
      expectFailed(conn, log, 1002, 'WS_ERR_UNEXPECTED_RSV');
    });
  });

  describe('maxPayload (1009)', () => {
    it('fails with 1009 from the header of a frame over the limit, before any payload byte arrives', () => {
      for (const role of ROLES) {
        const { conn, log } = endpoint(role, { maxPayload: 100 });
        const frame = frameTo(role, { opcode: 2, payload: Buffer.alloc(101) });
        conn.receiveData(frame.subarray(0, role === 'server' ? 6 : 2));
        expectFailed(conn, log, 1009, 'WS_ERR_MESSAGE_TOO_BIG', role);
        conn.receiveData(frame.subarray(role === 'server' ? 6 : 2));
        assert.equal(log.messages().length, 0);
      }
    });

    it('accepts a message of exactly maxPayload bytes', () => {
      const { conn, log } = endpoint('server', { maxPayload: 100 });
      conn.receiveData(frameTo('server', { opcode: 2, payload: Buffer.alloc(100, 1) }));
      assert.equal(log.errors().length, 0);
      assert.equal(log.messages()[0]!.data.length, 100);
    });

    it('counts every fragment of a message and fails at the header of the fragment that crosses the limit', () => {
      const { conn, log } = endpoint('server', { maxPayload: 100 });
      conn.receiveData(frameTo('server', { opcode: 1, fin: false, payload: Buffer.alloc(60, 0x61) }));
      // Control frames do not count towards the message.
      conn.receiveData(frameTo('server', { opcode: 9, payload: Buffer.alloc(125) }));
      conn.receiveData(frameTo('server', { opcode: 0, fin: false, payload: Buffer.alloc(40, 0x61) }));
      assert.equal(log.errors().length, 0);
      conn.receiveData(frameTo('server', { opcode: 0, payload: Buffer.alloc(1, 0x61) }).subarray(0, 6));
      expectFailed(conn, log, 1009, 'WS_ERR_MESSAGE_TOO_BIG');
      assert.equal(log.messages().length, 0);
    });

    it('starts counting afresh for each message', () => {
      const { conn, log } = endpoint('client', { maxPayload: 100 });
      for (let i = 0; i < 3; i++) {
        conn.receiveData(frameTo('client', { opcode: 2, fin: false, payload: Buffer.alloc(50) }));
        conn.receiveData(frameTo('client', { opcode: 0, payload: Buffer.alloc(50) }));
      }
      assert.equal(log.errors().length, 0);
      assert.equal(log.messages().length, 3);
    });

    it('refuses a 2^40-byte frame from its header with the default 16 MiB limit', () => {
      const { conn, log } = endpoint('client');
      conn.receiveData(encodeFrame({ opcode: 2, mask: null, length: 2 ** 40, lengthEncoding: 64 }));
      expectFailed(conn, log, 1009, 'WS_ERR_MESSAGE_TOO_BIG');
    });

    it('refuses 16 MiB + 1 byte and accepts the header of 16 MiB with the default limit', () => {
      const over = endpoint('client');
      over.conn.receiveData(
        encodeFrame({ opcode: 2, mask: null, length: 16 * 2 ** 20 + 1, lengthEncoding: 64 }),
      );
      expectFailed(over.conn, over.log, 1009, 'WS_ERR_MESSAGE_TOO_BIG');
      const at = endpoint('client');
      at.conn.receiveData(encodeFrame({ opcode: 2, mask: null, length: 16 * 2 ** 20, lengthEncoding: 64 }));
      assert.equal(at.log.errors().length, 0);
    });
  });

  describe('zero copy', () => {
    it('delivers a message whose frame arrives whole as a view of the received chunk, in both roles', () => {
      for (const role of ROLES) {
        const { conn, log } = endpoint(role);
        const payload = Buffer.alloc(2000, 0x62);
        const chunk = ownCopy(frameTo(role, { opcode: 1, payload }));
        conn.receiveData(chunk);
        const [message] = log.messages();
        assert.ok(message !== undefined);
        assert.equal(message.data.buffer, chunk.buffer, role);
        assert.equal(message.data.byteOffset, chunk.length - 2000);
        assert.ok(message.data.equals(payload));
      }
    });

    it('delivers a ping payload that arrives whole as a view of the received chunk', () => {
      const { conn, log } = endpoint('server');
      const chunk = ownCopy(frameTo('server', { opcode: 9, payload: 'ping!' }));
      conn.receiveData(chunk);
      const ping = log.events.find((e) => e.type === 'ping');
      assert.ok(ping !== undefined && ping.type === 'ping');
      assert.equal(ping.payload.buffer, chunk.buffer);
      assert.equal(ping.payload.toString(), 'ping!');
    });
  });

  it('reports every frame read and written to the onFrame observer', () => {
    const seen: Array<[string, number, number, boolean]> = [];
    const { conn } = endpoint('server', {
      onFrame: (f) => seen.push([f.direction, f.opcode, f.length, f.masked]),
    });
    conn.receiveData(frameTo('server', { opcode: 9, payload: 'abc' }));
    conn.send(Buffer.from('hi'), true);
    assert.deepEqual(seen, [
      ['in', 9, 3, true],
      ['out', 10, 3, false],
      ['out', 1, 2, false],
    ]);
  });
});
