/**
 * readTextBody's bounds on real sockets: a declared length over the limit is refused before any of the
 * body is read, a chunked body as it passes the limit, a slow body at its deadline; each with the
 * connection closed (HTTP/1.1) or the stream reset (HTTP/2), and nothing lost for a body that fits.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, connect as http2Connect } from 'node:http2';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type HttpRequest, type HttpResponse, readTextBody, replyJson } from '../../src/server/http-body.js';

const LIMIT = 1024;
const DEADLINE = 300;

function handler(req: HttpRequest, res: HttpResponse): void {
  void readTextBody(req, res, LIMIT, {}, DEADLINE).then((text) => {
    if (text !== null) replyJson(res, 200, { length: text.length });
  });
}

/** What the server sent until it closed the connection (or `ms` passed: then `closed` is false). */
async function exchange(
  port: number,
  steps: (socket: Socket) => Promise<void>,
  ms = 3000,
): Promise<{ response: string; closed: boolean; elapsed: number }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const started = Date.now();
  let response = '';
  socket.on('data', (chunk: Buffer) => {
    response += chunk.toString('latin1');
  });
  const closed = once(socket, 'close').then(() => true);
  const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms));
  await steps(socket);
  const result = await Promise.race([closed, timeout]);
  socket.destroy();
  return { response, closed: result, elapsed: Date.now() - started };
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('readTextBody over HTTP/1.1', () => {
  let server: Server;
  let port = 0;
  let bytesRead = 0;

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      req.socket.once('close', () => {
        bytesRead = req.socket.bytesRead;
      });
      handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('reads a body that fits and keeps the connection', async () => {
    const body = 'h\u00e9llo'.repeat(100);
    const { response, closed } = await exchange(
      port,
      async (s) => {
        s.write(
          `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
          'utf8',
        );
      },
      300,
    );
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.match(response, /\{"length":500\}/);
    assert.equal(closed, false);
  });

  it('answers a Content-Length over the limit with 413 at once, reads none of it, and closes', async () => {
    const { response, closed, elapsed } = await exchange(port, async (s) => {
      s.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`);
    });
    assert.match(response, /^HTTP\/1\.1 413 /);
    assert.match(response, /\r\nconnection: close\r\n/i);
    assert.ok(closed, 'the connection is closed');
    assert.ok(elapsed < 1000, `answered in ${elapsed} ms`);
    await delay(20);
    assert.ok(bytesRead < 200, `the server read ${bytesRead} bytes: the head only`);
  });

  it('answers a chunked body 413 as soon as it passes the limit, and closes', async () => {
    const chunk = `200\r\n${'a'.repeat(0x200)}\r\n`;
    const { response, closed } = await exchange(port, async (s) => {
      s.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
      // 3 x 512 bytes: over 1024 at the third; the connection is closed before a fourth matters.
      for (let i = 0; i < 3; i++) {
        s.write(chunk);
        await delay(30);
      }
    });
    assert.match(response, /^HTTP\/1\.1 413 /);
    assert.ok(closed);
  });

  it('answers 408 to a body that has not all arrived by the deadline, and closes', async () => {
    const { response, closed, elapsed } = await exchange(port, async (s) => {
      s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    });
    assert.match(response, /^HTTP\/1\.1 408 /);
    assert.match(response, /\r\nconnection: close\r\n/i);
    assert.ok(closed);
    assert.ok(elapsed >= DEADLINE - 20 && elapsed < DEADLINE + 700, `closed after ${elapsed} ms`);
  });

  it('answers 400 to a body that is not UTF-8, having read it all', async () => {
    const { response } = await exchange(
      port,
      async (s) => {
        s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n\xff\xfe', 'latin1');
      },
      300,
    );
    assert.match(response, /^HTTP\/1\.1 400 /);
  });
});

describe('readTextBody over HTTP/2', () => {
  let server: Http2Server;
  let url = '';

  before(async () => {
    server = createHttp2Server(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.close();
  });

  /** POST on a stream of a fresh session: the status, and whether the stream ended before `end`. */
  async function post(length: number | undefined, body: Buffer, end: boolean) {
    const session = http2Connect(url);
    session.on('error', () => undefined);
    try {
      const headers: Record<string, string | number> = { ':method': 'POST', ':path': '/' };
      if (length !== undefined) headers['content-length'] = length;
      const stream = session.request(headers);
      stream.on('error', () => undefined);
      stream.write(body);
      if (end) stream.end();
      const [response] = (await once(stream, 'response')) as [Record<string, string | number>];
      stream.resume();
      await once(stream, 'close');
      return { status: response[':status'], rstCode: stream.rstCode };
    } finally {
      session.close();
    }
  }

  it('reads a body that fits', async () => {
    assert.equal((await post(5, Buffer.from('hello'), true)).status, 200);
  });

  it('answers a declared length over the limit 413 and resets the stream, not the session', async () => {
    const { status, rstCode } = await post(LIMIT * 100, Buffer.alloc(10), false);
    assert.equal(status, 413);
    assert.equal(rstCode, 0);
  });

  it('answers 413 as an undeclared body passes the limit', async () => {
    assert.equal((await post(undefined, Buffer.alloc(LIMIT + 1), false)).status, 413);
  });

  it('answers 408 to a body that stalls', async () => {
    const started = Date.now();
    assert.equal((await post(10, Buffer.from('abc'), false)).status, 408);
    assert.ok(Date.now() - started < DEADLINE + 700);
  });
});
