/**
 * Scale-out over Redis: three `conduit serve` processes (test/support/hub-server-child.ts) sharing one
 * Redis (REDIS_URL) under a key prefix of this run. A publication on any node reaches subscribers on
 * every node and transport; a client whose connections land on another node each time (a round-robin
 * balancer, no stickiness) resumes with nothing lost or repeated.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { ConduitClient, HubMessage, TransportKind } from '../../src/client/index.js';
import { connectHub } from '../../src/client/node.js';
import { startServer } from '../../src/server/serve.js';
import { wsClient } from '../support/hub-clients.js';
import { startTestRedis } from '../support/redis-server.js';
import { type Balancer, startRoundRobin } from '../support/round-robin-balancer.js';
import { until } from '../support/until.js';

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `conduit-test-nodes:${process.pid}:${Date.now()}:`;
const CHILD = fileURLToPath(new URL('../support/hub-server-child.js', import.meta.url));

const nodes: { child: ChildProcess; url: string; port: number }[] = [];

before(async () => {
  for (let i = 0; i < 3; i++) {
    const child = fork(CHILD, [
      JSON.stringify({ redis: { redis: REDIS, prefix: PREFIX }, hubHttp: { pollTimeoutMs: 2000 } }),
    ]);
    const [message] = (await once(child, 'message')) as [{ port: number }];
    nodes.push({ child, port: message.port, url: `http://127.0.0.1:${message.port}` });
  }
});

after(async () => {
  for (const node of nodes) node.child.disconnect();
  const admin = new Redis(REDIS);
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

function subscribed(client: ConduitClient, channel: string, got: HubMessage[]): Promise<unknown> {
  const sub = client.subscribe(channel, (m) => got.push(m));
  return new Promise((resolve) => sub.on('subscribed', resolve));
}

describe('scale-out: three nodes on one Redis', () => {
  it('delivers a publication made on node A to subscribers on B and C over every transport', async () => {
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    const subscribers: [string, TransportKind][] = [
      [b.url, 'websocket'],
      [c.url, 'sse'],
      [b.url, 'polling'],
      [c.url, 'websocket'],
    ];
    const clients = subscribers.map(([url, kind]) => connectHub(url, { transports: [kind] }));
    const got = clients.map(() => [] as HubMessage[]);
    try {
      await Promise.all(clients.map((client, i) => subscribed(client, 'across', got[i]!)));
      const publisher = connectHub(a.url);
      const acks = [];
      for (let i = 0; i < 20; i++) acks.push(await publisher.publish('across', `m${i}`));
      publisher.close();
      await until(() => got.every((g) => g.length === 20), 'every subscriber has all 20');
      for (const g of got) {
        assert.deepEqual(
          g.map((m) => m.data),
          Array.from({ length: 20 }, (_, i) => `m${i}`),
        );
        assert.deepEqual(
          g.map((m) => m.offset),
          acks.map((ack) => ack.offset),
        );
      }
    } finally {
      for (const client of clients) client.close();
    }
  });

  it('a WebSocket client sent to another node at each reconnect resumes with nothing lost or repeated', async () => {
    let balancer: Balancer | null = null;
    balancer = await startRoundRobin(nodes.map((n) => n.port));
    const reader = connectHub(balancer.url, { transports: ['websocket'], backoffMinMs: 20 });
    const writer = connectHub(nodes[0]!.url);
    const got: HubMessage[] = [];
    try {
      await subscribed(reader, 'moving', got);
      for (let i = 0; i < 300; i++) {
        await writer.publish('moving', `m${i}`);
        if (i % 50 === 25) balancer.kill(); // the reader lands on the next node
      }
      await until(() => got.length >= 300, `300 messages (got ${got.length})`);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(
        got.map((m) => m.data),
        Array.from({ length: 300 }, (_, i) => `m${i}`),
      );
      assert.ok(
        new Set(balancer.picks).size === 3,
        `connections went to ${new Set(balancer.picks).size} nodes`,
      );
    } finally {
      reader.close();
      writer.close();
      await balancer.close();
    }
  });
});

describe('scale-out: a node killed with SIGKILL', () => {
  it('loses no acknowledged message: subscribers on the other nodes get every one, once', async () => {
    const victim = fork(CHILD, [JSON.stringify({ redis: { redis: REDIS, prefix: PREFIX } })]);
    const [message] = (await once(victim, 'message')) as [{ port: number }];
    const writer = connectHub(`http://127.0.0.1:${message.port}`, { transports: ['websocket'] });
    const reader = connectHub(nodes[1]!.url, { transports: ['sse'] });
    const got: HubMessage[] = [];
    try {
      await subscribed(reader, 'sigkill', got);
      const acked: string[] = [];
      let sent = 0;
      const publishing = (async () => {
        for (; sent < 10_000; sent++) {
          const data = `m${sent}`;
          // Acknowledged means stored in Redis: these must all arrive.
          void writer.publish('sigkill', data).then(
            () => acked.push(data),
            () => undefined,
          );
          if (sent % 20 === 0) await new Promise((r) => setTimeout(r, 1));
        }
      })();
      await until(() => acked.length >= 300, 'some acks');
      victim.kill('SIGKILL');
      await once(victim, 'exit');
      writer.close(); // what was not acknowledged is not promised
      await publishing;
      await until(
        () => acked.every((d) => got.some((m) => m.data === d)),
        'every acknowledged message',
        15_000,
      );
      const data = got.map((m) => m.data);
      assert.equal(new Set(data).size, data.length, 'none twice');
      const offsets = got.map((m) => m.offset);
      assert.deepEqual(
        offsets,
        Array.from({ length: offsets.length }, (_, i) => i + 1),
        'in order, no hole',
      );
    } finally {
      reader.close();
      writer.close();
      if (victim.exitCode === null) victim.kill('SIGKILL');
    }
  });
});

describe('scale-out: a node shutting down gracefully', () => {
  it('sends its clients elsewhere (1001, reconnect), and their sessions and presence go on there without a leave', async () => {
    const leaving = fork(CHILD, [JSON.stringify({ redis: { redis: REDIS, prefix: PREFIX } })]);
    const [message] = (await once(leaving, 'message')) as [{ port: number }];
    const balancer = await startRoundRobin([message.port, nodes[1]!.port]);
    const watcher = connectHub(nodes[2]!.url);
    const member = connectHub(balancer.url, { transports: ['websocket'], backoffMinMs: 20 });
    const first = new Promise<{ session: string }>((resolve) => member.on('connected', resolve));
    const changes: string[] = [];
    try {
      const watching = watcher.subscribe('lobby.graceful', undefined, { presence: true });
      watching.on('join', (m) => changes.push(`join ${m.session}`));
      watching.on('leave', (m) => changes.push(`leave ${m.session}`));
      await new Promise((resolve) => watching.on('subscribed', resolve));
      const sub = member.subscribe('lobby.graceful', undefined, { presence: true });
      await new Promise((resolve) => sub.on('subscribed', resolve));
      const session = (await first).session;
      await until(() => changes.length === 1, 'the join');
      const bye = new Promise<{ code: number }>((resolve) => member.on('disconnected', resolve));
      const back = new Promise<{ session: string; resumed: boolean }>((resolve) =>
        member.on('connected', (info) => resolve(info)),
      );
      leaving.disconnect(); // the node stops: hub.close(), broker.close()
      assert.equal((await bye).code, 1001);
      const moved = await back;
      assert.deepEqual([moved.session, moved.resumed], [session, true]);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(changes, [`join ${session}`]);
      assert.deepEqual(
        (await watching.members()).map((m) => m.session).sort(),
        [session, watcher.session].sort(),
      );
    } finally {
      member.close();
      watcher.close();
      await balancer.close();
      if (leaving.exitCode === null) leaving.kill('SIGKILL');
    }
  });
});

describe('scale-out: resuming a session on another node', () => {
  it('takes over a session whose connection died, and refuses one that ended (SESSION_UNKNOWN)', async (t) => {
    const admin = new Redis(REDIS);
    t.after(() => admin.quit());
    const entry = async (id: string) => admin.get(`${PREFIX}session:${id}`);
    /** The registry entry once `check` holds for it (polled for 2 s at most). */
    const entryOnce = async (id: string, check: (text: string | null) => boolean, what: string) => {
      for (let i = 0; i < 200; i++, await new Promise((r) => setTimeout(r, 10))) {
        const text = await entry(id);
        if (check(text)) return text;
      }
      throw new Error(`timed out: ${what}`);
    };
    const dropped = await wsClient(nodes[0]!.url);
    const { session: id, key } = await dropped.next('connected');
    // The node notes the session in Redis right after `connected`: let it land before the drop.
    const first = await entryOnce(id, (text) => text !== null, 'the registry entry of node A');
    dropped.kill();
    const moved = await wsClient(nodes[1]!.url, `?session=${key}`);
    const hello = await moved.next('connected');
    assert.deepEqual([hello.session, hello.resumed], [id, true]);
    // Node B's entry replaced A's, and A letting the session go did not delete it.
    const second = await entryOnce(id, (text) => text !== first, "node B's registry entry");
    assert.notEqual(second, null);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await entry(id), second);
    await moved.send({ type: 'bye' });
    // The session is over: its entry goes with it.
    await entryOnce(id, (text) => text === null, 'the registry entry deleted after bye');
    const late = await wsClient(nodes[2]!.url, `?session=${key}`);
    assert.equal((await late.next('error')).code, 'SESSION_UNKNOWN');
    assert.notEqual((await late.next('connected')).session, id);
    late.kill();
    // Nor on the node where it ended.
    const there = await wsClient(nodes[1]!.url, `?session=${key}`);
    assert.equal((await there.next('error')).code, 'SESSION_UNKNOWN');
    there.kill();
  });
});

