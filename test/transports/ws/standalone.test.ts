import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect as netConnect } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocketServer } from '../../../src/index.js';

async function listening(wss: WebSocketServer): Promise<number> {
  await once(wss, 'listening');
  const address = wss.address();
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

/** Send raw bytes, collect everything until the server closes (bounded). */
function exchange(
  port: number,
  bytes: string | Buffer,
  done: (received: string) => boolean = () => false,
  waitMs = 3000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${waitMs} ms; got ${Buffer.concat(chunks).toString('latin1')}`));
    }, waitMs);
    socket.on('data', (d) => {
      chunks.push(d);
      if (done(Buffer.concat(chunks).toString('latin1'))) socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(bytes);
  });
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const upgrade = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

describe('standalone WebSocketServer (its own HTTP/1.1 head parser)', () => {
  it('answers plain requests 426, malformed heads 400, oversized ones 431, other paths 404', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/ws' });
    const port = await listening(wss);
    const plain = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(plain, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
    assert.match(plain, /\r\nUpgrade: websocket\r\n/);
    assert.match(await exchange(port, 'GET / HTTP/1.1\r\nHost : x\r\n\r\n'), /^HTTP\/1\.1 400 /);
    const big = `GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    assert.match(await exchange(port, big), /^HTTP\/1\.1 431 /);
    assert.match(await exchange(port, upgrade('/elsewhere')), /^HTTP\/1\.1 404 /);
    await wss.close();
  });

  it('answers 408 to a client that stalls in the middle of its request head', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handshakeTimeout: 200 });
    const port = await listening(wss);
    const started = Date.now();
    const answer = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n');
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(Date.now() - started < 2000);
    await wss.close();
  });

  it('gives hooks a real IncomingMessage and reads a frame sent right behind the request', async () => {
    let seen: IncomingMessage | undefined;
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      authenticate: (req) => {
        seen = req;
        return req.headers['x-token'] === 'yes';
      },
    });
    const port = await listening(wss);
    const messages: string[] = [];
    wss.on('connection', (ws, req) => {
      assert.equal(req, seen);
      ws.on('message', (data) => {
        messages.push(data.toString());
        ws.close(1000);
      });
    });
    // A masked text frame "hi" with a zero mask, in the same write as the request head.
    const frame = Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]);
    const head = upgrade('/path?q=1').replace('\r\n\r\n', '\r\nX-Token: yes\r\n\r\n');
    // Stop at the server's close frame (1000) rather than answer it.
    const answer = await exchange(port, Buffer.concat([Buffer.from(head), frame]), (r) =>
      r.endsWith('\x88\x02\x03\xe8'),
    );
    assert.match(answer, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.deepEqual(messages, ['hi']);
    assert.equal(seen?.url, '/path?q=1');
    assert.equal(seen?.method, 'GET');
    assert.equal(seen?.socket.remoteAddress, '127.0.0.1');
    const refused = await exchange(port, upgrade('/'));
    assert.match(refused, /^HTTP\/1\.1 401 /);
    await wss.close();
  });
});
