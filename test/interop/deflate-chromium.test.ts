/**
 * Interop: permessage-deflate with headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core; never a downloaded browser). The page's own WebSocket talks to a Conduit server
 * with perMessageDeflate in each memory mode, through a frame tap that reads what crossed the wire:
 * the browser's `ws.extensions` must name permessage-deflate, large compressible text and binary
 * must echo intact both ways, and the frames must carry RSV1.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type WebSocketConnection, WebSocketServer } from '../../src/index.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from '../support/chromium.js';
import { dataFrames, headerIn, listenTap } from '../support/interop/frame-tap.js';
import { echo, within } from '../support/interop/peers.js';

const available = chromiumAvailable;
const SKIP = `${CHROMIUM} is missing (apt-get install chromium)`;

type Mode = 'shared' | 'dedicated';
const MODES: readonly Mode[] = ['shared', 'dedicated'];
const PMD = 'permessage-deflate';
/** Chromium offers `permessage-deflate; client_max_window_bits`; what Conduit answers per mode. */
const RESPONSE: Record<Mode, string> = {
  shared: `${PMD}; server_no_context_takeover; client_no_context_takeover`,
  dedicated: PMD,
};

interface PageReport {
  extensions: string;
  /** Each message sent, in order: its kind and UTF-8 or byte length. */
  sent: Array<{ kind: 'text' | 'binary'; size: number }>;
  failures: string[];
  closeCode: number;
}

/**
 * Runs in the page: open `url`, echo text and binary of every size (one at a time), then a burst of
 * 40 without waiting, compare every echo, close with 1000. Content is compressible and repeats from
 * several KiB back (numbered blocks of multibyte words, or of bytes).
 */
async function pageExchange(url: string): Promise<PageReport> {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error('the WebSocket failed to open'));
  });
  const encoder = new TextEncoder();
  const words =
    'h\u00e9llo w\u00f6rld \u20acuro \u{1f30d} \u03b4\u03bf\u03ba\u03b9\u03bc\u03ae \u4e2d\u6587 ';
  const textOf = (size: number, seed: number): string => {
    const block = `${seed} ${words.repeat(60)}`;
    let out = '';
    let used = 0;
    for (let i = 0; ; i++) {
      const piece = `[${i}] ${block}`;
      const n = encoder.encode(piece).length;
      if (used + n > size) break;
      out += piece;
      used += n;
    }
    return out + 'z'.repeat(size - used);
  };
  const bytesOf = (size: number, seed: number): Uint8Array => {
    const block = new Uint8Array(3000);
    let x = seed * 2654435761 || 1;
    for (let i = 0; i < block.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      block[i] = (x >>> 16) & 0x7f;
    }
    const out = new Uint8Array(size);
    for (let at = 0, i = 0; at < size; at += 3000, i++) {
      out.set(block.subarray(0, Math.min(3000, size - at)), at);
      if (at + 1 < size) out[at] = i & 0xff;
    }
    return out;
  };
  const queue: MessageEvent[] = [];
  let wake: (() => void) | null = null;
  ws.onmessage = (e) => {
    queue.push(e);
    wake?.();
  };
  const next = async (): Promise<MessageEvent> => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r));
    return queue.shift()!;
  };
  const sent: PageReport['sent'] = [];
  const failures: string[] = [];
  const same = (label: string, message: string | Uint8Array, e: MessageEvent) => {
    if (typeof message === 'string') {
      if (e.data !== message) failures.push(`${label}: text differs`);
    } else {
      const got = e.data instanceof ArrayBuffer ? new Uint8Array(e.data) : null;
      if (got === null || got.length !== message.length || got.some((b, i) => b !== message[i]))
        failures.push(`${label}: bytes differ`);
    }
  };
  const send = (message: string | Uint8Array) => {
    ws.send(message);
    const kind = typeof message === 'string' ? 'text' : 'binary';
    sent.push({ kind, size: typeof message === 'string' ? encoder.encode(message).length : message.length });
  };
  for (const [i, size] of [0, 1, 125, 1023, 1024, 64 * 1024, 1024 * 1024].entries()) {
    for (const message of [textOf(size, i), bytesOf(size, i)]) {
      send(message);
      same(`${typeof message} ${size}`, message, await next());
    }
  }
  const burst = Array.from({ length: 40 }, (_, i) =>
    i % 2 === 0 ? textOf(900 + 41 * i, i) : bytesOf(900 + 41 * i, i),
  );
  for (const message of burst) send(message);
  for (const [i, message] of burst.entries()) same(`burst ${i}`, message, await next());
  const closed = new Promise<CloseEvent>((resolve) => {
    ws.onclose = resolve;
  });
  const extensions = ws.extensions;
  ws.close(1000, 'chromium done');
  return { extensions, sent, failures, closeCode: (await closed).code };
}

