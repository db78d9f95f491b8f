/**
 * The Redis broker against a real Redis (REDIS_URL, default redis://127.0.0.1:6379; `.ci/run` starts
 * one when the machine has none). Every run uses a key prefix of its own and deletes its keys after.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBroker, type RedisBrokerOptions } from '../../../src/session/brokers/redis.js';
import { startTestRedis } from '../../support/redis-server.js';
import { brokerContract, eventually } from './contract.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `conduit-test:${process.pid}:${Date.now()}:`;
const brokers: RedisBroker[] = [];

function node(options: RedisBrokerOptions = {}): RedisBroker {
  const broker = new RedisBroker({ redis: URL, prefix: PREFIX, history: { maxCount: 5 }, ...options });
  brokers.push(broker);
  return broker;
}

after(async () => {
  await Promise.all(brokers.map((b) => b.close().catch(() => undefined)));
  const admin = new Redis(URL);
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

describe('RedisBroker: the broker contract, nodes sharing one Redis', () => {
  brokerContract({
    node: async () => {
      const broker = node();
      await broker.ready();
      return broker;
    },
  });
});

describe('RedisBroker in Redis', () => {
  it('keeps every key under its prefix and leaves other keys alone', async () => {
    const admin = new Redis(URL);
    try {
      await admin.set('other-app:key', 'mine');
      const broker = node();
      await broker.publish('isolated', 'x', { from: null, idempotencyKey: 'k' });
      await broker.join('isolated', { session: 's', user: null });
      const ours = await admin.keys(`${PREFIX}{isolated}*`);
      assert.deepEqual(ours.sort(), [
        `${PREFIX}{isolated}:k:k`,
        `${PREFIX}{isolated}:m`,
        `${PREFIX}{isolated}:p`,
        `${PREFIX}{isolated}:pd`,
        `${PREFIX}{isolated}:s`,
      ]);
      assert.equal(await admin.get('other-app:key'), 'mine');
    } finally {
      await admin.del('other-app:key');
      await admin.quit();
    }
  });

  it('starts a new epoch when the history is lost in Redis, and a resume from the old one is told', async () => {
    const broker = node();
    const old = await broker.publish('lost', 'a', { from: null });
    const admin = new Redis(URL);
    await admin.del(`${PREFIX}{lost}:m`, `${PREFIX}{lost}:s`);
    await admin.quit();
    const next = await broker.publish('lost', 'b', { from: null });
    assert.notEqual(next.epoch, old.epoch);
    assert.equal(next.offset, 1);
    const r = await broker.recover('lost', { epoch: old.epoch, offset: old.offset });
    assert.deepEqual([r.recovered, !r.recovered && r.reason], [false, 'epoch']);
  });

  it('trims by age: publications older than maxAgeMs are gone, the latest is kept', async () => {
    const broker = node({ history: { maxCount: 100, maxAgeMs: 200 } });
    const first = await broker.publish('aging', 'old', { from: null });
    await new Promise((r) => setTimeout(r, 300));
    await broker.publish('aging', 'new', { from: null });
    const r = await broker.recover('aging', { epoch: first.epoch, offset: 0 });
    assert.deepEqual([r.recovered, !r.recovered && r.reason], [false, 'trimmed']);
    assert.deepEqual(
      r.publications.map((p) => p.data),
      ['new'],
    );
  });

  it("removes a crashed node's members when they expire, and the others hear them leave", async () => {
    const crashing = node({ presenceTtlMs: 300 });
    const survivor = node({ presenceTtlMs: 300 });
    const left: string[] = [];
    survivor.onPresence((channel, change, member) => {
      if (channel === 'crash' && change === 'leave') left.push(member.session);
    });
    await survivor.listen('crash');
    await crashing.join('crash', { session: 'doomed', user: 'zed' });
    await new Promise((r) => setTimeout(r, 500)); // refreshed meanwhile: still there
    assert.deepEqual(
      (await survivor.members('crash')).map((m) => m.session),
      ['doomed'],
    );
    // The node dies without a word: no leave, no more refreshes.
    crashing.disconnect();
    const started = Date.now();
    await eventually(() => left.includes('doomed'), 'the leave of the crashed member', 3000);
    assert.ok(Date.now() - started < 1500, `gone after ${Date.now() - started} ms`);
    assert.deepEqual(await survivor.members('crash'), []);
  });

  it('asks for a resync when its pub/sub connection comes back (what was published meanwhile was not heard)', async () => {
    const listener = node();
    await listener.ready();
    let resyncs = 0;
    listener.onResync(() => resyncs++);
    const heard: string[] = [];
    listener.onPublication((p) => heard.push(p.data));
    await listener.listen('dropped');
    const admin = new Redis(URL);
    const other = node();
    try {
      // Only this broker's pub/sub connection (other tests share the Redis).
      const subscriber = (listener as unknown as { subscriber: Redis }).subscriber;
      const local = (subscriber as unknown as { stream: { localPort: number } }).stream.localPort;
      await admin.client('KILL', 'ADDR', `127.0.0.1:${local}`);
      await other.publish('dropped', 'unheard', { from: null });
      await eventually(() => resyncs === 1, 'a resync after the reconnection');
      await other.publish('dropped', 'heard', { from: null });
      await eventually(() => heard.includes('heard'), 'publications heard again');
      assert.deepEqual(heard, ['heard']);
    } finally {
      await admin.quit();
    }
  });

  it('sends a SUBSCRIBE that failed (Redis away) again when Redis is back, and hears the channel', async () => {
    const redis = await startTestRedis();
    const listener = new RedisBroker({ redis: redis.url, prefix: PREFIX, commandTimeoutMs: 300 });
    const publisher = new RedisBroker({ redis: redis.url, prefix: PREFIX, commandTimeoutMs: 300 });
    try {
      await Promise.all([listener.ready(), publisher.ready()]);
      const heard: string[] = [];
      listener.onPublication((p) => heard.push(p.data));
      await redis.kill();
      await listener.listen('while-away');
      await assert.rejects(listener.recover('while-away', null));
      await redis.start();
      // Published until heard (the listener reconnects on its own schedule).
      const end = Date.now() + 10_000;
      for (let sent = 1; heard.length === 0; sent++) {
        if (Date.now() > end) throw new Error('timed out: the channel heard after Redis came back');
        await publisher.publish('while-away', `m${sent}`, { from: null }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual((await listener.recover('while-away', null)).recovered, true);
    } finally {
      listener.disconnect();
      publisher.disconnect();
      await redis.kill();
    }
  });

  it('fails a publish with an error, in bounded time, when Redis cannot be reached', async () => {
    const unreachable = new RedisBroker({
      redis: 'redis://127.0.0.1:1',
      prefix: PREFIX,
      commandTimeoutMs: 300,
    });
    const started = Date.now();
    await assert.rejects(unreachable.publish('nowhere', 'x', { from: null }));
    assert.ok(Date.now() - started < 3000, `failed after ${Date.now() - started} ms`);
    await assert.rejects(unreachable.ready());
    await unreachable.close().catch(() => undefined);
  });
});