describe('scale-out: HTTP transports behind a balancer without stickiness', () => {
  for (const kind of ['sse', 'polling'] as const) {
    it(`${kind}: requests spread over three nodes (POSTs and polls forwarded, the session following its stream), nothing lost or repeated`, async () => {
      const balancer = await startRoundRobin(nodes.map((n) => n.port));
      const reader = connectHub(balancer.url, { transports: [kind], backoffMinMs: 20 });
      const writer = connectHub(balancer.url, { transports: [kind], backoffMinMs: 20 });
      const got: HubMessage[] = [];
      const channel = `spread.${kind}`;
      try {
        await subscribed(reader, channel, got);
        const acks = [];
        for (let i = 0; i < 200; i++) {
          acks.push(writer.publish(channel, `m${i}`));
          if (i % 40 === 20) {
            await Promise.all(acks.splice(0));
            balancer.kill(); // every connection drops; the next ones land elsewhere
          }
        }
        await Promise.all(acks);
        await until(() => got.length >= 200, `200 messages (got ${got.length})`, 20_000);
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(
          got.map((m) => m.data),
          Array.from({ length: 200 }, (_, i) => `m${i}`),
        );
        assert.equal(new Set(balancer.picks).size, 3);
      } finally {
        reader.close();
        writer.close();
        await balancer.close();
      }
    });
  }
});

