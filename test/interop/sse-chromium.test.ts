/**
 * Interop: headless Chromium's native EventSource (Debian's /usr/bin/chromium, playwright-core) against
 * `conduit serve`'s /sse and /publish, over HTTP/1.1 and over HTTP/2 (TLS with a certificate made by the
 * test; the page checks `nextHopProtocol`): 20 EventSources in one page all receive a published message,
 * and a stream the server ends is resumed with Last-Event-ID.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from '../support/chromium.js';
import { channelSubscribers } from '../support/sse.js';
import { makeSelfSignedCertificate } from '../support/tls.js';

const available = chromiumAvailable;

let browser: Browser;
const servers: RunningServer[] = [];

before(async () => {
  if (!available) return;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  for (const s of servers) await s.close();
});

interface PageResult {
  protocol: string;
  opened: number;
  received: string[][];
}

/** In the page: open `count` EventSources on `channel`, signal readiness, collect `want` messages each. */
function pageScript([channel, count, want]: readonly [string, number, number]): Promise<PageResult> {
  return new Promise((resolve) => {
    const received: string[][] = Array.from({ length: count }, () => []);
    let opened = 0;
    const sources = Array.from({ length: count }, (_, i) => {
      const source = new EventSource(`/sse?channel=${channel}`);
      source.onopen = () => {
        opened++;
        if (opened === count) (window as unknown as { ready: boolean }).ready = true;
      };
      source.onmessage = (e) => {
        received[i]!.push(`${e.lastEventId}:${e.data}`);
        if (received.every((r) => r.length >= want)) {
          for (const s of sources) s.close();
          // The streams themselves have no resource entry while open; the page came over the same
          // connection pool (and with HTTP/1.1 Chromium opens at most 6 connections per host, so 20
          // open streams are possible only multiplexed on HTTP/2).
          const entry = performance.getEntriesByType('navigation')[0] as
            | PerformanceNavigationTiming
            | undefined;
          resolve({
            protocol: (entry as PerformanceResourceTiming | undefined)?.nextHopProtocol ?? '',
            opened,
            received,
          });
        }
      };
      return source;
    });
  });
}

for (const transport of ['http/1.1', 'h2'] as const) {
  describe(`Chromium EventSource against conduit serve over ${transport}`, {
    skip: !available && 'chromium missing',
  }, () => {
    let server: RunningServer;
    before(async () => {
      const tls = transport === 'h2' ? makeSelfSignedCertificate() : undefined;
      server = await startServer({ port: 0, tls, sse: { stream: { retryMs: 100, keepAliveMs: 0 } } });
      servers.push(server);
    });

    const subscribers = (channel: string) => channelSubscribers(server, channel);

    it('20 EventSources in one page all receive every published message', async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      try {
        const page = await context.newPage();
        await page.goto(`${server.url}/ws-console`);
        // Chromium allows 6 HTTP/1.1 connections per host: 20 streams need HTTP/2, or 20 page loads.
        const count = transport === 'h2' ? 20 : 5;
        const result = page.evaluate(pageScript, ['fan', count, 2] as const).catch((e: Error) => e);
        const until = Date.now() + 10_000;
        while (subscribers('fan') < count && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
        assert.equal(subscribers('fan'), count);
        server.channels.publishTo('fan', 'first');
        server.channels.publishTo('fan', 'second');
        const r = await result;
        assert.ok(!(r instanceof Error), String(r));
        const report = r as PageResult;
        assert.equal(report.protocol, transport);
        assert.equal(report.opened, count);
        for (const got of report.received) assert.deepEqual(got, ['1:first', '2:second']);
      } finally {
        await context.close();
      }
    });

    it('resumes with Last-Event-ID after the server ends the stream, missing nothing', async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      try {
        const page = await context.newPage();
        await page.goto(`${server.url}/ws-console`);
        const result = page.evaluate(pageScript, ['resume', 1, 4] as const);
        const waitSubscribed = async () => {
          const until = Date.now() + 10_000;
          while (subscribers('resume') < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
          assert.equal(subscribers('resume'), 1);
        };
        await waitSubscribed();
        server.channels.publishTo('resume', 'a');
        server.channels.publishTo('resume', 'b');
        await new Promise((r) => setTimeout(r, 100));
        server.channels.closeAll();
        server.channels.publishTo('resume', 'c'); // while the page is away
        await waitSubscribed(); // the browser came back after the 100 ms retry
        server.channels.publishTo('resume', 'd');
        const report = await result;
        assert.deepEqual(report.received[0], ['1:a', '2:b', '3:c', '4:d']);
      } finally {
        await context.close();
      }
    });
  });
}
