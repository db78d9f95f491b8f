import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { ConduitClient, HubMessage, TransportKind } from '../../src/client/index.js';
import { connectHub } from '../../src/client/node.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';

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

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
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