describe('scale-out: Redis goes away and comes back', () => {
  it('publishes fail while it is down (retried by the client), and after its restart every acknowledged message arrives once, in order', async () => {
    const redis = await startTestRedis({ persistent: true });
    const url = redis.url;
    const servers = [];
    try {
      const logs: string[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(line) });
      for (let i = 0; i < 2; i++) {
        servers.push(await startServer({ port: 0, redis: { redis: url, commandTimeoutMs: 500 }, logger }));
      }
      const reader = connectHub(servers[1]!.url, { transports: ['websocket'] });
      const writer = connectHub(servers[0]!.url, { transports: ['websocket'] });
      const got: HubMessage[] = [];
      await subscribed(reader, 'outage', got);
      for (let i = 0; i < 5; i++) await writer.publish('outage', `before ${i}`);
      await until(() => got.length === 5, 'the first five');
      await redis.kill();
      // While Redis is down: the publishes wait (the server answers UNAVAILABLE, the client retries).
      const during = [0, 1, 2].map((i) => writer.publish('outage', `during ${i}`));
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(got.length, 5);
      const restarted = redis.start();
      await Promise.all(during);
      await restarted;
      // Nothing else is published: what was published before the reader's node heard Redis again
      // arrives by the resync against the history.
      await until(() => got.length >= 8, `8 messages (got ${got.map((m) => m.data)})`, 15_000);
      for (let i = 0; i < 3; i++) await writer.publish('outage', `after ${i}`);
      await until(() => got.length >= 11, `11 messages (got ${got.map((m) => m.data)})`, 15_000);
      await new Promise((r) => setTimeout(r, 200));
      const data = got.map((m) => m.data);
      assert.deepEqual(
        data.slice(0, 5),
        [0, 1, 2, 3, 4].map((i) => `before ${i}`),
      );
      assert.deepEqual(
        data.slice(5, 8).sort(),
        [0, 1, 2].map((i) => `during ${i}`),
      );
      assert.deepEqual(
        data.slice(8),
        [0, 1, 2].map((i) => `after ${i}`),
      );
      assert.deepEqual(
        got.map((m) => m.offset),
        Array.from({ length: 11 }, (_, i) => i + 1),
      );
      // The logs say what happened, as structured lines.
      const messages = logs.map((line) => (JSON.parse(line) as { msg: string }).msg);
      assert.ok(
        messages.some((m) => m.startsWith('redis unreachable')),
        messages.join(' | '),
      );
      assert.ok(
        messages.some((m) => m.startsWith('redis is back')),
        messages.join(' | '),
      );
      reader.close();
      writer.close();
    } finally {
      for (const server of servers) await server.close();
      await redis.kill();
    }
  });
});

describe('scale-out: bad Redis configuration', () => {
  it('refuses to start with a clear error for a wrong password or an unreachable Redis', async () => {
    // A Redis of our own that wants a password.
    const guarded = await startTestRedis({ password: 'right' });
    const port = guarded.port;
    try {
      await assert.rejects(
        startServer({ port: 0, redis: `redis://:wrong-password@127.0.0.1:${port}` }),
        (error: Error) => {
          assert.match(
            error.message,
            new RegExp(`^cannot use Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}.*WRONGPASS`),
          );
          assert.doesNotMatch(error.message, /wrong-password/);
          return true;
        },
      );
      const ok = await startServer({ port: 0, redis: `redis://:right@127.0.0.1:${port}` });
      await ok.close();
    } finally {
      await guarded.kill();
    }
    const started = Date.now();
    await assert.rejects(
      startServer({ port: 0, redis: { redis: 'redis://127.0.0.1:1', commandTimeoutMs: 500 } }),
      /cannot use Redis at redis:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
    );
    assert.ok(Date.now() - started < 5000);
  });
});
