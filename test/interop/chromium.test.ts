/**
 * Interop: headless Chromium (Debian's /usr/bin/chromium driven by playwright-core; never a downloaded
 * browser) loading the demo page from `conduit serve` and talking to /echo with the browser's own
 * WebSocket: text, ArrayBuffer, Blob, 1 MiB messages, subprotocols and both closing directions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { WebSocketServer } from '../../src/index.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from '../support/chromium.js';
import { within } from '../support/interop/peers.js';

const SCREENSHOT = '/tmp/conduit-ws-console.png';
const available = chromiumAvailable;
const SKIP = `${CHROMIUM} is missing (apt-get install chromium)`;

interface ServerClose {
  code: number;
  reason: string;
  wasClean: boolean;
}

describe('headless Chromium talking to conduit serve', { timeout: 60_000 }, () => {
  let running: RunningServer;
  let browser: Browser;
  let page: Page;
  let wsBase = '';
  const serverCloses: ServerClose[] = [];

  before(async () => {
    if (!available) return;
    running = await startServer({ port: 0 });
    wsBase = running.url.replace(/^http/, 'ws');
    running.echo.on('connection', (conn, req) => {
      conn.on('close', (code, reason, wasClean) => serverCloses.push({ code, reason, wasClean }));
      if (req.url?.includes('close=server') === true) {
        conn.close(4002, 'bye from conduit \u2713');
      }
    });
    browser = await within(
      30_000,
      'Chromium to start',
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    );
    page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${running.url}/ws-console`);
  });

  after(async () => {
    if (!available) return;
    await browser?.close();
    await running?.close();
  });

  /** Wait until the server reports a close with this code (connections of other tests close too). */
  const serverCloseWith = async (code: number): Promise<ServerClose> => {
    const find = () => serverCloses.find((c) => c.code === code);
    await within(
      5000,
      `the server-side close with ${code}`,
      (async () => {
        while (find() === undefined) await new Promise((r) => setTimeout(r, 10));
      })(),
    );
    return find()!;
  };

  it('echoes text, non-ASCII text and ArrayBuffer messages with their types', async (t) => {
    if (!available) return t.skip(SKIP);
    const out = await within(
      15_000,
      'the page',
      page.evaluate(async (url: string) => {
        const ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        await new Promise<void>((resolve, reject) => {
          ws.onopen = () => resolve();
          ws.onerror = () => reject(new Error('the WebSocket failed to open'));
        });
        const next = () =>
          new Promise<MessageEvent>((resolve) => ws.addEventListener('message', resolve, { once: true }));
        const texts = ['hello', 'h\u00e9llo w\u00f6rld \u20ac \u{1f30d} \u4f60\u597d', ''];
        const textEchoes: Array<{ same: boolean; type: string }> = [];
        for (const text of texts) {
          const reply = next();
          ws.send(text);
          const e = await reply;
          textEchoes.push({ same: e.data === text, type: typeof e.data });
        }
        const bytes = new Uint8Array(300).map((_, i) => (i * 7) & 255);
        const reply = next();
        ws.send(bytes.buffer);
        const e = await reply;
        const got = new Uint8Array(e.data as ArrayBuffer);
        const viewReply = next();
        ws.send(new Uint8Array(bytes.buffer, 10, 5));
        const view = new Uint8Array((await viewReply).data as ArrayBuffer);
        ws.close(1000);
        return {
          textEchoes,
          binaryIsArrayBuffer: e.data instanceof ArrayBuffer,
          binarySame: got.length === bytes.length && got.every((b, i) => b === bytes[i]),
          view: Array.from(view),
          protocol: ws.protocol,
        };
      }, `${wsBase}/echo`),
    );
    assert.deepEqual(out.textEchoes, [
      { same: true, type: 'string' },
      { same: true, type: 'string' },
      { same: true, type: 'string' },
    ]);
    assert.equal(out.binaryIsArrayBuffer, true);
    assert.equal(out.binarySame, true);
    assert.deepEqual(out.view, [70, 77, 84, 91, 98]);
    assert.equal(out.protocol, '');
  });

  it('sends Blobs and receives binary as Blob or ArrayBuffer following binaryType', async (t) => {
    if (!available) return t.skip(SKIP);
    const out = await within(
      15_000,
      'the page',
      page.evaluate(async (url: string) => {
        const ws = new WebSocket(url);
        await new Promise<void>((resolve, reject) => {
          ws.onopen = () => resolve();
          ws.onerror = () => reject(new Error('the WebSocket failed to open'));
        });
        const next = () =>
          new Promise<MessageEvent>((resolve) => ws.addEventListener('message', resolve, { once: true }));
        const bytes = new Uint8Array(70_000).map((_, i) => (i * 13 + 1) & 255);
        const same = (a: Uint8Array) => a.length === bytes.length && a.every((b, i) => b === bytes[i]);

        const defaultType = ws.binaryType;
        const asBlob = next();
        ws.send(new Blob([bytes]));
        const blobEvent = await asBlob;
        const blobData = blobEvent.data as Blob;
        const blobSame = same(new Uint8Array(await blobData.arrayBuffer()));

        ws.binaryType = 'arraybuffer';
        const asBuffer = next();
        ws.send(new Blob([bytes.subarray(0, 1000), bytes.subarray(1000)]));
        const bufferEvent = await asBuffer;
        const bufferSame = same(new Uint8Array(bufferEvent.data as ArrayBuffer));
        ws.close(1000);
        return {
          defaultType,
          blobIsBlob: blobEvent.data instanceof Blob,
          blobSize: blobData.size,
          blobSame,
          bufferIsArrayBuffer: bufferEvent.data instanceof ArrayBuffer,
          bufferSame,
        };
      }, `${wsBase}/echo`),
    );
    assert.deepEqual(out, {
      defaultType: 'blob',
      blobIsBlob: true,
      blobSize: 70_000,
      blobSame: true,
      bufferIsArrayBuffer: true,
      bufferSame: true,
    });
  });

  it('echoes 1 MiB binary and text messages intact', async (t) => {
    if (!available) return t.skip(SKIP);
    const out = await within(
      20_000,
      'the page',
      page.evaluate(async (url: string) => {
        const ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        await new Promise<void>((resolve, reject) => {
          ws.onopen = () => resolve();
          ws.onerror = () => reject(new Error('the WebSocket failed to open'));
        });
        const next = () =>
          new Promise<MessageEvent>((resolve) => ws.addEventListener('message', resolve, { once: true }));
        const bytes = new Uint8Array(1024 * 1024).map((_, i) => (i * 31 + (i >> 8)) & 255);
        const binaryReply = next();
        ws.send(bytes);
        const got = new Uint8Array((await binaryReply).data as ArrayBuffer);
        const text = '\u00e9\u20ac'.repeat(Math.floor((1024 * 1024) / 5)) + 'z'.repeat((1024 * 1024) % 5);
        const textReply = next();
        ws.send(text);
        const gotText = (await textReply).data as string;
        ws.close(1000);
        return {
          binaryLength: got.length,
          binarySame: got.length === bytes.length && got.every((b, i) => b === bytes[i]),
          textUtf8Length: new TextEncoder().encode(gotText).length,
          textSame: gotText === text,
        };
      }, `${wsBase}/echo`),
    );
    assert.deepEqual(out, {
      binaryLength: 1024 * 1024,
      binarySame: true,
      textUtf8Length: 1024 * 1024,
      textSame: true,
    });
  });

  it("negotiates the first offered subprotocol ('chat')", async (t) => {
    if (!available) return t.skip(SKIP);
    const protocol = await within(
      10_000,
      'the page',
      page.evaluate(async (url: string) => {
        const ws = new WebSocket(url, ['chat', 'superchat']);
        await new Promise<void>((resolve, reject) => {
          ws.onopen = () => resolve();
          ws.onerror = () => reject(new Error('the WebSocket failed to open'));
        });
        const p = ws.protocol;
        ws.close(1000);
        return p;
      }, `${wsBase}/echo`),
    );
    assert.equal(protocol, 'chat');
  });

  it('closes with a code and reason that the server observes, cleanly on both sides', async (t) => {
    if (!available) return t.skip(SKIP);
    const event = await within(
      10_000,
      'the page',
      page.evaluate(async (url: string) => {
        const ws = new WebSocket(url);
        await new Promise<void>((resolve, reject) => {
          ws.onopen = () => resolve();
          ws.onerror = () => reject(new Error('the WebSocket failed to open'));
        });
        const closed = new Promise<CloseEvent>((resolve) => {
          ws.onclose = resolve;
        });
        ws.close(4000, 'bye from chromium \u2713');
        const e = await closed;
        return { code: e.code, reason: e.reason, wasClean: e.wasClean };
      }, `${wsBase}/echo`),
    );
    assert.deepEqual(await serverCloseWith(4000), {
      code: 4000,
      reason: 'bye from chromium \u2713',
      wasClean: true,
    });
    assert.equal(event.code, 4000);
    // The server echoes the reason with the code: the page sees its own reason back.
    assert.equal(event.reason, 'bye from chromium \u2713');
    assert.equal(event.wasClean, true);
  });

  it('sees its own close reason echoed back: 1000 "interop done" and 4000 with a 123-byte reason', async (t) => {
    if (!available) return t.skip(SKIP);
    const long = 'r'.repeat(120) + '\u2713'; // 123 bytes of UTF-8: the most a close frame carries
    const events = await within(
      10_000,
      'the page',
      page.evaluate(
        async ([url, cases]: [string, [number, string][]]) => {
          const out: { code: number; reason: string; wasClean: boolean }[] = [];
          for (const [code, reason] of cases) {
            const ws = new WebSocket(url);
            await new Promise<void>((resolve, reject) => {
              ws.onopen = () => resolve();
              ws.onerror = () => reject(new Error('the WebSocket failed to open'));
            });
            const closed = new Promise<CloseEvent>((resolve) => {
              ws.onclose = resolve;
            });
            ws.close(code, reason);
            const e = await closed;
            out.push({ code: e.code, reason: e.reason, wasClean: e.wasClean });
          }
          return out;
        },
        [
          `${wsBase}/echo`,
          [
            [1000, 'interop done'],
            [4000, long],
          ],
        ] as [string, [number, string][]],
      ),
    );
    assert.deepEqual(events, [
      { code: 1000, reason: 'interop done', wasClean: true },
      { code: 4000, reason: long, wasClean: true },
    ]);
  });

  it('reports a server-initiated close as a CloseEvent with code, reason and wasClean', async (t) => {
    if (!available) return t.skip(SKIP);
    const event = await within(
      10_000,
      'the page',
      page.evaluate(async (url: string) => {
        const ws = new WebSocket(url);
        const e = await new Promise<CloseEvent>((resolve) => {
          ws.onclose = resolve;
        });
        return { code: e.code, reason: e.reason, wasClean: e.wasClean, type: e.type };
      }, `${wsBase}/echo?close=server`),
    );
    assert.deepEqual(event, { code: 4002, reason: 'bye from conduit \u2713', wasClean: true, type: 'close' });
  });

  it('fails to connect, with 1006, when the Origin is not on the allow-list', async (t) => {
    if (!available) return t.skip(SKIP);
    const guarded = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      origins: ['https://elsewhere.example'],
    });
    const refused: number[] = [];
    guarded.on('handshakeError', (error) => refused.push(error.status));
    try {
      await within(5000, 'listening', new Promise<void>((r) => guarded.once('listening', r)));
      const address = guarded.address();
      assert.ok(address !== null && typeof address !== 'string');
      const event = await within(
        10_000,
        'the page',
        page.evaluate(async (url: string) => {
          const ws = new WebSocket(url);
          let errored = false;
          ws.onerror = () => {
            errored = true;
          };
          const e = await new Promise<CloseEvent>((resolve) => {
            ws.onclose = resolve;
          });
          return { errored, code: e.code, wasClean: e.wasClean };
        }, `ws://127.0.0.1:${address.port}/`),
      );
      assert.deepEqual(event, { errored: true, code: 1006, wasClean: false });
      assert.deepEqual(refused, [403]);
    } finally {
      await guarded.close();
    }
  });

  it('drives the demo page: connect, type, send, and see the echo in the log', async (t) => {
    if (!available) return t.skip(SKIP);
    serverCloses.length = 0;
    await page.goto(`${running.url}/ws-console`);
    await page.click('#connect');
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'open');
    await page.fill('#text', 'hello from the demo \u2713');
    await page.press('#text', 'Enter');
    await page.waitForFunction(() =>
      (document.getElementById('log')?.textContent ?? '').includes('< hello from the demo \u2713'),
    );
    await page.fill('#text', 'and the Send button');
    await page.click('#send');
    await page.waitForFunction(() =>
      (document.getElementById('log')?.textContent ?? '').includes('< and the Send button'),
    );
    await page.screenshot({ path: SCREENSHOT });
    await page.click('#disconnect');
    await page.waitForFunction(() =>
      (document.getElementById('log')?.textContent ?? '').includes('closed 1000'),
    );
    const log = (await page.locator('#log').textContent()) ?? '';
    assert.match(log, /> hello from the demo \u2713/);
    assert.match(log, /< hello from the demo \u2713/);
    // The CloseEvent carries the server's close frame: Conduit echoes the code and the reason.
    assert.match(log, /closed 1000 bye clean=true/);
    assert.equal(await page.locator('#state').textContent(), 'closed');
    const closed = await serverCloseWith(1000);
    assert.deepEqual(
      serverCloses.filter((c) => c.reason === 'bye'),
      [{ code: 1000, reason: 'bye', wasClean: true }],
    );
    assert.equal(closed.wasClean, true);
  });
});
