/**
 * Interop: headless Chromium's native WebSocket against `conduit serve` over TLS, where the page itself
 * came over HTTP/2. When the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, Chromium may carry the
 * WebSocket on that HTTP/2 connection (RFC 8441) instead of opening an HTTP/1.1 one; the test records
 * which it did (from the request the server saw) and checks the echo works either way.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from '../support/chromium.js';
import { makeSelfSignedCertificate } from '../support/tls.js';

let browser: Browser;
let server: RunningServer;
const versions: string[] = [];

before(async () => {
  if (!chromiumAvailable) return;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  server = await startServer({ port: 0, tls: makeSelfSignedCertificate() });
  server.echo.on('connection', (_ws, req: IncomingMessage) => versions.push(req.httpVersion));
});
after(async () => {
  await browser?.close();
  await server?.close();
});

describe('Chromium WebSocket on an HTTP/2 origin', { skip: !chromiumAvailable && 'chromium missing' }, () => {
  it('echoes, and says whether it rode the HTTP/2 connection (RFC 8441)', async (t) => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      const page = await context.newPage();
      await page.goto(`${server.url}/ws-console`);
      const result = await page.evaluate(async () => {
        const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
        const url = `${location.origin.replace('https:', 'wss:')}/echo`;
        const ws = new WebSocket(url);
        const echoed = await new Promise<string>((resolve, reject) => {
          ws.onopen = () => ws.send('over which HTTP?');
          ws.onmessage = (e) => resolve(String(e.data));
          ws.onerror = () => reject(new Error('WebSocket error'));
        });
        const extensions = ws.extensions;
        ws.close(1000);
        return { page: navigation.nextHopProtocol, echoed, extensions };
      });
      assert.equal(result.page, 'h2');
      assert.equal(result.echoed, 'over which HTTP?');
      assert.equal(versions.length, 1);
      t.diagnostic(
        `Chromium carried the WebSocket over HTTP/${versions[0]} (${versions[0] === '2.0' ? 'RFC 8441' : 'a separate HTTP/1.1 connection'}); extensions: ${result.extensions}`,
      );
    } finally {
      await context.close();
    }
  });
});
