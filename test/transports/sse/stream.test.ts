import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server, connect as h2connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { connect as netConnect } from 'node:net';
import { describe, it } from 'node:test';
import { EventStreamParser, type SseItem } from '../../../src/protocol/sse/parser.js';
import { SseStream, type SseStreamOptions } from '../../../src/transports/sse/stream.js';

type Handler = (stream: SseStream, req: IncomingMessage) => void;

async function withServer(
  options: SseStreamOptions,
  handler: Handler,
  use: (port: number, streams: SseStream[]) => Promise<void>,
): Promise<void> {
  const streams: SseStream[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const stream = new SseStream(req, res, options);
    streams.push(stream);
    handler(stream, req);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    await use((server.address() as AddressInfo).port, streams);
  } finally {
    for (const s of streams) s.close();
    server.closeAllConnections();
    server.close();
  }
}

/** Read an event stream with fetch until `until` says enough; returns the head and the items. */
async function read(
  url: string,
  until: (items: SseItem[]) => boolean,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; items: SseItem[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  try {
    const response = await fetch(url, { headers, signal: controller.signal });
    const parser = new EventStreamParser({ comments: true });
    const items: SseItem[] = [];
    const reader = response.body!.getReader();
    while (!until(items)) {
      const { value, done } = await reader.read();
      if (done) break;
      items.push(...parser.feed(value));
    }
    controller.abort();
    return { status: response.status, headers: response.headers, items };
  } finally {
    clearTimeout(timer);
  }
}

const events = (items: SseItem[]) => items.filter((i) => i.kind === 'event');

describe('SseStream over HTTP/1.1', () => {
  it('sends the event-stream headers, the retry hint, then events an EventSource parser reads', async () => {
    await withServer(
      { retryMs: 2500, allowOrigin: '*' },
      (stream) => {
        stream.send({ event: 'tick', id: '1', data: 'first\nline two' });
        stream.send({ data: '{"price":101.25}', id: '2' });
      },
      async (port) => {
        const r = await read(`http://127.0.0.1:${port}/sse`, (items) => events(items).length >= 2);
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
        assert.equal(r.headers.get('cache-control'), 'no-cache');
        assert.equal(r.headers.get('x-accel-buffering'), 'no');
        assert.equal(r.headers.get('access-control-allow-origin'), '*');
        assert.deepEqual(r.items, [
          { kind: 'retry', ms: 2500 },
          { kind: 'event', type: 'tick', data: 'first\nline two', lastEventId: '1' },
          { kind: 'event', type: 'message', data: '{"price":101.25}', lastEventId: '2' },
        ]);
      },
    );
  });

  it('keeps an idle stream alive with comments at the configured interval', async () => {
    await withServer(
      { keepAliveMs: 50 },
      () => {},
      async (port) => {
        const started = Date.now();
        const r = await read(
          `http://127.0.0.1:${port}/sse`,
          (items) => items.filter((i) => i.kind === 'comment').length >= 4,
        );
        // The opening comment, then one per interval.
        assert.ok(Date.now() - started >= 140, `four comments took ${Date.now() - started} ms`);
        assert.equal(events(r.items).length, 0);
      },
    );
  });

  it('reads the last event id from the Last-Event-ID header or the lastEventId query parameter', async () => {
    await withServer(
      {},
      (stream) => stream.send({ data: String(stream.lastEventId) }),
      async (port) => {
        const base = `http://127.0.0.1:${port}/sse`;
        const one = (items: SseItem[]) => events(items).length >= 1;
        const data = async (url: string, headers?: Record<string, string>) =>
          (events((await read(url, one, headers)).items)[0] as { data: string }).data;
        assert.equal(await data(base, { 'Last-Event-ID': '41' }), '41');
        assert.equal(await data(`${base}?channel=a&lastEventId=17`), '17');
        assert.equal(await data(base), 'null');
      },
    );
  });

  it('notices the client leaving: close is emitted and sends return false', async () => {
    await withServer(
      {},
      () => {},
      async (port, streams) => {
        await read(`http://127.0.0.1:${port}/sse`, (items) => items.length >= 1);
        await waitFor(() => streams[0]?.closed === true);
        assert.equal(streams[0]!.send({ data: 'late' }), false);
      },
    );
  });

  for (const policy of ['close', 'drop'] as const) {
    it(`applies the '${policy}' policy to a client that stops reading, its backlog bounded`, async () => {
      await withServer(
        { slowPolicy: policy, maxBufferedBytes: 256 * 1024, keepAliveMs: 0 },
        () => {},
        async (port, streams) => {
          // A raw client that sends its request and never reads again.
          const socket = netConnect(port, '127.0.0.1');
          socket.write(`GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
          socket.pause();
          await waitFor(() => streams.length === 1);
          const stream = streams[0]!;
          let slow = 0;
          stream.on('slow', () => slow++);
          const chunk = 'x'.repeat(16 * 1024);
          let sent = 0;
          for (let i = 0; i < 2000 && !stream.closed; i++) {
            if (stream.send({ data: chunk })) sent++;
            if (i % 50 === 49) await new Promise((r) => setImmediate(r));
          }
          assert.ok(slow > 0, 'the slow event fired');
          assert.ok(stream.bufferedAmount <= 256 * 1024 + 64 * 1024 || stream.closed, 'bounded');
          if (policy === 'close') {
            assert.equal(stream.closed, true);
          } else {
            assert.equal(stream.closed, false);
            assert.ok(stream.dropped > 0 && stream.dropped + sent === 2000, `${stream.dropped} dropped`);
          }
          socket.destroy();
        },
      );
    });
  }

  it('streams to curl -N as it is sent', async () => {
    await withServer(
      { keepAliveMs: 0 },
      (stream) => {
        stream.send({ id: '1', data: 'hello' });
        setTimeout(() => {
          stream.send({ id: '2', event: 'bye', data: 'later' });
          stream.close();
        }, 100);
      },
      async (port) => {
        const curl = spawn('curl', ['-sN', '--max-time', '5', `http://127.0.0.1:${port}/sse`]);
        let out = '';
        curl.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
        });
        const [code] = await once(curl, 'exit');
        assert.equal(code, 0);
        const parser = new EventStreamParser();
        assert.deepEqual(events(parser.feed(out)), [
          { kind: 'event', type: 'message', data: 'hello', lastEventId: '1' },
          { kind: 'event', type: 'bye', data: 'later', lastEventId: '2' },
        ]);
      },
    );
  });
});

describe('SseStream over HTTP/2 (compatibility API, cleartext)', () => {
  it('sends no Connection header and streams events on an HTTP/2 stream', async () => {
    const server: Http2Server = createH2Server((req, res) => {
      const stream = new SseStream(req, res, { keepAliveMs: 0 });
      stream.send({ id: '7', data: 'over h2' });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = h2connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const req = client.request({ ':path': '/sse' });
      const [headers] = (await once(req, 'response')) as [Record<string, string | number>];
      assert.equal(headers[':status'], 200);
      assert.equal(headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(headers.connection, undefined);
      const parser = new EventStreamParser();
      const got: SseItem[] = [];
      for await (const chunk of req) {
        got.push(...parser.feed(chunk as Buffer));
        if (events(got).length >= 1) break;
      }
      assert.deepEqual(events(got), [{ kind: 'event', type: 'message', data: 'over h2', lastEventId: '7' }]);
      req.close();
    } finally {
      client.close();
      server.close();
    }
  });
});

describe('SseStream on an HTTP/2 stream (core API)', () => {
  it('responds on the stream, reads Last-Event-ID from the request headers, and notices the client leaving', async () => {
    const server: Http2Server = createH2Server();
    let made: SseStream | null = null;
    server.on('stream', (stream, headers) => {
      made = SseStream.fromHttp2Stream(stream, headers, { keepAliveMs: 0 });
      made.send({ id: '8', data: `after ${made.lastEventId}` });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = h2connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const req = client.request({ ':path': '/sse', 'last-event-id': '7' });
      const [headers] = (await once(req, 'response')) as [Record<string, string | number>];
      assert.equal(headers[':status'], 200);
      assert.equal(headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(headers['cache-control'], 'no-cache');
      const parser = new EventStreamParser();
      const got: SseItem[] = [];
      for await (const chunk of req) {
        got.push(...parser.feed(chunk as Buffer));
        if (events(got).length >= 1) break;
      }
      assert.deepEqual(events(got), [{ kind: 'event', type: 'message', data: 'after 7', lastEventId: '8' }]);
      req.close();
      await waitFor(() => made?.closed === true);
    } finally {
      client.close();
      server.close();
    }
  });
});

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
