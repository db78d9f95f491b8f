/**
 * `conduit serve` on the Redis topologies ioredis supports, each of this test's own: a master with a
 * replica watched by a Sentinel (`--redis-sentinels`), through a failover; a Redis Cluster
 * (`--redis-cluster`) under two nodes. And the flags' clear errors.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { ConduitClient, HubMessage } from '../../src/client/index.js';
import { connectHub } from '../../src/client/node.js';
import { startTestRedisCluster } from '../support/redis-cluster.js';
import { startTestSentinel } from '../support/redis-sentinel.js';
import { startTestRedis } from '../support/redis-server.js';
import { untilValue } from '../support/until.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Serving {
  child: ChildProcess;
  url: string;
  output(): string;
}

/** `conduit serve --port 0 ...args`, once it says where it serves. */
async function serve(args: string[]): Promise<Serving> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  for (let i = 0; i < 500 && !/conduit serving (\S+)\//.test(output) && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = /conduit serving (\S+)\//.exec(output)?.[1];
  if (url === undefined) {
    child.kill('SIGKILL');
    throw new Error(`conduit serve did not start: ${output}`);
  }
  return { child, url, output: () => output };
}

async function stop(serving: Serving): Promise<void> {
  if (serving.child.exitCode !== null) return;
  const exited = once(serving.child, 'exit');
  serving.child.kill('SIGTERM');
  await exited;
}

describe('conduit serve on Redis Sentinel and Redis Cluster', () => {
  it('--redis-sentinels --redis-replicas 1: acknowledged publishes are on a replica, and go on through a failover, offsets continuing', async () => {
    // A master with two replicas: after the failover the new master still has one to confirm writes.
    const master = await startTestRedis();
    const replicas = [
      await startTestRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] }),
      await startTestRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] }),
    ];
    const admins = replicas.map((r) => new Redis(r.url));
    const sentinel = await startTestSentinel(master.port);
    let node: Serving | null = null;
    const clients: ConduitClient[] = [];
    try {
      for (const admin of admins) {
        await untilValue(
          () => admin.info('replication'),
          (info) => info.includes('master_link_status:up'),
          'the replicas in sync',
        );
      }
      node = await serve([
        '--redis-sentinels',
        `127.0.0.1:${sentinel.port}`,
        '--redis-replicas',
        '1',
        '--redis-prefix',
        'sentinel:',
      ]);
      const reader = connectHub(node.url, { transports: ['websocket'] });
      const writer = connectHub(node.url, { transports: ['websocket'] });
      clients.push(reader, writer);
      const got: HubMessage[] = [];
      const sub = reader.subscribe('failover', (m) => got.push(m));
      await new Promise((resolve) => sub.on('subscribed', resolve));
      const before = await writer.publish('failover', 'before');
      // Acknowledged once a replica had it (WAIT): the master may die now.
      const copies = await Promise.all(admins.map((admin) => admin.xlen('sentinel:{failover}:s')));
      assert.ok(copies.includes(1), `on the replicas: ${copies.join(', ')}`);
      await master.kill();
      const ports = replicas.map((r) => r.port);
      await untilValue(
        () => sentinel.masterPort(),
        (port) => port !== null && ports.includes(port),
        'the failover to a replica',
      );
      const after = await writer.publish('failover', 'after');
      assert.deepEqual([after.epoch, after.offset], [before.epoch, before.offset + 1]);
      await untilValue(
        () => got.length,
        (n) => n === 2,
        'both messages delivered',
      );
      assert.deepEqual(
        got.map((m) => [m.data, m.offset]),
        [
          ['before', 1],
          ['after', 2],
        ],
      );
    } finally {
      for (const client of clients) client.close();
      if (node !== null) await stop(node);
      for (const admin of admins) admin.disconnect();
      await sentinel.stop();
      for (const replica of replicas) await replica.kill();
      await master.kill();
    }
  });

  it('--redis-cluster: two nodes on a Redis Cluster share channels', async (t) => {
    const cluster = await startTestRedisCluster();
    t.after(() => cluster.stop());
    const seeds = cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
    const a = await serve(['--redis-cluster', seeds]);
    t.after(() => stop(a));
    const b = await serve(['--redis-cluster', seeds]);
    t.after(() => stop(b));
    const reader = connectHub(b.url);
    const writer = connectHub(a.url);
    t.after(() => {
      reader.close();
      writer.close();
    });
    const got: HubMessage[] = [];
    const sub = reader.subscribe('cluster.news', (m) => got.push(m));
    await new Promise((resolve) => sub.on('subscribed', resolve));
    await writer.publish('cluster.news', 'from node a');
    await untilValue(
      () => got.length,
      (n) => n === 1,
      'the message on node b',
    );
    assert.equal(got[0]!.data, 'from node a');
  });

  it('says which Redis flags go together, and what a seed list looks like', async () => {
    for (const [args, message] of [
      [
        ['--redis', 'redis://127.0.0.1:6379', '--redis-cluster', '127.0.0.1:7000'],
        /--redis and --redis-cluster: redis: give exactly one of url, cluster and sentinels/,
      ],
      [['--redis-cluster', '127.0.0.1'], /--redis-cluster: redis\.cluster\.0: expected host:port/],
      [['--redis-sentinels', 'localhost:x'], /--redis-sentinels: redis\.sentinels\.0: expected host:port/],
      [['--redis-prefix', 'p:'], /--redis-prefix: redis: give exactly one of url, cluster and sentinels/],
      [
        ['--redis-cluster', '127.0.0.1:7000', '--redis-replicas', '1'],
        /replicas goes with url or sentinels, not cluster/,
      ],
    ] as const) {
      const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const [code] = await once(child, 'exit');
      assert.notEqual(code, 0);
      assert.match(stderr, message);
    }
  });
});
