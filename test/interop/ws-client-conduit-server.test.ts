/**
 * Interop: `ws` clients (the library most Node code uses) against Conduit's WebSocketServer. Messages of
 * every length encoding, fragments, control frames and every way a connection can end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type WebSocket from 'ws';
import { NotOpenError, type ProtocolError } from '../../src/index.js';
import {
  type ConduitPeer,
  closeOfConduit,
  closeOfWs,
  delay,
  listenConduit,
  MESSAGE_SIZES,
  nextConduitMessage,
  nextWsMessage,
  openWs,
  patternBytes,
  patternText,
  within,
} from '../support/interop/peers.js';

const MiB = 1024 * 1024;

describe('a ws client talking to a Conduit server', { timeout: 30_000 }, () => {
  let peer: ConduitPeer;
  const clients: WebSocket[] = [];
  before(async () => {
    peer = await listenConduit();
  });
  after(async () => {
    for (const ws of clients) ws.terminate();
    await peer.close();
  });
  /** A ws client and its server-side connection (each test takes the connection its client made). */
  const open = async () => {
    const ws = await openWs(`${peer.url}/`);
    clients.push(ws);
    const { conn } = await peer.nextConnection();
    return { ws, conn };
  };

  for (const size of MESSAGE_SIZES) {
    it(`gets back a ${size}-byte binary message byte for byte`, async () => {
      const { ws } = await open();
      const payload = patternBytes(size, size + 1);
      const reply = nextWsMessage(ws);
      ws.send(payload, { binary: true });
      const { data, isBinary } = await reply;
      assert.equal(isBinary, true);
      assert.equal(data.length, size);
      assert.ok(data.equals(payload), 'echoed bytes differ');
      ws.close(1000);
      await closeOfWs(ws);
    });

    it(`gets back a ${size}-byte text message of mixed 1-3 byte characters as text`, async () => {
      const { ws } = await open();
      const text = patternText(size);
      assert.equal(Buffer.byteLength(text), size);
      const reply = nextWsMessage(ws);
      ws.send(text);
      const { data, isBinary } = await reply;
      assert.equal(isBinary, false);
      assert.equal(data.length, size);
      assert.ok(data.toString('utf8') === text, 'echoed text differs');
      ws.close(1000);
      await closeOfWs(ws);
    });
  }

  it('reassembles a binary message the client sends in fragments, with a ping between them', async () => {
    const { ws, conn } = await open();
    const pings: Buffer[] = [];
    conn.on('ping', (p) => pings.push(p));
    const received = nextConduitMessage(conn);
    const reply = nextWsMessage(ws);
    const parts = [patternBytes(1000, 1), patternBytes(70_000, 2), patternBytes(3, 3)];
    ws.send(parts[0], { binary: true, fin: false });
    ws.send(parts[1], { binary: true, fin: false });
    ws.ping(Buffer.from('between fragments'));
    ws.send(parts[2], { binary: true, fin: true });
    const whole = Buffer.concat(parts);
    const got = await received;
    assert.equal(got.isBinary, true);
    assert.ok(got.data.equals(whole));
    assert.deepEqual(
      pings.map((p) => p.toString()),
      ['between fragments'],
    );
    const echoed = await reply;
    assert.ok(echoed.data.equals(whole));
    ws.close(1000);
    await closeOfWs(ws);
  });

  it('accepts a text message whose multi-byte characters are split across fragments', async () => {
    const { ws } = await open();
    const text = 'fragments \u20ac\u{1f30d} end';
    const bytes = Buffer.from(text);
    const cut1 = bytes.indexOf(0xe2) + 1; // inside the euro sign
    const cut2 = bytes.indexOf(0xf0) + 2; // inside the globe
    const reply = nextWsMessage(ws);
    ws.send(bytes.subarray(0, cut1), { binary: false, fin: false });
    ws.send(bytes.subarray(cut1, cut2), { binary: false, fin: false });
    ws.send(bytes.subarray(cut2), { binary: false, fin: true });
    const { data, isBinary } = await reply;
    assert.equal(isBinary, false);
    assert.equal(data.toString('utf8'), text);
    ws.close(1000);
    await closeOfWs(ws);
  });

  it('delivers a message the server sends in fragments with { fin: false } as one message', async () => {
    const { ws, conn } = await open();
    const text = nextWsMessage(ws);
    conn.send('one, ', { fin: false });
    conn.send('two, ', { fin: false });
    conn.ping(Buffer.from('in between'));
    conn.send('three', { fin: true });
    assert.deepEqual(await text, { data: Buffer.from('one, two, three'), isBinary: false });
    const binary = nextWsMessage(ws);
    const parts = [patternBytes(200_000, 4), patternBytes(10, 5)];
    conn.send(parts[0]!, { fin: false });
    conn.send(parts[1]!, { fin: true });
    const got = await binary;
    assert.equal(got.isBinary, true);
    assert.ok(got.data.equals(Buffer.concat(parts)));
    ws.close(1000);
    await closeOfWs(ws);
  });

  it('answers a client ping with a pong carrying the same payload and reports the ping', async () => {
    const { ws, conn } = await open();
    const seen = within(2000, "the server's ping event", new Promise<Buffer>((r) => conn.once('ping', r)));
    const pong = within(2000, 'a pong', new Promise<Buffer>((r) => ws.once('pong', r)));
    const payload = patternBytes(125, 9);
    ws.ping(payload);
    assert.ok((await pong).equals(payload));
    assert.ok((await seen).equals(payload));
    ws.close(1000);
    await closeOfWs(ws);
  });

  it("gets the ws client's automatic pong to a server ping, payload intact", async () => {
    const { ws, conn } = await open();
    const clientSaw = within(2000, 'the ping on the client', new Promise<Buffer>((r) => ws.once('ping', r)));
    const pong = within(2000, 'the pong on the server', new Promise<Buffer>((r) => conn.once('pong', r)));
    conn.ping('server ping \u00e9');
    assert.equal((await clientSaw).toString(), 'server ping \u00e9');
    assert.equal((await pong).toString(), 'server ping \u00e9');
    // Unsolicited pongs travel both ways too.
    const unsolicited = within(2000, 'an unsolicited pong', new Promise<Buffer>((r) => ws.once('pong', r)));
    conn.pong(Buffer.from([1, 2, 3]));
    assert.deepEqual([...(await unsolicited)], [1, 2, 3]);
    const serverPong = within(
      2000,
      'a pong from the client',
      new Promise<Buffer>((r) => conn.once('pong', r)),
    );
    ws.pong(Buffer.from('heartbeat'));
    assert.equal((await serverPong).toString(), 'heartbeat');
    ws.close(1000);
    await closeOfWs(ws);
  });
});

