/**
 * Header and body floods against `conduit serve` with its default flags (issue 14: "a Content-Length
 * over the 1 MiB body limit gets no early 413"). Too many header fields or too many header bytes get
 * 431, a declared body over the limit 413 before any of it is read, an endless chunked body 413 as it
 * passes 1 MiB; every refusal closes its connection, the server's memory stays within what the limits
 * allow, and a legitimate client gets its /echo echo and its /healthz 200 within a second meanwhile.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type WebSocket from 'ws';
import {
  assertServedWithinASecond,
  type Exchange,
  exchange,
  hubSession,
  responsesIn,
  rssOf,
  type ServeProcess,
  startServe,
  statusOf,
} from '../support/http-attack.js';

const MiB = 1024 * 1024;
const UPGRADE =
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

/** Send `bytes` at once; the answer within 2 s. */
function sendAll(port: number, bytes: string): Promise<Exchange> {
  return exchange(port, (s) => void s.write(bytes, 'latin1'), 2000);
}

/**
 * A peer that keeps writing after the refusal may get the server's reset before it reads the answer
 * (no lingering close): what it did read is the refusal, and it is cut off at once.
 */
function assertCutOff(r: Exchange, status: number, what: string): void {
  if (r.response !== '') assert.equal(statusOf(r.response), status, what);
  assert.ok(r.closed && r.elapsed < 3000, `${what}: closed after ${r.elapsed.toFixed(0)} ms`);
}

function assertRefused(r: Exchange, status: number, what: string): void {
  assert.equal(statusOf(r.response), status, `${what}: ${JSON.stringify(r.response.slice(0, 100))}`);
  assert.equal(responsesIn(r.response), 1, `${what}: one response`);
  assert.ok(r.closed, `${what}: the connection is closed`);
}

/** Write `chunk` as fast as the socket takes it until it closes; the bytes written. */
async function flood(socket: Socket, chunk: Buffer, maxBytes: number): Promise<number> {
  let written = 0;
  while (!socket.destroyed && written < maxBytes) {
    written += chunk.length;
    if (!socket.write(chunk)) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
  }
  return written;
}

describe('attack: header and body floods on conduit serve (default flags)', { timeout: 60_000 }, () => {
  let server: ServeProcess;
  let hub: { session: string; ws: WebSocket };

  before(async () => {
    server = await startServe();
    hub = await hubSession(server.url);
  });

  after(async () => {
    hub?.ws.terminate();
    await server?.stop();
  });

  it('answers 431 to more than 100 header fields, on pages, POSTs and WebSocket upgrades', async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join('');
    const heads = {
      'GET / with 101 fields': `GET / HTTP/1.1\r\nHost: h\r\n${many(100)}\r\n`,
      'GET / with 2,500 tiny fields (under 16 KiB)': `GET / HTTP/1.1\r\nHost: h\r\n${'a:b\r\n'.repeat(2500)}\r\n`,
      'POST /publish with 150 fields': `POST /publish?channel=c HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n${many(150)}\r\nx`,
      'upgrade /echo with 150 fields': `GET /echo HTTP/1.1\r\nHost: h\r\n${UPGRADE}${many(150)}\r\n`,
    };
    for (const [what, head] of Object.entries(heads)) {
      assertRefused(await sendAll(server.port, head), 431, what);
    }
    // 100 fields is still fine.
    const fine = await exchange(
      server.port,
      (s) => void s.write(`GET /healthz HTTP/1.1\r\nHost: h\r\n${many(99)}\r\n`),
      300,
    );
    assert.equal(statusOf(fine.response), 200);
  });

  it('answers 431 to a head over 16 KiB: one huge value, a huge URL, or a head that never ends', async () => {
    const huge = 'a'.repeat(20 * 1024);
    assertRefused(
      await sendAll(server.port, `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${huge}\r\n\r\n`),
      431,
      'value',
    );
    assertRefused(await sendAll(server.port, `GET /${huge} HTTP/1.1\r\nHost: h\r\n\r\n`), 431, 'URL');
    assertRefused(
      await sendAll(server.port, `GET /echo HTTP/1.1\r\nHost: h\r\n${UPGRADE}X-Big: ${huge}\r\n\r\n`),
      431,
      'upgrade value',
    );
    // Header bytes as fast as they go: refused after 16 KiB; the server reads no further.
    let written = 0;
    const endless = await exchange(
      server.port,
      async (s) => {
        s.write('GET / HTTP/1.1\r\nHost: h\r\n');
        written = await flood(s, Buffer.from('X-Flood: aaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(512)), 256 * MiB);
      },
      5000,
    );
    assertCutOff(endless, 431, 'endless head');
    assert.ok(written < 32 * MiB, `${(written / MiB).toFixed(1)} MiB went out before the close`);
  });

  it('answers a Content-Length over 1 MiB with 413 before any of the body is sent, and closes', async () => {
    const declared = 1024 * MiB;
    for (const path of ['/publish?channel=flood', `/hub/send?session=${hub.session}`]) {
      const r = await sendAll(
        server.port,
        `POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Length: ${declared}\r\n\r\n`,
      );
      assertRefused(r, 413, path);
      assert.match(r.response, /\r\nconnection: close\r\n/i);
      assert.ok(
        r.answeredAfter !== null && r.answeredAfter < 1000,
        `${path}: answered after ${r.answeredAfter} ms`,
      );
    }
    // One byte over is over; the limit itself is fine.
    const over = await sendAll(
      server.port,
      `POST /publish?channel=f HTTP/1.1\r\nHost: h\r\nContent-Length: ${MiB + 1}\r\n\r\n`,
    );
    assertRefused(over, 413, 'limit + 1');
  });

  it('answers an endless chunked body 413 as it passes 1 MiB, and closes', async () => {
    let written = 0;
    const chunk = Buffer.from(`4000\r\n${'a'.repeat(0x4000)}\r\n`);
    const r = await exchange(
      server.port,
      async (s) => {
        s.write('POST /publish?channel=flood HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n');
        written = await flood(s, chunk, 512 * MiB);
      },
      5000,
    );
    assertCutOff(r, 413, 'endless chunked body');
    // 1 MiB read, plus what the kernels' socket buffers took before the close.
    assert.ok(written < 32 * MiB, `${(written / MiB).toFixed(1)} MiB went out before the close`);
  });

  it('holds at most the limit per flooding connection, and serves a legitimate client meanwhile', async () => {
    const rssBefore = rssOf(server.pid);
    const chunk = Buffer.from(`10000\r\n${'b'.repeat(0x10000)}\r\n`);
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(server.pid));
    }, 20);
    const floods = Array.from({ length: 30 }, () =>
      exchange(
        server.port,
        async (s) => {
          s.write('POST /publish?channel=flood HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n');
          await flood(s, chunk, 64 * MiB);
        },
        10_000,
      ),
    );
    await assertServedWithinASecond(server.url, 'the body floods');
    const results = await Promise.all(floods);
    clearInterval(sampler);
    for (const r of results) assertCutOff(r, 413, 'flood');
    // 30 connections x 1 MiB of body each at most, plus the process's own churn.
    const grown = peak - rssBefore;
    assert.ok(grown < 30 * MiB + 64 * MiB, `the server grew by ${(grown / MiB).toFixed(1)} MiB`);
    await assertServedWithinASecond(server.url, 'the aftermath of the body floods');
  });
});
