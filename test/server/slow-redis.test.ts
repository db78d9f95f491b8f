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

const MESSAGES = 200;
const IN_FLIGHT = 20;
const PAUSE_MS = 2500;

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

describe('a slow Redis under a node', () => {
  it('keeps what waits on it bounded, and every publish lands once, in order, when it answers again', async (t) => {
    const redis = await startTestRedis();
    t.after(() => redis.kill());
    const server = await startServer({
      port: 0,
      redis: { redis: redis.url, prefix: 'slow:', commandTimeoutMs: 800 },
      hub: { publishLimits: { inFlightPerSession: IN_FLIGHT } },
    });
    t.after(() => server.close());
    const subscriber = connectHub(server.url, { transports: ['websocket'] });
    const publisher = connectHub(server.url, { transports: ['websocket'] });
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
    const acks = Promise.all(Array.from({ length: MESSAGES }, (_, i) => publisher.publish('slow', `m${i}`)));
    let mostInFlight = 0;
    let mostQueued = 0;
    const pausedUntil = Date.now() + PAUSE_MS;
    while (Date.now() < pausedUntil) {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      mostInFlight = Math.max(mostInFlight, metric(text, 'conduit_hub_publishes_in_flight'));
      mostQueued = Math.max(mostQueued, metric(text, 'conduit_hub_publishes_queued'));
      await new Promise((r) => setTimeout(r, 50));
    }
    const positions = await acks;

    assert.equal(mostInFlight, IN_FLIGHT, 'publishes with Redis at once');
    assert.ok(mostQueued >= MESSAGES - 2 * IN_FLIGHT, `${mostQueued} queued at most`);
    // Acknowledged once each, in the order published: one offset per publish, none shared.
    assert.deepEqual(
      positions.map((p) => p.offset),
      Array.from({ length: MESSAGES }, (_, i) => i + 1),
    );
    const end = Date.now() + 5000;
    while (got.length < MESSAGES && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      got.map((m) => m.data),
      Array.from({ length: MESSAGES }, (_, i) => `m${i}`),
    );
  });

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
    for (let i = 1; i <= 40; i++) {
      await raw.send({ type: 'publish', id: i, channel: 'flood', data: `f${i}`, cmid: `f${i}` });
    }
    const bye = await raw.next('disconnect');
    assert.equal(bye.code, 4013);
    assert.equal(await closed, 4013);
    // The 5 that were with Redis are published; the queued ones were dropped with the rest (the client
    // sends every unacknowledged one again, in order, once back).
    await new Promise((r) => setTimeout(r, 1500));
    const reader = new Redis(redis.url);
    t.after(() => reader.disconnect());
    assert.equal(await reader.xlen('slow:{flood}:s'), 5);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.equal(metric(text, 'conduit_hub_publishes_waiting_disconnects_total'), 1);
  });
});