describe('every way a ws client and a Conduit server close', { timeout: 30_000 }, () => {
  let peer: ConduitPeer;
  const clients: WebSocket[] = [];
  before(async () => {
    peer = await listenConduit({ maxPayload: 64 * 1024 });
  });
  after(async () => {
    for (const ws of clients) ws.terminate();
    await peer.close();
  });
  const pair = async () => {
    const ws = await openWs(`${peer.url}/`);
    clients.push(ws);
    const { conn } = await peer.nextConnection();
    return { ws, conn };
  };

  it('client closes with 4000 and a reason: the server sees both, cleanly, and echoes the code', async () => {
    const { ws, conn } = await pair();
    const serverSide = closeOfConduit(conn);
    const clientSide = closeOfWs(ws);
    ws.close(4000, 'client done \u2713');
    assert.deepEqual(await serverSide, { code: 4000, reason: 'client done \u2713', wasClean: true });
    assert.equal((await clientSide).code, 4000);
    assert.equal(conn.readyState, 3);
  });

  it('server closes with 4001 and a reason: the client sees both, the server closes cleanly', async () => {
    const { ws, conn } = await pair();
    const serverSide = closeOfConduit(conn);
    const clientSide = closeOfWs(ws);
    conn.close(4001, 'server done');
    assert.equal(conn.readyState, 2);
    assert.deepEqual(await clientSide, { code: 4001, reason: 'server done' });
    const closed = await serverSide;
    assert.equal(closed.code, 4001);
    assert.equal(closed.wasClean, true);
  });

  it('client closes without a code: the server reports 1005', async () => {
    const { ws, conn } = await pair();
    const serverSide = closeOfConduit(conn);
    const clientSide = closeOfWs(ws);
    ws.close();
    assert.deepEqual(await serverSide, { code: 1005, reason: '', wasClean: true });
    assert.equal((await clientSide).code, 1005);
  });

  it('server closes without a code: the client reports 1005', async () => {
    const { ws, conn } = await pair();
    const serverSide = closeOfConduit(conn);
    const clientSide = closeOfWs(ws);
    conn.close();
    assert.deepEqual(await clientSide, { code: 1005, reason: '' });
    assert.equal((await serverSide).code, 1005);
  });

  it('client terminates the TCP connection: the server reports 1006, not clean', async () => {
    const { ws, conn } = await pair();
    const serverSide = closeOfConduit(conn);
    ws.terminate();
    assert.deepEqual(await serverSide, { code: 1006, reason: '', wasClean: false });
  });

  it('server terminates: the client reports 1006', async () => {
    const { ws, conn } = await pair();
    const clientSide = closeOfWs(ws);
    const serverSide = closeOfConduit(conn);
    conn.terminate();
    assert.equal((await clientSide).code, 1006);
    assert.equal((await serverSide).wasClean, false);
  });

  it('fails with 1009 when a client message exceeds maxPayload, without delivering it', async () => {
    const { ws, conn } = await pair();
    const errors: ProtocolError[] = [];
    conn.on('error', (e) => errors.push(e as ProtocolError));
    let delivered = 0;
    conn.on('message', () => delivered++);
    const clientSide = closeOfWs(ws);
    const serverSide = closeOfConduit(conn);
    ws.send(Buffer.alloc(64 * 1024 + 1));
    assert.equal((await clientSide).code, 1009);
    assert.equal((await serverSide).wasClean, false);
    assert.equal(delivered, 0);
    assert.equal(errors[0]?.code, 'WS_ERR_MESSAGE_TOO_BIG');
    assert.equal(errors[0]?.closeCode, 1009);
  });

  it('reports 1009 from a ws client whose own maxPayload a server message exceeds', async () => {
    const ws = await openWs(`${peer.url}/`, undefined, { maxPayload: 1000 });
    clients.push(ws);
    const { conn } = await peer.nextConnection();
    const serverSide = closeOfConduit(conn);
    const clientError = within(
      2000,
      "the ws client's error",
      new Promise<Error & { code?: string }>((r) => ws.once('error', r)),
    );
    conn.send(Buffer.alloc(1001));
    assert.equal((await clientError).code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    // ws stops reading once it fails, so its own 'close' says 1006; the server got ws's 1009 frame.
    const closed = await serverSide;
    assert.equal(closed.code, 1009);
    assert.equal(closed.wasClean, true);
  });

  it('fails with 1009 when fragments add up to more than maxPayload', async () => {
    const { ws, conn } = await pair();
    let delivered = 0;
    conn.on('message', () => delivered++);
    const clientSide = closeOfWs(ws);
    ws.send(Buffer.alloc(40 * 1024), { binary: true, fin: false });
    ws.send(Buffer.alloc(40 * 1024), { binary: true, fin: true });
    assert.equal((await clientSide).code, 1009);
    assert.equal(delivered, 0);
  });

  it('fails with 1007 when a client sends a text message that is not UTF-8', async () => {
    const { ws, conn } = await pair();
    let delivered = 0;
    conn.on('message', () => delivered++);
    const errors: Error[] = [];
    conn.on('error', (e) => errors.push(e));
    const clientSide = closeOfWs(ws);
    ws.send(Buffer.from([0x68, 0x69, 0xff, 0x21]), { binary: false });
    assert.equal((await clientSide).code, 1007);
    assert.equal(delivered, 0);
    assert.equal((errors[0] as ProtocolError | undefined)?.code, 'WS_ERR_INVALID_UTF8');
  });

  it('fails with 1007 on the first invalid byte of a fragmented text message, before it ends', async () => {
    const { ws, conn } = await pair();
    let delivered = 0;
    conn.on('message', () => delivered++);
    const clientSide = closeOfWs(ws);
    ws.send(Buffer.from('valid start '), { binary: false, fin: false });
    ws.send(Buffer.from([0xc0, 0xaf]), { binary: false, fin: false }); // overlong: never valid
    // The final fragment is never sent: the server must not wait for it.
    assert.equal((await clientSide).code, 1007);
    assert.equal(delivered, 0);
  });

  it('delivers a 16 MiB server message whole when the server closes right after sending it', async () => {
    const big = await listenConduit();
    try {
      const ws = await openWs(`${big.url}/`);
      clients.push(ws);
      const { conn } = await big.nextConnection();
      const payload = patternBytes(16 * MiB, 11);
      const message = nextWsMessage(ws);
      const clientSide = closeOfWs(ws, 10_000);
      const serverSide = closeOfConduit(conn, 10_000);
      conn.send(payload);
      conn.close(1000, 'sent it all');
      const got = await message;
      assert.ok(got.data.equals(payload));
      assert.deepEqual(await clientSide, { code: 1000, reason: 'sent it all' });
      assert.equal((await serverSide).wasClean, true);
    } finally {
      await big.close();
    }
  });

  it('receives a 16 MiB client message whole when the client closes right after sending it', async () => {
    const big = await listenConduit({}, () => {});
    try {
      const ws = await openWs(`${big.url}/`);
      clients.push(ws);
      const { conn } = await big.nextConnection();
      const payload = patternBytes(16 * MiB, 12);
      const message = nextConduitMessage(conn);
      const serverSide = closeOfConduit(conn, 10_000);
      ws.send(payload);
      ws.close(1000, 'sent it all');
      assert.ok((await message).data.equals(payload));
      assert.deepEqual(await serverSide, { code: 1000, reason: 'sent it all', wasClean: true });
    } finally {
      await big.close();
    }
  });

  it('reports 1006 on both sides when the server terminates in the middle of a 16 MiB send', async () => {
    const big = await listenConduit();
    try {
      const ws = await openWs(`${big.url}/`);
      clients.push(ws);
      const { conn } = await big.nextConnection();
      const clientSide = closeOfWs(ws);
      const serverSide = closeOfConduit(conn);
      conn.send(patternBytes(16 * MiB, 13));
      conn.terminate();
      assert.equal((await clientSide).code, 1006);
      assert.deepEqual(await serverSide, { code: 1006, reason: '', wasClean: false });
    } finally {
      await big.close();
    }
  });

  it('reports 1006, and calls the send callback, when the client leaves during a 16 MiB send', async () => {
    const big = await listenConduit();
    try {
      const ws = await openWs(`${big.url}/`);
      clients.push(ws);
      const { conn } = await big.nextConnection();
      ws.pause(); // most of the message is still on its way when the client leaves
      const serverSide = closeOfConduit(conn);
      let calls = 0;
      const callback = within(
        5000,
        'the send callback',
        new Promise<void>((resolve) =>
          conn.send(patternBytes(16 * MiB, 14), () => {
            calls++;
            resolve();
          }),
        ),
      );
      await delay(20);
      ws.terminate();
      assert.deepEqual(await serverSide, { code: 1006, reason: '', wasClean: false });
      // With or without an error: what the kernel accepted before the reset counts as handed over.
      await callback;
      await delay(20);
      assert.equal(calls, 1);
      assert.equal(conn.readyState, 3);
    } finally {
      await big.close();
    }
  });

  it('refuses sends after close with a NotOpenError passed to the callback, sending nothing', async () => {
    const { ws, conn } = await pair();
    let received = 0;
    ws.on('message', () => received++);
    const clientSide = closeOfWs(ws);
    conn.close(1000);
    const error = await within(
      2000,
      'the send callback',
      new Promise<Error | null | undefined>((resolve) => {
        const result = conn.send('too late', (err) => resolve(err));
        assert.equal(result, false);
      }),
    );
    assert.ok(error instanceof NotOpenError, `expected NotOpenError, got ${String(error)}`);
    await clientSide;
    await delay(20);
    assert.equal(received, 0);
  });

  it("closes every client with 1001 on the server's close() and forgets them", async () => {
    const own = await listenConduit();
    const a = await openWs(`${own.url}/`);
    const b = await openWs(`${own.url}/`);
    clients.push(a, b);
    await own.nextConnection();
    await own.nextConnection();
    assert.equal(own.server.clients.size, 2);
    const closes = Promise.all([closeOfWs(a), closeOfWs(b)]);
    await own.close();
    for (const closed of await closes) assert.equal(closed.code, 1001);
    assert.equal(own.server.clients.size, 0);
  });
});
