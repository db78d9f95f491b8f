/**
 * RedisBroker on a Redis Cluster (three masters of this test's own, test/support/redis-cluster.ts):
 * the broker contract, and channels spread over the shards, each heard through sharded pub/sub
 * (SPUBLISH from the scripts, SSUBSCRIBE on the shard holding the channel's keys).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBroker, type RedisBrokerOptions } from '../../../src/session/brokers/redis.js';
import { startTestRedisCluster, type TestRedisCluster } from '../../support/redis-cluster.js';
import { brokerContract, eventually } from './contract.js';

const PREFIX = `conduit-test-cluster:${process.pid}:`;
let cluster: TestRedisCluster;
const brokers: RedisBroker[] = [];

function node(options: Partial<RedisBrokerOptions> = {}): RedisBroker {
  const broker = new RedisBroker({
    cluster: { nodes: cluster.nodes },
    prefix: PREFIX,
    history: { maxCount: 5 },
    ...options,
  });
  brokers.push(broker);
  return broker;
}

before(async () => {
  cluster = await startTestRedisCluster();
});

after(async () => {
  await Promise.all(brokers.map((b) => b.close().catch(() => undefined)));
  await cluster.stop();
});

describe('RedisBroker on a Redis Cluster: the broker contract', () => {
  brokerContract({
    node: async () => {
      const broker = node();
      await broker.ready();
      return broker;
    },
  });
});

describe('RedisBroker on a Redis Cluster', () => {
  it('spreads channels over the shards, and another node hears each one', async () => {
    const publisher = node();
    const listener = node();
    await Promise.all([publisher.ready(), listener.ready()]);
    const heard = new Map<string, string[]>();
    listener.onPublication((p) => heard.set(p.channel, [...(heard.get(p.channel) ?? []), p.data]));
    const channels = Array.from({ length: 24 }, (_, i) => `spread.${i}`);
    for (const channel of channels) await listener.listen(channel);
    for (const channel of channels) {
      for (const data of ['a', 'b']) await publisher.publish(channel, data, { from: null });
    }
    await eventually(
      () => channels.every((c) => heard.get(c)?.length === 2),
      'every channel heard on the other node',
      5000,
    );
    for (const channel of channels) assert.deepEqual(heard.get(channel), ['a', 'b']);
    // The channels' streams live on more than one master.
    const holders = new Set<number>();
    for (const { host, port } of cluster.nodes) {
      const direct = new Redis({ host, port });
      const keys = await direct.keys(`${PREFIX}{spread.*}:s`);
      await direct.quit();
      if (keys.length > 0) holders.add(port);
    }
    assert.ok(holders.size >= 2, `streams on ${holders.size} master(s)`);
    const recovery = await listener.recover('spread.3', {
      epoch: (await listener.recover('spread.3', null)).top.epoch,
      offset: 0,
    });
    assert.deepEqual(
      recovery.publications.map((p) => p.data),
      ['a', 'b'],
    );
  });

  it('fails commands at once while the Cluster is down, and publishes and hears again once it is back', async () => {
    const publisher = node();
    const listener = node();
    await Promise.all([publisher.ready(), listener.ready()]);
    const heard: string[] = [];
    listener.onPublication((p) => heard.push(p.data));
    await listener.listen('outage');
    await publisher.publish('outage', 'before', { from: null });
    await eventually(() => heard.includes('before'), 'heard before the outage');
    await cluster.kill();
    for (const attempt of [
      () => publisher.publish('outage', 'during', { from: null }),
      () => publisher.recover('outage', null),
    ]) {
      const started = Date.now();
      await assert.rejects(attempt());
      assert.ok(Date.now() - started < 2500, `failed after ${Date.now() - started} ms`);
    }
    await cluster.start();
    // The Cluster came back empty (no persistence): a new epoch, and the sharded subscriber again.
    const end = Date.now() + 20_000;
    for (let n = 1; !heard.includes(`after ${n - 1}`); n++) {
      if (Date.now() > end) throw new Error(`timed out: heard after the outage (${heard.join(', ')})`);
      await publisher.publish('outage', `after ${n}`, { from: null }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it('says it cannot start, in bounded time, when no seed node answers', async () => {
    // Default Cluster options: ioredis would retry the seeds for ever, the commands queued meanwhile.
    const unreachable = new RedisBroker({
      cluster: { nodes: [{ host: '127.0.0.1', port: 1 }] },
      prefix: PREFIX,
    });
    const started = Date.now();
    await assert.rejects(unreachable.ready(1000), /no answer from Redis within 1000 ms/);
    assert.ok(Date.now() - started < 3000, `refused after ${Date.now() - started} ms`);
    unreachable.disconnect();
  });
});
