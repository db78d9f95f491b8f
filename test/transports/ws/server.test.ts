import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type WebSocketConnection, WebSocketServer } from '../../../src/index.js';

async function listening(wss: WebSocketServer): Promise<number> {
  await once(wss, 'listening');
  const address = wss.address();
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

/** A raw TCP client that completes the handshake and then stays silent (never answers pings). */
async function silentClient(port: number, path = '/'): Promise<{ socket: Socket; received: Buffer[] }> {
  const socket = netConnect(port, '127.0.0.1');
  await once(socket, 'connect');
  const received: Buffer[] = [];
  socket.on('data', (d) => received.push(d));
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  return { socket, received };
}

describe('WebSocketServer', () => {
  it('terminates a client that does not answer heartbeat pings, and keeps one that does', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 100 });
    const port = await listening(wss);
    const silent = await silentClient(port);
    const lively = await connect(`ws://127.0.0.1:${port}/`);
    let livelyPings = 0;
    lively.on('ping', () => livelyPings++);
    const closed = once(silent.socket, 'close');
    const started = Date.now();
    await closed;
    const elapsed = Date.now() - started;
    // Ping at ~100 ms, no answer by the next beat at ~200 ms: terminated.
    assert.ok(elapsed < 1000, `terminated after ${elapsed} ms`);
    const pings = Buffer.concat(silent.received).includes(Buffer.from([0x89, 0x00]));
    assert.ok(pings, 'the silent client received a ping frame');
    await sleep(350);
    assert.equal(lively.readyState, 1, 'a client that answers pings stays connected');
    assert.ok(livelyPings >= 2);
    lively.close();
    await wss.close();
  });

  it('close() closes every connection with 1001 and resolves once they are gone', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    const port = await listening(wss);
    const clients = await Promise.all([1, 2, 3].map(() => connect(`ws://127.0.0.1:${port}/`)));
    const codes = clients.map((c) => once(c, 'close'));
    while (wss.clients.size < 3) await sleep(5);
    await wss.close();
    assert.equal(wss.clients.size, 0);
    for (const [code, , wasClean] of await Promise.all(codes)) {
      assert.equal(code, 1001);
      assert.equal(wasClean, true);
    }
    // The port is released.
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`), /ECONNREFUSED/);
  });

  it('hands upgrades routed by the application to handleUpgrade in noServer mode', async () => {
    const wss = new WebSocketServer({ noServer: true });
    const http = createServer();
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url === '/mine') wss.handleUpgrade(req, socket, head, (ws) => ws.send('routed by the app'));
      else socket.destroy();
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const port = (http.address() as { port: number }).port;
    const client = await connect(`ws://127.0.0.1:${port}/mine`);
    const [data] = await once(client, 'message');
    assert.equal(String(data), 'routed by the app');
    client.close();
    await once(client, 'close');
    await wss.close();
    http.close();
  });

  it('routes several servers sharing one http server by path, and answers 404 elsewhere', async () => {
    const http = createServer();
    const a = new WebSocketServer({ server: http, path: '/a' });
    const b = new WebSocketServer({ server: http, path: '/b' });
    a.on('connection', (ws) => ws.send('a'));
    b.on('connection', (ws) => ws.send('b'));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const port = (http.address() as { port: number }).port;
    for (const name of ['a', 'b']) {
      const client = await connect(`ws://127.0.0.1:${port}/${name}?q=1`);
      const [data] = await once(client, 'message');
      assert.equal(String(data), name);
      client.close();
      await once(client, 'close');
    }
    await assert.rejects(
      connect(`ws://127.0.0.1:${port}/c`),
      (e: Error & { status?: number }) => e.status === 404,
    );
    await Promise.all([a.close(), b.close()]);
    http.close();
  });

  it('refuses with the status and headers an async authenticate hook chooses', async () => {
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      async authenticate(req) {
        await sleep(5);
        if (req.headers.authorization === 'Bearer ok') return true;
        return {
          status: 401,
          headers: { 'WWW-Authenticate': 'Bearer realm="conduit"' },
          message: 'token required',
        };
      },
    });
    const port = await listening(wss);
    const refused: number[] = [];
    wss.on('handshakeError', (error) => refused.push(error.status));
    const raw = await silentClient(port);
    await once(raw.socket, 'close');
    const answer = Buffer.concat(raw.received).toString();
    assert.match(answer, /^HTTP\/1\.1 401 /);
    assert.match(answer, /WWW-Authenticate: Bearer realm="conduit"/);
    assert.match(answer, /token required/);
    const ok = await connect(`ws://127.0.0.1:${port}/`, { headers: { Authorization: 'Bearer ok' } });
    assert.equal(ok.readyState, 1);
    assert.deepEqual(refused, [401]);
    await wss.close();
  });

  it('answers 500 without details when authenticate throws, and keeps serving', async () => {
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      authenticate() {
        throw new Error('database password is hunter2');
      },
    });
    const port = await listening(wss);
    const raw = await silentClient(port);
    await once(raw.socket, 'close');
    const answer = Buffer.concat(raw.received).toString();
    assert.match(answer, /^HTTP\/1\.1 500 /);
    assert.doesNotMatch(answer, /hunter2/);
    await wss.close();
  });

  it('closes with 1011 a connection whose message listener throws, and the process goes on', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    const port = await listening(wss);
    const errors: Error[] = [];
    wss.on('connection', (conn) => {
      conn.on('error', (error) => errors.push(error));
      conn.on('message', (data) => {
        if (String(data) === 'boom') throw new Error('the application failed on this message');
        conn.send(data);
      });
    });
    const client = await connect(`ws://127.0.0.1:${port}/`);
    const closed = once(client, 'close');
    client.send('boom');
    const [code] = await closed;
    assert.equal(code, 1011);
    assert.equal(errors[0]?.message, 'the application failed on this message');
    // The server still serves the next client.
    const next = await connect(`ws://127.0.0.1:${port}/`);
    next.send('hi');
    const [echo] = await once(next, 'message');
    assert.equal(String(echo), 'hi');
    next.close();
    await wss.close();
  });

  it('ends an admitted handshake when its socket closes, even while an authenticate hook never answers', async () => {
    let inFlight = 0;
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      handshakeTimeout: 200,
      admit: () => {
        inFlight++;
        return () => {
          inFlight--;
        };
      },
      authenticate: () => new Promise(() => undefined),
    });
    const port = await listening(wss);
    const raw = await silentClient(port);
    await once(raw.socket, 'close');
    await sleep(20);
    assert.equal(inFlight, 0, 'the handshake no longer counts as in flight');
    await wss.close();
  });

  it('drops a handshake whose authenticate hook outlives the handshake timeout', async () => {
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      handshakeTimeout: 100,
      authenticate: () => sleep(2000).then(() => true),
    });
    const port = await listening(wss);
    const raw = await silentClient(port);
    const started = Date.now();
    await once(raw.socket, 'close');
    assert.ok(Date.now() - started < 1500);
    assert.match(Buffer.concat(raw.received).toString(), /^HTTP\/1\.1 408 /);
    await wss.close();
  });

  it('stops reading from a peer that does not read, until its backlog drains', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', highWaterMark: 256 * 1024 });
    const port = await listening(wss);
    const serverSide = new Promise<WebSocketConnection>((resolve) => wss.once('connection', resolve));
    const client = await connect(`ws://127.0.0.1:${port}/`);
    const server = await serverSide;
    const received: string[] = [];
    server.on('message', (data) => received.push(String(data)));
    client.pause();
    // Fill the kernel buffers and the server's outbound queue well past the high-water mark.
    const chunk = Buffer.alloc(1024 * 1024);
    while (server.bufferedAmount < 1024 * 1024) {
      server.send(chunk);
      await sleep(1);
    }
    assert.ok(server.bufferedAmount > 256 * 1024);
    client.send('while you were busy');
    await sleep(100);
    assert.deepEqual(received, [], 'the server does not read while its writes are backed up');
    const drained = once(server, 'drain');
    let messages = 0;
    client.on('message', () => messages++);
    client.resume();
    await drained;
    while (received.length === 0) await sleep(5);
    assert.deepEqual(received, ['while you were busy']);
    assert.ok(messages > 0);
    client.close();
    await wss.close();
  });

  it('reports an error to the caller of send() on a closed connection and sends nothing', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    const port = await listening(wss);
    const client = await connect(`ws://127.0.0.1:${port}/`);
    client.close();
    await once(client, 'close');
    const result = await new Promise<{ accepted: boolean; error: Error | null | undefined }>((resolve) => {
      const accepted = client.send('too late', (error) => resolve({ accepted, error }));
    });
    assert.equal(result.accepted, false);
    assert.ok(result.error instanceof Error);
    assert.match(result.error.message, /not open/);
    await wss.close();
  });
});
