/**
 * RedisBroker with `replicas` (WAIT): on a master with one replica of this test's own, a publish is
 * acknowledged only once the replica has it, and goes to subscribers only then; with the replica
 * stopped (SIGSTOP) the publish fails in bounded time and nothing goes out; sent again once the
 * replica is back, it lands once, at the offset its first try took.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../../src/session/brokers/redis.js';
import type { Publication } from '../../../src/session/history.js';
import { startTestRedis, type TestRedis } from '../../support/redis-server.js';
import { eventually } from './contract.js';

let master: TestRedis;
let replica: TestRedis;
let replicaPid: number;
const PREFIX = 'replicas:';

before(async () => {
  master = await startTestRedis();
  replica = await startTestRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  const admin = new Redis(replica.url);
  for (let i = 0; i < 200; i++) {
    if ((await admin.info('replication')).includes('master_link_status:up')) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  replicaPid = Number(/process_id:(\d+)/.exec(await admin.info('server'))![1]);
  admin.disconnect();
});

after(async () => {
  await replica.kill();
  await master.kill();
});

describe('RedisBroker with replicas (WAIT)', () => {
  it('acknowledges a publish once the replica has it, and publishes to subscribers only then', async (t) => {
    const publisher = new RedisBroker({
      redis: master.url,
      prefix: PREFIX,
      replicas: { count: 1, timeoutMs: 1500 },
    });
    const listener = new RedisBroker({ redis: master.url, prefix: PREFIX });
    const onReplica = new Redis(replica.url);
    t.after(async () => {
      process.kill(replicaPid, 'SIGCONT');
      onReplica.disconnect();
      await Promise.all([publisher.close(), listener.close()]);
    });
    await Promise.all([publisher.ready(), listener.ready()]);
    const heard: Publication[] = [];
    listener.onPublication((p) => heard.push(p));
    await listener.listen('durable');

    const first = await publisher.publish('durable', 'one', { from: null, idempotencyKey: 'k1' });
    // On the replica already when acknowledged (no waiting here).
    assert.equal(await onReplica.xlen(`${PREFIX}{durable}:s`), 1);
    await eventually(() => heard.length === 1, 'the first publication heard');

    process.kill(replicaPid, 'SIGSTOP');
    const started = Date.now();
    await assert.rejects(
      publisher.publish('durable', 'two', { from: null, idempotencyKey: 'k2' }),
      /0 of 1 replicas confirmed/,
    );
    assert.ok(Date.now() - started < 4000, `failed after ${Date.now() - started} ms`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(heard.length, 1, 'nothing goes to subscribers before the replica has it');

    process.kill(replicaPid, 'SIGCONT');
    const again = await publisher.publish('durable', 'two', { from: null, idempotencyKey: 'k2' });
    assert.deepEqual([again.epoch, again.offset], [first.epoch, 2]);
    await eventually(() => heard.length === 2, 'the second publication heard once back');
    assert.deepEqual(
      heard.map((p) => [p.offset, p.data]),
      [
        [1, 'one'],
        [2, 'two'],
      ],
    );
    assert.equal(await onReplica.xlen(`${PREFIX}{durable}:s`), 2);
  });

  it('is refused on a Redis Cluster, where WAIT cannot be aimed at the shard that took the write', () => {
    assert.throws(
      () => new RedisBroker({ cluster: { nodes: ['127.0.0.1:1'] }, replicas: { count: 1 } }),
      /not a Cluster/,
    );
  });
});
