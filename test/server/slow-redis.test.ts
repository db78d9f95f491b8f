/**
 * A Redis that stops answering for a while (CLIENT PAUSE, longer than the broker's command timeout)
 * under a node with a publishing client: what waits on Redis stays bounded (publishes past the bound
 * are answered UNAVAILABLE at once and sent again by the client), publishes that timed out are sent
 * again and land once (idempotency keys), and when Redis answers again every publish is acknowledged
 * and delivered once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { HubMessage } from '../../src/client/index.js';
import { connectHub } from '../../src/client/node.js';
import { startServer } from '../../src/server/serve.js';
import { startTestRedis } from '../support/redis-server.js';

const MESSAGES = 200;
const PER_SESSION = 20;
const PAUSE_MS = 2500;

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

describe('a slow Redis under a node', () => {
  it('keeps what waits on it bounded, and every publish lands once when it answers again', async (t) => {
    const redis = await startTestRedis();
    t.after(() => redis.kill());
    const server = await startServer({
      port: 0,
      redis: { redis: redis.url, prefix: 'slow:', commandTimeoutMs: 800 },
      hub: { maxPublishesWaiting: { perSession: PER_SESSION } },
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
    let mostWaiting = 0;
    const pausedUntil = Date.now() + PAUSE_MS;
    while (Date.now() < pausedUntil) {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      mostWaiting = Math.max(mostWaiting, metric(text, 'conduit_hub_publishes_waiting'));
      await new Promise((r) => setTimeout(r, 50));
    }
    const positions = await acks;
    const text = await (await fetch(`${server.url}/metrics`)).text();

    assert.ok(mostWaiting > 0 && mostWaiting <= PER_SESSION, `${mostWaiting} publishes waited at once`);
    assert.ok(metric(text, 'conduit_hub_publishes_refused_busy_total') > 0, 'some were refused while busy');
    // Acknowledged once each: one offset per publish, none shared.
    const offsets = positions.map((p) => p.offset).sort((a, b) => a - b);
    assert.deepEqual(
      offsets,
      Array.from({ length: MESSAGES }, (_, i) => i + 1),
    );
    const end = Date.now() + 5000;
    while (got.length < MESSAGES && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      got.map((m) => m.offset),
      offsets,
    );
    assert.deepEqual(new Set(got.map((m) => m.data)).size, MESSAGES);
  });
});
