/**
 * Slowloris against `conduit serve` with its default flags (issue 14: "slow request bodies are held
 * until Node's 300 s request timeout"): request heads, WebSocket upgrade heads and request bodies sent
 * a byte at a time, and connections that send nothing. Each is answered 408 and closed within its
 * bound (10 s for a head, checked every second; 10 s for a body once its route reads it), the server's
 * memory stays put, and a legitimate client gets its /echo echo and its /healthz 200 within a second
 * meanwhile. About 13 s, the groups running side by side.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type WebSocket from 'ws';
import {
  assertServedWithinASecond,
  delay,
  dribble,
  type Exchange,
  exchange,
  hubSession,
  rssOf,
  type ServeProcess,
  startServe,
  statusOf,
} from '../support/http-attack.js';

/** Head timeout 10 s + up to 1 s until the check + slack for a loaded machine. */
const HEAD_BOUND_MS = 13_000;
/** Body deadline 10 s from the route's first read + slack. */
const BODY_BOUND_MS = 13_000;
/** A byte every this many ms: far too slow, never silent long enough for an idle timeout. */
const DRIBBLE_MS = 400;
const MiB = 1024 * 1024;

/** `count` attackers at once; every exchange's answer and timing. */
function attackers(
  count: number,
  port: number,
  send: (socket: Socket) => Promise<void> | void,
  ms: number,
): Promise<Exchange[]> {
  return Promise.all(Array.from({ length: count }, () => exchange(port, send, ms)));
}

function assertAll(results: Exchange[], status: number, boundMs: number, what: string): void {
  for (const r of results) {
    assert.ok(r.closed, `${what}: still open after ${boundMs} ms`);
    assert.equal(statusOf(r.response), status, `${what}: ${JSON.stringify(r.response.slice(0, 80))}`);
  }
  const slowest = Math.max(...results.map((r) => r.elapsed));
  assert.ok(slowest < boundMs, `${what}: the last one closed after ${slowest.toFixed(0)} ms`);
}

describe('attack: slowloris on conduit serve (default flags)', { concurrency: true, timeout: 60_000 }, () => {
  let server: ServeProcess;
  let hub: { session: string; ws: WebSocket };
  let rssBefore = 0;

  before(async () => {
    server = await startServe();
    hub = await hubSession(server.url);
    rssBefore = rssOf(server.pid);
  });

  after(async () => {
    hub?.ws.terminate();
    await server?.stop();
  });

  it('closes request heads sent a byte at a time with 408 within the head timeout', async () => {
    const head = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X-Slow: 1\r\n'.repeat(1000)}`;
    const results = await attackers(60, server.port, (s) => dribble(s, head, DRIBBLE_MS), HEAD_BOUND_MS);
    assertAll(results, 408, HEAD_BOUND_MS, 'slow heads');
    // Not before the bound either: the timeout did it, not some other refusal.
    assert.ok(Math.min(...results.map((r) => r.elapsed)) > 9000);
  });

  it('closes WebSocket upgrade heads sent a byte at a time with 408 within the head timeout', async () => {
    const head =
      'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${'X-Slow: 1\r\n'.repeat(1000)}`;
    const results = await attackers(40, server.port, (s) => dribble(s, head, DRIBBLE_MS), HEAD_BOUND_MS);
    assertAll(results, 408, HEAD_BOUND_MS, 'slow upgrade heads');
  });

  it('closes connections that send nothing with 408 within the head timeout', async () => {
    const results = await attackers(40, server.port, () => undefined, HEAD_BOUND_MS);
    assertAll(results, 408, HEAD_BOUND_MS, 'silent connections');
  });

  it('answers 408 to POST /publish bodies sent a byte at a time, within the body deadline', async () => {
    const head = 'POST /publish?channel=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n';
    const results = await attackers(
      40,
      server.port,
      async (s) => {
        s.write(head);
        await dribble(s, 'a'.repeat(1000), DRIBBLE_MS);
      },
      BODY_BOUND_MS,
    );
    assertAll(results, 408, BODY_BOUND_MS, 'slow /publish bodies');
    assert.ok(Math.min(...results.map((r) => r.elapsed)) > 9000);
  });

  it('answers 408 to POST /hub/send bodies sent a byte at a time, within the body deadline', async () => {
    const results = await attackers(
      20,
      server.port,
      async (s) => {
        s.write(
          `POST /hub/send?session=${hub.session} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
            'Transfer-Encoding: chunked\r\n\r\n',
        );
        // Chunked, one byte per chunk: the body never ends.
        for (let i = 0; i < 1000 && !s.destroyed; i++) {
          s.write('1\r\n \r\n');
          await delay(DRIBBLE_MS);
        }
      },
      BODY_BOUND_MS,
    );
    assertAll(results, 408, BODY_BOUND_MS, 'slow /hub/send bodies');
  });

  it('serves a legitimate client within a second all along, and holds no memory for the attackers', async () => {
    const started = performance.now();
    for (const at of [1500, 5000, 9000]) {
      await delay(at - (performance.now() - started));
      await assertServedWithinASecond(server.url, `the slowloris attack (${at} ms in)`);
    }
    const grown = rssOf(server.pid) - rssBefore;
    assert.ok(grown < 64 * MiB, `the server grew by ${(grown / MiB).toFixed(1)} MiB`);
  });
});
