/**
 * Interop: the opening handshake and server features of Conduit's WebSocketServer, seen by `ws` clients
 * and by raw TCP clients that send what no library would: subprotocols, authentication, origins, paths,
 * server modes, bad requests, stalled requests, heartbeats and backpressure.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { WebSocketServer } from '../../src/index.js';
import {
  closeOfConduit,
  closeOfWs,
  delay,
  echo,
  headerOf,
  listenConduit,
  nextConduitMessage,
  nextWsMessage,
  openWs,
  patternBytes,
  rawExchange,
  rawResponseHead,
  refusalOf,
  statusOf,
  within,
} from '../support/interop/peers.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function upgradeHead(path: string, extra: Record<string, string> = {}, omit: string[] = []): string {
  const headers: Record<string, string> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...extra,
  };
  for (const name of omit) delete headers[name];
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

async function listenHttp(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function closeHttp(server: Server): Promise<void> {
  return within(
    5000,
    'the http server to close',
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  );
}

describe('subprotocol negotiation with a ws client', { timeout: 10_000 }, () => {
  it('selects the first subprotocol the client offers by default', async () => {
    const peer = await listenConduit();
    try {
      const ws = await openWs(`${peer.url}/`, ['chat', 'superchat']);
      const { conn } = await peer.nextConnection();
      assert.equal(ws.protocol, 'chat');
      assert.equal(conn.protocol, 'chat');
      ws.close(1000);
      await closeOfWs(ws);
    } finally {
      await peer.close();
    }
  });

  it('selects what handleProtocols chooses among the offered ones', async () => {
    let offered: readonly string[] = [];
    const peer = await listenConduit({
      handleProtocols: (protocols) => {
        offered = protocols;
        return protocols.includes('v2.conduit') ? 'v2.conduit' : false;
      },
    });
    try {
      const ws = await openWs(`${peer.url}/`, ['v1.conduit', 'v2.conduit']);
      const { conn } = await peer.nextConnection();
      assert.deepEqual(offered, ['v1.conduit', 'v2.conduit']);
      assert.equal(ws.protocol, 'v2.conduit');
      assert.equal(conn.protocol, 'v2.conduit');
      ws.close(1000);
      await closeOfWs(ws);
    } finally {
      await peer.close();
    }
  });

  it("declines the ws client's permessage-deflate offer, and messages flow uncompressed", async () => {
    const peer = await listenConduit();
    try {
      const ws = await openWs(`${peer.url}/`, undefined, { perMessageDeflate: true });
      const { req } = await peer.nextConnection();
      assert.match(String(req.headers['sec-websocket-extensions']), /permessage-deflate/);
      assert.equal(ws.extensions, '');
      const reply = nextWsMessage(ws);
      ws.send('a'.repeat(10_000));
      assert.equal((await reply).data.toString(), 'a'.repeat(10_000));
      ws.close(1000);
      await closeOfWs(ws);
    } finally {
      await peer.close();
    }
  });

  it('answers without a subprotocol when the client offers none', async () => {
    const peer = await listenConduit();
    try {
      const ws = await openWs(`${peer.url}/`);
      const { conn } = await peer.nextConnection();
      assert.equal(ws.protocol, '');
      assert.equal(conn.protocol, '');
      ws.close(1000);
      await closeOfWs(ws);
    } finally {
      await peer.close();
    }
  });
});

describe('authentication, origins and paths seen by a ws client', { timeout: 15_000 }, () => {
  it('refuses with 401 and a WWW-Authenticate header when authenticate refuses', async () => {
    const peer = await listenConduit({
      authenticate: async (req) => {
        await delay(5);
        if (req.headers.authorization === 'Bearer good') return true;
        return {
          status: 401,
          headers: { 'WWW-Authenticate': 'Bearer realm="conduit"' },
          message: 'who are you?',
        };
      },
    });
    try {
      const refusal = await refusalOf(`${peer.url}/`, { headers: { Authorization: 'Bearer bad' } });
      assert.equal(refusal.status, 401);
      assert.equal(refusal.headers['www-authenticate'], 'Bearer realm="conduit"');
      assert.match(refusal.body, /who are you\?/);
      const ws = await openWs(`${peer.url}/`, undefined, { headers: { Authorization: 'Bearer good' } });
      ws.close(1000);
      await closeOfWs(ws);
    } finally {
      await peer.close();
    }
  });

  it('refuses with 401 when authenticate answers false, and 500 when it throws', async () => {
    const peer = await listenConduit({
      authenticate: (req) => {
        if (req.url === '/boom') throw new Error('database down');
        return false;
      },
    });
    try {
      assert.equal((await refusalOf(`${peer.url}/`)).status, 401);
      assert.equal((await refusalOf(`${peer.url}/boom`)).status, 500);
    } finally {
      await peer.close();
    }
  });

  it('answers 408 when authenticate takes longer than the handshake timeout', async () => {
    const peer = await listenConduit({
      handshakeTimeout: 300,
      authenticate: () => new Promise<boolean>(() => {}),
    });
    try {
      const started = Date.now();
      const refusal = await refusalOf(`${peer.url}/`);
      assert.equal(refusal.status, 408);
      assert.ok(Date.now() - started < 3000);
    } finally {
      await peer.close();
    }
  });

  it('accepts an allowed Origin and refuses any other, or none, with 403', async () => {
    const peer = await listenConduit({ origins: ['https://app.example'] });
    try {
      const ws = await openWs(`${peer.url}/`, undefined, { origin: 'https://app.example' });
      ws.close(1000);
      await closeOfWs(ws);
      assert.equal((await refusalOf(`${peer.url}/`, { origin: 'https://evil.example' })).status, 403);
      assert.equal((await refusalOf(`${peer.url}/`)).status, 403);
    } finally {
      await peer.close();
    }
  });

  it('routes on the path, ignoring the query, and answers 404 elsewhere', async () => {
    const peer = await listenConduit({ path: '/chat' });
    try {
      const ws = await openWs(`${peer.url}/chat?room=42`);
      const { conn } = await peer.nextConnection();
      assert.equal(conn.url, '/chat?room=42');
      ws.close(1000);
      await closeOfWs(ws);
      assert.equal((await refusalOf(`${peer.url}/other`)).status, 404);
      assert.equal((await refusalOf(`${peer.url}/chat/extra`)).status, 404);
    } finally {
      await peer.close();
    }
  });

  it('emits handshakeError with the refusal for logging', async () => {
    const peer = await listenConduit({ path: '/chat' });
    try {
      const logged = within(
        2000,
        'handshakeError',
        new Promise<{ status: number; url: string | undefined }>((resolve) =>
          peer.server.once('handshakeError', (error, req) => resolve({ status: error.status, url: req.url })),
        ),
      );
      await refusalOf(`${peer.url}/chat`, { protocolVersion: 8 });
      assert.deepEqual(await logged, { status: 426, url: '/chat' });
    } finally {
      await peer.close();
    }
  });
});

describe('server modes with ws clients', { timeout: 10_000 }, () => {
  it('shares one http server between two paths and leaves plain requests to the app', async () => {
    const http = createServer((_req, res) => res.end('plain http'));
    const chat = new WebSocketServer({ server: http, path: '/chat' });
    const news = new WebSocketServer({ server: http, path: '/news' });
    chat.on('connection', (conn) => conn.send('chat'));
    news.on('connection', (conn) => conn.send('news'));
    const port = await listenHttp(http);
    try {
      const a = new WebSocket(`ws://127.0.0.1:${port}/chat`);
      const b = new WebSocket(`ws://127.0.0.1:${port}/news`);
      const [ma, mb] = await Promise.all([nextWsMessage(a), nextWsMessage(b)]);
      assert.equal(ma.data.toString(), 'chat');
      assert.equal(mb.data.toString(), 'news');
      assert.equal((await refusalOf(`ws://127.0.0.1:${port}/sports`)).status, 404);
      const plain = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(await plain.text(), 'plain http');
      const closes = Promise.all([closeOfWs(a), closeOfWs(b)]);
      await Promise.all([chat.close(), news.close()]);
      assert.deepEqual(
        (await closes).map((c) => c.code),
        [1001, 1001],
      );
    } finally {
      await closeHttp(http);
    }
  });

  it('completes upgrades the application hands over with handleUpgrade in noServer mode', async () => {
    const wss = new WebSocketServer({ noServer: true });
    const http = createServer();
    http.on('upgrade', (req, socket, head) => {
      if (req.headers['x-let-in'] !== 'yes') {
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (conn, request) => {
        echo(conn);
        wss.emit('connection', conn, request);
      });
    });
    const port = await listenHttp(http);
    try {
      const ws = await openWs(`ws://127.0.0.1:${port}/anything`, undefined, {
        headers: { 'X-Let-In': 'yes' },
      });
      const reply = nextWsMessage(ws);
      ws.send('through handleUpgrade');
      assert.equal((await reply).data.toString(), 'through handleUpgrade');
      assert.equal(wss.clients.size, 1);
      assert.equal((await refusalOf(`ws://127.0.0.1:${port}/anything`)).status, 403);
      const closed = closeOfWs(ws);
      await within(5000, 'the noServer server to close', wss.close());
      assert.equal((await closed).code, 1001);
    } finally {
      await closeHttp(http);
    }
  });

  it('answers a plain GET to a standalone server with 426 Upgrade Required', async () => {
    const peer = await listenConduit();
    try {
      const res = await fetch(`http://127.0.0.1:${peer.port}/`);
      assert.equal(res.status, 426);
      assert.equal(res.headers.get('upgrade'), 'websocket');
      await res.text();
    } finally {
      await peer.close();
    }
  });
});

describe('shutting down while a handshake is in flight', { timeout: 15_000 }, () => {
  it('refuses or closes a client still in authenticate when close() is called, and close() resolves', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let asked = false;
    const peer = await listenConduit({
      authenticate: async () => {
        asked = true;
        await gate;
        return true;
      },
    });
    const ws = new WebSocket(`${peer.url}/`);
    ws.on('error', () => {});
    let refusedWith = 0;
    ws.on('unexpected-response', (_req, res) => {
      refusedWith = res.statusCode ?? 0;
      res.resume();
      ws.terminate();
    });
    const clientClosed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    let closing: Promise<void> = Promise.resolve();
    try {
      await within(
        3000,
        'the request to reach authenticate',
        (async () => {
          while (!asked) await delay(5);
        })(),
      );
      closing = peer.server.close();
      release();
      await within(1500, "the server's close() to resolve", closing);
      const code = await within(3000, 'the client to be refused or closed', clientClosed);
      assert.ok(
        refusedWith === 503 || code === 1001,
        `expected a 503 refusal or a 1001 close, got status ${refusedWith} and close code ${code}`,
      );
      assert.equal(peer.server.clients.size, 0);
    } finally {
      ws.terminate();
      await within(5000, 'the server to finish closing', closing).catch(() => {});
    }
  });
});

describe('malformed and stalled handshakes', { timeout: 15_000 }, () => {
  it('answers 426 with Sec-WebSocket-Version: 13 to a version 8 client', async () => {
    const peer = await listenConduit();
    try {
      const refusal = await refusalOf(`${peer.url}/`, { protocolVersion: 8 });
      assert.equal(refusal.status, 426);
      assert.equal(refusal.headers['sec-websocket-version'], '13');
      const raw = await rawExchange(peer.port, upgradeHead('/', { 'Sec-WebSocket-Version': '8' }), 3000);
      assert.equal(statusOf(raw.response), 426);
      assert.equal(headerOf(raw.response, 'Sec-WebSocket-Version'), '13');
    } finally {
      await peer.close();
    }
  });

  it('answers 400 and closes the socket when Sec-WebSocket-Key is missing or malformed', async () => {
    const peer = await listenConduit();
    try {
      const missing = await rawExchange(peer.port, upgradeHead('/', {}, ['Sec-WebSocket-Key']), 3000);
      assert.equal(statusOf(missing.response), 400);
      const short = await rawExchange(peer.port, upgradeHead('/', { 'Sec-WebSocket-Key': 'c2hvcnQ=' }), 3000);
      assert.equal(statusOf(short.response), 400);
    } finally {
      await peer.close();
    }
  });

  it('answers 400 to malformed subprotocol and extension headers, and 405 to a POST upgrade', async () => {
    const peer = await listenConduit();
    try {
      const twice = await rawExchange(
        peer.port,
        upgradeHead('/', { 'Sec-WebSocket-Protocol': 'chat, chat' }),
        3000,
      );
      assert.equal(statusOf(twice.response), 400);
      const badExtension = await rawExchange(
        peer.port,
        upgradeHead('/', { 'Sec-WebSocket-Extensions': 'permessage-deflate; =' }),
        3000,
      );
      assert.equal(statusOf(badExtension.response), 400);
      const post = await rawExchange(peer.port, upgradeHead('/').replace(/^GET/, 'POST'), 3000);
      assert.equal(statusOf(post.response), 405);
    } finally {
      await peer.close();
    }
  });

  it('answers 431 to a request whose headers are too large, and closes the socket', async () => {
    const peer = await listenConduit();
    try {
      const refusal = await refusalOf(`${peer.url}/`, { headers: { 'X-Padding': 'p'.repeat(32 * 1024) } });
      assert.equal(refusal.status, 431);
      const raw = await rawExchange(
        peer.port,
        upgradeHead('/', { 'X-Padding': 'p'.repeat(32 * 1024) }),
        3000,
      );
      assert.equal(statusOf(raw.response), 431);
    } finally {
      await peer.close();
    }
  });

  it('drops a client that sends half a request head and stalls, at the handshake timeout', async () => {
    const peer = await listenConduit({ handshakeTimeout: 400 });
    try {
      const half = upgradeHead('/').slice(0, 60); // stops in the middle of the head
      const raw = await rawExchange(peer.port, half, 4000);
      assert.ok(raw.closedAfter >= 300, `closed too early: ${raw.closedAfter} ms`);
      assert.ok(raw.closedAfter < 3000, `closed too late: ${raw.closedAfter} ms`);
      // Node's http server answers 408 when it can; the point is that the socket goes away.
      if (raw.response !== '') assert.equal(statusOf(raw.response), 408);
    } finally {
      await peer.close();
    }
  });

  it('accepts a well-formed handshake over raw TCP with the RFC 6455 sample accept value', async () => {
    const peer = await listenConduit();
    try {
      const head = await rawResponseHead(peer.port, upgradeHead('/'), 3000);
      assert.equal(statusOf(head), 101);
      assert.equal(headerOf(head, 'Upgrade')?.toLowerCase(), 'websocket');
      // Section 1.3's example: key "dGhlIHNhbXBsZSBub25jZQ==" gives this accept value.
      assert.equal(headerOf(head, 'Sec-WebSocket-Accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    } finally {
      await peer.close();
    }
  });
});

describe('heartbeats with ws clients', { timeout: 10_000 }, () => {
  it('terminates a client that does not answer pings, and keeps one that does', async () => {
    const peer = await listenConduit({ heartbeatInterval: 100 });
    try {
      const lively = await openWs(`${peer.url}/`);
      const silent = await openWs(`${peer.url}/`, undefined, { autoPong: false });
      let livelyPings = 0;
      lively.on('ping', () => livelyPings++);
      const silentClosed = closeOfWs(silent, 3000);
      assert.equal((await silentClosed).code, 1006);
      assert.equal(lively.readyState, WebSocket.OPEN);
      assert.ok(livelyPings >= 1, 'the lively client saw no ping');
      lively.close(1000);
      await closeOfWs(lively);
    } finally {
      await peer.close();
    }
  });
});

describe('backpressure between a Conduit server and a paused ws client', { timeout: 20_000 }, () => {
  it('grows bufferedAmount, stops reading, and emits drain once the client resumes', async () => {
    const highWaterMark = 1024 * 1024;
    const peer = await listenConduit({ highWaterMark }, () => {});
    const ws = await openWs(`${peer.url}/`);
    try {
      const { conn, req } = await peer.nextConnection();
      let clientReceived = 0;
      ws.on('message', () => clientReceived++);
      ws.pause();

      const chunk = patternBytes(64 * 1024, 21);
      let sent = 0;
      let callbacks = 0;
      while (conn.bufferedAmount <= 2 * highWaterMark && sent < 2048) {
        conn.send(chunk, () => callbacks++);
        sent++;
      }
      assert.ok(conn.bufferedAmount > highWaterMark, `bufferedAmount stayed at ${conn.bufferedAmount}`);
      assert.ok(sent < 2048, 'the paused client absorbed 128 MiB: no backpressure observed');

      // Over the high-water mark the server stops reading: a message from the client waits. The
      // backlog is judged on the next tick (after Node's own after-write tick), before any more I/O.
      await new Promise<void>((resolve) => process.nextTick(resolve));
      assert.equal(req.socket.isPaused(), true, 'the server still reads from the socket');
      let drained = false;
      conn.once('drain', () => {
        drained = true;
      });
      const fromClient = nextConduitMessage(conn, 10_000);
      ws.send('while you were busy');
      await delay(200);
      assert.equal(drained, false);
      assert.equal(clientReceived, 0);
      let serverGotMessageEarly = false;
      void fromClient.then(() => {
        serverGotMessageEarly = !drained;
      });

      ws.resume();
      await within(10_000, "the server's drain event", once(conn, 'drain'));
      const message = await fromClient;
      assert.equal(message.data.toString(), 'while you were busy');
      assert.equal(serverGotMessageEarly, false, 'the server read a message while over the high-water mark');
      await within(
        10_000,
        'every message to reach the client',
        (async () => {
          while (clientReceived < sent) await delay(10);
        })(),
      );
      assert.equal(clientReceived, sent);
      assert.equal(conn.bufferedAmount, 0);
      await delay(10);
      assert.equal(callbacks, sent);
      const closed = closeOfConduit(conn);
      ws.close(1000);
      assert.equal((await closed).code, 1000);
    } finally {
      ws.terminate();
      await peer.close();
    }
  });

  it('emits drain only after the outbound buffer went over the high-water mark', async () => {
    // The documented contract of the 'drain' event (WebSocketConnectionEvents): "The outbound buffer
    // went over the high-water mark and has now drained." 300 kB to a reading client stay far below
    // the 1 MiB high-water mark, so no 'drain' is due.
    const peer = await listenConduit({ highWaterMark: 1024 * 1024 }, () => {});
    const ws = await openWs(`${peer.url}/`);
    try {
      const { conn } = await peer.nextConnection();
      let drains = 0;
      conn.on('drain', () => drains++);
      let received = 0;
      ws.on('message', () => received++);
      conn.send(Buffer.alloc(100_000));
      conn.send(Buffer.alloc(200_000));
      await within(
        5000,
        'both messages',
        (async () => {
          while (received < 2) await delay(5);
        })(),
      );
      await delay(50);
      assert.equal(drains, 0, `'drain' fired ${drains} time(s) below the high-water mark`);
    } finally {
      ws.terminate();
      await peer.close();
    }
  });
});
