import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { ConduitClient, HubMessage, TransportKind } from '../../src/client/index.js';
import { connectHub } from '../../src/client/node.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import type { PublishOptions } from '../../src/session/broker.js';
import { MemoryBroker } from '../../src/session/brokers/memory.js';
import type { Publication, Recovery, StreamPosition } from '../../src/session/history.js';
import { until } from '../support/until.js';

let server: RunningServer;
before(async () => {
  server = await startServer({ port: 0, hubHttp: { pollTimeoutMs: 2000 } });
});
after(() => server.close());

const KINDS: TransportKind[] = ['websocket', 'sse', 'polling'];

function once<T>(client: ConduitClient, event: 'transport' | 'connected'): Promise<T> {
  return new Promise((resolve) => {
    const off = client.on(event, (value) => {
      off();
      resolve(value as T);
    });
  });
}

describe('the hub client (Node, Conduit WebSocket and EventSource)', () => {
  for (const kind of KINDS) {
    it(`publishes with an ack and receives on ${kind}`, async () => {
      const a = connectHub(server.url, { transports: [kind] });
      const b = connectHub(server.url, { transports: [kind] });
      assert.equal(await once(a, 'transport'), kind);
      const got: string[] = [];
      const sub = b.subscribe(`room.${kind}`, (m) => got.push(m.data));
      await new Promise((resolve) => sub.on('subscribed', resolve));
      const ack = await a.publish(`room.${kind}`, 'hello');
      assert.equal(ack.channel, `room.${kind}`);
      await until(() => got.length === 1, 'the message');
      assert.deepEqual(got, ['hello']);
      assert.equal(b.transport, kind);
      a.close();
      b.close();
    });
  }

  it('falls back to SSE when the WebSocket upgrade is refused, and to long-polling when SSE fails too', async () => {
    const started = Date.now();
    const c = connectHub(server.url, { paths: { ws: '/nowhere', sse: '/nowhere' } });
    assert.equal(await once(c, 'transport'), 'polling');
    assert.ok(Date.now() - started < 3000, `fell back in ${Date.now() - started} ms`);
    const d = connectHub(server.url, { paths: { ws: '/nowhere' } });
    assert.equal(await once(d, 'transport'), 'sse');
    c.close();
    d.close();
  });

  for (const kind of KINDS) {
    it(`resumes after dropped connections on ${kind} with every message once, in order, and every publish acked once`, async () => {
      const channel = `resume.${kind}`;
      const reader = connectHub(server.url, { transports: [kind], backoffMinMs: 10 });
      const writer = connectHub(server.url, { transports: [kind], backoffMinMs: 10 });
      const got: HubMessage[] = [];
      const sub = reader.subscribe(channel, (m) => got.push(m));
      await new Promise((resolve) => sub.on('subscribed', resolve));
      const resumes: boolean[] = [];
      reader.on('connected', (info) => resumes.push(info.resumed));
      const acks: Promise<unknown>[] = [];
      for (let i = 0; i < 300; i++) {
        acks.push(writer.publish(channel, `m${i}`));
        if (i % 60 === 30) reader.drop();
        if (i % 75 === 40) writer.drop();
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      const positions = (await Promise.all(acks)) as { offset: number }[];
      assert.equal(new Set(positions.map((p) => p.offset)).size, 300, 'each publish acked at its own offset');
      await until(() => got.length >= 300, `300 messages (got ${got.length})`, 10_000);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        got.map((m) => m.data),
        Array.from({ length: 300 }, (_, i) => `m${i}`),
      );
      assert.ok(resumes.length >= 4 && resumes.every((r) => r), `resumed sessions: ${resumes}`);
      reader.close();
      writer.close();
    });
  }

  it('tells presence joins and leaves and lists the members', async () => {
    const a = connectHub(server.url);
    const b = connectHub(server.url, { transports: ['polling'] });
    const subA = a.subscribe('presence.room', undefined, { presence: true });
    await new Promise((resolve) => subA.on('subscribed', resolve));
    const joined = new Promise<{ session: string }>((resolve) => subA.on('join', resolve));
    const subB = b.subscribe('presence.room', undefined, { presence: true });
    await new Promise((resolve) => subB.on('subscribed', resolve));
    assert.equal((await joined).session, b.session);
    const members = await subA.members();
    assert.deepEqual(members.map((m) => m.session).sort(), [a.session, b.session].sort());
    const left = new Promise<{ session: string }>((resolve) => subA.on('leave', resolve));
    await subB.unsubscribe();
    assert.equal((await left).session, b.session);
    a.close();
    b.close();
  });

  it('a refused subscribe is an error on the subscription; a closed client refuses publishes', async () => {
    const tokened = await startServer({ port: 0, access: { tokenSecret: 's'.repeat(32) } });
    try {
      const token = await new SignJWT({ sub: 'ann', channels: ['chat.*'] })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(Buffer.from('s'.repeat(32)));
      const c = connectHub(tokened.url, { token });
      const sub = c.subscribe('admin');
      const error = await new Promise<{ code: string }>((resolve) => sub.on('error', resolve));
      assert.equal(error.code, 'FORBIDDEN');
      await assert.rejects(c.publish('admin', 'x'), { code: 'FORBIDDEN' });
      c.close();
      await assert.rejects(c.publish('chat.a', 'x'), { code: 'CLOSED' });
      const bad = connectHub(tokened.url, { token: 'forged' });
      const refused = await new Promise<{ code: string }>((resolve) => bad.on('error', resolve));
      assert.equal(refused.code, 'TOKEN_INVALID');
      await until(() => bad.state === 'closed', 'closed after a refused token');
    } finally {
      await tokened.close();
    }
  });
});

