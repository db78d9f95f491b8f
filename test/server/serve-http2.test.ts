/**
 * `conduit serve` with TLS speaks HTTP/2 and HTTP/1.1 on one port (ALPN): SSE streams and publishes
 * share one HTTP/2 connection; nghttp (Debian's nghttp2-client) reads it as a real HTTP/2 peer.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { type ClientHttp2Session, type ClientHttp2Stream, connect } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { EventStreamParser, type SseEvent } from '../../src/protocol/sse/parser.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { channelSubscribers } from '../support/sse.js';
import { makeSelfSignedCertificate } from '../support/tls.js';

const run = promisify(execFile);
let cert: Buffer;
let server: RunningServer;

before(async () => {
  const certificate = makeSelfSignedCertificate();
  cert = certificate.cert;
  server = await startServer({ port: 0, tls: certificate, sse: { stream: { keepAliveMs: 0 } } });
});
after(() => server.close());

function request(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let status = 0;
    let responseHeaders: Record<string, unknown> = {};
    let text = '';
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    stream.setEncoding('utf8').on('data', (d: string) => {
      text += d;
    });
    stream.on('end', () => resolve({ status, headers: responseHeaders, text }));
    stream.on('error', reject);
    stream.end(body);
  });
}

/** An SSE stream on the session, collecting events. */
function sse(
  session: ClientHttp2Session,
  channel: string,
): { stream: ClientHttp2Stream; events: SseEvent[] } {
  const stream = session.request({ ':path': `/sse?channel=${channel}` });
  const parser = new EventStreamParser();
  const events: SseEvent[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const item of parser.feed(chunk)) if (item.kind === 'event') events.push(item);
  });
  return { stream, events };
}

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('conduit serve over HTTP/2 (TLS, ALPN h2 with HTTP/1.1 beside it)', () => {
  it('negotiates h2 and serves the demo page, /healthz and a 426 without Upgrade on /echo', async () => {
    const session = connect(server.url, { ca: cert });
    try {
      await once(session, 'connect');
      assert.equal(session.alpnProtocol, 'h2');
      const page = await request(session, { ':path': '/' });
      assert.equal(page.status, 200);
      assert.match(page.text, /<title>Conduit · live demo<\/title>/);
      assert.equal((await request(session, { ':path': '/healthz' })).text, 'ok\n');
      const echo = await request(session, { ':path': '/echo' });
      assert.equal(echo.status, 426);
      assert.equal(echo.headers.upgrade, undefined);
    } finally {
      session.close();
    }
  });

  it('carries 20 SSE streams and the publishes that feed them on one connection', async () => {
    const session = connect(server.url, { ca: cert });
    try {
      await once(session, 'connect');
      const streams = Array.from({ length: 20 }, () => sse(session, 'h2fan'));
      const subscribers = () => channelSubscribers(server, 'h2fan');
      await waitFor(() => subscribers() === 20);
      for (const text of ['one', 'two', 'three']) {
        const r = await request(session, { ':method': 'POST', ':path': '/publish?channel=h2fan' }, text);
        assert.equal(r.status, 202);
      }
      await waitFor(() => streams.every((s) => s.events.length === 3));
      for (const s of streams) {
        assert.deepEqual(
          s.events.map((e) => [e.lastEventId, e.data]),
          [
            ['1', 'one'],
            ['2', 'two'],
            ['3', 'three'],
          ],
        );
        s.stream.close(); // RST_STREAM from the client
      }
      // Every reset stream leaves its channel; the session lives on and still answers.
      await waitFor(() => subscribers() === 0);
      assert.equal((await request(session, { ':path': '/healthz' })).text, 'ok\n');
    } finally {
      session.close();
    }
  });

  it('answers nghttp (nghttp2-client) over HTTP/2, an SSE replay included', async () => {
    const health = await run('nghttp', [`${server.url}/healthz`], { timeout: 10_000 });
    assert.equal(health.stdout, 'ok\n');
    const session = connect(server.url, { ca: cert });
    try {
      for (const text of ['x', 'y']) {
        await request(session, { ':method': 'POST', ':path': '/publish?channel=ng' }, text);
      }
    } finally {
      session.close();
    }
    // The stream stays open: nghttp stops at its timeout, having printed what arrived.
    const replay = await run('nghttp', ['-t', '1', `${server.url}/sse?channel=ng&lastEventId=0`], {
      timeout: 10_000,
    }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
    const events = new EventStreamParser().feed(replay.stdout).filter((i) => i.kind === 'event');
    assert.deepEqual(
      events.map((e) => (e as SseEvent).data),
      ['x', 'y'],
    );
  });
});

describe('the Node EventSource over HTTP/2 (ALPN auto)', () => {
  it('speaks h2 to conduit serve, five EventSources sharing one connection, and resumes after the stream ends', async () => {
    const { EventSource } = await import('../../src/web/event-source.js');
    const tls = { ca: cert };
    const sources = Array.from(
      { length: 5 },
      () => new EventSource(`${server.url}/sse?channel=es-h2`, { tls }),
    );
    const got: string[][] = sources.map(() => []);
    sources.forEach((s, i) => {
      s.onmessage = (e) => got[i]!.push(`${e.lastEventId}:${e.data}`);
    });
    const tcp = new Set<string>();
    server.http.on('connection', (socket) => tcp.add(`${socket.remotePort}`));
    try {
      const subscribers = () => channelSubscribers(server, 'es-h2');
      await waitFor(() => subscribers() === 5);
      assert.equal(tcp.size, 1, 'one TCP connection for five EventSources');
      server.channels.publishTo('es-h2', 'a');
      await waitFor(() => got.every((g) => g.length === 1));
      server.channels.closeAll(); // every stream ends: each EventSource reconnects on HTTP/2
      server.channels.publishTo('es-h2', 'b');
      await waitFor(() => subscribers() === 5, 10_000);
      server.channels.publishTo('es-h2', 'c');
      await waitFor(() => got.every((g) => g.length === 3));
      for (const g of got) assert.deepEqual(g, ['1:a', '2:b', '3:c']);
    } finally {
      for (const s of sources) s.close();
    }
  });

  it('falls back to HTTP/1.1 when the server does not offer h2', async () => {
    const { EventSource } = await import('../../src/web/event-source.js');
    const { createServer } = await import('node:https');
    const certificate = makeSelfSignedCertificate();
    const versions: string[] = [];
    const h1 = createServer(certificate, (req, res) => {
      versions.push(req.httpVersion);
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end('id: 1\ndata: over h1\n\n');
    });
    h1.listen(0, '127.0.0.1');
    await once(h1, 'listening');
    const { port } = h1.address() as { port: number };
    const source = new EventSource(`https://127.0.0.1:${port}/`, { tls: { ca: certificate.cert } });
    try {
      const [event] = (await once(source, 'message')) as [MessageEvent];
      assert.equal(event.data, 'over h1');
      assert.deepEqual(versions, ['1.1']);
    } finally {
      source.close();
      h1.closeAllConnections();
      h1.close();
    }
  });
});

describe('the Node EventSource: an ALPN negotiation abandoned midway', () => {
  it('does not leave the EventSources waiting on it stuck', async () => {
    const { EventSource } = await import('../../src/web/event-source.js');
    const tls = { ca: cert };
    const first = new EventSource(`${server.url}/sse?channel=abandon`, { tls });
    const second = new EventSource(`${server.url}/sse?channel=abandon`, { tls });
    await new Promise((r) => queueMicrotask(() => r(undefined))); // both have started connecting
    first.close(); // the one negotiating gives up before the TLS handshake ends
    try {
      await once(second, 'open');
      assert.equal(second.readyState, EventSource.OPEN);
    } finally {
      second.close();
    }
  });
});

describe('RFC 8441: WebSockets over HTTP/2 on conduit serve', () => {
  async function h2Session(): Promise<ClientHttp2Session> {
    const session = connect(server.url, { ca: cert });
    const [settings] = (await once(session, 'remoteSettings')) as [{ enableConnectProtocol?: boolean }];
    assert.equal(settings.enableConnectProtocol, true, 'SETTINGS_ENABLE_CONNECT_PROTOCOL advertised');
    return session;
  }

  async function open(session: ClientHttp2Session, path: string, extra: Record<string, string> = {}) {
    const { WebSocketConnection } = await import('../../src/transports/ws/connection.js');
    const stream = session.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':path': path,
      'sec-websocket-version': '13',
      ...extra,
    });
    const [headers] = (await once(stream, 'response')) as [Record<string, string | number>];
    if (headers[':status'] !== 200) return { status: Number(headers[':status']), ws: null, headers };
    const ws = new WebSocketConnection(stream, {
      role: 'client',
      protocol: String(headers['sec-websocket-protocol'] ?? ''),
    });
    ws.start();
    return { status: 200, ws, headers };
  }

  it('echoes over several WebSockets sharing one HTTP/2 connection, the subprotocol negotiated', async () => {
    const session = await h2Session();
    try {
      const sockets = await Promise.all(
        [0, 1, 2].map(() => open(session, '/echo', { 'sec-websocket-protocol': 'chat, superchat' })),
      );
      for (const [i, { status, ws, headers }] of sockets.entries()) {
        assert.equal(status, 200);
        assert.equal(headers['sec-websocket-protocol'], 'chat');
        ws!.send(`hello ${i}`);
      }
      for (const [i, { ws }] of sockets.entries()) {
        const [data, isBinary] = (await once(ws!, 'message')) as [Buffer, boolean];
        assert.equal(isBinary, false);
        assert.equal(data.toString(), `hello ${i}`);
      }
      for (const { ws } of sockets) {
        ws!.close(1000, 'done');
        const [code] = (await once(ws!, 'close')) as [number];
        assert.equal(code, 1000);
      }
      // The session outlives its WebSockets.
      assert.equal((await request(session, { ':path': '/healthz' })).text, 'ok\n');
    } finally {
      session.close();
    }
  });

  it('refuses an unknown path with 404 and an unknown :protocol with 501, on the stream alone', async () => {
    const session = await h2Session();
    try {
      assert.equal((await open(session, '/nowhere')).status, 404);
      assert.equal((await open(session, '/echo', { ':protocol': 'webtransport' })).status, 501);
      assert.equal((await open(session, '/echo', { 'sec-websocket-version': '8' })).status, 400);
      const { status, ws } = await open(session, '/echo');
      assert.equal(status, 200);
      ws!.send('still fine');
      const [data] = (await once(ws!, 'message')) as [Buffer];
      assert.equal(data.toString(), 'still fine');
      ws!.terminate();
    } finally {
      session.close();
    }
  });
});

