/**
 * Interop: Conduit's `connect()` client against a `ws` server. The mirror image of
 * ws-client-conduit-server.test.ts: messages, fragments, control frames, every close path, the client
 * side of the handshake (subprotocols, headers, refusals, timeouts, TLS) and client backpressure.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer as WsServer } from 'ws';
import {
  connect,
  type FrameInfo,
  HandshakeError,
  NotOpenError,
  type ProtocolError,
  type WebSocketConnection,
} from '../../src/index.js';
import {
  closeOfConduit,
  closeOfWs,
  delay,
  listenWs,
  MESSAGE_SIZES,
  nextConduitMessage,
  nextWsMessage,
  patternBytes,
  patternText,
  toBuffer,
  type WsPeer,
  within,
  wsEcho,
} from '../support/interop/peers.js';
import { makeSelfSignedCertificate } from '../support/tls.js';

const MiB = 1024 * 1024;

describe('a Conduit client talking to a ws server', { timeout: 30_000 }, () => {
  let peer: WsPeer;
  const conns: WebSocketConnection[] = [];
  before(async () => {
    peer = await listenWs();
  });
  after(async () => {
    for (const conn of conns) conn.terminate();
    await peer.close();
  });
  const open = async (options: Parameters<typeof connect>[1] = {}) => {
    const conn = await within(5000, 'connect()', connect(`${peer.url}/`, options));
    conns.push(conn);
    const { ws } = await peer.nextConnection();
    return { conn, ws };
  };
  const finish = async (conn: WebSocketConnection) => {
    const closed = closeOfConduit(conn);
    conn.close(1000);
    assert.equal((await closed).wasClean, true);
  };

  for (const size of MESSAGE_SIZES) {
    it(`gets back a ${size}-byte binary message byte for byte`, async () => {
      const { conn } = await open();
      const payload = patternBytes(size, size + 3);
      const copy = Buffer.from(payload);
      const reply = nextConduitMessage(conn);
      conn.send(payload);
      assert.ok(payload.equals(copy), 'masking changed the caller’s buffer');
      const { data, isBinary } = await reply;
      assert.equal(isBinary, true);
      assert.equal(data.length, size);
      assert.ok(data.equals(payload), 'echoed bytes differ');
      await finish(conn);
    });

    it(`gets back a ${size}-byte text message of mixed 1-3 byte characters as text`, async () => {
      const { conn } = await open();
      const text = patternText(size);
      const reply = nextConduitMessage(conn);
      conn.send(text);
      const { data, isBinary } = await reply;
      assert.equal(isBinary, false);
      assert.equal(data.length, size);
      assert.ok(data.toString('utf8') === text, 'echoed text differs');
      await finish(conn);
    });
  }

  it('sends ArrayBuffer and typed-array views as binary, and strings as binary on request', async () => {
    const { conn, ws } = await open();
    const seen: Array<{ data: Buffer; isBinary: boolean }> = [];
    ws.removeAllListeners('message');
    ws.on('message', (data, isBinary) => seen.push({ data: toBuffer(data), isBinary }));
    const bytes = new Uint8Array([9, 8, 7, 6, 5, 4]);
    conn.send(bytes.buffer);
    conn.send(new Uint16Array(bytes.buffer, 2, 2));
    conn.send(new DataView(bytes.buffer, 1, 2));
    conn.send('as bytes', { binary: true });
    await within(
      2000,
      'four messages on the ws server',
      (async () => {
        while (seen.length < 4) await delay(5);
      })(),
    );
    assert.deepEqual(
      seen.map((m) => [[...m.data], m.isBinary]),
      [
        [[9, 8, 7, 6, 5, 4], true],
        [[7, 6, 5, 4], true],
        [[8, 7], true],
        [[...Buffer.from('as bytes')], true],
      ],
    );
    await finish(conn);
  });

  it('sends fragments with { fin: false } that the ws server receives as one message', async () => {
    const { conn, ws } = await open();
    const received = nextWsMessage(ws);
    const pong = within(2000, 'a pong', new Promise<Buffer>((r) => conn.once('pong', r)));
    conn.send('alpha ', { fin: false });
    conn.ping('mid-message');
    conn.send('\u00e9 beta ', { fin: false });
    conn.send('gamma', { fin: true });
    const got = await received;
    assert.equal(got.isBinary, false);
    assert.equal(got.data.toString(), 'alpha \u00e9 beta gamma');
    assert.equal((await pong).toString(), 'mid-message');
    await finish(conn);
  });

  it('reassembles fragments from the ws server and reports each frame when inspecting', async () => {
    const { conn, ws } = await open({ inspectFrames: true });
    const frames: FrameInfo[] = [];
    conn.on('frame', (f) => frames.push(f));
    const received = nextConduitMessage(conn);
    const parts = [patternBytes(100, 1), patternBytes(300, 2), patternBytes(70_000, 3)];
    ws.send(parts[0], { binary: true, fin: false });
    ws.send(parts[1], { binary: true, fin: false });
    ws.ping('between');
    ws.send(parts[2], { binary: true, fin: true });
    const got = await received;
    assert.equal(got.isBinary, true);
    assert.ok(got.data.equals(Buffer.concat(parts)));
    await delay(20);
    const incoming = frames.filter((f) => f.direction === 'in').map((f) => [f.opcode, f.fin, f.length]);
    assert.deepEqual(incoming, [
      [0x2, false, 100],
      [0x0, false, 300],
      [0x9, true, 7],
      [0x0, true, 70_000],
    ]);
    const outgoing = frames.filter((f) => f.direction === 'out');
    assert.deepEqual(
      outgoing.map((f) => [f.opcode, f.masked, f.length]),
      [[0xa, true, 7]],
      'the automatic pong, masked',
    );
    await finish(conn);
  });

  it('gets pongs with the payload of its pings, and answers server pings automatically', async () => {
    const { conn, ws } = await open();
    const pong = within(2000, 'a pong on the client', new Promise<Buffer>((r) => conn.once('pong', r)));
    const serverSawPing = within(
      2000,
      'a ping on the server',
      new Promise<Buffer>((r) => ws.once('ping', r)),
    );
    const payload = patternBytes(125, 5);
    conn.ping(payload);
    assert.ok((await serverSawPing).equals(payload));
    assert.ok((await pong).equals(payload));

    const clientSawPing = within(
      2000,
      'a ping on the client',
      new Promise<Buffer>((r) => conn.once('ping', r)),
    );
    const serverPong = within(2000, 'a pong on the server', new Promise<Buffer>((r) => ws.once('pong', r)));
    ws.ping('from ws \u2603');
    assert.equal((await clientSawPing).toString(), 'from ws \u2603');
    assert.equal((await serverPong).toString(), 'from ws \u2603');

    const unsolicited = within(2000, 'an unsolicited pong', new Promise<Buffer>((r) => ws.once('pong', r)));
    conn.pong('still here');
    assert.equal((await unsolicited).toString(), 'still here');
    await finish(conn);
  });

  it('receives the messages a ws server sends right after its 101, in order', async () => {
    const greeter = await listenWs({}, (ws) => {
      ws.send('welcome');
      ws.send(Buffer.from([1, 2, 3]));
      ws.send('third');
    });
    try {
      const conn = await within(5000, 'connect()', connect(`${greeter.url}/`));
      conns.push(conn);
      const messages: Array<[string, boolean]> = [];
      conn.on('message', (data, isBinary) =>
        messages.push([isBinary ? data.toString('hex') : data.toString(), isBinary]),
      );
      await within(
        2000,
        'three messages',
        (async () => {
          while (messages.length < 3) await delay(5);
        })(),
      );
      assert.deepEqual(messages, [
        ['welcome', false],
        ['010203', true],
        ['third', false],
      ]);
      await finish(conn);
    } finally {
      await greeter.close();
    }
  });

  it('refuses a ping payload over 125 bytes locally', async () => {
    const { conn } = await open();
    assert.throws(() => conn.ping(Buffer.alloc(126)), RangeError);
    assert.equal(conn.readyState, 1);
    await finish(conn);
  });
});

describe('every way a Conduit client and a ws server close', { timeout: 30_000 }, () => {
  let peer: WsPeer;
  const conns: WebSocketConnection[] = [];
  before(async () => {
    peer = await listenWs({ maxPayload: 64 * 1024 }, () => {});
  });
  after(async () => {
    for (const conn of conns) conn.terminate();
    await peer.close();
  });
  const pair = async (options: Parameters<typeof connect>[1] = {}, target = peer) => {
    const conn = await within(5000, 'connect()', connect(`${target.url}/`, options));
    conns.push(conn);
    const { ws } = await target.nextConnection();
    return { conn, ws };
  };

  it('client closes with 4000 and a reason: the server sees both and the close is clean', async () => {
    const { conn, ws } = await pair();
    const serverSide = closeOfWs(ws);
    const clientSide = closeOfConduit(conn);
    conn.close(4000, 'client done \u2713');
    assert.equal(conn.readyState, 2);
    assert.deepEqual(await serverSide, { code: 4000, reason: 'client done \u2713' });
    const closed = await clientSide;
    assert.equal(closed.code, 4000);
    assert.equal(closed.wasClean, true);
  });

  it('server closes with 4001 and a reason: the client reports both, cleanly', async () => {
    const { conn, ws } = await pair();
    const clientSide = closeOfConduit(conn);
    const serverSide = closeOfWs(ws);
    ws.close(4001, 'server done');
    assert.deepEqual(await clientSide, { code: 4001, reason: 'server done', wasClean: true });
    assert.equal((await serverSide).code, 4001);
  });

  it('client closes without a code: the server reports 1005, and so does the client', async () => {
    const { conn, ws } = await pair();
    const serverSide = closeOfWs(ws);
    const clientSide = closeOfConduit(conn);
    conn.close();
    assert.equal((await serverSide).code, 1005);
    assert.deepEqual(await clientSide, { code: 1005, reason: '', wasClean: true });
  });

  it('server closes without a code: the client reports 1005', async () => {
    const { conn, ws } = await pair();
    const clientSide = closeOfConduit(conn);
    ws.close();
    assert.deepEqual(await clientSide, { code: 1005, reason: '', wasClean: true });
  });

  it('server terminates: the client reports 1006, not clean', async () => {
    const { conn, ws } = await pair();
    const clientSide = closeOfConduit(conn);
    ws.terminate();
    assert.deepEqual(await clientSide, { code: 1006, reason: '', wasClean: false });
  });

  it('client terminates: the server reports 1006', async () => {
    const { conn, ws } = await pair();
    const serverSide = closeOfWs(ws);
    const clientSide = closeOfConduit(conn);
    conn.terminate();
    assert.equal((await serverSide).code, 1006);
    assert.equal((await clientSide).code, 1006);
  });

  it("reports 1009 when a message exceeds the ws server's maxPayload", async () => {
    const { conn } = await pair();
    const clientSide = closeOfConduit(conn);
    conn.send(Buffer.alloc(64 * 1024 + 1));
    const closed = await clientSide;
    assert.equal(closed.code, 1009);
  });

  it("fails with 1009 when a server message exceeds the client's maxPayload, without buffering it", async () => {
    const { conn, ws } = await pair({ maxPayload: 1000 });
    let delivered = 0;
    conn.on('message', () => delivered++);
    const errors: ProtocolError[] = [];
    conn.on('error', (e) => errors.push(e as ProtocolError));
    const serverSide = closeOfWs(ws);
    const clientSide = closeOfConduit(conn);
    ws.send(Buffer.alloc(1001));
    assert.equal((await serverSide).code, 1009);
    assert.equal((await clientSide).wasClean, false);
    assert.equal(delivered, 0);
    assert.equal(errors[0]?.code, 'WS_ERR_MESSAGE_TOO_BIG');
  });

  it('fails with 1007 when the ws server sends a text message that is not UTF-8', async () => {
    const { conn, ws } = await pair();
    let delivered = 0;
    conn.on('message', () => delivered++);
    const serverSide = closeOfWs(ws);
    const clientSide = closeOfConduit(conn);
    ws.send(Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xed, 0xa0, 0x80]), { binary: false }); // surrogate
    assert.equal((await serverSide).code, 1007);
    assert.equal((await clientSide).wasClean, false);
    assert.equal(delivered, 0);
  });

  it('fails with 1002 when the ws server sends a close frame with an invalid code', async () => {
    const { conn, ws } = await pair();
    const serverSide = closeOfWs(ws);
    // ws refuses to send code 1005 through close(); write the frame by hand: FIN+close, 2 bytes, 1005.
    const socket = (ws as unknown as { _socket: Socket })._socket;
    socket.write(Buffer.from([0x88, 0x02, 0x03, 0xed]));
    assert.equal((await serverSide).code, 1002);
    assert.equal(conn.readyState === 2 || conn.readyState === 3, true);
  });

  it('delivers a 16 MiB client message whole to the server when the client closes right after it', async () => {
    const big = await listenWs({}, () => {});
    try {
      const { conn, ws } = await pair({}, big);
      const payload = patternBytes(16 * MiB, 31);
      const received = nextWsMessage(ws);
      const serverSide = closeOfWs(ws, 10_000);
      const clientSide = closeOfConduit(conn, 10_000);
      conn.send(payload);
      conn.close(1000, 'sent it all');
      assert.ok((await received).data.equals(payload));
      assert.deepEqual(await serverSide, { code: 1000, reason: 'sent it all' });
      assert.equal((await clientSide).wasClean, true);
    } finally {
      await big.close();
    }
  });

  it('receives a 16 MiB server message whole when the server closes right after it', async () => {
    const big = await listenWs({}, () => {});
    try {
      const { conn, ws } = await pair({}, big);
      const payload = patternBytes(16 * MiB, 32);
      const received = nextConduitMessage(conn);
      const clientSide = closeOfConduit(conn, 10_000);
      ws.send(payload);
      ws.close(1000, 'sent it all');
      assert.ok((await received).data.equals(payload));
      assert.deepEqual(await clientSide, { code: 1000, reason: 'sent it all', wasClean: true });
    } finally {
      await big.close();
    }
  });

  it('reports a send after close to its callback as NotOpenError', async () => {
    const { conn } = await pair();
    const closed = closeOfConduit(conn);
    conn.close(1000);
    const error = await within(
      2000,
      'the send callback',
      new Promise<Error | null | undefined>((resolve) => conn.send('late', (err) => resolve(err))),
    );
    assert.ok(error instanceof NotOpenError);
    await closed;
    const again = await within(
      2000,
      'the send callback after CLOSED',
      new Promise<Error | null | undefined>((resolve) => conn.send('later', (err) => resolve(err))),
    );
    assert.ok(again instanceof NotOpenError);
  });
});

describe('the opening handshake of a Conduit client with a ws server', { timeout: 15_000 }, () => {
  it('offers subprotocols in order and reports the one the server selects', async () => {
    let offered: string[] = [];
    const peer = await listenWs({
      handleProtocols: (protocols) => {
        offered = [...protocols];
        return 'mqtt';
      },
    });
    try {
      const conn = await connect(`${peer.url}/`, { protocols: ['wamp', 'mqtt'] });
      assert.deepEqual(offered, ['wamp', 'mqtt']);
      assert.equal(conn.protocol, 'mqtt');
      conn.close(1000);
      await closeOfConduit(conn);
    } finally {
      await peer.close();
    }
  });

  it('accepts a server that selects no subprotocol among those offered', async () => {
    const peer = await listenWs({ handleProtocols: () => false });
    try {
      const conn = await connect(`${peer.url}/`, { protocols: ['wamp'] });
      assert.equal(conn.protocol, '');
      conn.close(1000);
      await closeOfConduit(conn);
    } finally {
      await peer.close();
    }
  });

  it('rejects a server that selects a subprotocol that was not offered', async () => {
    const peer = await listenWs({ handleProtocols: () => 'sneaky' });
    try {
      await assert.rejects(
        within(5000, 'connect() to fail', connect(`${peer.url}/`, { protocols: ['wamp'] })),
        (error: unknown) => error instanceof HandshakeError && error.code === 'WS_ERR_UNREQUESTED_PROTOCOL',
      );
    } finally {
      await peer.close();
    }
  });

  it('sends extra headers, and reports a refusal as a HandshakeError with its status', async () => {
    const peer = await listenWs({
      verifyClient: (info, done) => {
        if (info.req.headers.authorization === 'Bearer good') done(true);
        else done(false, 401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
      },
    });
    try {
      const conn = await connect(`${peer.url}/`, { headers: { Authorization: 'Bearer good' } });
      conn.close(1000);
      await closeOfConduit(conn);
      await assert.rejects(
        within(
          5000,
          'connect() to fail',
          connect(`${peer.url}/`, { headers: { Authorization: 'Bearer no' } }),
        ),
        (error: unknown) => error instanceof HandshakeError && error.status === 401,
      );
    } finally {
      await peer.close();
    }
  });

  it('rejects a 101 whose Sec-WebSocket-Accept does not match the key it sent', async () => {
    const sockets = new Set<Socket>();
    const liar = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', () =>
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
        ),
      );
    });
    liar.listen(0, '127.0.0.1');
    await once(liar, 'listening');
    const port = (liar.address() as AddressInfo).port;
    try {
      await assert.rejects(
        within(5000, 'connect() to fail', connect(`ws://127.0.0.1:${port}/`)),
        (error: unknown) => error instanceof HandshakeError && error.code === 'WS_ERR_BAD_ACCEPT',
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      liar.close();
    }
  });

  it('gives up at handshakeTimeout on a server that never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      await assert.rejects(
        within(5000, 'connect() to time out', connect(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 300 })),
        (error: unknown) => error instanceof HandshakeError && error.code === 'WS_ERR_HANDSHAKE_TIMEOUT',
      );
      assert.ok(Date.now() - started < 2000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('rejects URLs with another scheme or a fragment with a SyntaxError', async () => {
    await assert.rejects(connect('ftp://127.0.0.1/'), SyntaxError);
    await assert.rejects(connect('ws://127.0.0.1/#frag'), SyntaxError);
    await assert.rejects(connect('not a url'), SyntaxError);
  });

  it('talks wss: to a ws server behind TLS when given its CA', async (t) => {
    let cert: Buffer;
    let key: Buffer;
    try {
      ({ cert, key } = makeSelfSignedCertificate());
    } catch {
      t.skip('openssl is not available to make a test certificate');
      return;
    }
    const https = createHttpsServer({ cert, key });
    const wss = new WsServer({ server: https });
    wss.on('connection', wsEcho);
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    const port = (https.address() as AddressInfo).port;
    try {
      await assert.rejects(
        within(5000, 'connect() to refuse an unknown CA', connect(`wss://127.0.0.1:${port}/`)),
        'an untrusted certificate must fail the handshake',
      );
      const conn = await within(
        5000,
        'connect() over TLS',
        connect(`wss://127.0.0.1:${port}/`, { tls: { ca: cert } }),
      );
      const reply = nextConduitMessage(conn);
      conn.send(patternBytes(100_000, 41));
      assert.ok((await reply).data.equals(patternBytes(100_000, 41)));
      const closed = closeOfConduit(conn);
      conn.close(1000);
      assert.equal((await closed).wasClean, true);
    } finally {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise<void>((resolve) => {
        https.close(() => resolve());
        https.closeAllConnections();
      });
    }
  });
});

describe('backpressure between a Conduit client and a paused ws server', { timeout: 20_000 }, () => {
  it('grows bufferedAmount and emits drain once the server resumes reading', async () => {
    const highWaterMark = 512 * 1024;
    const peer = await listenWs({}, () => {});
    const conn = await connect(`${peer.url}/`, { highWaterMark });
    try {
      const { ws } = await peer.nextConnection();
      let serverReceived = 0;
      ws.on('message', () => serverReceived++);
      ws.pause();
      await delay(10);
      const chunk = patternBytes(64 * 1024, 51);
      let sent = 0;
      while (conn.bufferedAmount <= 2 * highWaterMark && sent < 2048) {
        conn.send(chunk);
        sent++;
      }
      assert.ok(conn.bufferedAmount > highWaterMark, `bufferedAmount stayed at ${conn.bufferedAmount}`);
      assert.ok(sent < 2048, 'the paused server absorbed 128 MiB: no backpressure observed');
      let drained = false;
      conn.once('drain', () => {
        drained = true;
      });
      await delay(150);
      assert.equal(drained, false);
      assert.equal(serverReceived, 0);
      ws.resume();
      await within(10_000, "the client's drain event", once(conn, 'drain'));
      await within(
        10_000,
        'every message to reach the server',
        (async () => {
          while (serverReceived < sent) await delay(10);
        })(),
      );
      assert.equal(conn.bufferedAmount, 0);
      const closed = closeOfConduit(conn);
      conn.close(1000);
      assert.equal((await closed).wasClean, true);
    } finally {
      conn.terminate();
      await peer.close();
    }
  });
});
