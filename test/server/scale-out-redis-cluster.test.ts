/**
 * Scale-out on a Redis Cluster (three masters of this test's own): two Conduit nodes configured with
 * `redis: { cluster: { nodes } }`. A publication on one node reaches the other's subscribers on
 * channels spread over the shards, and a session moves between nodes (registry, inboxes and the
 * release all work across the Cluster's slots).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { sseClient, wsClient } from '../support/hub-clients.js';
import { startTestRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';

let cluster: TestRedisCluster;
const servers: RunningServer[] = [];

before(async () => {
  cluster = await startTestRedisCluster();
  for (let i = 0; i < 2; i++) {
    servers.push(
      await startServer({ port: 0, redis: { cluster: { nodes: cluster.nodes }, prefix: 'conduit-test:' } }),
    );
  }
});

after(async () => {
  for (const server of servers) await server.close();
  await cluster.stop();
});

describe('scale-out on a Redis Cluster', () => {
  it('delivers publications made on node A to subscribers on node B, for channels on every shard', async () => {
    const [a, b] = servers as [RunningServer, RunningServer];
    const channels = Array.from({ length: 12 }, (_, i) => `room.${i}`);
    const subscriber = await sseClient(b.url);
    const publisher = await wsClient(a.url);
    await publisher.next('connected');
    let id = 0;
    for (const channel of channels) {
      await subscriber.send({ type: 'subscribe', id: ++id, channel });
      await subscriber.next('subscribed');
    }
    for (const channel of channels) {
      await publisher.send({ type: 'publish', id: ++id, channel, data: `to ${channel}`, cmid: `c${id}` });
      await publisher.next('ack');
    }
    const got: string[] = [];
    for (let i = 0; i < channels.length; i++) got.push((await subscriber.next('message')).data);
    assert.deepEqual(got.sort(), channels.map((c) => `to ${c}`).sort());
    subscriber.kill();
    publisher.kill();
  });

  it('moves a session from node A to node B with its subscription, nothing lost', async () => {
    const [a, b] = servers as [RunningServer, RunningServer];
    const first = await wsClient(a.url);
    const { session, key } = await first.next('connected');
    await first.send({ type: 'subscribe', id: 1, channel: 'moving' });
    const subscribed = await first.next('subscribed');
    const publisher = await wsClient(b.url);
    await publisher.next('connected');
    await publisher.send({ type: 'publish', id: 1, channel: 'moving', data: 'one', cmid: 'm1' });
    await publisher.next('ack');
    assert.equal((await first.next('message')).data, 'one');
    // A's registry entry has landed (it is written right after `connected`); then drop and publish
    // while the client is away.
    const registry = new Cluster(cluster.nodes);
    try {
      for (let i = 0; i < 200 && (await registry.get(`conduit-test:session:${session}`)) === null; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      registry.disconnect();
    }
    first.kill();
    await publisher.send({ type: 'publish', id: 2, channel: 'moving', data: 'two', cmid: 'm2' });
    await publisher.next('ack');
    const moved = await wsClient(b.url, `?session=${key}`);
    const hello = await moved.next('connected');
    assert.deepEqual([hello.session, hello.resumed], [session, true]);
    await moved.send({
      type: 'subscribe',
      id: 2,
      channel: 'moving',
      since: { epoch: subscribed.epoch, offset: 1 },
    });
    const resumed = await moved.next('subscribed');
    assert.equal(resumed.recovered, true);
    assert.equal((await moved.next('message')).data, 'two');
    moved.kill();
    publisher.kill();
  });
});
