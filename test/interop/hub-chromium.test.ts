/**
 * Interop: the demo page (/, the hub client from /conduit.js) in headless Chromium against `conduit
 * serve`: chat between two pages on each forced transport, fallback when a proxy blocks the WebSocket
 * upgrade (refused, or left hanging), and the "Drop connection" button resuming with no gap.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { startBlockingProxy } from '../support/blocking-proxy.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from '../support/chromium.js';

let browser: Browser;
let server: RunningServer;

before(async () => {
  if (!chromiumAvailable) return;
  server = await startServer({ port: 0, demo: { tickMs: 200 }, hubHttp: { pollTimeoutMs: 5000 } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

interface DemoState {
  transports: string[];
  messages: { offset: number; name: string; text: string }[];
  resumes: { ms: number | null; recovered: boolean }[];
}

async function openDemo(base: string, name: string, transport?: string): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000);
  await page.addInitScript((n) => sessionStorage.setItem('conduit-name', n), name);
  await page.goto(`${base}/${transport === undefined ? '' : `?transport=${transport}`}`);
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'connected');
  return page;
}

const demoState = (page: Page) =>
  page.evaluate(() => {
    const s = (window as unknown as { conduitDemo: DemoState }).conduitDemo;
    return { transports: s.transports, messages: s.messages, resumes: s.resumes };
  });

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

async function waitForMessage(page: Page, text: string): Promise<void> {
  await page.waitForFunction(
    (t) => (document.getElementById('messages')?.textContent ?? '').includes(t),
    text,
  );
}

describe('the demo page in Chromium', { skip: !chromiumAvailable && 'chromium missing' }, () => {
  for (const transport of ['websocket', 'sse', 'polling']) {
    it(`chats between two pages over ${transport}, with presence and the market feed`, async () => {
      const ann = await openDemo(server.url, `Ann ${transport}`, transport);
      const bob = await openDemo(server.url, `Bob ${transport}`, transport);
      try {
        const label = { websocket: 'WebSocket', sse: 'SSE', polling: 'Long-polling' }[transport];
        assert.equal(await ann.textContent('#status'), `${label} · connected`);
        await say(ann, `hello from Ann over ${transport}`);
        await waitForMessage(bob, `hello from Ann over ${transport}`);
        await say(bob, 'hi Ann');
        await waitForMessage(ann, 'hi Ann');
        await ann.waitForFunction(
          (n) => (document.getElementById('members')?.textContent ?? '').includes(n),
          `Bob ${transport}`,
        );
        await ann.waitForFunction(() => (document.getElementById('ticker')?.children.length ?? 0) === 6);
        assert.deepEqual((await demoState(ann)).transports, [transport]);
      } finally {
        await ann.close();
        await bob.close();
      }
    });
  }

  for (const mode of ['refuse', 'hang'] as const) {
    it(`falls back to SSE within 3 s when a proxy ${mode === 'refuse' ? 'refuses' : 'never answers'} the WebSocket upgrade, and keeps chatting`, async (t) => {
      const proxy = await startBlockingProxy(server.url, mode);
      const page = await openDemo(proxy.url, `Proxied ${mode}`);
      const direct = await openDemo(server.url, 'Direct');
      try {
        // Since the blocked upgrade reached the proxy (the issue's bound), and since the page began
        // loading (the script and the token before it: slow on a loaded machine, so only reported).
        const [connectedAt, timeOrigin] = await page.evaluate(() => [
          (window as unknown as { conduitDemo: { connectedAt: number[] } }).conduitDemo.connectedAt[0]!,
          performance.timeOrigin,
        ]);
        assert.ok(proxy.firstUpgradeAt !== null, 'the page tried WebSocket first');
        const fallback = timeOrigin! + connectedAt! - proxy.firstUpgradeAt;
        assert.ok(fallback < 3000, `connected over SSE ${fallback.toFixed(0)} ms after the blocked upgrade`);
        t.diagnostic(
          `connected over SSE ${fallback.toFixed(0)} ms after the blocked upgrade, ${connectedAt!.toFixed(0)} ms after the page began loading`,
        );
        assert.equal(await page.textContent('#status'), 'SSE · connected');
        assert.ok(proxy.upgrades >= 1, 'the page tried WebSocket first');
        await say(page, `through the ${mode} proxy`);
        await waitForMessage(direct, `through the ${mode} proxy`);
        await say(direct, `back to the ${mode} proxy`);
        await waitForMessage(page, `back to the ${mode} proxy`);
      } finally {
        await page.close();
        await direct.close();
        await proxy.close();
      }
    });
  }

  it('"Drop connection" resumes the session with no gap: messages sent meanwhile arrive once, in order', async () => {
    const ann = await openDemo(server.url, 'Ann drop');
    const bob = await openDemo(server.url, 'Bob drop', 'polling');
    try {
      await say(bob, 'before the drop');
      await waitForMessage(ann, 'before the drop');
      for (let round = 0; round < 3; round++) {
        await ann.click('#drop');
        for (let i = 0; i < 5; i++) await say(bob, `round ${round} message ${i}`);
        await waitForMessage(ann, `round ${round} message 4`);
      }
      await ann.waitForFunction(
        () => (window as unknown as { conduitDemo: DemoState }).conduitDemo.resumes.length >= 3,
      );
      const state = await demoState(ann);
      const offsets = state.messages.map((m) => m.offset);
      for (let i = 1; i < offsets.length; i++)
        assert.equal(offsets[i], offsets[i - 1]! + 1, `offsets ${offsets}`);
      const texts = state.messages.map((m) => m.text).filter((t) => t.startsWith('round'));
      assert.deepEqual(
        texts,
        [0, 1, 2].flatMap((r) => [0, 1, 2, 3, 4].map((i) => `round ${r} message ${i}`)),
      );
      assert.ok(
        state.resumes.every((r) => r.recovered),
        JSON.stringify(state.resumes),
      );
      const events = (await ann.textContent('#events')) ?? '';
      assert.match(events, /chat resumed from #\d+ in \d+ ms: nothing lost/);
      await ann.screenshot({ path: '/tmp/conduit-hub-demo.png', fullPage: true });
    } finally {
      await ann.close();
      await bob.close();
    }
  });
});
