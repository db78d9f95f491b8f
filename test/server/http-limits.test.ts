/**
 * The HTTP server's limits (http-limits.ts): defaults and their checks, the open-file limit they come
 * from, the throttled report of refused connections, and the timeouts as a server applies them.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { describe, it } from 'node:test';
import {
  applyHttpLimits,
  FD_HEADROOM,
  openFiles,
  resolveHttpLimits,
  ThrottledCount,
} from '../../src/server/http-limits.js';

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HTTP limits', () => {
  it('defaults to seconds, not minutes, and to a connection limit under the open-file limit', () => {
    const limits = resolveHttpLimits();
    assert.deepEqual(
      [
        limits.headersTimeoutMs,
        limits.requestTimeoutMs,
        limits.bodyTimeoutMs,
        limits.keepAliveTimeoutMs,
        limits.timeoutCheckIntervalMs,
        limits.tlsHandshakeTimeoutMs,
        limits.refusalLogIntervalMs,
      ],
      [10_000, 30_000, 10_000, 5_000, 1_000, 10_000, 10_000],
    );
    const files = openFiles();
    if (files === null) {
      assert.equal(limits.maxConnections, 0);
      return;
    }
    assert.equal(limits.openFileLimit, files.limit);
    assert.ok(files.open > 2 && files.open < files.limit);
    // Other descriptors may open or close between the two reads: within a few of the formula.
    const expected = files.limit - files.open - FD_HEADROOM;
    assert.ok(Math.abs(limits.maxConnections - expected) < 8, `${limits.maxConnections} vs ${expected}`);
  });

  it('refuses impossible options with a RangeError', () => {
    assert.throws(() => resolveHttpLimits({ headersTimeoutMs: 5000, requestTimeoutMs: 1000 }), RangeError);
    assert.throws(() => resolveHttpLimits({ bodyTimeoutMs: -1 }), RangeError);
    assert.throws(() => resolveHttpLimits({ keepAliveTimeoutMs: 1.5 }), RangeError);
    assert.throws(() => resolveHttpLimits({ timeoutCheckIntervalMs: 0 }), RangeError);
    assert.equal(resolveHttpLimits({ maxConnections: 7 }).maxConnections, 7);
  });

  it('reports the first refusal at once, then one count per interval while they go on, then none', async () => {
    const reports: [number, boolean][] = [];
    const count = new ThrottledCount(150, (n, first) => reports.push([n, first]));
    count.add();
    count.add();
    count.add();
    assert.deepEqual(reports, [[1, true]]);
    await delay(200);
    assert.deepEqual(reports, [
      [1, true],
      [2, false],
    ]);
    count.add();
    await delay(200);
    assert.deepEqual(reports.at(-1), [1, false]);
    // A quiet interval ends the run: the next refusal is reported at once again.
    await delay(200);
    const quiet = reports.length;
    count.add();
    assert.deepEqual(reports.slice(quiet), [[1, true]]);
    count.add();
    count.close();
    assert.deepEqual(reports.at(-1), [1, false]);
  });

  it('closes a silent connection with 408 after the head timeout, checked every interval', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    const guard = applyHttpLimits(
      server,
      resolveHttpLimits({ headersTimeoutMs: 300, requestTimeoutMs: 600, timeoutCheckIntervalMs: 50 }),
      undefined,
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    guard.listening();
    try {
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
      let response = '';
      socket.on('data', (chunk: Buffer) => {
        response += chunk.toString('latin1');
      });
      const started = Date.now();
      await once(socket, 'close');
      const elapsed = Date.now() - started;
      assert.match(response, /^HTTP\/1\.1 408 /);
      assert.ok(elapsed >= 250 && elapsed < 1000, `closed after ${elapsed} ms`);
    } finally {
      guard.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('closes a connection whose unread body dribbles past the request timeout', async () => {
    // A route that answers without reading the body (Node then reads and drops it): the backstop.
    const server = createServer((_req, res) => res.writeHead(405).end());
    const guard = applyHttpLimits(
      server,
      resolveHttpLimits({ headersTimeoutMs: 200, requestTimeoutMs: 500, timeoutCheckIntervalMs: 50 }),
      undefined,
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    guard.listening();
    try {
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      const started = Date.now();
      socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
      const timer = setInterval(() => socket.writable && socket.write('a'), 50);
      await new Promise((resolve) => socket.once('close', resolve));
      clearInterval(timer);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 450 && elapsed < 1500, `closed after ${elapsed} ms`);
    } finally {
      guard.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('closes connections past maxConnections as they arrive, keeps the others, and survives EMFILE', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    const guard = applyHttpLimits(server, resolveHttpLimits({ maxConnections: 2 }), undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    guard.listening();
    const port = (server.address() as AddressInfo).port;
    try {
      const kept = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
      await Promise.all(kept.map((s) => once(s, 'connect')));
      await delay(50);
      const third = connect(port, '127.0.0.1');
      third.on('error', () => undefined);
      await once(third, 'close');
      const [first] = kept;
      first!.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      const [data] = (await once(first!, 'data')) as [Buffer];
      assert.match(data.toString(), /^HTTP\/1\.1 200 /);
      // Node emits accept errors on the server; with no listener they would end the process.
      server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
      for (const s of kept) s.destroy();
    } finally {
      guard.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
