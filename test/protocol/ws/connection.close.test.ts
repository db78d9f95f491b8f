/**
 * Close frames (RFC 6455 sections 5.5.1 and 7.4), the closing handshake in both roles (section 7.1),
 * the four ready states, and what the API reports when the transport ends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalStateError, ReadyState, type Role } from '../../../src/protocol/ws/connection.js';
import { expectFailed, feed } from '../../support/expect.js';
import { closePayload, decodeClose, frameTo } from '../../support/frames.js';
import { ConnectionPair, endpoint } from '../../support/pair.js';

const ROLES: readonly Role[] = ['server', 'client'];

const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
const VALID_CODES = [
  1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
];

function closeFramesOf(frames: ReturnType<ConnectionPair['clientLog']['writtenFrames']>) {
  return frames.filter((f) => f.opcode === 0x8).map((f) => decodeClose(f.payload));
}

describe('Connection: close frames', () => {
  for (const role of ROLES) {
    it(`fails with 1002 when a ${role} receives a close frame with a 1-byte payload`, () => {
      const { conn, log } = endpoint(role);
      conn.receiveData(frameTo(role, { opcode: 8, payload: Buffer.of(0x03) }));
      expectFailed(conn, log, 1002, 'WS_ERR_INVALID_CLOSE_PAYLOAD');
    });

    for (const code of INVALID_CODES) {
      it(`fails with 1002 when a ${role} receives close code ${code}`, () => {
        const { conn, log } = endpoint(role);
        conn.receiveData(frameTo(role, { opcode: 8, payload: closePayload(code, 'reason') }));
        expectFailed(conn, log, 1002, 'WS_ERR_INVALID_CLOSE_CODE');
        assert.equal(log.events.filter((e) => e.type === 'closeFrame').length, 0);
        assert.deepEqual(conn.receiveEof(), { code: 1006, reason: '', wasClean: false });
      });
    }

    it(`accepts and echoes every valid close code, with its reason, when a ${role} (${VALID_CODES.join(', ')})`, () => {
      for (const code of VALID_CODES) {
        const { conn, log } = endpoint(role);
        conn.receiveData(frameTo(role, { opcode: 8, payload: closePayload(code, 'why') }));
        assert.equal(log.errors().length, 0, `code ${code}`);
        assert.deepEqual(
          log.events.filter((e) => e.type === 'closeFrame'),
          [{ type: 'closeFrame', code, reason: 'why' }],
        );
        const frames = log.writtenFrames();
        assert.equal(frames.length, 1);
        assert.equal(frames[0]!.opcode, 8);
        assert.equal(frames[0]!.masked, role === 'client');
        assert.deepEqual(decodeClose(frames[0]!.payload), { code, reason: 'why' });
        assert.deepEqual(conn.closeReceived, { code, reason: 'why' });
      }
    });

    it(`reports 1005 and answers with an empty close frame when a ${role} receives a close without a code`, () => {
      const { conn, log } = endpoint(role);
      conn.receiveData(frameTo(role, { opcode: 8 }));
      assert.deepEqual(
        log.events.filter((e) => e.type === 'closeFrame'),
        [{ type: 'closeFrame', code: 1005, reason: '' }],
      );
      const [echo] = log.writtenFrames();
      assert.equal(echo!.opcode, 8);
      assert.equal(echo!.payload.length, 0);
      assert.deepEqual(conn.receiveEof(), { code: 1005, reason: '', wasClean: true });
    });

    it(`accepts a close reason of 123 bytes and fails with 1002 on 124 (control frame over 125) as a ${role}`, () => {
      const ok = endpoint(role);
      ok.conn.receiveData(frameTo(role, { opcode: 8, payload: closePayload(1000, 'r'.repeat(123)) }));
      assert.equal(ok.log.errors().length, 0);
      assert.equal(ok.conn.closeReceived?.reason.length, 123);
      const tooLong = endpoint(role);
      tooLong.conn.receiveData(frameTo(role, { opcode: 8, payload: closePayload(1000, 'r'.repeat(124)) }));
      expectFailed(tooLong.conn, tooLong.log, 1002, 'WS_ERR_INVALID_CONTROL_FRAME');
    });

    it(`ignores data frames, pings and a second close that follow a close frame as a ${role}`, () => {
      const { conn, log } = endpoint(role);
      const after = [
        frameTo(role, { opcode: 1, payload: 'after' }),
        frameTo(role, { opcode: 9, payload: 'ping' }),
        frameTo(role, { opcode: 8, payload: closePayload(1001) }),
        frameTo(role, { opcode: 0xf }), // even a malformed one
      ];
      // In the same read as the close frame, and in later reads.
      feed(conn, [
        Buffer.concat([frameTo(role, { opcode: 8, payload: closePayload(1000) }), after[0]!]),
        ...after,
      ]);
      assert.deepEqual(log.types(), role === 'server' ? ['closeFrame', 'end'] : ['closeFrame']);
      assert.equal(log.writtenFrames().length, 1, 'only the close echo');
    });
  }

  it('keeps delivering messages that arrive after it sent a close frame, until the peer closes', () => {
    const { conn, log } = endpoint('server');
    conn.close(1000);
    conn.receiveData(frameTo('server', { opcode: 1, payload: 'still coming' }));
    conn.receiveData(frameTo('server', { opcode: 8, payload: closePayload(1000) }));
    assert.deepEqual(log.types(), ['message', 'closeFrame', 'end']);
    assert.equal(log.messages()[0]!.data.toString(), 'still coming');
  });
});

describe('Connection: closing handshake', () => {
  it('client-initiated: the server answers and ends the transport; the client waits for it', () => {
    const pair = new ConnectionPair();
    pair.client.close(1000, 'bye');
    assert.equal(pair.client.readyState, ReadyState.Closing);
    assert.deepEqual(pair.client.closeSent, { code: 1000, reason: 'bye' });
    pair.deliverToServer();
    assert.deepEqual(pair.serverLog.types(), ['closeFrame', 'end']);
    assert.deepEqual(pair.serverLog.events[0], { type: 'closeFrame', code: 1000, reason: 'bye' });
    assert.equal(pair.server.readyState, ReadyState.Closing);
    assert.ok(pair.server.closeExpected);
    pair.deliverToClient();
    assert.deepEqual(pair.clientLog.types(), ['closeFrame']);
    assert.equal(
      pair.client.closeExpected,
      false,
      'the client waits for the server to close the TCP connection',
    );
    // The server closes the transport; both see a clean close.
    assert.deepEqual(pair.server.receiveEof(), { code: 1000, reason: 'bye', wasClean: true });
    // The server's answer echoes the code and the reason (as ws does): a browser sees its own reason.
    assert.deepEqual(pair.client.receiveEof(), { code: 1000, reason: 'bye', wasClean: true });
    assert.equal(pair.client.readyState, ReadyState.Closed);
    assert.equal(pair.server.readyState, ReadyState.Closed);
    assert.deepEqual(closeFramesOf(pair.clientLog.writtenFrames()), [{ code: 1000, reason: 'bye' }]);
    assert.deepEqual(closeFramesOf(pair.serverLog.writtenFrames()), [{ code: 1000, reason: 'bye' }]);
  });

  it('server-initiated: the client answers without ending; the server ends once the answer arrives', () => {
    const pair = new ConnectionPair();
    pair.server.close(1001, 'going away');
    assert.equal(pair.server.closeExpected, false, 'the server waits for the answer');
    assert.deepEqual(pair.serverLog.types(), []);
    pair.deliverToClient();
    assert.deepEqual(pair.clientLog.types(), ['closeFrame']);
    assert.equal(pair.client.readyState, ReadyState.Closing);
    assert.equal(pair.client.closeExpected, false);
    pair.deliverToServer();
    assert.deepEqual(pair.serverLog.types(), ['closeFrame', 'end']);
    assert.deepEqual(pair.serverLog.events[0], { type: 'closeFrame', code: 1001, reason: 'going away' });
    assert.deepEqual(pair.client.receiveEof(), { code: 1001, reason: 'going away', wasClean: true });
    assert.deepEqual(pair.server.receiveEof(), { code: 1001, reason: 'going away', wasClean: true });
  });

  it('simultaneous: both send a close frame, neither echoes the other, the server ends', () => {
    const pair = new ConnectionPair();
    pair.client.close(1000, 'from client');
    pair.server.close(4000, 'from server');
    pair.deliver();
    assert.deepEqual(closeFramesOf(pair.clientLog.writtenFrames()), [{ code: 1000, reason: 'from client' }]);
    assert.deepEqual(closeFramesOf(pair.serverLog.writtenFrames()), [{ code: 4000, reason: 'from server' }]);
    assert.deepEqual(pair.serverLog.types(), ['closeFrame', 'end']);
    assert.deepEqual(pair.clientLog.types(), ['closeFrame']);
    assert.deepEqual(pair.client.receiveEof(), { code: 4000, reason: 'from server', wasClean: true });
    assert.deepEqual(pair.server.receiveEof(), { code: 1000, reason: 'from client', wasClean: true });
  });

  it('a close without a status code is answered with one and reported as 1005, cleanly, in both roles', () => {
    for (const initiator of ['client', 'server'] as const) {
      const pair = new ConnectionPair();
      pair[initiator].close();
      pair.deliver();
      const other = initiator === 'client' ? pair.server : pair.client;
      assert.deepEqual(pair[initiator].receiveEof(), { code: 1005, reason: '', wasClean: true });
      assert.deepEqual(other.receiveEof(), { code: 1005, reason: '', wasClean: true });
    }
  });

  it('a server that calls close() after the client closed does not send a second close frame', () => {
    const pair = new ConnectionPair();
    pair.client.close(1000);
    pair.deliverToServer();
    pair.server.close(1001);
    assert.equal(closeFramesOf(pair.serverLog.writtenFrames()).length, 1);
  });
});

describe('Connection: ready states and local misuse', () => {
  it('uses the WebSocket API numbering for its four states', () => {
    assert.deepEqual(
      [ReadyState.Connecting, ReadyState.Open, ReadyState.Closing, ReadyState.Closed],
      [0, 1, 2, 3],
    );
  });

  it('starts OPEN (the handshake is done before the core exists), then CLOSING on close(), then CLOSED at EOF', () => {
    for (const role of ROLES) {
      const { conn } = endpoint(role);
      assert.equal(conn.readyState, ReadyState.Open);
      conn.close(1000);
      assert.equal(conn.readyState, ReadyState.Closing);
      conn.receiveData(frameTo(role, { opcode: 8, payload: closePayload(1000) }));
      assert.equal(conn.readyState, ReadyState.Closing);
      conn.receiveEof();
      assert.equal(conn.readyState, ReadyState.Closed);
    }
  });

  it('goes CLOSING when a close frame arrives and CLOSED at EOF', () => {
    const { conn } = endpoint('client');
    conn.receiveData(frameTo('client', { opcode: 8, payload: closePayload(1000) }));
    assert.equal(conn.readyState, ReadyState.Closing);
    conn.receiveEof();
    assert.equal(conn.readyState, ReadyState.Closed);
  });

  it('reports 1006, not clean, when the transport ends without any close frame', () => {
    const { conn } = endpoint('server');
    assert.deepEqual(conn.receiveEof(), { code: 1006, reason: '', wasClean: false });
    assert.equal(conn.readyState, ReadyState.Closed);
  });

  it('reports 1006, not clean, when the transport ends after our close frame but before the answer', () => {
    const { conn } = endpoint('client');
    conn.close(1000, 'bye');
    assert.deepEqual(conn.receiveEof(), { code: 1006, reason: '', wasClean: false });
  });

  it('reports 1006, not clean, when the transport ends after a failure', () => {
    const { conn } = endpoint('server');
    conn.receiveData(frameTo('server', { opcode: 3 }));
    assert.deepEqual(conn.receiveEof(), { code: 1006, reason: '', wasClean: false });
  });

  it('drops a message left half-received when the transport ends', () => {
    const { conn, log } = endpoint('server');
    conn.receiveData(frameTo('server', { opcode: 1, fin: false, payload: 'half' }));
    conn.receiveEof();
    conn.receiveData(frameTo('server', { opcode: 0, payload: ' more' }));
    assert.equal(log.messages().length, 0);
  });

  for (const [how, bringDown] of [
    ['after close()', (c: ReturnType<typeof endpoint>['conn']) => c.close(1000)],
    [
      'after a close frame arrived',
      (c: ReturnType<typeof endpoint>['conn']) =>
        c.receiveData(frameTo(c.role, { opcode: 8, payload: closePayload(1000) })),
    ],
    [
      'after a failure',
      (c: ReturnType<typeof endpoint>['conn']) => c.receiveData(frameTo(c.role, { opcode: 3 })),
    ],
    ['after EOF', (c: ReturnType<typeof endpoint>['conn']) => c.receiveEof()],
  ] as const) {
    it(`throws LocalStateError from send, ping and pong ${how}, writing nothing`, () => {
      for (const role of ROLES) {
        const { conn, log } = endpoint(role);
        bringDown(conn);
        const before = log.writtenFrames().length;
        assert.throws(() => conn.send(Buffer.from('x'), true), LocalStateError);
        assert.throws(() => conn.send(Buffer.from('x'), false, false), LocalStateError);
        assert.throws(() => conn.ping(), LocalStateError);
        assert.throws(() => conn.pong(Buffer.from('p')), LocalStateError);
        assert.equal(log.writtenFrames().length, before);
        const error = (() => {
          try {
            conn.send(Buffer.from('x'), true);
          } catch (e) {
            return e;
          }
          return null;
        })();
        assert.ok(error instanceof LocalStateError);
        assert.equal(error.name, 'InvalidStateError');
        assert.equal(error.code, 'WS_ERR_NOT_OPEN');
      }
    });
  }

  it('close() is idempotent once a close frame was sent, and a no-op once CLOSED', () => {
    const { conn, log } = endpoint('client');
    conn.close(1000);
    conn.close(1001, 'again');
    assert.equal(log.writtenFrames().length, 1);
    const other = endpoint('server');
    other.conn.receiveEof();
    other.conn.close(1000);
    assert.equal(other.log.writtenFrames().length, 0);
  });

  it('close() refuses codes that may not be sent with a RangeError, writing nothing', () => {
    for (const code of [...INVALID_CODES, -1, 1000.5, Number.NaN, Number.POSITIVE_INFINITY, 70000]) {
      const { conn, log } = endpoint('server');
      assert.throws(() => conn.close(code), RangeError, `code ${code}`);
      assert.equal(log.writtenFrames().length, 0, `code ${code}`);
      assert.equal(conn.readyState, ReadyState.Open);
    }
  });

  it('close() sends every valid code with its reason', () => {
    for (const code of VALID_CODES) {
      const { conn, log } = endpoint('client');
      conn.close(code, 'ok');
      assert.deepEqual(closeFramesOf(log.writtenFrames()), [{ code, reason: 'ok' }]);
      assert.equal(log.writtenFrames()[0]!.masked, true);
    }
  });

  it('close() refuses a reason without a code (TypeError) and one over 123 bytes of UTF-8 (RangeError)', () => {
    const { conn, log } = endpoint('server');
    assert.throws(() => conn.close(undefined, 'why'), TypeError);
    assert.throws(() => conn.close(1000, 'x'.repeat(124)), RangeError);
    // 42 euro signs are 126 bytes although only 42 UTF-16 units.
    assert.throws(() => conn.close(1000, '€'.repeat(42)), RangeError);
    assert.equal(log.writtenFrames().length, 0);
    conn.close(1000, '€'.repeat(41));
    assert.deepEqual(closeFramesOf(log.writtenFrames()), [{ code: 1000, reason: '€'.repeat(41) }]);
  });

  it('ping() and pong() refuse payloads over 125 bytes', () => {
    const { conn, log } = endpoint('client');
    assert.throws(() => conn.ping(Buffer.alloc(126)), RangeError);
    assert.throws(() => conn.pong(Buffer.alloc(126)), RangeError);
    conn.ping(Buffer.alloc(125));
    assert.equal(log.writtenFrames()[0]!.payload.length, 125);
  });

  it('refuses to build a client core without a mask source', () => {
    assert.throws(() => endpoint('client', { generateMask: undefined }), TypeError);
  });
});