describe('RFC 8441: the Conduit client', () => {
  it('opens several WebSockets on one HTTP/2 connection (http2: true, then by itself), compressed', async () => {
    const { connect: wsConnect } = await import('../../src/index.js');
    const tls = { ca: cert };
    const tcp = new Set<string>();
    const onConnection = (socket: { remotePort?: number }) => tcp.add(String(socket.remotePort));
    server.http.on('connection', onConnection);
    const seen: string[] = [];
    const onWs = (_ws: unknown, req: { httpVersion: string }) => seen.push(req.httpVersion);
    server.echo.on('connection', onWs);
    try {
      const first = await wsConnect(`wss://127.0.0.1:${server.port}/echo`, {
        tls,
        http2: true,
        protocols: ['chat'],
        headers: { Connection: 'keep-alive', 'X-Trace': '1' },
      });
      // 'auto' (the default): an HTTP/2 connection to the origin is open, so these use it too.
      const more = await Promise.all(
        [0, 1, 2].map(() => wsConnect(`wss://127.0.0.1:${server.port}/echo`, { tls })),
      );
      const all = [first, ...more];
      assert.equal(first.protocol, 'chat');
      for (const ws of all) assert.match(ws.extensions, /permessage-deflate/);
      assert.deepEqual(seen, ['2.0', '2.0', '2.0', '2.0']);
      assert.equal(tcp.size, 1, 'four WebSockets, one TCP connection');
      const big = JSON.stringify({ rows: Array.from({ length: 200 }, (_, i) => ({ i, name: `row ${i}` })) });
      for (const [i, ws] of all.entries()) ws.send(i === 0 ? big : `hello ${i}`);
      for (const [i, ws] of all.entries()) {
        const [data] = (await once(ws, 'message')) as [Buffer];
        assert.equal(data.toString(), i === 0 ? big : `hello ${i}`);
      }
      for (const ws of all) {
        ws.close(1000);
        assert.equal(((await once(ws, 'close')) as [number])[0], 1000);
      }
    } finally {
      server.http.off('connection', onConnection);
      server.echo.off('connection', onWs);
    }
  });

  it('falls back to an HTTP/1.1 upgrade when the server does not advertise extended CONNECT', async () => {
    const { connect: wsConnect, WebSocketServer } = await import('../../src/index.js');
    const { createServer: createHttps } = await import('node:https');
    const certificate = makeSelfSignedCertificate();
    const https = createHttps(certificate);
    const wss = new WebSocketServer({ server: https, path: '/echo' });
    wss.on('connection', (ws) => ws.on('message', (d, b) => ws.send(b ? d : d.toString())));
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    const { port } = https.address() as { port: number };
    try {
      // An https server without HTTP/2: the client's HTTP/2 attempt gets no h2 session at all.
      const ws = await wsConnect(`wss://127.0.0.1:${port}/echo`, {
        tls: { ca: certificate.cert },
        http2: true,
      });
      ws.send('over HTTP/1.1');
      const [data] = (await once(ws, 'message')) as [Buffer];
      assert.equal(data.toString(), 'over HTTP/1.1');
      ws.close();
      await once(ws, 'close');
    } finally {
      await wss.close();
      https.closeAllConnections();
      https.close();
    }
  });
});

