/**
 * Request-smuggling shapes against `conduit serve` with its default flags (issue 14: "a duplicate Host
 * header is accepted"): framings that disagree (Content-Length with Transfer-Encoding, two lengths),
 * obsolete line folding, bare LF, Transfer-Encoding with junk, two Host fields, and WebSocket upgrades
 * that carry a body or no Host. Each gets 400 and its connection closed, and the request hidden behind
 * it is never answered (one response on the connection, nothing published). A legitimate client gets
 * its /echo echo and its /healthz 200 within a second meanwhile.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertServedWithinASecond,
  exchange,
  responsesIn,
  type ServeProcess,
  startServe,
  statusOf,
} from '../support/http-attack.js';

const UPGRADE =
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

/** The request a front end would see as the next one, if it framed the body differently than we do. */
const HIDDEN = 'POST /publish?channel=smuggled HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nHIDDEN';

/** Shapes Node's own parser refuses (checked: Node 20 answers each 400 and closes). */
const PARSER_SHAPES: Record<string, string> = {
  'CL.TE': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'TE.CL': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n${HIDDEN}`,
  'two Content-Lengths that differ': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 6\r\n\r\n${HIDDEN}`,
  'a Content-Length list': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nContent-Length: 0, 6\r\n\r\n${HIDDEN}`,
  'a signed Content-Length': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nContent-Length: +0\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding folded onto the next line': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'a folded header': `GET /healthz HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n${HIDDEN}`,
  'bare LF line ends': `GET /healthz HTTP/1.1\nHost: h\n\n${HIDDEN}`,
  'a bare LF inside the head': `GET /healthz HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding: chunked, junk': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, junk\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding: xchunked': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding twice': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'a space before the colon': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'a chunk size that is not hex': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${HIDDEN}`,
  'no Host': `GET /healthz HTTP/1.1\r\n\r\n${HIDDEN}`,
  'CL.TE on a WebSocket upgrade': `GET /echo HTTP/1.1\r\nHost: h\r\n${UPGRADE}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
};

/** Shapes Node's parser lets through, refused by conduit (fieldLinesError). */
const CONDUIT_SHAPES: Record<string, string> = {
  'two Host fields': `GET /healthz HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n${HIDDEN}`,
  'two Host fields on a POST': `POST /publish?channel=a HTTP/1.1\r\nHost: a\r\nhost: b\r\nContent-Length: 1\r\n\r\nx${HIDDEN}`,
  'two Host fields on a WebSocket upgrade': `GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n${UPGRADE}\r\n`,
  'no Host on a WebSocket upgrade': `GET /echo HTTP/1.1\r\n${UPGRADE}\r\n`,
  'a WebSocket upgrade with a Content-Length body': `GET /echo HTTP/1.1\r\nHost: h\r\n${UPGRADE}Content-Length: ${HIDDEN.length}\r\n\r\n${HIDDEN}`,
  'a WebSocket upgrade with a chunked body': `GET /echo HTTP/1.1\r\nHost: h\r\n${UPGRADE}Transfer-Encoding: chunked\r\n\r\n${HIDDEN.length.toString(16)}\r\n${HIDDEN}\r\n0\r\n\r\n`,
  'two Host fields on the hub': `GET /ws HTTP/1.1\r\nHost: a\r\nHost: b\r\n${UPGRADE}Sec-WebSocket-Protocol: conduit.v1\r\n\r\n`,
};

/** What GET /sse?channel= sends in its first 300 ms from Last-Event-ID 0. */
async function replayOf(url: string, channel: string): Promise<string> {
  const controller = new AbortController();
  const response = await fetch(`${url}/sse?channel=${channel}`, {
    headers: { 'last-event-id': '0' },
    signal: controller.signal,
  });
  let text = '';
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })().catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  controller.abort();
  await reading;
  return text;
}

describe('attack: request smuggling shapes on conduit serve (default flags)', { timeout: 60_000 }, () => {
  let server: ServeProcess;

  before(async () => {
    server = await startServe();
  });

  after(async () => {
    await server?.stop();
  });

  for (const [group, shapes] of [
    ['refused by Node', PARSER_SHAPES],
    ['refused by conduit', CONDUIT_SHAPES],
  ] as const) {
    it(`answers 400 and closes at once, answering nothing hidden behind (${group})`, async () => {
      const results = await Promise.all(
        Object.entries(shapes).map(async ([what, bytes]) => {
          const r = await exchange(server.port, (s) => void s.write(bytes, 'latin1'), 2000);
          return { what, ...r };
        }),
      );
      for (const { what, response, closed, elapsed } of results) {
        assert.equal(statusOf(response), 400, `${what}: ${JSON.stringify(response.slice(0, 120))}`);
        assert.equal(responsesIn(response), 1, `${what}: the hidden request was answered`);
        assert.ok(closed && elapsed < 1500, `${what}: closed after ${elapsed.toFixed(0)} ms`);
      }
    });
  }

  it('serves nothing pipelined behind a 413 (the body framed, the answer closing the connection)', async () => {
    const big = 'a'.repeat(1024 * 1024 + 1);
    const shapes = {
      'a declared body over 1 MiB': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nContent-Length: ${big.length}\r\n\r\n${big}${HIDDEN}`,
      'a chunked body over 1 MiB': `POST /publish?channel=a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n${HIDDEN}`,
    };
    for (const [what, bytes] of Object.entries(shapes)) {
      const r = await exchange(server.port, (s) => void s.write(bytes, 'latin1'), 3000);
      // The client writes on after the answer: it may read the reset before the 413 (no lingering close).
      if (r.response !== '') assert.equal(statusOf(r.response), 413, what);
      assert.ok(responsesIn(r.response) <= 1 && r.closed, what);
    }
    // Pipelining itself still works: two requests, two answers.
    const two = await exchange(
      server.port,
      (s) =>
        void s.write(
          'GET /healthz HTTP/1.1\r\nHost: h\r\n\r\nGET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
        ),
      2000,
    );
    assert.equal(responsesIn(two.response), 2);
  });

  it('published nothing the shapes hid, and served a legitimate client meanwhile', async () => {
    // Round after round of every shape at once, for as long as the legitimate client takes.
    let attacking = true;
    let rounds = 0;
    const flood = (async () => {
      while (attacking || rounds < 3) {
        await Promise.all(
          Object.values({ ...PARSER_SHAPES, ...CONDUIT_SHAPES }).map((bytes) =>
            exchange(server.port, (s) => void s.write(bytes, 'latin1'), 2000),
          ),
        );
        rounds++;
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    try {
      await assertServedWithinASecond(server.url, 'the smuggling attempts');
    } finally {
      attacking = false;
      await flood;
    }
    // A channel replays its events to a subscriber from Last-Event-ID 0: `smuggled` has none, while a
    // channel published to the plain way shows what a smuggled publish would have left.
    await fetch(`${server.url}/publish?channel=control`, { method: 'POST', body: 'VISIBLE' });
    assert.match(await replayOf(server.url, 'control'), /data: VISIBLE/);
    const text = await replayOf(server.url, 'smuggled');
    assert.doesNotMatch(text, /HIDDEN/);
  });
});