describe('the hub client: liveness of the server', () => {
  /** A hub stand-in on real sockets: says `connected` (ping 50 ms), then pings every 50 ms or stays silent. */
  async function fakeHub(mode: 'silent' | 'pinging') {
    const { WebSocketServer } = await import('../../src/index.js');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'conduit.v1' });
    await new Promise<void>((resolve) => wss.on('listening', () => resolve()));
    let connections = 0;
    const timers: NodeJS.Timeout[] = [];
    wss.on('connection', (ws) => {
      connections++;
      ws.on('error', () => undefined);
      const hello = {
        type: 'connected',
        v: 1,
        session: `s${connections}`,
        resumed: false,
        ping: 50,
        transport: 'websocket',
      };
      ws.send(JSON.stringify(hello));
      if (mode === 'pinging')
        timers.push(setInterval(() => ws.readyState === 1 && ws.send('{"type":"ping"}'), 50));
    });
    const { port } = wss.address() as { port: number };
    return {
      url: `http://127.0.0.1:${port}`,
      connections: () => connections,
      close: async () => {
        for (const t of timers) clearInterval(t);
        for (const c of wss.clients) c.terminate();
        await wss.close();
      },
    };
  }

  it('declares a silent server dead after 2 x ping + grace (4009) and reconnects', async () => {
    const hub = await fakeHub('silent');
    const c = connectHub(hub.url, { transports: ['websocket'], livenessGraceMs: 100, backoffMinMs: 10 });
    try {
      const started = Date.now();
      const lost = await new Promise<{ code: number }>((resolve) => c.on('disconnected', resolve));
      const elapsed = Date.now() - started;
      assert.equal(lost.code, 4009);
      assert.ok(elapsed >= 190 && elapsed < 1500, `dead after ${elapsed} ms`);
      await until(() => hub.connections() >= 2, 'a reconnection');
    } finally {
      c.close();
      await hub.close();
    }
  });

  it('does not take a late timer tick (a throttled or frozen tab) for a dead server', async () => {
    const hub = await fakeHub('pinging');
    const c = connectHub(hub.url, { transports: ['websocket'], livenessGraceMs: 100 });
    const drops: number[] = [];
    c.on('disconnected', (info) => drops.push(info.code));
    try {
      await once(c, 'connected');
      await new Promise((r) => setTimeout(r, 120));
      // The event loop stalls for 700 ms: the liveness check runs before the pings that queued up.
      const until = Date.now() + 700;
      while (Date.now() < until);
      await new Promise((r) => setTimeout(r, 600));
      assert.deepEqual(drops, []);
      assert.equal(hub.connections(), 1);
    } finally {
      c.close();
      await hub.close();
    }
  });
});

describe('the hub client: a broker that fails', () => {
  it('keeps a subscription whose subscribe was answered UNAVAILABLE, and asks again', async () => {
    class FlakyRecovery extends MemoryBroker {
      failures = 1;
      override async recover(channel: string, since: StreamPosition | null): Promise<Recovery> {
        if (this.failures-- > 0) throw new Error('the broker is down');
        return super.recover(channel, since);
      }
    }
    const flaky = await startServer({ port: 0, hub: { broker: new FlakyRecovery() } });
    const c = connectHub(flaky.url);
    try {
      const got: string[] = [];
      const sub = c.subscribe('again', (m) => got.push(m.data));
      const errors: string[] = [];
      sub.on('error', (e) => errors.push(e.code));
      await new Promise((resolve) => sub.on('subscribed', resolve));
      await flaky.hub.publish('again', 'after the retry');
      await until(() => got.length === 1, 'the delivery');
      assert.deepEqual(errors, []);
    } finally {
      c.close();
      await flaky.close();
    }
  });

  it('sends a publish answered UNAVAILABLE again a second later, and it is delivered once', async () => {
    class FlakyBroker extends MemoryBroker {
      failures = 1;
      override async publish(channel: string, data: string, options: PublishOptions): Promise<Publication> {
        if (this.failures-- > 0) throw new Error('the broker is down');
        return super.publish(channel, data, options);
      }
    }
    const flaky = await startServer({ port: 0, hub: { broker: new FlakyBroker() } });
    const c = connectHub(flaky.url);
    try {
      const got: string[] = [];
      const sub = c.subscribe('retry', (m) => got.push(m.data));
      await new Promise((resolve) => sub.on('subscribed', resolve));
      const started = Date.now();
      const ack = await c.publish('retry', 'once');
      assert.ok(Date.now() - started >= 900, 'retried after about a second');
      await until(() => got.length === 1, 'the delivery');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual([got, ack.offset], [['once'], 1]);
    } finally {
      c.close();
      await flaky.close();
    }
  });
});