describe('the hub over HTTP/2: WebSocket by RFC 8441, SSE and POST as streams of one connection', () => {
  it('carries /ws by extended CONNECT (conduit.v1), and /hub/sse with POST /hub/send as streams of one connection', async () => {
    const { connect: wsConnect } = await import('../../src/index.js');
    const tcp = new Set<unknown>();
    const onConnection = (socket: unknown) => tcp.add(socket);
    const connects: string[] = [];
    const onStream = (_s: unknown, headers: Record<string, unknown>) => {
      if (headers[':method'] === 'CONNECT') connects.push(`${headers[':protocol']} ${headers[':path']}`);
    };
    server.http.on('connection', onConnection);
    server.http.on('stream', onStream);
    const session = connect(server.url, { ca: cert });
    try {
      const ws = await wsConnect(`wss://127.0.0.1:${server.port}/ws`, {
        tls: { ca: cert },
        http2: true,
        protocols: ['conduit.v1'],
      });
      const wsGot: { type: string; data?: string }[] = [];
      ws.on('message', (data) => wsGot.push(JSON.parse(String(data))));
      assert.equal(ws.protocol, 'conduit.v1');
      await waitFor(() => wsGot.some((m) => m.type === 'connected'));
      ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'h2.room' }));
      await waitFor(() => wsGot.some((m) => m.type === 'subscribed'));

      // SSE down and POST up, as two more streams of the same HTTP/2 connection.
      const down = session.request({ ':path': '/hub/sse' });
      const parser = new EventStreamParser();
      const sseGot: { type: string; session?: string; key?: string; id?: number }[] = [];
      down.on('data', (chunk: Buffer) => {
        for (const item of parser.feed(chunk)) if (item.kind === 'event') sseGot.push(JSON.parse(item.data));
      });
      await waitFor(() => sseGot.some((m) => m.type === 'connected'));
      const id = sseGot.find((m) => m.type === 'connected')!.key!;
      const publish = { type: 'publish', id: 7, channel: 'h2.room', data: 'over h2', cmid: 'h2-1' };
      const posted = await request(
        session,
        { ':method': 'POST', ':path': `/hub/send?session=${id}` },
        JSON.stringify(publish),
      );
      assert.equal(posted.status, 204);
      await waitFor(() => sseGot.some((m) => m.type === 'ack' && m.id === 7));
      await waitFor(() => wsGot.some((m) => m.type === 'message' && m.data === 'over h2'));
      assert.deepEqual(connects, ['websocket /ws']);
      assert.equal(
        tcp.size,
        2,
        'the WebSocket client pools its own connection; SSE and POST share the other',
      );
      down.close();
      ws.close(1000);
    } finally {
      session.close();
      server.http.off('connection', onConnection);
      server.http.off('stream', onStream);
    }
  });
});