describe('permessage-deflate with headless Chromium against a Conduit server', { timeout: 90_000 }, () => {
  let browser: Browser;
  let page: Page;
  let http: Server;
  let httpPort = 0;
  const servers: WebSocketServer[] = [];
  const connections: Array<{ mode: Mode; conn: WebSocketConnection }> = [];

  before(async () => {
    if (!available) return;
    http = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>deflate</title>');
    });
    for (const mode of MODES) {
      const wss = new WebSocketServer({ server: http, path: `/${mode}`, perMessageDeflate: { mode } });
      wss.on('connection', (conn) => {
        connections.push({ mode, conn });
        echo(conn);
      });
      servers.push(wss);
    }
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    httpPort = address.port;
    browser = await within(
      30_000,
      'Chromium to start',
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    );
    page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(`http://127.0.0.1:${httpPort}/`);
  });

  after(async () => {
    if (!available) return;
    await browser?.close();
    for (const wss of servers) await wss.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  for (const mode of MODES) {
    it(`agrees on permessage-deflate in ${mode} mode and echoes large compressible text and binary, RSV1 on the wire`, async (t) => {
      if (!available) return t.skip(SKIP);
      const tap = await listenTap(httpPort);
      try {
        const report = await within(30_000, 'the page', page.evaluate(pageExchange, `${tap.url}/${mode}`));
        assert.deepEqual(report.failures, []);
        assert.equal(report.closeCode, 1000);
        // The handshake: the browser's view, Conduit's, and the wire's.
        assert.equal(report.extensions, RESPONSE[mode]);
        const wire = tap.last();
        assert.equal(
          headerIn(wire.requestHead, 'Sec-WebSocket-Extensions'),
          `${PMD}; client_max_window_bits`,
        );
        assert.equal(headerIn(wire.responseHead, 'Sec-WebSocket-Extensions'), RESPONSE[mode]);
        const server = connections.filter((c) => c.mode === mode).at(-1);
        assert.equal(server?.conn.extensions, RESPONSE[mode]);

        const up = dataFrames(wire.toServer);
        const down = dataFrames(wire.toClient);
        assert.equal(up.length, report.sent.length);
        assert.equal(down.length, report.sent.length);
        // Chromium compresses its messages; the large ones certainly, and they shrink.
        const bigUp = up.filter((_, i) => report.sent[i]!.size >= 64 * 1024);
        assert.deepEqual(
          bigUp.map((f) => f.rsv1),
          [true, true, true, true],
        );
        assert.ok(
          bigUp.every((f, i) => f.length < report.sent.filter((s) => s.size >= 64 * 1024)[i]!.size / 4),
          'compressed frames from Chromium are much smaller than the messages',
        );
        assert.deepEqual(
          down.map((f) => f.rsv1),
          report.sent.map(() => true),
          'Conduit: RSV1 on every message (under 1024 bytes stored in shared mode, deflated in dedicated)',
        );
        assert.equal([...up, ...down].filter((f) => !f.fin || f.rsv2 || f.rsv3).length, 0);
      } finally {
        await tap.close();
      }
    });
  }

  it('connects without compression when the Conduit server has it off', async (t) => {
    if (!available) return t.skip(SKIP);
    const plain = new WebSocketServer({ server: http, path: '/plain' });
    plain.on('connection', echo);
    const tap = await listenTap(httpPort);
    try {
      const report = await within(
        10_000,
        'the page',
        page.evaluate(async (url: string) => {
          const ws = new WebSocket(url);
          await new Promise<void>((resolve, reject) => {
            ws.onopen = () => resolve();
            ws.onerror = () => reject(new Error('the WebSocket failed to open'));
          });
          const text = 'uncompressed \u20ac '.repeat(1000);
          const reply = new Promise<MessageEvent>((resolve) => {
            ws.onmessage = resolve;
          });
          ws.send(text);
          const same = (await reply).data === text;
          const extensions = ws.extensions;
          ws.close(1000);
          return { same, extensions };
        }, `${tap.url}/plain`),
      );
      assert.deepEqual(report, { same: true, extensions: '' });
      const wire = tap.last();
      assert.equal(headerIn(wire.responseHead, 'Sec-WebSocket-Extensions'), undefined);
      assert.equal([...wire.toServer, ...wire.toClient].filter((f) => f.rsv1).length, 0);
    } finally {
      await tap.close();
      await plain.close();
    }
  });
});
