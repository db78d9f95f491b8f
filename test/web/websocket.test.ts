import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { CloseEvent, WebSocket, type WebSocketConnection, WebSocketServer } from '../../src/index.js';

let wss: WebSocketServer;
let base: string;
const serverSide: WebSocketConnection[] = [];

before(async () => {
  wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    handleProtocols: (p) => (p.includes('chat') ? 'chat' : false),
  });
  await once(wss, 'listening');
  const address = wss.address();
  assert.ok(address !== null && typeof address === 'object');
  base = `ws://127.0.0.1:${address.port}`;
  wss.on('connection', (socket, req) => {
    serverSide.push(socket);
    if (req.url === '/server-closes') {
      socket.close(4321, 'server says bye');
      return;
    }
    socket.on('message', (data, isBinary) => socket.send(isBinary ? data : data.toString()));
  });
});

after(async () => {
  await wss.close();
});

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) =>
      reject(new Error(`error before open: ${(e as Event & { message?: string }).message}`));
  });
}

function nextMessage(ws: WebSocket): Promise<MessageEvent> {
  return new Promise((resolve) =>
    ws.addEventListener('message', (e) => resolve(e as MessageEvent), { once: true }),
  );
}

function closed(ws: WebSocket): Promise<CloseEvent> {
  return new Promise((resolve) =>
    ws.addEventListener('close', (e) => resolve(e as CloseEvent), { once: true }),
  );
}

describe('WebSocket (WHATWG interface)', () => {
  it('throws SyntaxError for unparsable URLs, other schemes and fragments', () => {
    for (const url of ['not a url', 'ftp://127.0.0.1/', 'ws://127.0.0.1/#frag', 'file:///tmp/x']) {
      assert.throws(
        () => new WebSocket(url),
        (e: unknown) => e instanceof DOMException && e.name === 'SyntaxError',
        url,
      );
    }
  });

  it('throws SyntaxError for duplicate subprotocols and values that are not tokens', () => {
    assert.throws(() => new WebSocket(`${base}/`, ['a', 'a']), { name: 'SyntaxError' });
    assert.throws(() => new WebSocket(`${base}/`, ['has space']), { name: 'SyntaxError' });
    assert.throws(() => new WebSocket(`${base}/`, ''), { name: 'SyntaxError' });
  });

  it('maps http: and https: URLs to ws: and wss:', () => {
    const ws = new WebSocket(`${base.replace('ws:', 'http:')}/x`);
    assert.equal(ws.url, `${base}/x`);
    ws.close();
  });

  it('throws InvalidStateError when sending while connecting', () => {
    const ws = new WebSocket(`${base}/`);
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    assert.throws(() => ws.send('x'), { name: 'InvalidStateError' });
    ws.close();
  });

  it('throws InvalidAccessError for close codes other than 1000 and 3000-4999, SyntaxError for long reasons', async () => {
    const ws = new WebSocket(`${base}/`);
    await opened(ws);
    for (const code of [999, 1001, 1005, 1006, 2999, 5000, 1000.5]) {
      assert.throws(() => ws.close(code), { name: 'InvalidAccessError' }, String(code));
    }
    assert.throws(() => ws.close(1000, 'é'.repeat(62)), { name: 'SyntaxError' });
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close(1000, 'x'.repeat(123));
    const event = await closed(ws);
    assert.equal(event.code, 1000);
    assert.equal(event.wasClean, true);
  });

  it('negotiates a subprotocol and exposes it once open', async () => {
    const ws = new WebSocket(`${base}/`, ['other', 'chat']);
    assert.equal(ws.protocol, '');
    await opened(ws);
    assert.equal(ws.protocol, 'chat');
    assert.equal(ws.extensions, '');
    ws.close();
    await closed(ws);
  });

  it('round-trips strings, ArrayBuffers, views and Blobs, in order, for each binaryType', async () => {
    const ws = new WebSocket(`${base}/`);
    await opened(ws);
    const received: unknown[] = [];
    ws.onmessage = (e) => received.push(e.data);
    ws.binaryType = 'arraybuffer';
    ws.send('héllo ✓');
    ws.send(new Blob([new Uint8Array([1, 2, 3])]));
    ws.send(new Uint16Array([0x0201]));
    ws.send(new Uint8Array([9]).buffer);
    while (received.length < 4) await nextMessage(ws);
    assert.equal(received[0], 'héllo ✓');
    assert.deepEqual([...new Uint8Array(received[1] as ArrayBuffer)], [1, 2, 3]);
    assert.deepEqual([...new Uint8Array(received[2] as ArrayBuffer)], [1, 2]);
    assert.deepEqual([...new Uint8Array(received[3] as ArrayBuffer)], [9]);

    ws.binaryType = 'blob';
    ws.send(new Uint8Array([4, 5]));
    const blob = (await nextMessage(ws)).data;
    assert.ok(blob instanceof Blob);
    assert.deepEqual([...new Uint8Array(await blob.arrayBuffer())], [4, 5]);

    ws.binaryType = 'nodebuffer';
    ws.send(new Uint8Array([6]));
    const buffer = (await nextMessage(ws)).data;
    assert.ok(Buffer.isBuffer(buffer));

    // Invalid binaryType values are ignored (enumerated attribute).
    (ws as unknown as { binaryType: string }).binaryType = 'bogus';
    assert.equal(ws.binaryType, 'nodebuffer');
    ws.close();
    await closed(ws);
  });

  it('fires open, message and close through on* handlers and addEventListener alike', async () => {
    const ws = new WebSocket(`${base}/`);
    const seen: string[] = [];
    ws.addEventListener('open', () => seen.push('listener:open'));
    ws.onopen = () => seen.push('handler:open');
    const replaced = () => seen.push('replaced');
    ws.onclose = replaced;
    assert.equal(ws.onclose, replaced);
    ws.onclose = () => seen.push('handler:close');
    await once(ws, 'open');
    ws.close();
    await closed(ws);
    assert.deepEqual(seen, ['listener:open', 'handler:open', 'handler:close']);
  });

  it('reports a server-initiated close with its code and reason, cleanly', async () => {
    const ws = new WebSocket(`${base}/server-closes`);
    const event = await closed(ws);
    assert.ok(event instanceof CloseEvent);
    assert.equal(event.code, 4321);
    assert.equal(event.reason, 'server says bye');
    assert.equal(event.wasClean, true);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  it('fails with error then close 1006 when the server cannot be reached', async () => {
    const ws = new WebSocket('ws://127.0.0.1:1/');
    const order: string[] = [];
    ws.onerror = (e) =>
      order.push(`error:${(e as Event & { message: string }).message.includes('ECONNREFUSED')}`);
    const event = await closed(ws);
    order.push(`close:${event.code}`);
    assert.deepEqual(order, ['error:true', 'close:1006']);
    assert.equal(event.wasClean, false);
  });

  it('fails with 1006 when closed while still connecting', async () => {
    const ws = new WebSocket(`${base}/`);
    ws.close();
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const event = await closed(ws);
    assert.equal(event.code, 1006);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  it('keeps counting bufferedAmount for data sent after closing started, without sending it', async () => {
    const ws = new WebSocket(`${base}/`);
    await opened(ws);
    ws.close();
    const before = ws.bufferedAmount;
    ws.send('12345');
    ws.send(new Uint8Array(10));
    assert.equal(ws.bufferedAmount - before, 15);
    await closed(ws);
  });
});
