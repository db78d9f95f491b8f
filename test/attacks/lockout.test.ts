/**
 * Attack: locking everyone out from one address (issue: `GET /hub/poll?t=<new id>` in a loop opened
 * 100,000 sessions in 4.7 s, then every new /ws client was closed with 1013 for ~125 s). Limits per
 * client address (server/admission.ts) bound what one address holds; a client from another address
 * is served throughout. The attacker is 127.0.0.1; the legitimate client 127.0.0.2.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/serve.js';
import { assertLegitimateClientServed, startTarget } from '../support/attack.js';

const LEGITIMATE = '127.0.0.2';

/** GET a path from `localAddress`; resolves with the status and the Retry-After header. */
function get(
  port: number,
  path: string,
  localAddress: string,
): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('attack: locking others out from one address', { timeout: 60_000 }, () => {
  let server: RunningServer;

  before(async () => {
    server = await startTarget();
  });

  after(async () => {
    await server.close();
  });

  it('bounds the new sessions one address opens (429 + Retry-After) and serves another address meanwhile', async () => {
    const started = performance.now();
    const statuses = new Map<number, number>();
    let retryAfter: string | undefined;
    // 1,500 new long-polling transports, 20 at a time, as fast as the server answers.
    for (let i = 0; i < 75; i++) {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, j) =>
          get(server.port, `/hub/poll?t=attacker${String(i * 20 + j).padStart(12, '0')}`, '127.0.0.1'),
        ),
      );
      for (const a of answers) {
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        if (a.status === 429) retryAfter = a.retryAfter;
      }
      if (i === 40) await assertLegitimateClientServed(server.url, LEGITIMATE);
    }
    const seconds = (performance.now() - started) / 1000;
    const sessions = server.hub.stats().sessions;
    // A burst of 50, then 10 a second.
    assert.ok(
      sessions <= 50 + Math.ceil(10 * seconds) + 1,
      `${sessions} sessions in ${seconds.toFixed(1)} s`,
    );
    assert.ok((statuses.get(429) ?? 0) > 1000, `statuses: ${JSON.stringify([...statuses])}`);
    assert.ok(Number(retryAfter) >= 1, `Retry-After: ${retryAfter}`);
    await assertLegitimateClientServed(server.url, LEGITIMATE);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /conduit_admission_refused_total\{reason="session_rate"\} [1-9]\d*/);
  });

  it('answers 429 to connections past 256 from one address and keeps serving the others', async () => {
    const attacker = '127.0.0.3';
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 256; i++) {
        const socket = netConnect({ host: '127.0.0.1', port: server.port, localAddress: attacker });
        socket.on('error', () => undefined);
        sockets.push(socket);
        await new Promise((resolve) => socket.once('connect', resolve));
      }
      const extra = netConnect({ host: '127.0.0.1', port: server.port, localAddress: attacker });
      extra.on('error', () => undefined);
      let answer = '';
      extra.on('data', (chunk: Buffer) => {
        answer += chunk.toString('latin1');
      });
      await new Promise((resolve) => extra.once('close', resolve));
      assert.match(answer, /^HTTP\/1\.1 429 /);
      assert.match(answer, /Retry-After: 10/);
      // The body is exactly as long as its Content-Length says.
      const [head, body] = answer.split('\r\n\r\n');
      assert.equal(Number(/Content-Length: (\d+)/.exec(head!)?.[1]), Buffer.byteLength(body!));
      await assertLegitimateClientServed(server.url, LEGITIMATE);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});
