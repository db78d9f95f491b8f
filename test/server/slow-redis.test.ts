/**
 * A Redis that stops answering for a while (CLIENT PAUSE, longer than the broker's command timeout)
 * under a node with publishing clients: what waits on Redis stays bounded (a few publishes in flight,
 * the others queued in order; a publisher past the queue's bound is sent away with 4013), publishes
 * that timed out are sent again and land once (idempotency keys), and when Redis answers again every
 * publish is acknowledged and delivered once, in the order published.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { HubMessage } from '../../src/client/index.js';
import { connectHub } from '../../src/client/node.js';
import { startServer } from '../../src/server/serve.js';
import { wsClient } from '../support/hub-clients.js';
import { startTestRedis } from '../support/redis-server.js';

const MESSAGES = 3000;
const IN_FLIGHT = 20;
const PAUSE_MS = 2500;

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

describe('a slow Redis under a node', () => {
  for (const transport of ['websocket', 'sse'] as const) {
    it(`${transport}: holds the publisher back (bounded queue, no 4013), and every publish lands once, in order`, async (t) => {
      const redis = await startTestRedis();
      t.after(() => redis.kill());
      const server = await startServer({
        port: 0,
        redis: { redis: redis.url, prefix: 'slow:', commandTimeoutMs: 800 },
        hub: { publishLimits: { inFlightPerSession: IN_FLIGHT } },
      });
      t.after(() => server.close());
      const subscriber = connectHub(server.url, { transports: ['websocket'] });
      const publisher = connectHub(server.url, { transports: [transport], maxPendingPublishes: MESSAGES });
      t.after(() => {
        subscriber.close();
        publisher.close();
      });
      const publisherConnected = new Promise((resolve) => publisher.on('connected', resolve));
      const got: HubMessage[] = [];
      const sub = subscriber.subscribe('slow', (m) => got.push(m));
      await new Promise((resolve) => sub.on('subscribed', resolve));
      await publisherConnected;

      const admin = new Redis(redis.url);
      t.after(() => admin.disconnect());
      await admin.client('PAUSE', PAUSE_MS, 'ALL');
      // More than the session's queue may hold (1,000): without backpressure it would be sent away.
      const acks = Promise.all(
        Array.from({ length: MESSAGES }, (_, i) => publisher.publish('slow', `m${i}`)),
      );
      let mostInFlight = 0;
      let mostQueued = 0;
      let done = false;
      void acks.finally(() => {
        done = true;
      });
      while (!done) {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        mostInFlight = Math.max(mostInFlight, metric(text, 'conduit_hub_publishes_in_flight'));
        mostQueued = Math.max(mostQueued, metric(text, 'conduit_hub_publishes_queued'));
        await new Promise((r) => setTimeout(r, 20));
      }
      const positions = await acks;
      const text = await (await fetch(`${server.url}/metrics`)).text();

      assert.equal(mostInFlight, IN_FLIGHT, 'publishes with Redis at once');
      assert.ok(mostQueued > 0 && mostQueued < 1000, `${mostQueued} queued at most`);
      assert.equal(metric(text, 'conduit_hub_publishes_waiting_disconnects_total'), 0);
      // Acknowledged once each, in the order published: one offset per publish, none shared.
      assert.deepEqual(
        positions.map((p) => p.offset),
        Array.from({ length: MESSAGES }, (_, i) => i + 1),
      );
      const end = Date.now() + 10_000;
      while (got.length < MESSAGES && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(
        got.map((m) => m.data),
        Array.from({ length: MESSAGES }, (_, i) => `m${i}`),
      );
    });
  }

  it('sends a publisher past the bound of its queue away with 4013, and takes nothing more from it until it is back', async (t) => {
    const redis = await startTestRedis();
    t.after(() => redis.kill());
    const server = await startServer({
      port: 0,
      redis: { redis: redis.url, prefix: 'slow:' },
      hub: { publishLimits: { inFlightPerSession: 5, queuedPerSession: 20 } },
    });
    t.after(() => server.close());
    const raw = await wsClient(server.url);
    const closed = new Promise<number>((resolve) => raw.ws.once('close', (code) => resolve(code)));
    await raw.next('connected');
    const admin = new Redis(redis.url);
    t.after(() => admin.disconnect());
    await admin.client('PAUSE', 1000, 'ALL');
    // All in one write: read at once, before holding the client back could take effect.
    const socket = (raw.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    socket.cork();
    for (let i = 1; i <= 40; i++) {
      await raw.send({ type: 'publish', id: i, channel: 'flood', data: `f${i}`, cmid: `f${i}` });
    }
    socket.uncork();
    const bye = await raw.next('disconnect');
    assert.equal(bye.code, 4013);
    assert.equal(await closed, 4013);
    // What was with Redis is published, in order; the queued ones were dropped with the rest (the
    // client sends every unacknowledged one again, in order, once back): a prefix of what was sent.
    await new Promise((r) => setTimeout(r, 1500));
    const reader = new Redis(redis.url);
    t.after(() => reader.disconnect());
    const entries = (await reader.xrange('slow:{flood}:s', '-', '+')).map(([, fields]) => fields[1]);
    assert.ok(entries.length >= 5 && entries.length < 40, `${entries.length} published`);
    assert.deepEqual(
      entries,
      Array.from({ length: entries.length }, (_, i) => `f${i + 1}`),
    );
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.equal(metric(text, 'conduit_hub_publishes_waiting_disconnects_total'), 1);
  });
});
